#!/usr/bin/env bash
#
# run.sh — `make bench`: the DB service's throughput and latency with wrk.
#
# Starts a private RabbitMQ + ZooKeeper and an orchestrator with 2 slaves on
# loopback, seeds a few rides, then runs wrk against db/read and db/write at
# 1, 8 and 32 connections (BENCH_SECONDS each, default 10) and prints one
# table row per run. The rows also go to BENCH_DATA (default docs/charts),
# db-read.dat and db-write.dat, one line per connection count, for
# bench/charts.sh. Everything started is stopped by PID at the end.
# The orchestrator's read cache is off (READ_CACHE_ENTRIES=0 unless set): wrk
# repeats one read, which the cache would answer without a replica, and this
# bench measures the replicas' path (bench/api.sh measures the cached one).
#
# HA=1: the same runs twice in one go, each under a title — first on the
# single node and server of localinfra.sh, then on HA=1 localinfra.sh (a
# 3-node RabbitMQ cluster, a 3-server ZooKeeper ensemble, MQ_REPLICAS=3:
# writeQ and readQ quorum queues, the log a stream with three replicas) —
# so that the two tables come from the same host at the same time. The HA
# rows go to db-read-ha.dat and db-write-ha.dat.

set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${BENCH_SECONDS:-10}
data=${BENCH_DATA:-$root/docs/charts}
dir=$(mktemp -d /tmp/rideshare-bench.XXXXXX)
orch_pid=
infra=

cleanup() {
    [ -n "$orch_pid" ] && kill -TERM "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null || true
    orch_pid=
    [ -z "$infra" ] || "$root/services/infra/localinfra.sh" stop "$infra" >/dev/null 2>&1 || true
    infra=
}
trap cleanup EXIT

# bench TOPOLOGY: single or ha — the infrastructure, the orchestrator, the seed and the wrk runs,
# then everything stopped again.
bench() {
    local t=$1 suffix='' port url what dat c threads out rps p50 p99 err
    infra=$dir/infra-$t
    if [ "$t" = ha ]; then
        suffix=-ha
        echo "== HA=1 localinfra: 3 RabbitMQ nodes (quorum writeQ and readQ, the log on 3 replicas), 3 ZooKeeper servers"
        HA=1 "$root/services/infra/localinfra.sh" start "$infra" >/dev/null 2>"$dir/infra-$t.err" ||
            { cat "$dir/infra-$t.err"; exit 1; }
    else
        [ "${HA:-}" != 1 ] || echo "== single RabbitMQ node and ZooKeeper server"
        "$root/services/infra/localinfra.sh" start "$infra" >/dev/null 2>"$dir/infra-$t.err" ||
            { cat "$dir/infra-$t.err"; exit 1; }
    fi
    (
        set -a; . "$infra/env"; set +a
        exec env DATA_DIR="$dir/data-$t" ORCH_PORT="$2" INITIAL_SLAVES="${BENCH_SLAVES:-2}" LOG_LEVEL=warn \
            READ_CACHE_ENTRIES="${READ_CACHE_ENTRIES:-0}" "$root/build/bin/rideshare-orchestrator"
    ) 2>"$dir/orchestrator-$t.log" &
    orch_pid=$!
    url=http://127.0.0.1:$2
    for _ in $(seq 600); do
        curl -fs -o /dev/null -X GET "$url/api/v1/worker/list" && break
        kill -0 "$orch_pid" || { cat "$dir/orchestrator-$t.log"; exit 1; }
        sleep 0.1
    done

    post write '{"op":"insert","table":"users","values":{"username":"bench","password":"3d725109c7e7c0bfb9d709836735b56d943d263f"}}'
    for i in $(seq 1 50); do
        post write "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"bench\",\"ts\":$((1800000000 + i)),\"source\":1,\"destination\":2}}"
    done

    printf '%-9s %5s %10s %9s %9s %8s\n' endpoint conns req/s p50_ms p99_ms errors
    mkdir -p "$data"
    for what in read write; do
        dat=$data/db-$what$suffix.dat
        printf '# bench/run.sh %s: db/%s%s, %ss per run, load average %s at the start\n# conns req/s p50_ms p99_ms errors\n' \
            "$(date -u +%F)" "$what" "${suffix:+ (HA=1 localinfra)}" "$secs" "$(cut -d' ' -f1 /proc/loadavg)" >"$dat"
        for c in 1 8 32; do
            threads=$(( c < 2 ? 1 : 2 ))
            out=$(wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s -s "$root/bench/db$what.lua" "$url" | grep '^RESULT')
            rps=$(sed 's/.*rps=\([^ ]*\).*/\1/' <<<"$out")
            p50=$(sed 's/.*p50_ms=\([^ ]*\).*/\1/' <<<"$out")
            p99=$(sed 's/.*p99_ms=\([^ ]*\).*/\1/' <<<"$out")
            err=$(sed 's/.*errors=\([^ ]*\).*/\1/' <<<"$out")
            printf 'db/%-6s %5d %10s %9s %9s %8s\n' "$what" "$c" "$rps" "$p50" "$p99" "$err"
            printf '%d %s %s %s %s\n' "$c" "$rps" "$p50" "$p99" "$err" >>"$dat"
        done
    done
    cleanup
}

post() { curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d "$2" "$url/api/v1/db/$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bench single "$(free_port)"
if [ "${HA:-}" = 1 ]; then
    echo
    bench ha "$(free_port)"
fi
