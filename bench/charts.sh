#!/usr/bin/env bash
#
# charts.sh — `make bench`, last step: the benchmarks' charts, SVGs drawn by gnuplot from the
# data files the benches leave in BENCH_DATA (default docs/charts), next to them (CHARTS_OUT to
# put them elsewhere):
#   throughput.svg  req/s and p99 against connections: db-read.dat, db-write.dat (bench/run.sh),
#                   api-get.dat, api-post.dat (bench/api.sh)
#   scale.svg       rates and the whole users list against the users table's size: scale.dat
#                   (bench/scale.py)
#   failover.svg    writes acknowledged per 100 ms around a master crash: failover-crash.dat,
#                   failover-sigkill.dat (bench/failover.py)
# One gnuplot script per chart in bench/charts/. A chart whose data files are not all there is
# skipped with a line saying which is missing, so one bench can be rerun and its chart redrawn
# alone. gnuplot comes from services/infra/deps.sh bench (Debian's gnuplot-nox); the tests
# never need it.

set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${BENCH_DATA:-$root/docs/charts}
out=${CHARTS_OUT:-$data}

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "charts: no gnuplot here; services/infra/deps.sh bench installs it (gnuplot-nox)" >&2
    exit 1
fi
mkdir -p "$out"

chart() { # NAME DATAFILE...
    local name=$1 f
    shift
    for f in "$@"; do
        if [ ! -s "$data/$f" ]; then
            echo "charts: $name.svg skipped: no $data/$f (its bench has not run)" >&2
            return 0
        fi
    done
    (cd "$root" && gnuplot -e "data='$data'; out='$out/$name.svg'" "bench/charts/$name.gp")
    echo "charts: $out/$name.svg"
}

chart throughput db-read.dat db-write.dat api-get.dat api-post.dat
chart scale scale.dat
chart failover failover-crash.dat failover-sigkill.dat
