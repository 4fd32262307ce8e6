# localinfra_rabbitmq.sh — RabbitMQ for services/infra/localinfra.sh, which sources it
# (functions only; they use its variables and helpers: DIR, the ports, alive, kill_wait...).
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
# (enabled-plugins file "[].") — they would bind more ports. The nodes' advanced.config is
# rabbitmq-advanced.config beside this file, the containers' too (how soon a cluster gives up on
# a node that vanished: the file says why); RMQ_ADVANCED_CONFIG=FILE replaces it (for a
# benchmark comparing settings, as bench/stream_failover.py does). "Up" means an
# AMQP handshake gets connection.start back, which only happens once the
# node has booted far enough to start its listeners.
#
# Users. There is no guest: the node loads its users at every boot from DIR/rabbitmq/
# definitions.json (load_definitions; a node that loads definitions makes no default user),
# written at each start: an admin user with every permission in the default vhost "/" (its
# password made once per DIR, kept in DIR/rabbitmq/admin.auth; RABBITMQ_URL in DIR/env logs in
# as it: tests and tools), and — when ORCHESTRATOR_AUTH, WORKER_AUTH and CONSOLE_AUTH are set,
# as make run sets them from secrets/ — the stack's three users with their permissions in "/"
# (rabbitmq-roles.sh). A vhost of a test gets its own three users (localinfra.sh vhost).
#
# With HA=1, three nodes rs-<hex>-1..3@localhost, each with its own AMQP and
# distribution port and directory (DIR/rabbitmq/n1..n3), one epmd and one
# Erlang cookie (made here, copied into each node's HOME) for the three. They
# boot in parallel (each loads the same definitions: the users of
# rabbitmq-roles.sh); then nodes 2 and 3 join node 1 (what rabbitmqctl stop_app,
# join_cluster, start_app do, in one rabbitmqctl eval: each call boots an
# Erlang VM — join_cluster resets the joining node, which then
# takes the cluster's users), one after the other (two joins at once race on
# the cluster's schema), and the start checks that node 1 sees three running
# nodes. What a cluster needs of the queues (quorum
# queues, replicated streams) is the services' business: DIR/env says
# MQ_REPLICAS=3.
#
# shellcheck shell=bash

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
    local r=$R t0
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
            RABBITMQ_ADVANCED_CONFIG_FILE="${RMQ_ADVANCED_CONFIG:-$HERE/rabbitmq-advanced.config}" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins" \
            RABBITMQ_MNESIA_BASE="$r/mnesia" \
            RABBITMQ_LOG_BASE="$r/log" \
            RABBITMQ_PID_FILE="$r/rabbitmq.pid" \
            RABBITMQ_ALLOW_INPUT=1
        exec setsid "$RMQ_SCRIPTS/rabbitmq-server" -noinput
    ) </dev/null >"$r/log/stdout.log" 2>&1 &
    echo $! >"$r/beam.pid"
    await_up "rabbitmq node $NODE" amqp "$AMQP_PORT" "$r/beam.pid" "$t0" "$RMQ_START_DEADLINE" \
        "$r/log/stdout.log" "$r/log/$NODE.log"
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
