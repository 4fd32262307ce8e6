#!/usr/bin/env bash
#
# run.sh — `make run`: the whole service on this host, in the foreground.
#
# Starts a private RabbitMQ and ZooKeeper (localinfra.sh), then the
# orchestrator, which starts its master and slave workers through the
# process runtime. Ctrl-C or SIGTERM stops the orchestrator (which stops its
# workers) and then the infrastructure, by PID, leaving nothing behind.
#
# Environment: ORCH_PORT (default 8083), RUN_DIR (default: a new temporary
# directory holding every process's data and logs); anything else the
# orchestrator reads (see build/bin/rideshare-orchestrator --help).

set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run_dir=${RUN_DIR:-$(mktemp -d /tmp/rideshare-run.XXXXXX)}
infra="$run_dir/infra"
orch_pid=

cleanup() {
    trap - EXIT INT TERM
    if [ -n "$orch_pid" ] && kill -0 "$orch_pid" 2>/dev/null; then
        kill -TERM "$orch_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$orch_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$orch_pid" 2>/dev/null || true
    fi
    "$root/services/infra/localinfra.sh" stop "$infra" || true
    echo "run: stopped; data and logs are in $run_dir" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/services/infra/localinfra.sh" start "$infra"
set -a
# shellcheck disable=SC1091
. "$infra/env"
set +a
export DATA_DIR="$run_dir/data" ORCH_HOST=${ORCH_HOST:-127.0.0.1} ORCH_PORT=${ORCH_PORT:-8083}
mkdir -p "$DATA_DIR"

"$root/build/bin/rideshare-orchestrator" &
orch_pid=$!
echo "run: RabbitMQ  $RABBITMQ_URL" >&2
echo "run: ZooKeeper $ZK_HOSTS" >&2
echo "run: orchestrator http://$ORCH_HOST:$ORCH_PORT/ (pid $orch_pid) — Ctrl-C stops everything" >&2
wait "$orch_pid" || true
orch_pid=
