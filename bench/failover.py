#!/usr/bin/env python3
"""failover.py — `make bench`, last part: how fast the DB service recovers.

Starts a private RabbitMQ + ZooKeeper (services/infra/localinfra.sh, stopped
by PID at exit, also on SIGINT/SIGTERM) and one orchestrator with 2 slaves
(tests/lib/harness.py's Stack, loopback, ZK_SESSION_MS=2000), then
measures, with 8 clients writing unique rides without pause:

  crash/master   POST /api/v1/crash/master -> first acknowledged write that
                 was sent after the crash; BENCH_CRASHES rounds (default 10)
  sigkill        the same with the master SIGKILLed from here by the PID that
                 GET /api/v1/status names
  new slave      BENCH_LOG_ENTRIES rows (default 100000) written by 32
                 clients, then POST /api/v1/scale {"slaves": 3}: seconds until
                 the new worker's state is "ready" in GET /api/v1/status, and
                 until its applied seq reaches the master's (lag 0)

BENCH_PARTS (default crash,sigkill,newslave) picks the parts to run.

For the chart (bench/charts.sh), each crash part also writes a timeline of its
typical round (the one with the median recovery time) to BENCH_DATA (default
docs/charts), failover-crash.dat and failover-sigkill.dat: the writes
acknowledged in each 100 ms from 2 s before the crash to 6 s after, counted
by when their answer came.

Every wait has a deadline; the request count is bounded by the entry count
and the crash rounds. Prints one table. The temporary directory is removed
after a successful run and kept (logs, data) after a failed one.
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
INFRA = os.path.join(ROOT, "services", "infra", "localinfra.sh")
CRASHES = int(os.environ.get("BENCH_CRASHES", "10"))
ENTRIES = int(os.environ.get("BENCH_LOG_ENTRIES", "100000"))
SESSION_MS = int(os.environ.get("BENCH_ZK_SESSION_MS", "2000"))
PARTS = os.environ.get("BENCH_PARTS", "crash,sigkill,newslave").split(",")
PASSWORD = "3d725109c7e7c0bfb9d709836735b56d943d263f"
DATA = os.environ.get("BENCH_DATA", os.path.join(ROOT, "docs", "charts"))
BIN_S, BEFORE_S, AFTER_S = 0.1, 2.0, 6.0


class Stop(Exception):
    pass


def on_signal(signum, _frame):
    raise Stop(f"signal {signum}")


def ride(ts):
    return {"op": "insert", "table": "rides",
            "values": {"created_by": "bench", "ts": ts, "source": 1, "destination": 2}}


def status(s):
    st, body = s.client.request("GET", "/api/v1/status", timeout=10)
    if st != 200 or not isinstance(body, dict):
        raise RuntimeError(f"status: {st} {body}")
    return body


def master_of(s):
    b = status(s)
    m = [w for w in b["workers"] if w["role"] == "master"]
    return (m[0]["id"], m[0]["pid"], b["epoch"]) if m else (None, None, b["epoch"])


def all_ready(s, n):
    ws = status(s)["workers"]
    return len(ws) == n and all(w["state"] == "ready" and not w.get("retiring") for w in ws) \
        and sum(w["role"] == "master" for w in ws) == 1


def crash_rounds(s, kill, load, crashes):
    """The recovery time of each round; the crash times (monotonic) go to crashes."""
    times = []
    for k in range(CRASHES):
        wait_for(lambda: all_ready(s, 3), 60, f"all workers ready before crash {k + 1}")
        base, ready = len(load.acked), time.monotonic()
        # Writes flowing, and for the timeline's span before the crash: its chart then shows
        # the steady rate the crash breaks.
        wait_for(lambda: len(load.acked) >= base + 50 and time.monotonic() - ready >= BEFORE_S, 30,
                 "writes to flow before the crash")
        _, pid, epoch = master_of(s)
        t0 = time.monotonic()
        kill(s, pid)
        crashes.append(t0)
        times.append(wait_for(lambda: load.first_ack_sent_after(t0), 15, f"writes to resume after crash {k + 1}"))
        wait_for(lambda: master_of(s)[2] > epoch, 15, "a new epoch")
    wait_for(lambda: all_ready(s, 3), 60, "all workers ready after the last crash")
    return times


def crash_api(s, _pid):
    st, body = s.client.request("POST", "/api/v1/crash/master", {}, timeout=10)
    if st != 200:
        raise RuntimeError(f"crash/master: {st} {body}")


def crash_sigkill(_s, pid):
    os.kill(pid, signal.SIGKILL)


def failover(name, kill, base):
    s = Stack(name, INITIAL_SLAVES=2, ZK_SESSION_MS=SESSION_MS)
    try:
        wait_for(lambda: all_ready(s, 3), 60, "the stack to be ready")
        for name in ("bench", "owner"):  # tests/lib/load.py's writers write rides of "owner"
            s.client.write({"op": "insert", "table": "users", "values": {"username": name, "password": PASSWORD}})
        load = WriteLoad(s.client, 8, base)
        crashes = []
        try:
            times = crash_rounds(s, kill, load, crashes)
        finally:
            load.finish()
        return times, len(load.refused), timeline(load, crashes, times)
    finally:
        s.stop()


def timeline(load, crashes, times):
    """(seconds from the crash, writes acknowledged in that bin) for the round whose recovery
    time is the median, and that round's number and recovery time."""
    k = sorted(range(len(times)), key=lambda i: times[i])[(len(times) - 1) // 2]
    t0, nbins = crashes[k], int(round((BEFORE_S + AFTER_S) / BIN_S))
    counts = [0] * nbins
    with load.lock:
        answered = [a for _, a in load.acked.values()]
    for a in answered:
        i = int((a - t0 + BEFORE_S) // BIN_S)
        if 0 <= i < nbins:
            counts[i] += 1
    return [(round(-BEFORE_S + i * BIN_S, 3), c) for i, c in enumerate(counts)], k + 1, times[k]


def write_timeline(part, label, tl):
    rows, k, took = tl
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, f"failover-{part}.dat"), "w") as f:
        f.write(f"# bench/failover.py {time.strftime('%Y-%m-%d', time.gmtime())}: {label}, round {k} "
                f"(median), writes resumed after {took:.3f} s; 8 writers, ZK session {SESSION_MS} ms\n")
        f.write(f"# seconds_from_crash (bin start) writes_acknowledged_per_{int(BIN_S * 1000)}ms\n")
        for t, c in rows:
            f.write(f"{t:.1f} {c}\n")


def new_slave(base):
    s = Stack("bench-newslave", INITIAL_SLAVES=2, ZK_SESSION_MS=SESSION_MS)
    try:
        wait_for(lambda: all_ready(s, 3), 60, "the stack to be ready")
        s.client.write({"op": "insert", "table": "users", "values": {"username": "bench", "password": PASSWORD}})
        nxt, lock, refused = [0], threading.Lock(), [0]

        def writer():
            while True:
                with lock:
                    i = nxt[0]
                    if i >= ENTRIES:
                        return
                    nxt[0] += 1
                for _ in range(5):
                    try:
                        if s.client.write(ride(base + i))[0] == 200:
                            break
                    except Exception:
                        pass
                    time.sleep(0.05)
                else:
                    with lock:
                        refused[0] += 1
        t0 = time.monotonic()
        ws = [threading.Thread(target=writer, daemon=True) for _ in range(32)]
        for t in ws:
            t.start()
        for t in ws:
            t.join(3600)
        fill = time.monotonic() - t0
        before = {w["id"] for w in status(s)["workers"]}
        # Every write is one log entry; the znodes' seqs lag by up to 500 ms.
        wait_for(lambda: (status(s)["master_seq"] or 0) >= ENTRIES
                 and all(w["lag"] == 0 for w in status(s)["workers"]), 120, "the slaves to catch up")
        master_seq = status(s)["master_seq"]
        t0 = time.monotonic()
        st, body = s.client.request("POST", "/api/v1/scale", {"slaves": 3}, timeout=10)
        if st != 200:
            raise RuntimeError(f"scale: {st} {body}")

        def new():
            n = [w for w in status(s)["workers"] if w["id"] not in before]
            return n[0] if n else None
        seen = wait_for(new, 30, "the new worker to appear") and time.monotonic() - t0
        ready = wait_for(lambda: new()["state"] == "ready" and time.monotonic() - t0, 600, "the new slave to be ready")
        caught = wait_for(lambda: (new()["seq"] or 0) >= master_seq and time.monotonic() - t0, 600,
                          "the new slave to reach the master's seq")
        return fill, master_seq, seen, ready, caught, refused[0]
    finally:
        s.stop()


def main():
    global Stack, wait_for, WriteLoad
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="rideshare-bench-failover.")
    infra = os.path.join(tmp, "infra")
    started, ok = False, False
    try:
        subprocess.run([INFRA, "start", infra], check=True, stdout=subprocess.DEVNULL, timeout=300)
        started = True
        with open(os.path.join(infra, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k and not k.startswith("#"):
                    os.environ[k] = v.strip("'\"")
        os.environ["INFRA_DIR"], os.environ["TEST_TMP"] = infra, tmp
        sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
        from harness import Stack as _Stack, wait_for as _wait_for
        from load import WriteLoad as _WriteLoad
        Stack, wait_for, WriteLoad = _Stack, _wait_for, _WriteLoad

        target_kill = SESSION_MS / 1000 + 1
        rows, notes = [], []
        for part, label, fn, tgt in (("crash", "crash/master -> first ack write", crash_api, 2.0),
                                     ("sigkill", "SIGKILL master -> first ack write", crash_sigkill, target_kill)):
            if part in PARTS:
                t, refused, tl = failover("bench-" + part, fn, 0)
                rows.append((label, len(t), statistics.median(t), max(t), tgt))
                write_timeline(part, label, tl)
                notes.append(f"writes refused during the {part} rounds: {refused}")
        if "newslave" in PARTS:
            fill, seq, seen, ready, caught, nref = new_slave(1_000_000_000)
            rows.append(("new slave spawn -> ready", seq, ready, ready, 3.0))
            rows.append(("new slave spawn -> lag 0", seq, caught, caught, 3.0))
            notes.append(f"log filled with {ENTRIES} rows in {fill:.1f} s = {ENTRIES / fill:.0f}/s, {nref} given up; "
                         f"new worker listed after {seen:.3f} s")
        print(f"{'measure':<34} {'n':>6} {'median_s':>9} {'max_s':>7} {'target_s':>9} {'met':>4}")
        for label, n, med, mx, tgt in rows:
            print(f"{label:<34} {n:>6} {med:>9.3f} {mx:>7.3f} {tgt:>9.1f} {'yes' if mx <= tgt else 'NO':>4}")
        print(f"({'; '.join(notes)}; ZK session {SESSION_MS} ms)")
        ok = True
        return 0
    except Stop as e:
        print(f"bench/failover.py: stopped by {e}", file=sys.stderr)
        return 130
    finally:
        if started:
            subprocess.run([INFRA, "stop", infra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=120)
        if ok:  # a failed run keeps its logs and data for a look
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"bench/failover.py: logs and data kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
