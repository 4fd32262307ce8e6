#!/usr/bin/env bash
#
# docker/swarm.sh — the stack on Docker Swarm (behind make swarm-up/swarm-down; docs/operations.md,
# "Running on a swarm").
#
#   swarm.sh up      build the images (docker/stack.sh build; SWARM_BUILD=0 skips it), copy them to
#                    the other nodes (SWARM_NODES), `docker stack deploy -c docker/swarm-stack.yml`,
#                    wait until reads go through the gateway, print the URLs
#   swarm.sh down    stop the orchestrator (it removes its workers' services on SIGTERM), remove
#                    what is left of the workers (by label), `docker stack rm`, wait until the
#                    stack's networks are gone
#   swarm.sh images  `docker save | docker -H <node> load` of the images to each of SWARM_NODES
#   swarm.sh ps      the stack's services and tasks, and the worker services with their nodes
#
# HA=1 at `up` adds docker/swarm-stack.ha.yml: three RabbitMQ nodes, three ZooKeeper servers and
# two orchestrators, member k of the cluster and of the ensemble on the node labelled
# rideshare.infra<k>=true (labelled here, managers first, when no node is yet).
#
# The engine this talks to (DOCKER_HOST, default the local socket) must be a swarm manager;
# SWARM_INIT=1 makes a one-node swarm here when it is in none (`docker swarm init`).
#
# Environment, besides docker/stack.sh's (RIDESHARE_STACK, GATEWAY_PORT, ORCH_PORT, the
# workers' WORKER_*, ADMIN_TOKEN, BROKER_SECRETS_DIR):
#   SWARM_NODES       the other nodes' engines, as `docker -H` takes them, space-separated
#                     (ssh://user@host or tcp://host:2376 with TLS): there is no registry, so
#                     every image must be loaded on every node that may run it
#   SWARM_IMAGES      the images copied to SWARM_NODES (default all five; nodes that never run
#                     the infrastructure need only APP_IMAGE)
#   SWARM_CONSTRAINTS the workers' placement constraints, comma-separated (the orchestrator's)
#   INFRA_CONSTRAINT  where RabbitMQ, ZooKeeper, the orchestrator, the gateway and Prometheus
#                     run (default node.role==manager)
#   APP_IMAGE         the image of the C services and the workers (default rideshare-app)
#   INITIAL_SLAVES    slaves started with the master (default 1)
#   ENDPOINT_MODE     vip (default) or dnsrr: services reached through virtual IPs (IPVS in each
#                     node's kernel) or by DNS round robin (docker/swarm-stack.yml)
#   SWARM_STACK_FILES compose files laid over the stack's at `up`, space-separated (e.g. ports or
#                     placements of a site's own; the multi-node test publishes users and rides so)
#   UP_TIMEOUT        seconds `up` waits for reads through the gateway (default 240)
set -euo pipefail

cd "$(dirname "$0")/.."
stack=${RIDESHARE_STACK:-rideshare}
[[ $stack =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || { echo "swarm.sh: bad RIDESHARE_STACK '$stack'" >&2; exit 2; }
export RIDESHARE_STACK=$stack
# shellcheck disable=SC2206 # a list of images
IMAGES=(${SWARM_IMAGES:-${APP_IMAGE:-rideshare-app} rideshare-gateway rideshare-rabbitmq rideshare-zookeeper rideshare-prometheus})

say() { printf 'swarm: %s\n' "$*" >&2; }
now() { date +%s; }

need_manager() {
    local state ctl
    state=$(docker info --format '{{.Swarm.LocalNodeState}}')
    if [ "$state" = inactive ] && [ "${SWARM_INIT:-0}" = 1 ]; then
        say "making a one-node swarm here (docker swarm init)"
        docker swarm init >/dev/null
        state=$(docker info --format '{{.Swarm.LocalNodeState}}')
    fi
    ctl=$(docker info --format '{{.Swarm.ControlAvailable}}')
    if [ "$state" != active ] || [ "$ctl" != true ]; then
        say "this engine is not a swarm manager (state $state): docker swarm init, or SWARM_INIT=1"
        exit 1
    fi
}

# Every node needs the images: Swarm would pull them, and there is no registry to pull from.
# Saved once to a file, loaded on each node in turn.
images() {
    local node file rc=0
    [ -n "${SWARM_NODES:-}" ] || return 0
    file=$(mktemp "${TMPDIR:-/tmp}/rideshare-images.XXXXXX")
    docker save -o "$file" "${IMAGES[@]}" || rc=1
    for node in $SWARM_NODES; do
        [ "$rc" = 0 ] || break
        say "loading ${IMAGES[*]} on $node"
        docker -H "$node" load -i "$file" >/dev/null || rc=1
    done
    rm -f "$file"
    return "$rc"
}

# The admin token and the brokers' identities, as docker/stack.sh makes and reads them.
secrets() {
    if [ "${ADMIN_TOKEN+set}" != set ]; then
        ADMIN_TOKEN=$(head -n1 "$(services/infra/admin-token.sh)")
    fi
    export ADMIN_TOKEN
    # shellcheck disable=SC1090
    . <(services/infra/broker-secrets.sh env)
    export ORCHESTRATOR_AUTH WORKER_AUTH CONSOLE_AUTH CONSOLE_ZK_ID ORCHESTRATOR_AUTH_PREVIOUS RABBITMQ_COOKIE
}

# HA: the nodes of the brokers' and servers' members, rideshare.infra1..3, unless some node has
# them already: the ready managers first, then the ready workers, round and round.
label_nodes() {
    local ids nodes=() k n
    ids=$(docker node ls -q)
    # shellcheck disable=SC2086 # a list of ids
    if docker node inspect $ids --format '{{index .Spec.Labels "rideshare.infra1"}}' | grep -q true; then
        return 0
    fi
    mapfile -t nodes < <(docker node ls --filter role=manager --format '{{.ID}} {{.Status}}' | awk '$2 == "Ready" {print $1}'
                         docker node ls --filter role=worker --format '{{.ID}} {{.Status}}' | awk '$2 == "Ready" {print $1}')
    n=${#nodes[@]}
    for k in 1 2 3; do
        docker node update --label-add "rideshare.infra$k=true" "${nodes[$(( (k - 1) % n ))]}" >/dev/null
    done
    say "members 1..3 of the cluster and the ensemble on nodes ${nodes[*]:0:3}"
}

# Whether a read goes through gateway, users, rides, the orchestrator and a slave (2xx: 200 or
# 204, an empty list). Each probe waits out the services' own deadline (ORCH_TIMEOUT_MS, 12 s):
# one given up sooner would still be answered, and counted in _count, after `up` returned.
serving() {
    curl -fsS -o /dev/null --max-time 20 "$1/api/v1/users" 2>/dev/null &&
        curl -fsS -o /dev/null --max-time 20 "$1/api/v1/rides?source=1&destination=2" 2>/dev/null
}

up() {
    local t0 deadline gw files
    t0=$(now)
    need_manager
    secrets
    [ "${SWARM_BUILD:-1}" = 0 ] || docker/stack.sh build
    images
    export WORKER_IMAGE=${WORKER_IMAGE:-${APP_IMAGE:-rideshare-app}}
    files=(-c docker/swarm-stack.yml)
    if [ "${HA:-0}" = 1 ]; then
        label_nodes
        files+=(-c docker/swarm-stack.ha.yml)
    fi
    for f in ${SWARM_STACK_FILES:-}; do
        files+=(-c "$f")
    done
    docker stack deploy --prune=false "${files[@]}" "$stack" >&2
    gw=http://127.0.0.1:${GATEWAY_PORT:-8080}
    deadline=$(( $(now) + ${UP_TIMEOUT:-240} ))
    # Up means serving: a read through the gateway, users and rides to the orchestrator and a
    # slave. The gateway alone answering (_count) is not enough: on the other nodes a service's
    # name can stay unresolvable until the overlay's gossip brings its tasks there.
    until serving "$gw"; do
        if [ "$(now)" -ge "$deadline" ]; then
            say "the stack did not serve reads at $gw within ${UP_TIMEOUT:-240} s"
            docker stack ps --no-trunc "$stack" >&2 || true
            exit 1
        fi
        sleep 1
    done
    say "up in $(( $(now) - t0 )) s (stack $stack)"
    cat <<EOT
Gateway       $gw   (on the node running the gateway)
Orchestrator  http://127.0.0.1:${ORCH_PORT:-8083}   (worker list: /api/v1/worker/list)
Status: make swarm-ps    Stop: make swarm-down
EOT
}

worker_services() {
    docker service ls -q --filter "label=rideshare.stack=$stack" --filter label=rideshare.role=worker
}

down() {
    local ids deadline n
    # The orchestrator first: stopped (SIGTERM), it removes its workers and starts no more.
    if docker service inspect "${stack}_orchestrator" >/dev/null 2>&1; then
        docker service scale --detach=false "${stack}_orchestrator=0" >/dev/null 2>&1 || true
    fi
    ids=$(worker_services)
    # shellcheck disable=SC2086 # a list of ids
    [ -z "$ids" ] || docker service rm $ids >/dev/null
    docker stack rm "$stack" >/dev/null 2>&1 || true
    # Networks go once their last task has stopped, on every node.
    deadline=$(( $(now) + 60 ))
    while :; do
        n=$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack" | wc -l)
        [ "$n" = 0 ] && break
        if [ "$(now)" -ge "$deadline" ]; then say "networks of $stack still there after 60 s"; break; fi
        sleep 1
    done
    # Volumes are local to the node that made them (this one, a manager), and in use until
    # the stack's containers here are gone.
    deadline=$(( $(now) + 60 ))
    while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ]; do
        if [ "$(now)" -ge "$deadline" ]; then say "containers of $stack still there after 60 s"; break; fi
        sleep 1
    done
    docker volume rm "${stack}_rabbitmq" "${stack}_rabbitmq-2" "${stack}_rabbitmq-3" "${stack}_prometheus" \
        >/dev/null 2>&1 || true
}

case ${1:-} in
    up) up ;;
    down) down ;;
    images) images ;;
    ps)
        docker stack ps "$stack"
        echo
        ids=$(worker_services)
        # shellcheck disable=SC2086 # a list of ids
        [ -z "$ids" ] || docker service ps $ids --filter desired-state=running \
            --format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}'
        ;;
    *) echo "usage: docker/swarm.sh up|down|images|ps" >&2; exit 2 ;;
esac
