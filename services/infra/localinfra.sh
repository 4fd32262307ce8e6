#!/usr/bin/env bash
#
# localinfra.sh — a private RabbitMQ node and a private ZooKeeper server for
# one test run or one `make run`, all state under one directory.
#
#   localinfra.sh start DIR             start both, write DIR/env
#   localinfra.sh stop DIR              stop both (TERM, wait, then KILL)
#   localinfra.sh restart-rabbitmq DIR  stop and start RabbitMQ: same ports, same data
#   localinfra.sh restart-zk DIR        the same for ZooKeeper
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
    # shellcheck disable=SC1091
    . "$DIR/ports"
}

write_env() {
    local rpid zpid epid
    rpid=$(alive "$DIR/rabbitmq/beam.pid" rabbit || true)
    zpid=$(alive "$DIR/zk/zk.pid" QuorumPeerMain || true)
    epid=$(alive "$DIR/rabbitmq/epmd.pid" epmd || true)
    cat >"$DIR/env.tmp" <<EOF
RABBITMQ_URL=amqp://$(cat "$DIR/rabbitmq/admin.auth")@127.0.0.1:$AMQP_PORT/
ZK_HOSTS=127.0.0.1:$ZK_PORT
RABBITMQ_PID=$rpid
ZK_PID=$zpid
RABBITMQ_NODE=$NODE
RABBITMQ_PORT=$AMQP_PORT
RABBITMQ_DIST_PORT=$DIST_PORT
ERL_EPMD_PORT=$EPMD_PORT
EPMD_PID=$epid
ZK_PORT=$ZK_PORT
EOF
    mv "$DIR/env.tmp" "$DIR/env"
}

# ---------------------------------------------------------------- RabbitMQ

start_epmd() {
    local t
    alive "$DIR/rabbitmq/epmd.pid" epmd >/dev/null && return 0
    need_free "$EPMD_PORT" epmd
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
    local r=$DIR/rabbitmq t0 t
    mkdir -p "$r/mnesia" "$r/log" "$r/home"
    # A cookie of our own: no clash with /var/lib/rabbitmq's, nor with
    # another run's. Erlang refuses a cookie file others can read.
    [ -s "$r/home/.erlang.cookie" ] || random_hex 16 | tr a-f A-F >"$r/home/.erlang.cookie"
    chmod 400 "$r/home/.erlang.cookie"
    echo '[].' >"$r/enabled_plugins"
    : >"$r/rabbitmq-env.conf"
    cat >"$r/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
loopback_users.guest = true
load_definitions = $r/definitions.json
EOF
    need_free "$AMQP_PORT" amqp
    need_free "$DIST_PORT" "erlang distribution"
    [ -s "$r/definitions.json" ] || die "no $r/definitions.json (written by start)"
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

stop_rabbitmq() {
    # The beam handles TERM as a clean shutdown; its helper erl_child_setup
    # exits with it.
    kill_wait "$DIR/rabbitmq/beam.pid" rabbit rabbitmq
}

# rabbitmqctl against our node: our epmd, our cookie (through HOME). Each
# call costs about a second (it boots an Erlang VM).
rmqctl() {
    local r=$DIR/rabbitmq
    HOME="$r/home" ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CONF_ENV_FILE="$r/rabbitmq-env.conf" \
        "$RMQ_SCRIPTS/rabbitmqctl" -q -n "$NODE" "$@" </dev/null >>"$r/log/rabbitmqctl.log" 2>&1 ||
        { tail_log "$r/log/rabbitmqctl.log"; die "rabbitmqctl $* failed"; }
}

stop_epmd() { kill_wait "$DIR/rabbitmq/epmd.pid" epmd epmd; }

# --------------------------------------------------------------- ZooKeeper

start_zk() {
    local z=$DIR/zk t0 t
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
    until probe ruok "$ZK_PORT" && owns "$ZK_PORT" "$(cat "$z/zk.pid")"; do
        if ! running "$(cat "$z/zk.pid")"; then
            tail_log "$z/log/stdout.log" "$z/log/zookeeper.log"
            die "zookeeper exited during start (logs in $z/log)"
        fi
        if [ "$(now_ms)" -ge "$t" ]; then
            tail_log "$z/log/stdout.log" "$z/log/zookeeper.log"
            die "zookeeper did not answer ruok on port $ZK_PORT within ${ZK_START_DEADLINE}s"
        fi
        sleep 0.05
    done
    say "zookeeper up in $(( $(now_ms) - t0 )) ms: 127.0.0.1:$ZK_PORT pid=$(cat "$z/zk.pid")"
}

stop_zk() { kill_wait "$DIR/zk/zk.pid" QuorumPeerMain zookeeper; }

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
    if alive "$DIR/rabbitmq/beam.pid" rabbit >/dev/null || alive "$DIR/zk/zk.pid" QuorumPeerMain >/dev/null; then
        die "servers of $DIR are already running; stop them first"
    fi
    if [ ! -s "$DIR/ports" ]; then
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
    # The two servers boot in parallel: ZooKeeper in a subshell.
    t_all=$(now_ms)
    start_zk &
    zk_job=$!
    start_rabbitmq
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
    stop_rabbitmq
    trap 'rc=$?; [ $rc -eq 0 ] || stop_rabbitmq' EXIT
    start_rabbitmq
    write_env
    ;;
restart-zk)
    load_ports
    stop_zk
    trap 'rc=$?; [ $rc -eq 0 ] || stop_zk' EXIT
    start_zk
    write_env
    ;;
status)
    load_ports
    rc=0
    if p=$(alive "$DIR/rabbitmq/beam.pid" rabbit); then echo "rabbitmq running pid=$p port=$AMQP_PORT"; else echo "rabbitmq stopped"; rc=1; fi
    if p=$(alive "$DIR/zk/zk.pid" QuorumPeerMain); then echo "zookeeper running pid=$p port=$ZK_PORT"; else echo "zookeeper stopped"; rc=1; fi
    exit $rc
    ;;
vhost)
    load_ports
    name=$3
    # Names go into the URL's path unencoded: keep them plain.
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "vhost name '$name': use letters, digits, '.', '_', '-'"
    alive "$DIR/rabbitmq/beam.pid" rabbit >/dev/null || die "rabbitmq of $DIR is not running"
    # One rabbitmqctl call (about a second): the vhost, its three users with fresh passwords,
    # and the admin user's permissions there, imported together (an existing vhost is fine).
    admin=$(cat "$DIR/rabbitmq/admin.auth")
    roles=(ORCHESTRATOR_AUTH="$name.orchestrator:$(random_hex 32)" WORKER_AUTH="$name.worker:$(random_hex 32)"
           CONSOLE_AUTH="$name.console:$(random_hex 32)")
    defs=$(umask 077; mktemp "$DIR/rabbitmq/vhost.XXXXXX")
    trap 'rm -f "$defs"' EXIT
    env "${roles[@]}" ADMIN_AUTH="$admin" ADMIN_ONLY_PERMISSIONS=1 "$HERE/rabbitmq-roles.sh" "$name" >"$defs"
    rmqctl import_definitions "$defs"
    echo "RABBITMQ_URL=amqp://$admin@127.0.0.1:$AMQP_PORT/$name"
    printf '%s\n' "${roles[@]}"
    ;;
rabbitmqctl)
    load_ports
    shift 2
    alive "$DIR/rabbitmq/beam.pid" rabbit >/dev/null || die "rabbitmq of $DIR is not running"
    HOME="$DIR/rabbitmq/home" ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq/rabbitmq-env.conf" \
        exec "$RMQ_SCRIPTS/rabbitmqctl" -q -n "$NODE" "$@" </dev/null
    ;;
*)
    die "unknown command '$cmd' (start|stop|restart-rabbitmq|restart-zk|status|vhost|rabbitmqctl)"
    ;;
esac
