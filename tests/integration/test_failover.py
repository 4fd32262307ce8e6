#!/usr/bin/env python3
"""test_failover.py — crashes, failover and autoscaling of the DB service,
end to end: a real orchestrator and workers over a real RabbitMQ and
ZooKeeper (docs/design.md, "Membership, epochs and election"; docs/api.md,
"The crash rules" and "The scaling rule").

What must hold: crash/slave kills the highest PID and the slave is replaced
by one that serves reads seeing every earlier write; crash/master (and a
SIGKILL from outside) is followed by the election of the lowest-PID slave,
writes resume, and no acknowledged write is lost or applied twice, on any
replica; a write redelivered across a failover is answered from the stored
result; the slave count follows the spec's windows exactly, and scale-in is
never taken for a crash.

The orchestrator's log is the test's window on its decisions: "master
designated", "worker ready", "failover done", "scale window closed".
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import HELPERS, Stack, Suite, check, pid_alive, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import user  # noqa: E402
from replicas import check_replicas  # noqa: E402
from workers import designated, settled, worker_list  # noqa: E402

suite = Suite("failover")
CRASHES = int(os.environ.get("FAILOVER_CRASHES", "10"))


def crash_loop(s, load, kill, rounds, slaves):
    """Kills the master rounds times with kill(s, pid); returns failover times in seconds."""
    times = []
    for k in range(rounds):
        wait_for(lambda: settled(s, 1 + slaves, k), 30, f"all workers ready before crash {k + 1}")
        # Crash into steady traffic, so writes are in flight at the master when it dies.
        base = len(load.acked)
        wait_for(lambda: len(load.acked) >= base + 100, 30, "writes to flow before the crash")
        m_id, m_pid, epoch = designated(s)
        pids = worker_list(s)
        check(m_pid in pids, f"master {m_pid} not in worker/list {pids}")
        lowest = min(p for p in pids if p != m_pid)
        t0 = time.monotonic()
        kill(s, m_pid)
        took = wait_for(lambda: load.first_ack_sent_after(t0), 10.5, f"writes to resume after crash {k + 1}")
        times.append(took)
        _, new_pid, new_epoch = wait_for(lambda: designated(s)[2] > epoch and designated(s), 10,
                                         "a new master to be designated")
        check(new_pid == lowest, f"crash {k + 1}: elected pid {new_pid}, the lowest slave was {lowest}")
        check(new_epoch == epoch + 1, f"epoch went {epoch} -> {new_epoch}")
        check(m_pid not in worker_list(s), f"killed master {m_pid} still listed")
    wait_for(lambda: settled(s, 1 + slaves, rounds), 30, "all workers ready after the last crash")
    return times


def failover_under_load(name, kill):
    slaves = 2
    s = Stack(name, INITIAL_SLAVES=slaves)
    try:
        check(s.client.write(user("owner"))[0] == 200, "owner")
        load = WriteLoad(s.client, 8)
        try:
            wait_for(lambda: len(load.acked) >= 50, 30, "writes to flow")
            times = crash_loop(s, load, kill, CRASHES, slaves)
            time.sleep(0.3)  # writes after the last failover, too
        finally:
            load.finish()
        check(not load.refused, f"{len(load.refused)} writes refused, e.g. {list(load.refused.items())[:3]}")
        rows = check_replicas(s, load.acked)
        text = s.log_text()
        logged = [int(x) for x in re.findall(r"failover done: .* took_ms=(\d+)", text)]
        print(f"# {name}: {CRASHES} failovers, {len(load.acked)} writes acknowledged, {rows} rows, "
              f"{text.count('answering redelivered request from the store')} redeliveries answered from "
              f"the store, {text.count('reply from a replaced master')} stale replies asked again; "
              f"crash to first write acknowledged: median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms; orchestrator's failover_ms median "
              f"{statistics.median(logged):.0f} max {max(logged)}", flush=True)
    finally:
        s.stop()


@suite.test
def crash_slave_is_replaced_and_sees_every_write():
    s = Stack("crashslave")
    try:
        c = s.client
        for i in range(50):
            check(c.write(user(f"u{i}"))[0] == 200, f"write {i}")
        pids = worker_list(s)
        check(len(pids) == 2, f"workers: {pids}")
        _, m_pid, _ = designated(s)
        slave = max(pids)
        check(slave != m_pid, "the master has the lowest PID")
        # Reads in flight during the crash are answered or fail with 503, never hang.
        outcomes, stop = [], threading.Event()

        def reader():
            while not stop.is_set():
                t = time.monotonic()
                st, _ = c.read({"op": "count", "table": "users"})
                outcomes.append((st, time.monotonic() - t))

        readers = [threading.Thread(target=reader, daemon=True) for _ in range(4)]
        for t in readers:
            t.start()
        time.sleep(0.2)
        st, body = c.request("POST", "/api/v1/crash/slave")
        check(st == 200 and body == [slave], f"crash/slave: {st} {body}, highest PID {slave}")
        check(slave not in worker_list(s), "the killed slave is still listed")
        wait_for(lambda: not pid_alive(slave), 5, "the slave to die")
        new = wait_for(lambda: [p for p in worker_list(s) if p not in pids], 10, "a replacement slave")
        check(len(worker_list(s)) == 2, f"workers after replacement: {worker_list(s)}")
        wait_for(lambda: settled(s, 2, 0), 10, "the replacement to be ready")
        time.sleep(0.3)
        stop.set()
        for t in readers:
            t.join(30)
            check(not t.is_alive(), "a reader hangs")
        bad = [o for o in outcomes if o[0] not in (200, 503) or o[1] > 8]
        check(not bad, f"reads during the crash: {bad[:5]}")
        # The replacement is the only slave now: it answers these reads.
        for i in range(50, 60):
            check(c.write(user(f"u{i}"))[0] == 200, f"write {i}")
        st, body = c.read({"op": "select", "table": "users", "columns": ["username"]})
        check(st == 200 and sorted(r["username"] for r in body["rows"]) == sorted(f"u{i}" for i in range(60)),
              f"replacement reads: {st} {str(body)[:200]}")
        print(f"# crash/slave: replaced by pid {new[0]}; {len(outcomes)} reads during the crash, "
              f"{sum(1 for o in outcomes if o[0] == 503)} answered 503", flush=True)
        # Twice in a row: the second crash hits the replacement (now the highest), which is replaced too.
        st1, b1 = c.request("POST", "/api/v1/crash/slave")
        st2, b2 = c.request("POST", "/api/v1/crash/slave")
        check(st1 == 200 and st2 in (200, 409) and b1 != b2, f"two crashes: {st1} {b1} / {st2} {b2}")
        if st2 == 409:
            check(isinstance(b2, dict) and "error" in b2, f"409 without a message: {b2}")
        wait_for(lambda: settled(s, 2, 0), 15, "two workers again")
        st, body = c.read({"op": "count", "table": "users"})
        check(st == 200 and body["count"] == 60, f"count after two crashes: {st} {body}")
        st, _ = c.request("GET", "/api/v1/crash/slave")
        check(st == 405, f"GET crash/slave: {st}")
    finally:
        s.stop()


@suite.test
def crash_master_repeatedly_under_write_load():
    def crash(s, pid):
        st, body = s.client.request("POST", "/api/v1/crash/master")
        check(st == 200 and body == [pid], f"crash/master: {st} {body}, master {pid}")

    failover_under_load("crashmaster", crash)


@suite.test
def master_sigkilled_from_outside_under_write_load():
    def kill(s, pid):
        os.kill(pid, signal.SIGKILL)

    failover_under_load("sigkill", kill)


@suite.test
def redelivered_write_across_a_failover_is_answered_from_the_store():
    s = Stack("redeliver")
    try:
        body = json.dumps({"op": user("once")})
        env = dict(os.environ, RABBITMQ_URL=s.url)

        def send():
            out = subprocess.run([os.path.join(HELPERS, "mqsend"), "writeQ", "redeliver-1", "1", body],
                                 env=env, capture_output=True, text=True, timeout=30)
            check(out.returncode == 0, f"mqsend: {out.returncode} {out.stderr[-500:]}")
            return json.loads(out.stdout.splitlines()[0])

        first = send()
        check(first["status"] == 200, f"first: {first}")
        _, _, epoch = designated(s)
        check(first["epoch"] == epoch, f"first reply's epoch: {first}")
        st, _ = s.client.request("POST", "/api/v1/crash/master")
        check(st == 200, f"crash/master: {st}")
        wait_for(lambda: "failover done" in s.log_text(), 15, "the failover")
        again = send()
        check(again["status"] == 200 and again["seq"] == first["seq"] and again["body"] == first["body"],
              f"after the failover: {again} vs {first}")
        check(again["epoch"] == epoch + 1, f"answered by the new master: {again}")
        st, res = s.client.read({"op": "count", "table": "users", "where": {"username": "once"}})
        check(st == 200 and res["count"] == 1, f"applied once: {st} {res}")
    finally:
        s.stop()


@suite.test
def frozen_workers_are_caught_by_the_zookeeper_backstop():
    """A worker that stops without exiting (SIGSTOP: the runtime sees nothing)
    loses its ZooKeeper session; its znode vanishes and the orchestrator kills
    and replaces it: a slave is replaced, a master is failed over."""
    s = Stack("backstop")  # ZK_SESSION_MS=2000 (harness)
    frozen = []
    try:
        c = s.client
        check(c.write(user("a"))[0] == 200, "write")
        _, m_pid, epoch = designated(s)
        slave = max(worker_list(s))
        os.kill(slave, signal.SIGSTOP)
        frozen.append(slave)
        t0 = time.monotonic()
        wait_for(lambda: slave not in worker_list(s), 8, "the frozen slave to be taken for dead")
        took_slave = time.monotonic() - t0
        check("its ZooKeeper znode vanished" in s.log_text(), "not detected through ZooKeeper")
        wait_for(lambda: settled(s, 2, 0), 10, "a replacement slave")
        os.kill(m_pid, signal.SIGSTOP)
        frozen.append(m_pid)
        t0 = time.monotonic()
        st, body = c.write(user("b"))  # waits in writeQ for the next master (WRITE_TIMEOUT_MS 10 s)
        took_master = time.monotonic() - t0
        check(st == 200, f"write across the failover: {st} {body}")
        _, new_pid, new_epoch = designated(s)
        check(new_epoch == epoch + 1 and new_pid != m_pid, f"new master {new_pid} epoch {new_epoch}")
        wait_for(lambda: settled(s, 2, 1), 10, "master and slave again")
        st, body = c.read({"op": "count", "table": "users"})
        check(st == 200 and body["count"] == 2, f"count: {st} {body}")
        print(f"# backstop: frozen slave replaced after {took_slave:.1f}s, a write sent to a frozen master "
              f"acknowledged after {took_master:.1f}s (session 2 s)", flush=True)
    finally:
        for pid in frozen:  # killed by the orchestrator already, normally
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        s.stop()


@suite.test
def slaves_follow_the_read_windows():
    window = 4
    s = Stack("scale", SCALE_WINDOW_S=window, READS_PER_SLAVE=20)
    try:
        c = s.client
        check(c.write(user("r"))[0] == 200, "seed")

        def closed():
            return re.findall(r"scale window closed reads=(\d+) target=(\d+)", s.log_text())

        def reads(n):
            for _ in range(n):
                st, body = c.read({"op": "count", "table": "users"})
                check(st == 200 and body["count"] == 1, f"read: {st} {body}")

        _, m_pid, _ = designated(s)
        check(not closed(), "a window closed before the first read")
        time.sleep(window + 0.5)
        check(not closed(), "the window started before the first read")
        plan = [(20, 1), (21, 2), (61, 4)]
        for k, (n, slaves) in enumerate(plan):
            started = time.monotonic()
            reads(n)
            check(time.monotonic() - started < window - 1, f"{n} reads took too long for the window")
            got = wait_for(lambda: len(closed()) > k and closed(), window + 5, f"window {k + 1} to close")
            check(got[k] == (str(n), str(slaves)), f"window {k + 1}: {got[k]}, wanted {n} reads -> {slaves}")
            wait_for(lambda: settled(s, 1 + slaves, 0), 15, f"{slaves} slaves ready")
        before = worker_list(s)
        # An idle window: back to one slave; the highest PIDs go, gracefully.
        got = wait_for(lambda: len(closed()) > 3 and closed(), window + 5, "the idle window to close")
        check(got[3] == ("0", "1"), f"idle window: {got[3]}")
        # Reads during the scale-in are all answered (a retiring slave's unanswered reads are requeued).
        stop, outcomes = threading.Event(), []

        def reader():  # gently: these reads count toward the next window
            while not stop.is_set():
                outcomes.append(c.read({"op": "count", "table": "users"})[0])
                time.sleep(0.05)

        readers = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
        for t in readers:
            t.start()
        wait_for(lambda: len(worker_list(s)) == 2, 10, "scale-in to one slave")
        stop.set()
        for t in readers:
            t.join(30)
        after = worker_list(s)
        check(m_pid in after, "the master was scaled")
        check(after == sorted(before)[:2], f"scale-in kept {after} of {before}: not the lowest PIDs")
        check(outcomes and all(st == 200 for st in outcomes), f"reads during scale-in: {set(outcomes)}")
        time.sleep(1)
        check(worker_list(s) == after, f"a retired slave was replaced: {worker_list(s)}")
        text = s.log_text()
        check("killed worker" not in text, "scale-in killed a worker")
        check(text.count("retiring slave") == 3, "three slaves retired")
    finally:
        s.stop()


if __name__ == "__main__":
    suite.run()
