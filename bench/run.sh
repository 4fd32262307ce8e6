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

set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${BENCH_SECONDS:-10}
data=${BENCH_DATA:-$root/docs/charts}
dir=$(mktemp -d /tmp/rideshare-bench.XXXXXX)
orch_pid=

cleanup() {
    [ -n "$orch_pid" ] && kill -TERM "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null || true
    "$root/services/infra/localinfra.sh" stop "$dir/infra" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$root/services/infra/localinfra.sh" start "$dir/infra" >/dev/null
set -a; . "$dir/infra/env"; set +a
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/data"
DATA_DIR="$dir/data" ORCH_PORT=$port INITIAL_SLAVES=${BENCH_SLAVES:-2} LOG_LEVEL=warn \
    READ_CACHE_ENTRIES=${READ_CACHE_ENTRIES:-0} \
    "$root/build/bin/rideshare-orchestrator" 2>"$dir/orchestrator.log" &
orch_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 600); do
    curl -fs -o /dev/null -X GET "$url/api/v1/worker/list" && break
    kill -0 "$orch_pid" || { cat "$dir/orchestrator.log"; exit 1; }
    sleep 0.1
done

post() { curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d "$2" "$url/api/v1/db/$1"; }
post write '{"op":"insert","table":"users","values":{"username":"bench","password":"3d725109c7e7c0bfb9d709836735b56d943d263f"}}'
for i in $(seq 1 50); do
    post write "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"bench\",\"ts\":$((1800000000 + i)),\"source\":1,\"destination\":2}}"
done

printf '%-9s %5s %10s %9s %9s %8s\n' endpoint conns req/s p50_ms p99_ms errors
mkdir -p "$data"
for what in read write; do
    dat=$data/db-$what.dat
    printf '# bench/run.sh %s: db/%s, %ss per run, load average %s at the start\n# conns req/s p50_ms p99_ms errors\n' \
        "$(date -u +%F)" "$what" "$secs" "$(cut -d' ' -f1 /proc/loadavg)" >"$dat"
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
