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
# RabbitMQ is started through the package's inner script
# /usr/lib/rabbitmq/bin/rabbitmq-server, not through /usr/sbin's wrapper,
# because the wrapper switches to the rabbitmq user when run as root and then
# cannot write into DIR. With RABBITMQ_ALLOW_INPUT the inner script execs the
# Erlang VM in place (and we add -noinput ourselves), so the PID we launch is
# the beam PID. HOME points into DIR so the node gets its own Erlang cookie.
# Erlang distribution needs an epmd; the host's shared one (port 4369) is
# never touched: every run starts its own epmd on a free port
# (ERL_EPMD_PORT) and kills it on stop. Management and other plugins stay off
# (enabled-plugins file "[].") — they would bind more ports. "Up" means an
# AMQP handshake gets connection.start back, which only happens once the
# node has booted far enough to start its listeners.
#
# Users. There is no guest: the node loads its users at every boot from DIR/rabbitmq/
# definitions.json (load_definitions; a node that loads definitions makes no default user),
# written at each start: an admin user with every permission in the default vhost "/" (its
# password made once per DIR, kept in DIR/rabbitmq/admin.auth; RABBITMQ_URL in DIR/env logs in
# as it: tests and tools), and — when ORCHESTRATOR_AUTH, WORKER_AUTH and CONSOLE_AUTH are set,
# as make run sets them from secrets/ — the stack's three users with their permissions in "/"
# (rabbitmq-roles.sh). A vhost of a test gets its own three users (vhost, below).
#
# ZooKeeper runs as `java ... QuorumPeerMain zoo.cfg` (standalone) with a
# small heap, its own log4j config writing into DIR, and the embedded admin
# HTTP server off (it would take port 8080, the gateway's). "Up" means `ruok`
# is answered `imok`.
#
# HA=1 (at start; remembered in DIR/ports for the other commands) — no single
# point of failure on one host, for tests and `HA=1 make run`:
#   RabbitMQ: three nodes rs-<hex>-1..3@localhost, each with its own AMQP and
#   distribution port and directory (DIR/rabbitmq/n1..n3), one epmd and one
#   Erlang cookie (made here, copied into each node's HOME) for the three. They
#   boot in parallel (each loads the same definitions: the users of
#   rabbitmq-roles.sh); then nodes 2 and 3 join node 1 (what rabbitmqctl stop_app,
#   join_cluster, start_app do, in one rabbitmqctl eval: each call boots an
#   Erlang VM — join_cluster resets the joining node, which then
#   takes the cluster's users), one after the other (two joins at once race on
#   the cluster's schema), and the start checks that node 1 sees three running
#   nodes. What a cluster needs of the queues (quorum
#   queues, replicated streams) is the services' business: DIR/env says
#   MQ_REPLICAS=3.
#   ZooKeeper: three servers (DIR/zk/n1..n3), each with a client port and
#   loopback quorum and election ports, the same server.1..3 lines and its own
#   myid; "up" is every server answering `srvr` as leader or follower (a
#   quorum formed), not only `ruok`.
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

# use_rabbit [K]: point R (the node's directory), NODE, AMQP_PORT and DIST_PORT
# at node K of the cluster; without K, the single node (the ports file's own).
# RB is what the nodes share: users, epmd, the cookie.
use_rabbit() {
    RB=$DIR/rabbitmq
    if [ -z "${1:-}" ]; then
        R=$RB
        return
    fi
    local a=AMQP_PORT_$1 d=DIST_PORT_$1 n=NODE_$1
    R=$RB/n$1 AMQP_PORT=${!a} DIST_PORT=${!d} NODE=${!n}
}

# use_zk [K]: Z (the server's directory) and ZK_PORT of server K of the
# ensemble, or of the single server.
use_zk() {
    if [ -z "${1:-}" ]; then
        Z=$DIR/zk
        return
    fi
    local c=ZK_PORT_$1
    Z=$DIR/zk/n$1 ZK_PORT=${!c} ZK_ID=$1
}

# ---------------------------------------------------------------- RabbitMQ

start_epmd() {
    local t
    alive "$DIR/rabbitmq/epmd.pid" epmd >/dev/null && return 0
    need_free "$EPMD_PORT" epmd
    mkdir -p "$DIR/rabbitmq/log"
    # Foreground epmd (no -daemon) so that $! is its PID.
    ERL_EPMD_ADDRESS=127.0.0.1 setsid epmd -port "$EPMD_PORT" \
        </dev/null >"$DIR/rabbitmq/log/epmd.out" 2>&1 &
    echo $! >"$DIR/rabbitmq/epmd.pid"
    t=$(( $(now_ms) + 10000 ))
    until probe tcp "$EPMD_PORT"; do
        running "$(cat "$DIR/rabbitmq/epmd.pid")" || { tail_log "$DIR/rabbitmq/log/epmd.out"; die "epmd exited on port $EPMD_PORT"; }
        [ "$(now_ms)" -lt "$t" ] || die "epmd did not listen on port $EPMD_PORT within 10s"
        sleep 0.05
    done
}

start_rabbitmq() {
    local r=$R t0 t
    mkdir -p "$r/mnesia" "$r/log" "$r/home"
    # A cookie of our own: no clash with /var/lib/rabbitmq's, nor with
    # another run's. Erlang refuses a cookie file others can read. The nodes
    # of a cluster share one (made by start, before they boot).
    if [ "$r" != "$RB" ]; then
        [ -s "$r/home/.erlang.cookie" ] || install -m 400 "$RB/cookie" "$r/home/.erlang.cookie"
    fi
    [ -s "$r/home/.erlang.cookie" ] || random_hex 16 | tr a-f A-F >"$r/home/.erlang.cookie"
    chmod 400 "$r/home/.erlang.cookie"
    echo '[].' >"$r/enabled_plugins"
    : >"$r/rabbitmq-env.conf"
    cat >"$r/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
loopback_users.guest = true
load_definitions = $RB/definitions.json
EOF
    need_free "$AMQP_PORT" amqp
    need_free "$DIST_PORT" "erlang distribution"
    [ -s "$RB/definitions.json" ] || die "no $RB/definitions.json (written by start)"
    t0=$(now_ms)
    start_epmd
    (
        cd "$r"
        export HOME="$r/home" \
            ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
            RABBITMQ_NODENAME="$NODE" \
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT="$AMQP_PORT" \
            RABBITMQ_DIST_PORT="$DIST_PORT" \
            RABBITMQ_CONF_ENV_FILE="$r/rabbitmq-env.conf" \
            RABBITMQ_CONFIG_FILE="$r/rabbitmq.conf" \
            RABBITMQ_ADVANCED_CONFIG_FILE="$r/advanced.config" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins" \
            RABBITMQ_MNESIA_BASE="$r/mnesia" \
            RABBITMQ_LOG_BASE="$r/log" \
            RABBITMQ_PID_FILE="$r/rabbitmq.pid" \
            RABBITMQ_ALLOW_INPUT=1
        exec setsid "$RMQ_SCRIPTS/rabbitmq-server" -noinput
    ) </dev/null >"$r/log/stdout.log" 2>&1 &
    echo $! >"$r/beam.pid"
    t=$(( t0 + RMQ_START_DEADLINE * 1000 ))
    until probe amqp "$AMQP_PORT" && owns "$AMQP_PORT" "$(cat "$r/beam.pid")"; do
        if ! running "$(cat "$r/beam.pid")"; then
            tail_log "$r/log/stdout.log" "$r/log/$NODE.log"
            die "rabbitmq node $NODE exited during start (logs in $r/log)"
        fi
        if [ "$(now_ms)" -ge "$t" ]; then
            tail_log "$r/log/stdout.log" "$r/log/$NODE.log"
            die "rabbitmq node $NODE did not accept AMQP on port $AMQP_PORT within ${RMQ_START_DEADLINE}s"
        fi
        sleep 0.1
    done
    say "rabbitmq up in $(( $(now_ms) - t0 )) ms: node=$NODE amqp=127.0.0.1:$AMQP_PORT pid=$(cat "$r/beam.pid")"
}

# The users the node loads at boot (see the top): written by start only, so a restart keeps them.
write_definitions() {
    local r=$DIR/rabbitmq roles=()
    mkdir -p "$r"
    [ -s "$r/admin.auth" ] || (umask 077; echo "admin:$(random_hex 32)" >"$r/admin.auth")
    if [ -n "${ORCHESTRATOR_AUTH:-}" ] && [ -n "${WORKER_AUTH:-}" ] && [ -n "${CONSOLE_AUTH:-}" ]; then
        roles=(ORCHESTRATOR_AUTH="$ORCHESTRATOR_AUTH" WORKER_AUTH="$WORKER_AUTH" CONSOLE_AUTH="$CONSOLE_AUTH")
    fi
    (umask 077; env -u ORCHESTRATOR_AUTH -u WORKER_AUTH -u CONSOLE_AUTH ${roles[@]+"${roles[@]}"} \
        ADMIN_AUTH="$(cat "$r/admin.auth")" "$HERE/rabbitmq-roles.sh" / >"$r/definitions.json.tmp")
    mv "$r/definitions.json.tmp" "$r/definitions.json"
}

# on_nodes USE FN: for each of the three nodes at once, in a subshell, USE K
# (use_rabbit, use_zk) then FN; waits for all; fails if one failed.
on_nodes() {
    local k jobs=() rc=0
    for k in 1 2 3; do
        ("$1" "$k"; "$2") &
        jobs+=($!)
    done
    for k in "${jobs[@]}"; do wait "$k" || rc=1; done
    return $rc
}

# The beam handles TERM as a clean shutdown; its helper erl_child_setup
# exits with it. A cluster's nodes stop together (each by its PID).
stop_rabbit_node() { kill_wait "$R/beam.pid" rabbit "rabbitmq $NODE"; }
stop_rabbitmq() {
    if [ "${HA:-}" = 1 ]; then on_nodes use_rabbit stop_rabbit_node || true; else stop_rabbit_node; fi
}

# rabbitmqctl against our node: our epmd, our cookie (through HOME). Each
# call costs about a second (it boots an Erlang VM).
rmqctl() {
    local r=$R
    HOME="$r/home" ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CONF_ENV_FILE="$r/rabbitmq-env.conf" \
        "$RMQ_SCRIPTS/rabbitmqctl" -q -n "$NODE" "$@" </dev/null >>"$r/log/rabbitmqctl.log" 2>&1 ||
        { tail_log "$r/log/rabbitmqctl.log"; die "rabbitmqctl -n $NODE $* failed"; }
}

# join_node K: node K (booted on its own) joins node 1's cluster. join_cluster
# resets the joining node first; its users come from the cluster afterwards.
join_node() {
    local t0 t first
    use_rabbit 1
    first=$NODE
    use_rabbit "$1"
    t0=$(now_ms)
    # What stop_app, join_cluster and start_app do, in one rabbitmqctl call:
    # each call boots an Erlang VM (a second or more), the node's work is
    # quick.
    rmqctl eval "ok = rabbit:stop(), ok = rabbit_mnesia:join_cluster('$first', disc), ok = rabbit:start()."
    t=$(( t0 + RMQ_START_DEADLINE * 1000 ))
    until probe amqp "$AMQP_PORT"; do
        [ "$(now_ms)" -lt "$t" ] || { tail_log "$R/log/$NODE.log"; die "node $NODE did not accept AMQP after joining"; }
        sleep 0.1
    done
    say "rabbitmq node $NODE joined $first in $(( $(now_ms) - t0 )) ms"
}

# first_alive_rabbit: use_rabbit on the first node still running (a cluster
# with one node killed still answers through the others).
first_alive_rabbit() {
    local k
    if [ "${HA:-}" != 1 ]; then use_rabbit; alive "$R/beam.pid" rabbit >/dev/null; return; fi
    for k in 1 2 3; do
        use_rabbit "$k"
        alive "$R/beam.pid" rabbit >/dev/null && return 0
    done
    return 1
}

stop_epmd() { kill_wait "$DIR/rabbitmq/epmd.pid" epmd epmd; }

# --------------------------------------------------------------- ZooKeeper

start_zk() {
    local z=$Z t0 t k c ready=ruok
    mkdir -p "$z/data" "$z/log" "$z/conf"
    # maxClientCnxns counts connections per client address, and here every
    # client is 127.0.0.1: the orchestrator (two while it renews an expired
    # session), the console, and each worker (two while a new slave fetches
    # its copy). At the orchestrator's largest MAX_SLAVES (48) that is about
    # 100; at the default 8 about 20. ZooKeeper's default of 60 refused the
    # workers of an uncapped scale-up once, which then died and were
    # started again. 200 leaves room for that worst case twice over, and for
    # tests' own sessions, yet keeps a limit: a runaway client is refused
    # rather than taking all of ZooKeeper's file descriptors (0 = unlimited).
    cat >"$z/conf/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
minSessionTimeout=1000
maxSessionTimeout=30000
dataDir=$z/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
maxClientCnxns=200
EOF
    if [ "${HA:-}" = 1 ]; then
        # The ensemble: the same server lines everywhere, this one's id in myid.
        for k in 1 2 3; do
            c=ZK_QUORUM_PORT_$k
            printf 'server.%s=127.0.0.1:%s:' "$k" "${!c}"
            c=ZK_ELECTION_PORT_$k
            printf '%s\n' "${!c}"
        done >>"$z/conf/zoo.cfg"
        echo "$ZK_ID" >"$z/data/myid"
        ready=srvr
    fi
    cat >"$z/conf/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.RollingFileAppender
log4j.appender.FILE.File=$z/log/zookeeper.log
log4j.appender.FILE.MaxFileSize=10MB
log4j.appender.FILE.MaxBackupIndex=2
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
EOF
    need_free "$ZK_PORT" zookeeper
    t0=$(now_ms)
    (
        cd "$z"
        exec setsid java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Dzookeeper.log.dir="$z/log" \
            -Dlog4j.configuration="file:$z/conf/log4j.properties" \
            -Dzookeeper.admin.enableServer=false \
            -cp "$z/conf:$ZK_CLASSPATH" \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$z/conf/zoo.cfg"
    ) </dev/null >"$z/log/stdout.log" 2>&1 &
    echo $! >"$z/zk.pid"
    t=$(( t0 + ZK_START_DEADLINE * 1000 ))
    until probe "$ready" "$ZK_PORT" && owns "$ZK_PORT" "$(cat "$z/zk.pid")"; do
        if ! running "$(cat "$z/zk.pid")"; then
            tail_log "$z/log/stdout.log" "$z/log/zookeeper.log"
            die "zookeeper exited during start (logs in $z/log)"
        fi
        if [ "$(now_ms)" -ge "$t" ]; then
            tail_log "$z/log/stdout.log" "$z/log/zookeeper.log"
            die "zookeeper did not answer $ready on port $ZK_PORT within ${ZK_START_DEADLINE}s"
        fi
        sleep 0.05
    done
    say "zookeeper up in $(( $(now_ms) - t0 )) ms: 127.0.0.1:$ZK_PORT pid=$(cat "$z/zk.pid")"
}

stop_zk_server() { kill_wait "$Z/zk.pid" QuorumPeerMain "zookeeper${ZK_ID:+ server $ZK_ID}"; }
stop_zk() {
    if [ "${HA:-}" = 1 ]; then on_nodes use_zk stop_zk_server || true; else stop_zk_server; fi
}

# start_zk_all: the single server, or the three of an ensemble in parallel
# (a server waits for the others to form a quorum).
start_zk_all() {
    if [ "${HA:-}" != 1 ]; then use_zk; start_zk; return; fi
    on_nodes use_zk start_zk
}

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
