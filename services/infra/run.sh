#!/usr/bin/env bash
#
# run.sh — `make run`: the whole Rideshare stack on this host, in the foreground.
#
# Starts, in order, each once the one before answers:
#   1. a private RabbitMQ and ZooKeeper (localinfra.sh); with HA=1 a 3-node RabbitMQ cluster and a
#      3-server ZooKeeper ensemble instead, every service given all the nodes (RABBITMQ_URL and
#      ZK_HOSTS lists) and MQ_REPLICAS=3 (quorum queues, a replicated log: docs/operations.md,
#      "HA brokers (process mode)");
#   2. the orchestrator, which starts its master and slave workers through the process runtime;
#   3. the users and rides services (both reach the orchestrator at ORCH_URL; rides checks users
#      through the gateway at GATEWAY_URL);
#   4. nginx as the gateway (services/gateway/render.sh renders its config with these ports).
# It prints where each one listens, then waits. Ctrl-C or SIGTERM — or any of the four exiting on
# its own — stops them all, by PID, in the reverse order (TERM, then KILL after STOP_WAIT seconds),
# then any worker the orchestrator left (by its PID file), then the infrastructure, leaving nothing
# behind.
#
# Signals. The stop must survive more signals arriving while it runs: under `make run`, a SIGTERM
# to the process group (what `timeout`, a supervisor or a CI runner sends) reaches this script twice,
# once directly and once more from make, which passes SIGTERM on to the recipe it runs, a few ms
# later; a second Ctrl-C does the same. So INT and TERM stay trapped to the end: the first one
# starts the stop, later ones are ignored (the stop is bounded by STOP_WAIT and localinfra.sh's
# deadlines). Had the stop reset them to the default, the second TERM would kill this script
# half-way, leaving RabbitMQ and ZooKeeper (in sessions of their own, so the group's signal never
# reaches them) running. localinfra.sh stop runs with INT and TERM ignored for the same reason.
#
# While it is up, RUN_INFO (default build/run.env) says where: RUN_PID, RUN_DIR, ORCH_URL,
# GATEWAY_URL, ADMIN_TOKEN_FILE and CONSOLE_AUTH_FILE, one KEY=value a line; `make console` reads
# it to find this stack. It is removed at the stop (if it is still this run's).
#
# The admin token. The orchestrator's routes need it; users, rides and the console send it. It is
# read from ADMIN_TOKEN_FILE (default secrets/admin_token, made on first use by admin-token.sh).
# ADMIN_TOKEN=value uses that token instead; ADMIN_TOKEN= (set, empty) runs with the orchestrator's
# routes open, as the course's graders call them (docs/security.md), with a warning.
#
# The brokers' users (docs/security.md): one identity per role — orchestrator, worker, console —
# in BROKER_SECRETS_DIR (default secrets/broker_*, made on first use by broker-secrets.sh), for
# RabbitMQ (localinfra.sh makes the users, and no guest) and ZooKeeper (ACLs under ZK_ROOT). Each
# process is handed only its own: the orchestrator its identity and the workers' (which it hands
# to the workers it starts) in its environment, never on a command line; users, rides and the
# gateway none, nor the infrastructure's admin URL. RUN_INFO names the console's file for make
# console.
#
# Two orchestrators. ORCHESTRATORS=2 (the default under HA=1) starts a second one on ORCH2_PORT,
# both with LEADER_LOCK=1: the first holds the leader lock, the second stands by and takes over if
# the first dies (docs/operations.md, "The orchestrator pair"). users, rides and the console get both
# URLs in ORCH_URL. At the stop, both get TERM at once: the standby just exits, the active one stops
# the workers.
#
# Environment (defaults in brackets):
#   GATEWAY_HOST/GATEWAY_PORT [127.0.0.1/8080]   USERS_HOST/USERS_PORT [127.0.0.1/8081]
#   RIDES_HOST/RIDES_PORT     [127.0.0.1/8082]   ORCH_HOST/ORCH_PORT   [127.0.0.1/8083]
#   ORCHESTRATORS [1; 2 with HA=1]               ORCH2_PORT [ORCH_PORT + 1]
#   RUN_DIR     every process's data and logs [a new temporary directory]
#   RUN_INFO    where this run is described while it is up [build/run.env]
#   START_WAIT  seconds each part may take to answer [60]     STOP_WAIT [5]
#   GATEWAY_WORKERS, GATEWAY_ACCESS_LOG (see services/gateway/render.sh), and anything the
#   binaries read (build/bin/rideshare-* --help): ORIGIN, AREAS_CSV, INITIAL_SLAVES, LOG_LEVEL, ...

set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/bin
run_dir=${RUN_DIR:-$(mktemp -d /tmp/rideshare-run.XXXXXX)}
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
infra=$run_dir/infra
run_info=${RUN_INFO:-$root/build/run.env}
start_wait=${START_WAIT:-60}
stop_wait=${STOP_WAIT:-5}

export GATEWAY_HOST=${GATEWAY_HOST:-127.0.0.1} GATEWAY_PORT=${GATEWAY_PORT:-8080}
export USERS_HOST=${USERS_HOST:-127.0.0.1} USERS_PORT=${USERS_PORT:-8081}
export RIDES_HOST=${RIDES_HOST:-127.0.0.1} RIDES_PORT=${RIDES_PORT:-8082}
export ORCH_HOST=${ORCH_HOST:-127.0.0.1} ORCH_PORT=${ORCH_PORT:-8083}
export ORCH_URL=http://$ORCH_HOST:$ORCH_PORT GATEWAY_URL=http://$GATEWAY_HOST:$GATEWAY_PORT
orchestrators=${ORCHESTRATORS:-$([ "${HA:-0}" = 1 ] && echo 2 || echo 1)}
case $orchestrators in
    1) ;;
    2) orch2_port=${ORCH2_PORT:-$((ORCH_PORT + 1))}
       orch2_url=http://$ORCH_HOST:$orch2_port
       export LEADER_LOCK=1 ORCH_URL=$ORCH_URL,$orch2_url ;;
    *) echo "run: ORCHESTRATORS must be 1 or 2" >&2; exit 1 ;;
esac
export AREAS_CSV=${AREAS_CSV:-$root/services/rides/AreaNameEnum.csv}
if [ "${ADMIN_TOKEN+set}" = set ]; then
    export ADMIN_TOKEN
    unset ADMIN_TOKEN_FILE
    [ -n "$ADMIN_TOKEN" ] || echo "run: warning: ADMIN_TOKEN is empty: the orchestrator's routes are open to anyone who reaches them" >&2
else
    ADMIN_TOKEN_FILE=$("$root/services/infra/admin-token.sh")
    export ADMIN_TOKEN_FILE
fi
# The token's header for curl, from a pipe (never in a process list): "Authorization: ..." or "".
auth_header() {
    if [ -n "${ADMIN_TOKEN_FILE:-}" ]; then
        printf 'Authorization: Bearer %s\n' "$(head -n1 "$ADMIN_TOKEN_FILE")"
    elif [ -n "${ADMIN_TOKEN:-}" ]; then
        printf 'Authorization: Bearer %s\n' "$ADMIN_TOKEN"
    fi
}

say() { echo "run: $*" >&2; }
die() { say "$*"; exit 1; }

# The brokers' identities, read from a pipe into plain (unexported) variables: ORCHESTRATOR_AUTH,
# WORKER_AUTH, CONSOLE_AUTH, CONSOLE_ZK_ID, ORCHESTRATOR_AUTH_PREVIOUS.
# shellcheck disable=SC1090
. <("$root/services/infra/broker-secrets.sh" env)
broker_dir=${BROKER_SECRETS_DIR:-$root/secrets}

# name:pid of what we started, in start order; stopped in reverse.
procs=()
infra_started=0
stopping=0

stop_pid() { # NAME PID: TERM, wait up to stop_wait s, KILL
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < stop_wait * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # A zombie is gone for our purposes; `wait` below reaps it.
        [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]; then
        say "$name pid=$pid did not stop within ${stop_wait}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Workers left by an orchestrator that was killed, by their PID files ("<pid> <start time>",
# services/orchestrator/runtime/runtime_process.c): the start time makes sure the PID still names that worker.
stop_orphan_workers() {
    local f pid start
    for f in "$DATA_DIR"/run/*.pid; do
        [ -f "$f" ] && read -r pid start <"$f" || continue
        [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)" = "$start" ] || continue
        say "worker pid=$pid outlived the orchestrator; stopping it"
        stop_pid worker "$pid"
    done
}

cleanup() {
    stopping=1 # from here on INT and TERM are ignored (on_signal)
    trap - EXIT
    trap '' PIPE # whoever read our output may be gone; the stop goes on regardless
    set +e       # and no failing command ends it half-way
    local i entry gw_children=
    # nginx's workers die with their master; note them in case the master has to be killed.
    for entry in ${procs[@]+"${procs[@]}"}; do
        [ "${entry%%:*}" = gateway ] && gw_children=$(cat "/proc/${entry#*:}/task/${entry#*:}/children" 2>/dev/null)
    done
    local orchs_told=0
    for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
        if [[ ${procs[i]%%:*} == orchestrator* && $orchs_told = 0 ]]; then
            # All orchestrators at once: a standby told later could take over from the active one
            # and start workers afresh.
            orchs_told=1
            for entry in "${procs[@]}"; do
                [[ ${entry%%:*} != orchestrator* ]] || kill -TERM "${entry#*:}" 2>/dev/null
            done
        fi
        stop_pid "${procs[i]%%:*}" "${procs[i]#*:}"
    done
    for i in $gw_children; do kill -KILL "$i" 2>/dev/null; done
    [ -z "${DATA_DIR:-}" ] || stop_orphan_workers
    if [ "$infra_started" = 1 ]; then
        (trap '' INT TERM; exec "$root/services/infra/localinfra.sh" stop "$infra")
    fi
    rm -f "$run_info.$$"
    [ "$(sed -n 's/^RUN_PID=//p' "$run_info" 2>/dev/null)" != $$ ] || rm -f "$run_info"
    say "stopped; data and logs are in $run_dir"
}
# The first INT or TERM stops everything (exit runs cleanup); any later one is ignored.
on_signal() {
    if [ "$stopping" = 0 ]; then
        stopping=1
        exit "$1"
    fi
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

for b in rideshare-orchestrator rideshare-worker rideshare-users rideshare-rides; do
    [ -x "$bin/$b" ] || die "no $bin/$b: run make first"
done
command -v nginx >/dev/null || die "nginx is not installed (make deps)"
[ -r "$AREAS_CSV" ] || die "no area list at $AREAS_CSV"

# Fail before starting anything if a port is taken (ZooKeeper's admin server, an earlier run...).
port_busy() { { :; } 2>/dev/null 9<>"/dev/tcp/$1/$2"; }
for hp in "$GATEWAY_HOST:$GATEWAY_PORT:gateway" "$USERS_HOST:$USERS_PORT:users" \
          "$RIDES_HOST:$RIDES_PORT:rides" "$ORCH_HOST:$ORCH_PORT:orchestrator" \
          ${orch2_port:+"$ORCH_HOST:$orch2_port:orchestrator2"}; do
    IFS=: read -r h p what <<<"$hp"
    if port_busy "$h" "$p"; then die "$what port $h:$p is already in use"; fi
done

# wait_http NAME PID URL: until URL answers 200, while PID lives, for start_wait seconds.
wait_http() {
    local name=$1 pid=$2 url=$3 deadline=$((SECONDS + start_wait))
    until curl -fs -o /dev/null --max-time 2 -H @<(auth_header) "$url"; do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start (log: $run_dir/$name.log)"
        [ "$SECONDS" -lt "$deadline" ] || die "$name did not answer $url within ${start_wait}s (log: $run_dir/$name.log)"
        sleep 0.1
    done
}

# start NAME CMD...: in the background, its stderr and stdout both shown and kept in NAME.log
# (by a tee that ignores Ctrl-C, so that the services' last words still get through).
start() {
    local name=$1
    shift
    "$@" > >(trap '' INT TERM; exec tee -a "$run_dir/$name.log" >&2) 2>&1 </dev/null &
    procs+=("$name:$!")
}
last_pid() { local e=${procs[-1]}; echo "${e#*:}"; }

# Set first: a stop while it starts must still stop what it started (by its PID files).
infra_started=1
ORCHESTRATOR_AUTH=$ORCHESTRATOR_AUTH WORKER_AUTH=$WORKER_AUTH CONSOLE_AUTH=$CONSOLE_AUTH \
    "$root/services/infra/localinfra.sh" start "$infra"
# Read, not exported: RABBITMQ_URL there is the node's admin, which no service gets. With HA=1
# it also sets HA, MQ_REPLICAS and each node's port and PID.
# shellcheck disable=SC1091
. "$infra/env"

# amqp_urls USER:PASSWORD: the broker's URL for that identity — one per node of a cluster,
# comma-separated.
amqp_urls() {
    local k p out=
    if [ "${HA:-}" = 1 ]; then
        for k in 1 2 3; do
            p=RABBITMQ_PORT_$k
            out+="${out:+,}amqp://$1@127.0.0.1:${!p}/"
        done
        echo "$out"
    else
        echo "amqp://$1@127.0.0.1:$RABBITMQ_PORT/"
    fi
}

# The orchestrator with its own identities and the workers' (assignments on the exec: in its
# environment only, never on a command line); $1: its port, if not ORCH_PORT (the second one).
run_orchestrator() {
    ORCH_PORT=${1:-$ORCH_PORT} RABBITMQ_URL=$(amqp_urls "$ORCHESTRATOR_AUTH") \
        WORKER_RABBITMQ_URL=$(amqp_urls "$WORKER_AUTH") MQ_REPLICAS=${MQ_REPLICAS:-1} \
        ZK_HOSTS=$ZK_HOSTS ZK_AUTH=$ORCHESTRATOR_AUTH WORKER_ZK_AUTH=$WORKER_AUTH ZK_READERS=$CONSOLE_ZK_ID \
        ZK_AUTH_PREVIOUS=$ORCHESTRATOR_AUTH_PREVIOUS exec "$bin/rideshare-orchestrator"
}

export DATA_DIR=${DATA_DIR:-$run_dir/data}
mkdir -p "$DATA_DIR"
start orchestrator run_orchestrator
wait_http orchestrator "$(last_pid)" "http://$ORCH_HOST:$ORCH_PORT/api/v1/worker/list"
if [ -n "${orch2_port:-}" ]; then # the standby: it answers its role at once
    start orchestrator2 run_orchestrator "$orch2_port"
    wait_http orchestrator2 "$(last_pid)" "$orch2_url/api/v1/role"
fi

# _count is not counted (docs/api.md, "Counting requests"), so it is a probe that leaves the
# counters at 0.
start users "$bin/rideshare-users"
wait_http users "$(last_pid)" "http://$USERS_HOST:$USERS_PORT/api/v1/_count"
start rides "$bin/rideshare-rides"
wait_http rides "$(last_pid)" "http://$RIDES_HOST:$RIDES_PORT/api/v1/_count"

listen=$GATEWAY_HOST:$GATEWAY_PORT
[[ $GATEWAY_HOST == *:* ]] && listen="[$GATEWAY_HOST]:$GATEWAY_PORT"
"$root/services/gateway/render.sh" "$listen" "$USERS_HOST:$USERS_PORT" "$RIDES_HOST:$RIDES_PORT" "$run_dir/gateway"
start gateway nginx -p "$run_dir/gateway/" -c nginx.conf -e stderr -g 'daemon off;'
wait_http gateway "$(last_pid)" "$GATEWAY_URL/api/v1/_count"

if [ "${HA:-}" = 1 ]; then
    for k in 1 2 3; do
        p=RABBITMQ_PORT_$k q=RABBITMQ_PID_$k z=ZK_PORT_$k y=ZK_PID_$k
        say "RabbitMQ $k   amqp://127.0.0.1:${!p}/ (pid ${!q})   ZooKeeper $k 127.0.0.1:${!z} (pid ${!y})"
    done
else
    say "RabbitMQ     amqp://127.0.0.1:$RABBITMQ_PORT/ (pid $RABBITMQ_PID)"
    say "ZooKeeper    $ZK_HOSTS (pid $ZK_PID)"
fi
for entry in "${procs[@]}"; do
    case ${entry%%:*} in
        orchestrator) url=http://$ORCH_HOST:$ORCH_PORT ;;
        orchestrator2) url=$orch2_url ;;
        users) url=http://$USERS_HOST:$USERS_PORT ;;
        rides) url=http://$RIDES_HOST:$RIDES_PORT ;;
        gateway) url=$GATEWAY_URL ;;
    esac
    say "$(printf '%-12s %s/ (pid %s)' "${entry%%:*}" "$url" "${entry#*:}")"
done
say "gateway access log: $run_dir/gateway/logs/access.log"
if [ -n "${ADMIN_TOKEN_FILE:-}" ]; then
    say "admin token: $ADMIN_TOKEN_FILE (the orchestrator's routes need Authorization: Bearer <it>)"
fi
say "broker users: $broker_dir/broker_{orchestrator,worker,console} (user:password each)"
mkdir -p "$(dirname "$run_info")"
printf 'RUN_PID=%s\nRUN_DIR=%s\nORCH_URL=%s\nGATEWAY_URL=%s\nADMIN_TOKEN_FILE=%s\nCONSOLE_AUTH_FILE=%s\n' "$$" \
    "$run_dir" "$ORCH_URL" "$GATEWAY_URL" "${ADMIN_TOKEN_FILE:-}" "$broker_dir/broker_console" \
    >"$run_info.$$"
mv "$run_info.$$" "$run_info"
say "up — Ctrl-C stops everything (make console: the admin console for this stack)"

pids=()
for entry in "${procs[@]}"; do pids+=("${entry#*:}"); done
# With two orchestrators, one that exits leaves the other one to go on (it takes over if it stood
# by): only the second to go stops everything.
orchs_left=$orchestrators
while :; do
    exited= status=0
    wait -n -p exited "${pids[@]}" || status=$?
    for entry in "${procs[@]}"; do
        [ "${entry#*:}" = "$exited" ] || continue
        if [[ ${entry%%:*} == orchestrator* ]] && ((--orchs_left > 0)); then
            say "${entry%%:*} (pid $exited) exited with status $status; the other orchestrator goes on"
            left=()
            for p in "${pids[@]}"; do [ "$p" = "$exited" ] || left+=("$p"); done
            pids=("${left[@]}")
            continue 2
        fi
        say "${entry%%:*} (pid $exited) exited with status $status; stopping everything"
    done
    break
done
exit 1
