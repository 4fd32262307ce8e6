#!/usr/bin/env bash
#
# tests/run.sh [unit|all] — the test runner behind `make test-unit` (unit)
# and `make test` (all).
#
#   unit  builds plain (`make -j2`) and with ASan/UBSan (`make -j2 asan`),
#         runs every executable in build/tests/unit/ and build/asan/tests/unit/,
#         and checks that every reference resolves (tests/check_refs.py).
#   all   unit, then the libFuzzer harness for FUZZ_SECONDS (default 60) over a
#         copy of tests/fuzz/corpus, then (with a Docker engine) the container
#         images (docker/stack.sh build), then the integration tests
#         (build/tests/integration/* and tests/integration/test_*.py) against a
#         private RabbitMQ + ZooKeeper from services/infra/localinfra.sh, with
#         its DIR/env exported plus INFRA_DIR (that DIR), RIDESHARE_BIN and a
#         TEST_TMP per program.
#
# Counting. Every test program prints "ok <suite>: <name>" or
# "not ok <suite>: <name> ..." per test (the shared harness in tests/lib:
# test.h for C, harness.py's Suite for Python); the runner counts those
# lines. A program that exits non-zero without a "not ok" line (a crash, a
# sanitizer report) adds one failure of its own; one killed by the
# per-program timeout (TEST_TIMEOUT, default 600 s; more for a program whose
# source has a line "# test-timeout: SECONDS") adds one failure; exit
# status 77 means "skipped" (e.g. a needed service is absent). The last line
# is always "N passed, N failed" (", N skipped" only if something was), and
# the exit status is 1 if anything failed.
#
# Running. Each program runs in the background under `timeout`, its output
# going to a file that `tail --pid` shows as it comes; the runner waits with
# the `wait` builtin. That way a Ctrl-C or SIGTERM reaches the runner at once
# (timeout puts its child in a process group of its own, which a terminal's
# Ctrl-C does not reach), the trap stops the running program and the
# infrastructure, and nothing is left behind. Reading results from a file
# rather than a pipe also means a stray daemon that inherited the program's
# stdout cannot hang the runner. Everything shown is also appended to a log
# in a temporary directory, kept (and named) when something failed.

set -u

MODE=${1:-all}
case $MODE in
    unit|all) ;;
    *) echo "usage: tests/run.sh [unit|all]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
TIMEOUT=${TEST_TIMEOUT:-600}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rideshare-test.XXXXXX") || exit 2
LOG=$TMP/test.log
: >"$LOG"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

PASSED=0 FAILED=0 SKIPPED=0
CHILD='' TAILER='' INFRA_DIR='' KEEP=1 NPROG=0

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
failed() { FAILED=$((FAILED + 1)); say "not ok $*"; }
skipped() { SKIPPED=$((SKIPPED + 1)); say "skip $*"; }

stop_child() {
    if [ -n "$CHILD" ]; then
        kill -TERM "$CHILD" 2>/dev/null # timeout passes it on, then KILLs after 10 s
        wait "$CHILD" 2>/dev/null
        CHILD=''
    fi
    if [ -n "$TAILER" ]; then
        kill "$TAILER" 2>/dev/null
        wait "$TAILER" 2>/dev/null
        TAILER=''
    fi
}

stop_infra() {
    [ -n "$INFRA_DIR" ] || return 0
    if ! "$ROOT/services/infra/localinfra.sh" stop "$INFRA_DIR" >>"$LOG" 2>&1; then
        echo "warning: localinfra.sh stop $INFRA_DIR failed (see $LOG)" >&2
    fi
    INFRA_DIR=''
}

on_exit() {
    stop_child
    stop_infra
    if [ "$KEEP" = 0 ]; then rm -rf "$TMP"; fi
}
trap on_exit EXIT
trap 'echo "interrupted; logs in $TMP" >&2; exit 130' INT
trap 'echo "terminated; logs in $TMP" >&2; exit 143' TERM

# run_prog NAME CMD... — runs one test program and counts its lines.
run_prog() {
    local name=$1 out rc ok notok limit
    shift
    NPROG=$((NPROG + 1))
    out=$TMP/prog.$NPROG.out
    : >"$out"
    say "== $name"
    # A program may ask for more time than TIMEOUT in a line "# test-timeout: SECONDS".
    limit=$(grep -m1 -ao '^# test-timeout: [0-9]*' "$name" 2>/dev/null | awk '{print $3}')
    [ -n "$limit" ] && [ "$limit" -gt "$TIMEOUT" ] || limit=$TIMEOUT
    timeout -k 10 "$limit" "$@" >"$out" 2>&1 </dev/null &
    CHILD=$!
    tail -n +1 -s 0.2 --pid="$CHILD" -f "$out" &
    TAILER=$!
    wait "$CHILD"
    rc=$?
    CHILD=''
    wait "$TAILER" 2>/dev/null
    TAILER=''
    cat "$out" >>"$LOG"
    ok=$(grep -c '^ok ' "$out")
    notok=$(grep -c '^not ok ' "$out")
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + notok))
    if [ "$rc" = 124 ]; then
        failed "$name: timed out after ${limit}s"
    elif [ "$rc" = 77 ]; then
        skipped "$name: skipped (exit 77)"
    elif [ "$rc" != 0 ] && [ "$notok" = 0 ]; then
        failed "$name: exited with status $rc"
    fi
}

# build WHAT CMD... — a build step shown as it goes; a failure counts once.
build() {
    local what=$1 rc
    shift
    say "== $what"
    "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] && return 0
    failed "build: $what exited with status $rc"
    return 1
}

# run_dir DIR — every executable file in DIR.
run_dir() {
    local dir=$1 f n=0
    for f in "$dir"/*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        n=$((n + 1))
        run_prog "$f" "$ROOT/$f"
    done
    [ "$n" -gt 0 ] || say "note: no test programs in $dir"
}

PLAIN_BUILT=0
phase_unit() {
    if build "make -j2" make -j2; then
        PLAIN_BUILT=1
        run_dir build/tests/unit
    fi
    if build "make -j2 asan" make -j2 asan; then
        run_dir build/asan/tests/unit
    fi
    # Every reference in code, tests and docs names a file (and section) of this repository.
    if python3 tests/check_refs.py >>"$LOG" 2>&1; then
        PASSED=$((PASSED + 1))
        say "ok refs: every reference resolves (tests/check_refs.py)"
    else
        tail -n 30 "$LOG"
        failed "refs: unresolved references (python3 tests/check_refs.py)"
    fi
}

phase_fuzz() {
    if [ ! -f tests/fuzz/fuzz_request.c ]; then
        skipped "fuzz: request path (no harness tests/fuzz/fuzz_request.c yet)"
        return
    fi
    build "make fuzz" make fuzz || return
    local dir=$TMP/fuzz rc out
    mkdir -p "$dir/corpus"
    [ -d tests/fuzz/corpus ] && cp -R tests/fuzz/corpus/. "$dir/corpus/"
    out=$dir/fuzz.out
    # libFuzzer prints a line per new input: shown at the end, not as it goes.
    say "== fuzz: build/fuzz/fuzz_request for ${FUZZ_SECONDS}s"
    timeout -k 10 $((FUZZ_SECONDS + 300)) build/fuzz/fuzz_request \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$dir/" "$dir/corpus" >"$out" 2>&1 </dev/null &
    CHILD=$!
    wait "$CHILD"
    rc=$?
    CHILD=''
    cat "$out" >>"$LOG"
    if [ "$rc" = 0 ]; then
        grep -E '^(Done|stat::number_of_executed_units)' "$out" | tee -a "$LOG"
        PASSED=$((PASSED + 1))
        say "ok fuzz: request path"
    else
        tail -n 60 "$out"
        failed "fuzz: request path (status $rc; output and crash inputs in $dir)"
    fi
}

phase_integration() {
    local progs=() pys=() f rc infra=services/infra/localinfra.sh
    for f in build/tests/integration/*; do
        [ -f "$f" ] && [ -x "$f" ] && progs+=("$f")
    done
    for f in tests/integration/test_*.py; do
        [ -f "$f" ] && pys+=("$f")
    done
    if [ $((${#progs[@]} + ${#pys[@]})) = 0 ]; then
        say "note: no integration tests yet"
        return
    fi
    if [ "$PLAIN_BUILT" != 1 ]; then
        say "note: integration tests not run: the build failed"
        return
    fi
    # The container images, built here (and not inside tests/integration/test_docker.py)
    # so that a cold build, several minutes, does not count against one program's timeout;
    # with the layer cache it takes seconds. No engine: test_docker.py decides (skip or fail).
    if [ -x docker/stack.sh ] && docker info >/dev/null 2>&1; then
        build "docker/stack.sh build" docker/stack.sh build
    fi
    if [ ! -x "$infra" ]; then
        skipped "integration: no $infra yet"
        return
    fi
    INFRA_DIR=$TMP/infra
    say "== $infra start $INFRA_DIR"
    "$infra" start "$INFRA_DIR" >"$TMP/infra-start.out" 2>&1 </dev/null
    rc=$?
    tee -a "$LOG" <"$TMP/infra-start.out"
    if [ "$rc" != 0 ] || [ ! -f "$INFRA_DIR/env" ]; then
        failed "integration: $infra start failed (status $rc)"
        stop_infra
        return
    fi
    set -a
    # shellcheck disable=SC1091 # written at run time
    . "$INFRA_DIR/env"
    set +a
    # INFRA_DIR lets a test drive localinfra.sh itself (vhosts, restarts).
    export INFRA_DIR RIDESHARE_BIN=$ROOT/build/bin PYTHONUNBUFFERED=1
    for f in ${progs[@]+"${progs[@]}"} ${pys[@]+"${pys[@]}"}; do
        TEST_TMP=$TMP/itest/$(basename "$f")
        mkdir -p "$TEST_TMP"
        export TEST_TMP
        case $f in
            *.py) run_prog "$f" python3 "$ROOT/$f" ;;
            *)    run_prog "$f" "$ROOT/$f" ;;
        esac
    done
    say "== $infra stop $INFRA_DIR"
    stop_infra
}

phase_unit
if [ "$MODE" = all ]; then
    phase_fuzz
    phase_integration
fi

summary="$PASSED passed, $FAILED failed"
[ "$SKIPPED" -gt 0 ] && summary="$summary, $SKIPPED skipped"
if [ "$FAILED" -gt 0 ]; then
    echo "log and test data kept in $TMP"
else
    KEEP=0
fi
echo "$summary" >>"$LOG"
echo "$summary"
[ "$FAILED" = 0 ] || exit 1
exit 0
