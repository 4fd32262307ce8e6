# localinfra_zk.sh — ZooKeeper for services/infra/localinfra.sh, which sources it (functions
# only; they use its variables and helpers: DIR, the ports, alive, kill_wait...).
#
# ZooKeeper runs as `java ... QuorumPeerMain zoo.cfg` (standalone) with a
# small heap, its own log4j config writing into DIR, and the embedded admin
# HTTP server off (it would take port 8080, the gateway's). "Up" means `ruok`
# is answered `imok`.
#
# With HA=1, three servers (DIR/zk/n1..n3), each with a client port and
# loopback quorum and election ports, the same server.1..3 lines and its own
# myid; "up" is every server answering `srvr` as leader or follower (a
# quorum formed), not only `ruok`.
#
# shellcheck shell=bash

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

start_zk() {
    local z=$Z t0 k c ready=ruok
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
    await_up zookeeper "$ready" "$ZK_PORT" "$z/zk.pid" "$t0" "$ZK_START_DEADLINE" \
        "$z/log/stdout.log" "$z/log/zookeeper.log"
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
