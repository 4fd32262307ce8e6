#!/usr/bin/env bash
#
# api.sh — `make bench` (after the DB bench): the users/rides API through the nginx gateway,
# the whole stack on this host, with wrk.
#
# Starts the stack with services/infra/run.sh on four free loopback ports (RabbitMQ, ZooKeeper,
# orchestrator with BENCH_SLAVES slaves, users, rides, nginx), seeds user "bench" and
# BENCH_RIDES upcoming rides from area 1 to area 2, then runs wrk at each of BENCH_CONNS
# connection counts (default "1 8 32") for BENCH_SECONDS each (default 10) on
#   GET  /api/v1/rides?source=1&destination=2   (bench/api_list.lua: a 200 list every time)
#   POST /api/v1/rides                          (bench/api_create.lua: unique bodies; each
#                                                create also makes rides call users once)
# and prints one row per run (req/s, p50, p99, errors) like bench/run.sh, against the targets
# at 32 connections (GET >= 6,000 req/s with p99 <= 15 ms; POST >= 300 req/s; the other counts
# are for the chart and have no target), and where the CPU went during each run: utime+stime
# of each process from /proc, in % of one core (nginx = master and workers; workers = the
# orchestrator's master and slaves; rabbitmq = the broker's VM). The rows also go to
# BENCH_DATA (default docs/charts), api-get.dat and api-post.dat, one line per connection
# count, for bench/charts.sh.
# BENCH_PERF=1: the GET run at the last connection count is also sampled with `perf record -a
# -g` (Debian's linux-perf; installed here if missing, never by make test), and a summary of
# where the two cores' time went follows its row: the share of each process, then each
# process's top symbols (bench/perfsummary.py).
# Stopping: TERM to run.sh, which stops everything it started by PID.

set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${BENCH_SECONDS:-10}
conns_list=${BENCH_CONNS:-1 8 32}
data=${BENCH_DATA:-$root/docs/charts}
nrides=${BENCH_RIDES:-20}
dir=$(mktemp -d /tmp/rideshare-apibench.XXXXXX)
run_pid=

cleanup() {
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        kill -TERM "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r gw users rides orch < <(python3 -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
GATEWAY_PORT=$gw USERS_PORT=$users RIDES_PORT=$rides ORCH_PORT=$orch RUN_DIR=$dir/run \
    INITIAL_SLAVES=${BENCH_SLAVES:-2} LOG_LEVEL=warn \
    "$root/services/infra/run.sh" >"$dir/run.log" 2>&1 </dev/null &
run_pid=$!
deadline=$((SECONDS + 180))
until grep -q '^run: up' "$dir/run.log"; do
    if ! kill -0 "$run_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
        tail -n 40 "$dir/run.log" >&2
        echo "api bench: the stack did not come up (log: $dir/run.log)" >&2
        exit 1
    fi
    sleep 0.2
done
url=http://127.0.0.1:$gw

curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"3d725109c7e7c0bfb9d709836735b56d943d263f"}' "$url/api/v1/users"
now=$(date +%s)
for i in $(seq 1 "$nrides"); do
    ts=$(date -u -d "@$((now + 7 * 86400 + i * 60))" +%d-%m-%Y:%S-%M-%H)
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"created_by\":\"bench\",\"timestamp\":\"$ts\",\"source\":1,\"destination\":2}" "$url/api/v1/rides"
done
n=$(curl -fsS "$url/api/v1/rides?source=1&destination=2" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = "$nrides" ] || { echo "api bench: seeded $nrides rides, the list has $n" >&2; exit 1; }

# name=pid pairs of what to watch, from run.sh's start-up lines and /proc.
pid_of() { sed -n "s/^run: $1 .*(pid \([0-9]*\)).*/\1/p" "$dir/run.log" | tail -n 1; }
children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }
orch_pid=$(pid_of orchestrator)
gw_pid=$(pid_of gateway)
rabbit_pid=$(sed -n 's/^RABBITMQ_PID=//p' "$dir/run/infra/env")
declare -A group=(
    [nginx]="$gw_pid $(children "$gw_pid")"
    [rides]=$(pid_of rides)
    [users]=$(pid_of users)
    [orchestrator]=$orch_pid
    [workers]=$(children "$orch_pid")
    [rabbitmq]=$rabbit_pid
)
order=(nginx rides users orchestrator workers rabbitmq)

ticks() { # sum of utime+stime of the PIDs given, in clock ticks
    local t=0 p f
    for p in "$@"; do
        f=$(cut -d' ' -f14,15 <"/proc/$p/stat" 2>/dev/null || true)
        [[ $f =~ ^([0-9]+)\ ([0-9]+)$ ]] && t=$((t + BASH_REMATCH[1] + BASH_REMATCH[2]))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)

printf '%-18s %5s %10s %9s %9s %8s  %s\n' endpoint conns req/s p50_ms p99_ms errors target
bench() { # NAME SCRIPT CONNS DATAFILE TARGET_RPS TARGET_P99_MS(or -) [PERF_NAME]
    local name=$1 script=$2 conns=$3 dat=$4 want_rps=$5 want_p99=$6 perf=${7:-} out rps p50 p99 err t0 w g line verdict
    declare -A before
    for g in "${order[@]}"; do before[$g]=$(ticks ${group[$g]}); done
    t0=$(date +%s%N)
    wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${secs}s" --timeout 10s -s "$root/bench/$script" "$url" >"$dir/wrk-$name.out" 2>&1 &
    w=$!
    local perf_pid=
    if [ -n "$perf" ]; then
        perf record -F 499 -a -g -o "$dir/perf-$perf.data" -- sleep "$((secs > 2 ? secs - 1 : secs))" \
            >"$dir/perf-$perf.log" 2>&1 &
        perf_pid=$!
    fi
    local wrk_ticks=0
    while kill -0 "$w" 2>/dev/null; do
        wrk_ticks=$(ticks "$w")   # last reading before it exits
        sleep 0.5
    done
    wait "$w"
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    local elapsed_cs=$(( ($(date +%s%N) - t0) / 10000000 ))
    out=$(grep '^RESULT' "$dir/wrk-$name.out") || { cat "$dir/wrk-$name.out" >&2; return 1; }
    rps=$(sed 's/.*rps=\([^ ]*\).*/\1/' <<<"$out")
    p50=$(sed 's/.*p50_ms=\([^ ]*\).*/\1/' <<<"$out")
    p99=$(sed 's/.*p99_ms=\([^ ]*\).*/\1/' <<<"$out")
    err=$(sed 's/.*errors=\([^ ]*\).*/\1/' <<<"$out")
    verdict="- (the targets are at 32 connections)"
    [ "$conns" != 32 ] || verdict=$(python3 -c "
rps, p99, err = float('$rps'), float('$p99'), int('$err')
ok = rps >= $want_rps and ('$want_p99' == '-' or p99 <= float('$want_p99')) and err == 0
print(('met' if ok else 'MISSED') + ' (>= $want_rps/s' + ('' if '$want_p99' == '-' else ', p99 <= ${want_p99} ms') + ')')")
    printf '%d %s %s %s %s\n' "$conns" "$rps" "$p50" "$p99" "$err" >>"$dat"
    printf '%-18s %5d %10s %9s %9s %8s  %s\n' "$name" "$conns" "$rps" "$p50" "$p99" "$err" "$verdict"
    line="  cpu % of one core:"
    for g in "${order[@]}"; do
        line+=" $g $(( ($(ticks ${group[$g]}) - before[$g]) * 100 * 100 / hz / elapsed_cs ))"
    done
    line+=" wrk $(( wrk_ticks * 100 * 100 / hz / elapsed_cs ))"
    echo "$line"
    if [ -n "$perf_pid" ]; then
        local names=()
        for g in "${order[@]}"; do names+=("$g=$(tr ' ' , <<<"${group[$g]}")"); done
        "$root/bench/perfsummary.py" "$dir/perf-$perf.data" "${names[@]}" "wrk=$w"
    fi
}
perf_get=
if [ "${BENCH_PERF:-0}" = 1 ]; then
    command -v perf >/dev/null 2>&1 || apt-get install -y -q linux-perf >/dev/null
    perf_get=get
fi
mkdir -p "$data"
last=${conns_list##* }
for what in get post; do
    printf '# bench/api.sh %s: %s, %ss per run, load average %s at the start\n# conns req/s p50_ms p99_ms errors\n' \
        "$(date -u +%F)" "$([ $what = get ] && echo 'GET rides?source&destination' || echo 'POST rides')" "$secs" \
        "$(cut -d' ' -f1 /proc/loadavg)" >"$data/api-$what.dat"
done
for c in $conns_list; do
    bench "GET rides?src&dst" api_list.lua "$c" "$data/api-get.dat" 6000 15 "$([ "$c" = "$last" ] && echo "$perf_get")"
done
for c in $conns_list; do
    bench "POST rides" api_create.lua "$c" "$data/api-post.dat" 300 -
done
echo "(stack logs in $dir)"
