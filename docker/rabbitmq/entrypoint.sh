#!/usr/bin/env bash
#
# entrypoint.sh — the rideshare-rabbitmq container's start: the stack's users into
# /etc/rabbitmq/definitions.json (rabbitmq-roles.sh; readable by root and the rabbitmq group
# only), then the broker (the package's wrapper, which drops to the rabbitmq user). The users come
# from ORCHESTRATOR_AUTH, WORKER_AUTH and CONSOLE_AUTH, user:password each, which docker/stack.sh
# (make up) sets from secrets/broker_*; without them the broker does not start.
#
# A node of a cluster (HA=1 make up, docker-compose.ha.yml) also gets:
#   RABBITMQ_COOKIE  the Erlang cookie the nodes share (secrets/broker_erlang_cookie): written to
#                    the rabbitmq user's ~/.erlang.cookie (mode 400) before the node boots, then
#                    dropped from the environment; never part of the image
#   RABBITMQ_JOIN    on nodes 2 and 3: the node to join (rabbit@rabbitmq). Such a node loads no
#                    users of its own (an empty definitions document: no default user either);
#                    it takes the cluster's when it joins. Once it has booted, a helper in the
#                    background (join_when_up) makes it a member if it is not one yet — what
#                    `rabbitmqctl stop_app; join_cluster; start_app` do, in one rabbitmqctl eval,
#                    as services/infra/localinfra.sh does — and then writes /tmp/rabbitmq-joined,
#                    which the health check of docker-compose.ha.yml waits for. A node that is
#                    already a member (a restart) only writes the file. The users are thus loaded
#                    once, by node 1, for the whole cluster.
set -euo pipefail
say() { echo "rabbitmq: $*" >&2; }
umask 027
rm -f /tmp/rabbitmq-joined
if [ -n "${RABBITMQ_JOIN:-}" ]; then
    echo '{}' >/etc/rabbitmq/definitions.json.tmp
else
    for v in ORCHESTRATOR_AUTH WORKER_AUTH CONSOLE_AUTH; do
        [ -n "${!v:-}" ] || { say "$v is not set: start the stack with make up (docker/stack.sh)"; exit 1; }
    done
    rabbitmq-roles.sh / >/etc/rabbitmq/definitions.json.tmp
fi
chgrp rabbitmq /etc/rabbitmq/definitions.json.tmp
mv /etc/rabbitmq/definitions.json.tmp /etc/rabbitmq/definitions.json

if [ -n "${RABBITMQ_COOKIE:-}" ]; then
    [[ $RABBITMQ_COOKIE =~ ^[A-Za-z0-9]{20,255}$ ]] || { say "RABBITMQ_COOKIE is not 20 to 255 letters and digits"; exit 1; }
    cookie=/var/lib/rabbitmq/.erlang.cookie
    (umask 077; printf '%s' "$RABBITMQ_COOKIE" >"$cookie.tmp")
    chown rabbitmq:rabbitmq "$cookie.tmp"
    chmod 400 "$cookie.tmp"
    mv "$cookie.tmp" "$cookie"
fi

# join_when_up SEED: in the background, once this node answers, make it a member of SEED's
# cluster unless it is one; then mark it joined. Every rabbitmqctl call boots an Erlang VM (about a
# second), so there are few: wait, ask, join.
join_when_up() {
    local seed=$1 member k
    [[ $seed =~ ^rabbit@[a-z0-9-]+$ ]] || { say "RABBITMQ_JOIN is not rabbit@<host>: $seed"; return 1; }
    for k in $(seq 1 60); do
        rabbitmqctl -q await_startup >/dev/null 2>&1 && break
        [ "$k" -lt 60 ] || { say "the node did not start"; return 1; }
        sleep 1
    done
    for k in $(seq 1 30); do
        member=$(rabbitmqctl -q eval "lists:member('$seed', rabbit_nodes:all())." 2>/dev/null || true)
        if [ "$member" = true ]; then
            : >/tmp/rabbitmq-joined
            say "member of $seed's cluster"
            return 0
        fi
        say "joining $seed (attempt $k)"
        # Stopped, joined (which resets this node: its users come from the cluster) and started
        # again, whatever the join answered: a node left stopped would never come back.
        rabbitmqctl -q eval "ok = rabbit:stop(), R = rabbit_mnesia:join_cluster('$seed', disc), ok = rabbit:start(), R." >&2 || true
        sleep 2
    done
    say "could not join $seed"
    return 1
}
# The seed names the cluster: a member announces that name (a node on its own, its own name),
# which is how an orchestrator tells that the cluster has formed before it declares queues
# (mq_cluster_whole in common/mq/mq.h; a Swarm stack has no start-up order).
name_when_up() {
    local k
    for k in $(seq 1 120); do
        if rabbitmqctl -q await_startup >/dev/null 2>&1 && rabbitmqctl -q set_cluster_name rideshare >/dev/null 2>&1; then
            say "cluster named rideshare"
            return 0
        fi
        sleep 1
    done
    say "could not name the cluster"
    return 1
}
if [ -n "${RABBITMQ_JOIN:-}" ]; then
    join_when_up "$RABBITMQ_JOIN" &
else
    name_when_up &
fi

# The passwords and the cookie stay out of the broker's environment.
exec env -u ORCHESTRATOR_AUTH -u WORKER_AUTH -u CONSOLE_AUTH -u RABBITMQ_COOKIE /usr/sbin/rabbitmq-server "$@"
