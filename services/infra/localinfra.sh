#!/usr/bin/env bash
#
# localinfra.sh — a private RabbitMQ node and a private ZooKeeper server for
# one test run or one `make run`, all state under one directory; with HA=1, a
# 3-node RabbitMQ cluster and a 3-server ZooKeeper ensemble instead.
#
#   localinfra.sh start DIR             start both, write DIR/env (HA=1: the cluster and the ensemble)
#   localinfra.sh stop DIR              stop both (TERM, wait, then KILL) — every node, by PID
#   localinfra.sh restart-rabbitmq DIR  stop and start RabbitMQ: same ports, same data (one node only)
#   localinfra.sh restart-zk DIR        the same for ZooKeeper (one server only)
#   localinfra.sh status DIR            say which processes are alive
#   localinfra.sh vhost DIR NAME        add a RabbitMQ vhost NAME with a user per role
#                                       (rabbitmq-roles.sh): prints RABBITMQ_URL= (the
#                                       node's admin user, every permission there) and
#                                       ORCHESTRATOR_AUTH=, WORKER_AUTH=, CONSOLE_AUTH=
#                                       (user:password, users NAME.orchestrator, ...)
#   localinfra.sh rabbitmqctl DIR ARGS...  rabbitmqctl ARGS against DIR's node
#                                       (e.g. set_vm_memory_high_watermark 0), output on stdout
#
# How it works. Ports are picked once, by asking the kernel for free loopback
# ports, and kept in DIR/ports so that a restart comes back on the same
# ports. Each server runs detached in its own session (setsid) with its
# stdout/stderr in DIR; its PID is kept in a pid file and every stop goes by
# that PID, after checking the process is still the one we started (a PID may
# have been reused).
#
# RabbitMQ: services/infra/localinfra_rabbitmq.sh (how a node runs, its users, the cluster);
# ZooKeeper: services/infra/localinfra_zk.sh (a server, the ensemble). Both are sourced below.
#
# HA=1 (at start; remembered in DIR/ports for the other commands) — no single
# point of failure on one host, for tests and `HA=1 make run`:
#   RabbitMQ: three nodes clustered; ZooKeeper: three servers in an ensemble (the files above).
#   DIR/env then lists all nodes — RABBITMQ_URL with the three URLs
#   comma-separated, ZK_HOSTS with the three servers — plus, per node N (1..3),
#   RABBITMQ_PID_N, RABBITMQ_PORT_N, RABBITMQ_NODE_N, ZK_PID_N, ZK_PORT_N, so a
#   test can kill one; RABBITMQ_PID/_PORT/_NODE and ZK_PID/_PORT are node 1's.
#   `vhost` and `rabbitmqctl` go to the first node that is alive. The
#   restart-* commands are for the single-node layout only.
#
# DIR/env holds plain KEY=VALUE lines (source it with `set -a; . DIR/env`).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RMQ_SCRIPTS=/usr/lib/rabbitmq/bin
ZK_CLASSPATH=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
RMQ_START_DEADLINE=${RMQ_START_DEADLINE:-60}
ZK_START_DEADLINE=${ZK_START_DEADLINE:-30}
STOP_DEADLINE=${STOP_DEADLINE:-30}
# The system python: a pyenv shim in PATH costs ~0.1 s a call.
PYTHON=$(command -v /usr/bin/python3 || command -v python3) || { echo "localinfra: python3 is needed" >&2; exit 1; }

die() { echo "localinfra: $*" >&2; exit 1; }
say() { echo "localinfra: $*" >&2; }
now_ms() { date +%s%3N; }

# N distinct free loopback ports: all are bound at once before any is
# released, so the N are distinct; another process could still take one
# before our server binds it, which a start then reports as a failure.
free_ports() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# probe amqp|ruok|tcp PORT: succeeds when the server on PORT answers. Pure
# bash (/dev/tcp): it runs every 50-100 ms while a server boots.
probe() {
    local b=
    case $1 in
    # An AMQP protocol header gets connection.start back: a method frame,
    # type byte 1.
    amqp) { printf 'AMQP\0\0\011\001' >&9; IFS= read -r -t 2 -n 1 -d '' b <&9 || true; } \
              2>/dev/null 9<>"/dev/tcp/127.0.0.1/$2" && [ "$b" = $'\001' ] ;;
    ruok) { printf ruok >&9; read -r -t 2 -n 4 b <&9 || true; } \
              2>/dev/null 9<>"/dev/tcp/127.0.0.1/$2" && [ "$b" = imok ] ;;
    # A member of an ensemble serves clients only once a quorum has formed;
    # srvr then says its mode.
    srvr) { printf srvr >&9; b=$(timeout 2 cat <&9 || true); } \
              2>/dev/null 9<>"/dev/tcp/127.0.0.1/$2" && [[ $b =~ Mode:\ (leader|follower) ]] ;;
    *) { :; } 2>/dev/null 9<>"/dev/tcp/127.0.0.1/$2" ;;
    esac
}

# owns PORT PID: the socket listening on PORT belongs to process PID — so a
# probe that succeeded reached our server, not someone else's on that port.
owns() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
}

# need_free PORT WHAT: fail early and clearly if something already listens.
need_free() {
    if probe tcp "$1"; then
        die "port $1 ($2) is already in use: $(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' || echo '?')"
    fi
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# alive PIDFILE PATTERN: the PID in PIDFILE, if that process is alive and its
# command line matches PATTERN (guards against a reused PID).
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
    # A zombie is as good as gone: only its parent can reap it.
    [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
    echo "$pid"
}

# running PID: the process exists and is not a zombie. Used while a server
# starts, when its command line is still that of a forked shell.
running() {
    [ -r "/proc/$1/status" ] && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# kill_wait PIDFILE PATTERN NAME: TERM, wait up to STOP_DEADLINE s, KILL.
kill_wait() {
    local pid t
    pid=$(alive "$1" "$2") || { rm -f "$1"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    t=$(( $(now_ms) + STOP_DEADLINE * 1000 ))
    while alive "$1" "$2" >/dev/null && [ "$(now_ms)" -lt "$t" ]; do sleep 0.1; done
    if alive "$1" "$2" >/dev/null; then
        say "$3 pid=$pid did not stop on TERM within ${STOP_DEADLINE}s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        t=$(( $(now_ms) + 5000 ))
        while alive "$1" "$2" >/dev/null && [ "$(now_ms)" -lt "$t" ]; do sleep 0.05; done
    fi
    rm -f "$1"
}

tail_log() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f ----" >&2
        tail -n 30 "$f" >&2
    done
}

# await_up WHAT PROBE PORT PIDFILE T0 DEADLINE_S LOG...: waits until PORT answers PROBE and
# belongs to the process of PIDFILE; dies with the logs' last lines when that process exits or
# DEADLINE_S have passed since T0 (ms).
await_up() {
    local what=$1 kind=$2 port=$3 pidfile=$4 t=$(( $5 + $6 * 1000 )) limit=$6
    shift 6
    until probe "$kind" "$port" && owns "$port" "$(cat "$pidfile")"; do
        if ! running "$(cat "$pidfile")"; then
            tail_log "$@"
            die "$what exited during start (logs in $(dirname "$1"))"
        fi
        if [ "$(now_ms)" -ge "$t" ]; then
            tail_log "$@"
            die "$what did not answer $kind on port $port within ${limit}s"
        fi
        sleep 0.05
    done
}

load_ports() {
    [ -s "$DIR/ports" ] || die "no $DIR/ports: was '$0 start $DIR' run?"
    # The layout is the directory's, fixed at its first start: HA comes from the file.
    HA=
    # shellcheck disable=SC1091
    . "$DIR/ports"
    if [ "$HA" = 1 ]; then use_rabbit 1; use_zk 1; else use_rabbit; use_zk; fi
}

write_env() {
    local rpid zpid epid k urls= hosts= pids=() admin
    epid=$(alive "$DIR/rabbitmq/epmd.pid" epmd || true)
    admin=$(cat "$DIR/rabbitmq/admin.auth")
    if [ "${HA:-}" = 1 ]; then
        for k in 1 2 3; do
            use_rabbit "$k"
            use_zk "$k"
            urls+="${urls:+,}amqp://$admin@127.0.0.1:$AMQP_PORT/"
            hosts+="${hosts:+,}127.0.0.1:$ZK_PORT"
            pids+=("RABBITMQ_PID_$k=$(alive "$R/beam.pid" rabbit || true)" "RABBITMQ_PORT_$k=$AMQP_PORT"
                   "RABBITMQ_NODE_$k=$NODE" "RABBITMQ_DIST_PORT_$k=$DIST_PORT"
                   "ZK_PID_$k=$(alive "$Z/zk.pid" QuorumPeerMain || true)" "ZK_PORT_$k=$ZK_PORT")
        done
        use_rabbit 1
        use_zk 1
    else
        use_rabbit
        use_zk
        urls=amqp://$admin@127.0.0.1:$AMQP_PORT/
        hosts=127.0.0.1:$ZK_PORT
    fi
    rpid=$(alive "$R/beam.pid" rabbit || true)
    zpid=$(alive "$Z/zk.pid" QuorumPeerMain || true)
    {
        cat <<EOF
RABBITMQ_URL=$urls
ZK_HOSTS=$hosts
RABBITMQ_PID=$rpid
ZK_PID=$zpid
RABBITMQ_NODE=$NODE
RABBITMQ_PORT=$AMQP_PORT
RABBITMQ_DIST_PORT=$DIST_PORT
ERL_EPMD_PORT=$EPMD_PORT
EPMD_PID=$epid
ZK_PORT=$ZK_PORT
EOF
        if [ "${HA:-}" = 1 ]; then
            printf 'HA=1\nMQ_REPLICAS=3\n'
            printf '%s\n' "${pids[@]}"
        fi
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

# The servers' own functions (start, stop, the cluster and the ensemble).
# shellcheck source=services/infra/localinfra_rabbitmq.sh
. "$HERE/localinfra_rabbitmq.sh"
# shellcheck source=services/infra/localinfra_zk.sh
. "$HERE/localinfra_zk.sh"

# ------------------------------------------------------------------- main

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = vhost ]; } || { [ $# -ge 3 ] && [ "$1" = rabbitmqctl ]; } ||
    die "usage: $0 start|stop|restart-rabbitmq|restart-zk|status DIR, $0 vhost DIR NAME, or $0 rabbitmqctl DIR ARGS..."
cmd=$1
[ "$cmd" != start ] || mkdir -p "$2"
if [ ! -d "$2" ]; then
    [ "$cmd" != stop ] || exit 0 # nothing was ever started there
    die "no directory $2"
fi
DIR=$(cd "$2" && pwd)

case "$cmd" in
start)
    if [ -s "$DIR/ports" ]; then
        load_ports
        if first_alive_rabbit || alive "$Z/zk.pid" QuorumPeerMain >/dev/null; then
            die "servers of $DIR are already running; stop them first"
        fi
    elif [ "${HA:-}" = 1 ]; then
        read -r -a p < <(free_ports 16)
        tag=$(random_hex 4)
        {
            echo HA=1
            echo "EPMD_PORT=${p[0]}"
            for k in 1 2 3; do
                echo "AMQP_PORT_$k=${p[k]}"
                echo "DIST_PORT_$k=${p[k + 3]}"
                echo "NODE_$k=rs-$tag-$k@localhost"
                echo "ZK_PORT_$k=${p[k + 6]}"
                echo "ZK_QUORUM_PORT_$k=${p[k + 9]}"
                echo "ZK_ELECTION_PORT_$k=${p[k + 12]}"
            done
        } >"$DIR/ports"
        mkdir -p "$DIR/rabbitmq"
        (umask 077; random_hex 16 | tr a-f A-F >"$DIR/rabbitmq/cookie")
    else
        read -r AMQP_PORT DIST_PORT EPMD_PORT ZK_PORT < <(free_ports 4)
        # The node name is part of the data directory's name, so it is
        # chosen once per DIR and kept for restarts.
        NODE="rs-$(random_hex 4)@localhost"
        printf 'AMQP_PORT=%s\nDIST_PORT=%s\nEPMD_PORT=%s\nZK_PORT=%s\nNODE=%s\n' \
            "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT" "$ZK_PORT" "$NODE" >"$DIR/ports"
    fi
    load_ports
    # On any failure below, leave nothing running.
    zk_job=
    trap 'rc=$?; if [ $rc -ne 0 ]; then [ -z "$zk_job" ] || wait "$zk_job" || true; stop_zk; stop_rabbitmq; stop_epmd; fi' EXIT
    write_definitions
    # The servers boot in parallel: ZooKeeper in a subshell.
    t_all=$(now_ms)
    start_zk_all &
    zk_job=$!
    if [ "$HA" = 1 ]; then
        # One epmd for the three, started before they race to start it.
        start_epmd
        on_nodes use_rabbit start_rabbitmq || die "a rabbitmq node failed to start"
        say "rabbitmq nodes up in $(( $(now_ms) - t_all )) ms; clustering"
        # One after the other: two nodes joining at once race on the cluster's
        # schema (seen here: the second start_app failed in mnesia).
        (join_node 2) || die "rabbitmq node 2 could not join the cluster"
        (join_node 3) || die "rabbitmq node 3 could not join the cluster"
        use_rabbit 1
        running=$(HOME="$R/home" ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CONF_ENV_FILE="$R/rabbitmq-env.conf" \
            "$RMQ_SCRIPTS/rabbitmqctl" -q -n "$NODE" eval 'length(rabbit_nodes:all_running()).' </dev/null 2>&1 || true)
        [ "$running" = 3 ] || die "the cluster has $running running nodes, not 3"
        # The name every node announces once it is a member (an unnamed cluster's nodes each
        # announce their own): how an orchestrator tells that the cluster has formed
        # (mq_cluster_whole in common/mq/mq.h).
        rmqctl set_cluster_name rideshare
        say "rabbitmq cluster of 3 up in $(( $(now_ms) - t_all )) ms"
    else
        start_rabbitmq
    fi
    wait "$zk_job" || die "zookeeper failed to start"
    write_env
    say "all up in $(( $(now_ms) - t_all )) ms; env in $DIR/env"
    ;;
stop)
    [ -s "$DIR/ports" ] || exit 0
    load_ports
    stop_zk & zk_job=$!
    stop_rabbitmq
    stop_epmd
    wait "$zk_job"
    [ -s "$DIR/env" ] && write_env
    say "stopped $DIR"
    ;;
restart-rabbitmq)
    load_ports
    [ "$HA" != 1 ] || die "restart-rabbitmq is for a single node (this is a cluster: $DIR)"
    stop_rabbitmq
    trap 'rc=$?; [ $rc -eq 0 ] || stop_rabbitmq' EXIT
    start_rabbitmq
    write_env
    ;;
restart-zk)
    load_ports
    [ "$HA" != 1 ] || die "restart-zk is for a single server (this is an ensemble: $DIR)"
    stop_zk
    trap 'rc=$?; [ $rc -eq 0 ] || stop_zk' EXIT
    start_zk
    write_env
    ;;
status)
    load_ports
    rc=0
    if [ "$HA" = 1 ]; then
        for k in 1 2 3; do
            use_rabbit "$k"
            use_zk "$k"
            if p=$(alive "$R/beam.pid" rabbit); then echo "rabbitmq node $k running pid=$p port=$AMQP_PORT"; else echo "rabbitmq node $k stopped"; rc=1; fi
            if p=$(alive "$Z/zk.pid" QuorumPeerMain); then echo "zookeeper server $k running pid=$p port=$ZK_PORT"; else echo "zookeeper server $k stopped"; rc=1; fi
        done
        exit $rc
    fi
    if p=$(alive "$R/beam.pid" rabbit); then echo "rabbitmq running pid=$p port=$AMQP_PORT"; else echo "rabbitmq stopped"; rc=1; fi
    if p=$(alive "$Z/zk.pid" QuorumPeerMain); then echo "zookeeper running pid=$p port=$ZK_PORT"; else echo "zookeeper stopped"; rc=1; fi
    exit $rc
    ;;
vhost)
    load_ports
    name=$3
    # Names go into the URL's path unencoded: keep them plain.
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "vhost name '$name': use letters, digits, '.', '_', '-'"
    first_alive_rabbit || die "rabbitmq of $DIR is not running"
    # One rabbitmqctl call (about a second): the vhost, its three users with fresh passwords,
    # and the admin user's permissions there, imported together (an existing vhost is fine).
    admin=$(cat "$DIR/rabbitmq/admin.auth")
    roles=(ORCHESTRATOR_AUTH="$name.orchestrator:$(random_hex 32)" WORKER_AUTH="$name.worker:$(random_hex 32)"
           CONSOLE_AUTH="$name.console:$(random_hex 32)")
    defs=$(umask 077; mktemp "$DIR/rabbitmq/vhost.XXXXXX")
    trap 'rm -f "$defs"' EXIT
    env "${roles[@]}" ADMIN_AUTH="$admin" ADMIN_ONLY_PERMISSIONS=1 "$HERE/rabbitmq-roles.sh" "$name" >"$defs"
    rmqctl import_definitions "$defs"
    if [ "$HA" = 1 ]; then
        urls=
        for k in 1 2 3; do
            p=AMQP_PORT_$k
            urls+="${urls:+,}amqp://$admin@127.0.0.1:${!p}/$name"
        done
        echo "RABBITMQ_URL=$urls"
    else
        echo "RABBITMQ_URL=amqp://$admin@127.0.0.1:$AMQP_PORT/$name"
    fi
    printf '%s\n' "${roles[@]}"
    ;;
rabbitmqctl)
    load_ports
    shift 2
    first_alive_rabbit || die "rabbitmq of $DIR is not running"
    HOME="$R/home" ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CONF_ENV_FILE="$R/rabbitmq-env.conf" \
        exec "$RMQ_SCRIPTS/rabbitmqctl" -q -n "$NODE" "$@" </dev/null
    ;;
*)
    die "unknown command '$cmd' (start|stop|restart-rabbitmq|restart-zk|status|vhost|rabbitmqctl)"
    ;;
esac
