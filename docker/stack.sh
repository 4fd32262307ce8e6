#!/usr/bin/env bash
#
# docker/stack.sh — the container stack of docker-compose.yml (behind make up/down/logs/ps).
#
#   stack.sh build   the base image if missing (docker/base-image.sh), then the five images
#   stack.sh up      build, `compose up -d`, wait until the gateway answers, print the URLs
#                    (HA=1: with docker-compose.ha.yml, three RabbitMQ nodes, three ZooKeeper
#                    servers and two orchestrators: docs/operations.md, "HA in containers")
#   stack.sh down    stop and remove everything of the stack, of either topology: containers,
#                    workers (by label), networks, volumes
#   stack.sh logs    follow the logs of the compose services
#   stack.sh ps      the compose services and the worker containers
#   stack.sh console [ARGS]  rideshare-console in a container on the stack's network (no host
#                    ports needed), with a terminal when there is one; ARGS go to the console
#                    (--once, --json, --read-only, -d SECONDS); CONSOLE_IMAGE picks the image
#                    (default rideshare-app)
#
# Environment:
#   RIDESHARE_STACK  the stack's name, also the compose project name (default rideshare;
#                    [a-z0-9][a-z0-9-]*): lets tests run a stack beside a developer's
#   GATEWAY_PORT USERS_PORT RIDES_PORT ORCH_PORT   host ports on 127.0.0.1 (8080..8083)
#   ORCH2_PORT       the second orchestrator's host port with HA=1 (8084)
#   HA               1 at `up`: the HA overlay. The other commands see by themselves whether the
#                    stack runs it (a container of its rabbitmq-2); `up` refuses to switch a
#                    running stack from one topology to the other (make down first)
#   UP_TIMEOUT       seconds `up` waits for the gateway after `compose up` (default 180)
#   COMPOSE          the compose command (default: `docker compose` if present, else docker-compose)
#   BROKER_SECRETS_DIR  where the brokers' identities are (default secrets/; broker-secrets.sh)
#
# Images are built with `docker build` (layer cache: a second build takes seconds; each
# Dockerfile labels its image rideshare.project=rideshare); compose then only starts them
# (--no-build), so both compose implementations run the very same images.
set -euo pipefail

cd "$(dirname "$0")/.."
stack=${RIDESHARE_STACK:-rideshare}
[[ $stack =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || { echo "stack.sh: bad RIDESHARE_STACK '$stack'" >&2; exit 2; }
export RIDESHARE_STACK=$stack
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
# shellcheck disable=SC2206 # a command and its words
compose_base=($COMPOSE -p "$stack" -f docker-compose.yml)
compose_ha=("${compose_base[@]}" -f docker-compose.ha.yml)

# Whether the stack runs the HA overlay: a container of its second RabbitMQ node exists.
running_ha() {
    [ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$stack" \
        --filter label=com.docker.compose.service=rabbitmq-2 2>/dev/null)" ]
}
running_single() {
    [ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$stack" \
        --filter label=com.docker.compose.service=rabbitmq 2>/dev/null)" ] && ! running_ha
}
if [ "${1:-}" = up ]; then
    if [ "${HA:-}" = 1 ]; then ha=1; else ha=0; fi
elif running_ha; then ha=1; else ha=0; fi
if [ "$ha" = 1 ]; then compose=("${compose_ha[@]}"); else compose=("${compose_base[@]}"); fi

say() { printf 'stack: %s\n' "$*" >&2; }
now() { date +%s; }

build() {
    local t0 dir pids=() tags=() i rc=0
    t0=$(now)
    docker/base-image.sh
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rideshare-build.XXXXXX")
    # The five builds run side by side (a cold build is mostly apt-get and dpkg); the legacy
    # builder's deprecation notice and the steps go to a log each, shown on failure.
    build_one "$dir" rideshare-app -f docker/Dockerfile . & pids+=($!) tags+=(rideshare-app)
    build_one "$dir" rideshare-gateway -f docker/gateway/Dockerfile . & pids+=($!) tags+=(rideshare-gateway)
    build_one "$dir" rideshare-rabbitmq -f docker/rabbitmq/Dockerfile . & pids+=($!) tags+=(rideshare-rabbitmq)
    build_one "$dir" rideshare-zookeeper docker/zookeeper & pids+=($!) tags+=(rideshare-zookeeper)
    build_one "$dir" rideshare-prometheus -f docker/prometheus/Dockerfile . & pids+=($!) tags+=(rideshare-prometheus)
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            tail -n 40 "$dir/${tags[$i]}.log" >&2
            say "building ${tags[$i]} failed"
            rc=1
        fi
    done
    rm -rf "$dir"
    [ $rc = 0 ] || exit 1
    say "images built in $(( $(now) - t0 )) s"
}

build_one() { # logdir tag docker-build-args...
    local dir=$1 tag=$2
    shift 2
    docker build --force-rm -t "$tag" "$@" >"$dir/$tag.log" 2>&1
}

remove_workers() {
    local ids
    ids=$(docker ps -aq --filter "label=rideshare.stack=$stack" --filter label=rideshare.role=worker)
    # shellcheck disable=SC2086 # a list of ids
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
}

# The admin token (docs/security.md): ADMIN_TOKEN if set — empty turns the check off, for the
# course's graders, which call the orchestrator bare — else the one in ADMIN_TOKEN_FILE
# (default secrets/admin_token), made on first use. Compose passes it to the orchestrator,
# users and rides.
admin_token() {
    if [ "${ADMIN_TOKEN+set}" = set ]; then
        [ -n "$ADMIN_TOKEN" ] || say "warning: ADMIN_TOKEN is empty: the orchestrator's routes are open to anyone who reaches them"
        token_file=''
    else
        token_file=$(services/infra/admin-token.sh)
        ADMIN_TOKEN=$(head -n1 "$token_file")
    fi
    export ADMIN_TOKEN
}

# The brokers' identities (docs/security.md, "The brokers' users"): from BROKER_SECRETS_DIR
# (default secrets/broker_*), made on first use, read from a pipe; exported for compose, which
# gives each container only its own (docker-compose.yml).
broker_secrets() {
    # shellcheck disable=SC1090
    . <(services/infra/broker-secrets.sh env)
    export ORCHESTRATOR_AUTH WORKER_AUTH CONSOLE_AUTH CONSOLE_ZK_ID ORCHESTRATOR_AUTH_PREVIOUS RABBITMQ_COOKIE
}

up() {
    local t0 deadline gw token_file
    t0=$(now)
    # A cluster's node 1 would wait for nodes that are gone, a single node would be joined by
    # nodes it never knew: switching topologies starts from nothing.
    if [ "$ha" = 1 ] && running_single; then
        say "the stack $stack runs the single-node topology: make down first, then HA=1 make up"
        exit 1
    fi
    if [ "$ha" = 0 ] && running_ha; then
        say "the stack $stack runs the HA topology: make down first (or HA=1 make up)"
        exit 1
    fi
    admin_token
    broker_secrets
    build
    "${compose[@]}" up -d --no-build --remove-orphans
    gw=http://127.0.0.1:${GATEWAY_PORT:-8080}
    deadline=$(( $(now) + ${UP_TIMEOUT:-180} ))
    until curl -fsS -o /dev/null --max-time 2 "$gw/api/v1/_count" 2>/dev/null; do
        if [ "$(now)" -ge "$deadline" ]; then
            say "the gateway did not answer at $gw within ${UP_TIMEOUT:-180} s"
            "${compose[@]}" ps >&2 || true
            "${compose[@]}" logs --tail 30 >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    say "up in $(( $(now) - t0 )) s (stack $stack)"
    cat <<EOT
Gateway       $gw
Users         http://127.0.0.1:${USERS_PORT:-8081}
Rides         http://127.0.0.1:${RIDES_PORT:-8082}
Orchestrator  http://127.0.0.1:${ORCH_PORT:-8083}   (worker list: /api/v1/worker/list)
Prometheus    http://127.0.0.1:${PROMETHEUS_PORT:-9090}   (targets: /targets, alerts: /alerts)
EOT
    if [ "$ha" = 1 ]; then
        echo "Orchestrator  http://127.0.0.1:${ORCH2_PORT:-8084}   (the pair: GET /api/v1/role says which is active)"
        echo "Brokers       RabbitMQ rabbitmq, rabbitmq-2, rabbitmq-3 (clustered); ZooKeeper zookeeper, zookeeper-2, zookeeper-3"
    fi
    echo "Logs: make logs    Status: make ps    Stop: make down"
    if [ -n "$token_file" ]; then
        echo "Admin token   $token_file   (the orchestrator's routes need Authorization: Bearer <it>)"
    fi
    echo "Broker users  ${BROKER_SECRETS_DIR:-secrets}/broker_{orchestrator,worker,console}   (user:password each)"
}

# The admin console inside the stack's control network: it reaches ZooKeeper, RabbitMQ and
# the orchestrator by their compose names, as the orchestrator does. All three are given, though the
# orchestrator alone would tell it the other two (GET /api/v1/config): so it still shows
# ZooKeeper and the queues while the orchestrator is down.
console() {
    local tty=()
    if ! docker network inspect "${stack}_control" >/dev/null 2>&1; then
        say "the stack $stack is not up (make up)"
        exit 1
    fi
    [ -t 0 ] && [ -t 1 ] && tty=(-it)
    admin_token >/dev/null
    broker_secrets
    # The console's identity only; -e NAME takes the value from here, off the command line.
    local mq=amqp://$CONSOLE_AUTH@rabbitmq:5672/ zk=zookeeper:2181 orch=http://orchestrator:80
    if [ "$ha" = 1 ]; then
        mq+=,amqp://$CONSOLE_AUTH@rabbitmq-2:5672/,amqp://$CONSOLE_AUTH@rabbitmq-3:5672/
        zk+=,zookeeper-2:2181,zookeeper-3:2181
        orch+=,http://orchestrator-2:80
    fi
    RABBITMQ_URL=$mq ZK_AUTH=$CONSOLE_AUTH \
    exec docker run --rm "${tty[@]}" --network "${stack}_control" \
        --label rideshare.project=rideshare --label "rideshare.stack=$stack" --label rideshare.role=console \
        -e TERM="${TERM:-xterm}" -e NO_COLOR="${NO_COLOR:-}" -e LANG=C.UTF-8 \
        -e ZK_HOSTS="$zk" -e ZK_ROOT=/rideshare \
        -e RABBITMQ_URL -e ZK_AUTH -e ORCH_URL="$orch" -e ADMIN_TOKEN \
        "${CONSOLE_IMAGE:-rideshare-app}" rideshare-console "$@"
}

remove_consoles() {
    local ids
    ids=$(docker ps -aq --filter "label=rideshare.stack=$stack" --filter label=rideshare.role=console)
    # shellcheck disable=SC2086 # a list of ids
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
}

down() {
    # Both files whatever runs: every service and volume of either topology goes. The
    # orchestrators first, together: a stopped one stops its workers and starts no more (a
    # standby that took over meanwhile may start some: they go by label below).
    "${compose_ha[@]}" stop -t 5 orchestrator orchestrator-2 >/dev/null 2>&1 || true
    remove_consoles
    remove_workers
    "${compose_ha[@]}" down -v --remove-orphans -t 5
    remove_workers
    local n
    for n in front back control data; do docker network rm "${stack}_$n" >/dev/null 2>&1 || true; done
    docker volume rm "${stack}_rabbitmq" "${stack}_rabbitmq-2" "${stack}_rabbitmq-3" "${stack}_backups" \
        "${stack}_prometheus" >/dev/null 2>&1 || true
}

case ${1:-} in
    build) build ;;
    up) up ;;
    down) down ;;
    logs) exec "${compose[@]}" logs -f --tail 100 ;;
    ps)
        "${compose[@]}" ps
        echo
        docker ps -a --filter "label=rideshare.stack=$stack" --filter label=rideshare.role=worker \
            --format 'table {{.Names}}\t{{.Status}}\t{{.ID}}'
        ;;
    console) shift; console "$@" ;;
    *) echo "usage: docker/stack.sh build|up|down|logs|ps|console [ARGS]" >&2; exit 2 ;;
esac
