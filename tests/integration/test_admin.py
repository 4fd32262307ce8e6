#!/usr/bin/env python3
"""test_admin.py — the admin API (GET /api/v1/status, POST /api/v1/scale,
POST /api/v1/promote) and the orchestrator's restart, end to end over a real
RabbitMQ and ZooKeeper with the process runtime.

What must hold: the status shows every worker with its role, PID, state,
applied seq and lag, the queues, the scaling figures and recent events;
scale sets the slave count (400 outside 1..MAX_SLAVES); promote hands writes over
to the named slave under write load with nothing lost and nothing applied
twice, and the old master goes on as a slave; an orchestrator killed with
SIGKILL and started again adopts the running workers (none started twice),
serves reads that see every earlier write, and the crash endpoints stay
right. A read flood far beyond READS_PER_SLAVE never takes the slaves past
MAX_SLAVES (worker/list polled throughout), each window adds at most
SCALE_UP_STEP, and the status tells the rule's target from the one applied;
a worker that cannot start is retried after pauses that double (no tight
loop), shown in the status, while a failover elects a live slave at once.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import BIN, TMP, Client, Stack, Suite, check, pid_alive, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import user  # noqa: E402
from replicas import check_replicas  # noqa: E402
from workers import all_ready, designated, status, worker_list  # noqa: E402

suite = Suite("admin")


@suite.test
def status_and_scale():
    s = Stack("admin-status", SCALE_WINDOW_S=300)
    try:
        check(s.client.write(user("alice"))[0] == 200, "write")
        b = wait_for(lambda: all_ready(s, 2), 20, "master and slave ready in the status")
        roles = sorted(w["role"] for w in b["workers"])
        check(roles == ["master", "slave"], f"roles: {roles}")
        check(sorted(w["pid"] for w in b["workers"]) == worker_list(s), "status PIDs vs worker/list")
        m = next(w for w in b["workers"] if w["role"] == "master")
        check(b["master"] == m["id"] and b["epoch"] >= 1, f"master/epoch: {b}")
        wait_for(lambda: status(s)["workers"][0]["seq"] >= 1, 5, "seq to show the write")
        for w in status(s)["workers"]:
            check(isinstance(w["lag"], int) and w["lag"] >= 0, f"lag: {w}")
        check(s.client.read({"op": "count", "table": "users"})[0] == 200, "read")
        sc = status(s)["scaling"]
        check(sc["target_slaves"] == 1 and sc["reads_in_window"] == 1, f"scaling: {sc}")
        check(0 < sc["seconds_to_decision"] <= 300, f"seconds_to_decision: {sc}")
        q = wait_for(lambda: all(status(s)["queues"].values()) and status(s)["queues"], 10, "queue depths")
        check(q["writeQ"]["consumers"] == 1 and q["readQ"]["consumers"] >= 1, f"queues: {q}")
        check(isinstance(q["replog"]["messages"], int), f"replog: {q}")
        kinds = {e["kind"] for e in status(s)["events"]}
        check({"spawn", "election"} <= kinds, f"events: {kinds}")

        for bad in ({"slaves": 0}, {"slaves": 9}, {"slaves": 17}, {"slaves": "2"}, {"slaves": 1.5}, {}, [], "x"):
            st, body = s.client.request("POST", "/api/v1/scale", bad)
            check(st == 400, f"scale {bad!r}: {st} {body}")
        st, body = s.client.request("POST", "/api/v1/scale", {"slaves": 3})
        check(st == 200 and body["slaves"] == 3, f"scale 3: {st} {body}")
        wait_for(lambda: all_ready(s, 4), 30, "3 slaves ready")
        check(status(s)["scaling"]["target_slaves"] == 3, "target 3")
        st, body = s.client.request("POST", "/api/v1/scale", {"slaves": 1})
        check(st == 200, f"scale 1: {st} {body}")
        wait_for(lambda: len(worker_list(s)) == 2, 15, "scale-in to 1 slave")
        check("failover" not in {e["kind"] for e in status(s)["events"]}, "scale-in taken for a crash")
        check({"retire", "scale"} <= {e["kind"] for e in status(s)["events"]}, "retire/scale events")
    finally:
        s.stop()


@suite.test
def promote_bad_requests():
    s = Stack("admin-promote-bad")
    try:
        b = wait_for(lambda: all_ready(s, 2), 20, "ready")
        m = b["master"]
        for body, want in (({}, 400), ({"id": 3}, 400), ({"id": "nosuch"}, 404), ({"id": m}, 409)):
            st, r = s.client.request("POST", "/api/v1/promote", body)
            check(st == want, f"promote {body}: {st} {r}, wanted {want}")
    finally:
        s.stop()


@suite.test
def promote_under_write_load():
    # A short READY_TIMEOUT_MS, and a master designated longer ago than that: a switchover must
    # not make the old master look like a master that never took over (it was killed for that once).
    s = Stack("admin-promote", INITIAL_SLAVES=2, READY_TIMEOUT_MS=4000)
    started = time.monotonic()
    try:
        check(s.client.write(user("owner"))[0] == 200, "owner")
        wait_for(lambda: time.monotonic() - started > 4.5, 10, "the master to be older than READY_TIMEOUT_MS")
        load = WriteLoad(s.client, 6)
        try:
            for k in range(3):
                b = wait_for(lambda: all_ready(s, 3), 30, "all ready")
                old = b["master"]
                old_pids = worker_list(s)
                slave = max((w for w in b["workers"] if w["role"] == "slave"), key=lambda w: w["pid"])
                base = len(load.acked)
                wait_for(lambda: len(load.acked) >= base + 100, 30, "writes to flow")
                t0 = time.monotonic()
                st, r = s.client.request("POST", "/api/v1/promote", {"id": slave["id"]})
                check(st == 200 and r["master"] == slave["id"] and r["epoch"] == b["epoch"] + 1,
                      f"promote {slave['id']}: {st} {r} (epoch was {b['epoch']})")
                wait_for(lambda: load.first_ack_sent_after(t0), 10, "writes to resume after the switchover")
                after = wait_for(lambda: all_ready(s, 3), 30, "all ready after the switchover")
                check(after["master"] == slave["id"], f"master is {after['master']}")
                roles = {w["id"]: w["role"] for w in after["workers"]}
                check(roles.get(old) == "slave", f"old master {old} is not a slave: {roles}")
                check(worker_list(s) == old_pids, f"workers changed: {old_pids} -> {worker_list(s)}")
                check(designated(s)[0] == slave["id"], "designated")
            time.sleep(0.3)
        finally:
            load.finish()
        check(not load.refused, f"{len(load.refused)} writes refused, e.g. {list(load.refused.items())[:3]}")
        rows = check_replicas(s, load.acked)
        check("started worker" not in s.log_text().split("workers ready")[1], "a worker was started")
        check("killed worker" not in s.log_text(), "a worker was killed during the switchovers")
        print(f"# promote: 3 switchovers under load, {len(load.acked)} writes acknowledged, {rows} rows",
              flush=True)
    finally:
        s.stop()


def restart_orchestrator(s):
    """SIGKILLs the stack's orchestrator and starts a new one with the same
    settings (its own log file: the workers still write to the old one)."""
    s.proc.kill()
    s.proc.wait()
    s.restarts = getattr(s, "restarts", 0) + 1
    s.all_logs = getattr(s, "all_logs", [s.log_path])
    s.log_path = os.path.join(s.dir, f"orchestrator-{s.restarts + 1}.log")
    s.all_logs.append(s.log_path)
    s.log = open(s.log_path, "w")
    s.proc = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=s.env, stdout=s.log,
                              stderr=subprocess.STDOUT)
    s.port = int(wait_for(lambda: s._listening(), 60, "the restarted orchestrator to listen"))
    s.client.port = s.port


def stop_all(s):
    """Stops the stack, then kills any worker any of its orchestrators started."""
    s.stop()
    for path in getattr(s, "all_logs", []):
        with open(path) as f:
            for m in re.finditer(r"started worker id=\S+ pid=(\d+)", f.read()):
                if pid_alive(int(m.group(1))):
                    os.kill(int(m.group(1)), signal.SIGKILL)


@suite.test
def orchestrator_restart():
    s = Stack("admin-restart", INITIAL_SLAVES=2)
    try:
        check(s.client.write(user("owner"))[0] == 200, "owner")
        b = wait_for(lambda: all_ready(s, 3), 30, "all ready")
        pids, master, epoch = worker_list(s), b["master"], b["epoch"]
        load = WriteLoad(s.client, 4)
        wait_for(lambda: len(load.acked) >= 200, 30, "writes to flow")
        restart_orchestrator(s)
        load.finish()
        acked = dict(load.acked)
        check(all(pid_alive(p) for p in pids), "a worker died with the orchestrator")
        # Reads right away see every write acknowledged before the kill (the barrier).
        st, body = s.client.read({"op": "count", "table": "rides"})
        check(st == 200 and body["count"] >= len(acked), f"count after restart: {st} {body} vs {len(acked)}")
        check(worker_list(s) == pids, f"workers after restart: {worker_list(s)} vs {pids}")
        check("started worker" not in s.log_text(), "the restarted orchestrator started a worker")
        check(len(re.findall(r"adopted running worker id=", s.log_text())) == 3, "three workers adopted")
        b = wait_for(lambda: all_ready(s, 3), 30, "all ready after restart")
        check(b["master"] == master and b["epoch"] == epoch, f"master/epoch changed: {b['master']} {b['epoch']}")
        time.sleep(1)
        check(worker_list(s) == pids, f"workers changed after a while: {worker_list(s)} vs {pids}")
        # Crash endpoints still right.
        slave_pids = [w["pid"] for w in b["workers"] if w["role"] == "slave"]
        st, body = s.client.request("POST", "/api/v1/crash/slave")
        check(st == 200 and body == [max(slave_pids)], f"crash/slave: {st} {body}, slaves {slave_pids}")
        wait_for(lambda: max(slave_pids) not in worker_list(s) and len(worker_list(s)) == 3, 20,
                 "the slave replaced")
        load = WriteLoad(s.client, 4, base=500_000_000)
        try:
            wait_for(lambda: len(load.acked) >= 100, 30, "writes after the restart")
            m_pid = next(w["pid"] for w in status(s)["workers"] if w["role"] == "master")
            st, body = s.client.request("POST", "/api/v1/crash/master")
            check(st == 200 and body == [m_pid], f"crash/master: {st} {body}, master {m_pid}")
            t0 = time.monotonic()
            wait_for(lambda: load.first_ack_sent_after(t0), 10, "writes to resume after crash/master")
        finally:
            load.finish()
        check(not load.refused, f"{len(load.refused)} writes refused: {list(load.refused.items())[:3]}")
        acked.update(load.acked)
        rows = check_replicas(s, acked)
        print(f"# restart: {len(acked)} writes acknowledged across the restart, {rows} rows", flush=True)
    finally:
        stop_all(s)


class ReadFlood:
    """Reads as fast as threads reads can go (each with its own keep-alive connection)."""

    def __init__(self, client, threads=8):
        self.client, self.stop, self.lock = client, threading.Event(), threading.Lock()
        self.ok = self.other = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                st = self.client.read({"op": "count", "table": "users"})[0]
            except Exception:
                st = -1
            with self.lock:
                if st == 200:
                    self.ok += 1
                else:
                    self.other += 1

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
            check(not t.is_alive(), "a reader hangs")


class ListPoller:
    """Polls worker/list on its own connection; keeps the largest count seen."""

    def __init__(self, port):
        self.client, self.stop, self.most, self.polls = Client(port), threading.Event(), 0, 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            st, body = self.client.request("GET", "/api/v1/worker/list")
            if st == 200 and isinstance(body, list):
                self.most, self.polls = max(self.most, len(body)), self.polls + 1
            self.stop.wait(0.05)

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def decisions(s):
    """[(reads, target, was, rule)] of the closed windows, from the log."""
    return [tuple(int(x) for x in m) for m in
            re.findall(r"scale window closed reads=(\d+) target=(\d+) was=(\d+) rule=(\d+)", s.log_text())]


@suite.test
def read_flood_stays_within_max_slaves():
    # One slave per read: a flood's rule target is thousands; MAX_SLAVES=3 holds it, and each window
    # adds one slave at most (SCALE_UP_STEP=1).
    max_slaves = 3
    s = Stack("admin-cap", SCALE_WINDOW_S=3, READS_PER_SLAVE=1, MAX_SLAVES=max_slaves, SCALE_UP_STEP=1)
    poller = flood = None
    try:
        check(s.client.write(user("flood"))[0] == 200, "seed")
        wait_for(lambda: all_ready(s, 2), 20, "master and slave ready")
        sc = status(s)["scaling"]
        check(sc["max_slaves"] == max_slaves and sc["scale_up_step"] == 1 and sc["rule_target"] is None
              and sc["capped"] is False and sc["set_by"] == "start", f"scaling before the flood: {sc}")
        poller = ListPoller(s.port)
        flood = ReadFlood(s.client)
        wait_for(lambda: len(decisions(s)) >= 1, 10, "the first window to close")
        sc = status(s)["scaling"]
        check(sc["target_slaves"] == 2 and sc["rule_target"] > max_slaves and sc["capped"] is True
              and sc["stepped"] is True and sc["set_by"] == "window", f"scaling after window 1: {sc}")
        wait_for(lambda: len(decisions(s)) >= 3, 15, "three windows of the flood to close")
        sc = status(s)["scaling"]
        check(sc["target_slaves"] == max_slaves and sc["rule_target"] > 100 * max_slaves and sc["capped"] is True
              and sc["stepped"] is False, f"scaling at the cap: {sc}")
        wait_for(lambda: all_ready(s, 1 + max_slaves), 30, f"{max_slaves} slaves ready")
        # Beyond the cap: refused, nothing changes; at the cap: taken (a hand-set target is not stepped).
        before = worker_list(s)
        st, body = s.client.request("POST", "/api/v1/scale", {"slaves": max_slaves + 1})
        check(st == 400 and isinstance(body, dict) and f"1..{max_slaves}" in body.get("error", ""),
              f"scale {max_slaves + 1}: {st} {body}")
        check(status(s)["scaling"]["target_slaves"] == max_slaves, "a refused scale changed the target")
        st, body = s.client.request("POST", "/api/v1/scale", {"slaves": max_slaves})
        check(st == 200 and body == {"slaves": max_slaves, "was": max_slaves}, f"scale {max_slaves}: {st} {body}")
        check(status(s)["scaling"]["set_by"] == "operator", "set_by after a hand-set target")
        time.sleep(0.5)
        check(worker_list(s) == before, f"workers changed: {before} -> {worker_list(s)}")
        wait_for(lambda: len(decisions(s)) >= 4, 10, "a window after the hand-set target")
        flood.finish()
        poller.finish()
        d = decisions(s)
        for reads, target, was, rule in d:
            check(rule == max(1, reads), f"rule {rule} for {reads} reads at 1 read per slave: {d}")
            check(target <= max_slaves, f"target {target} above MAX_SLAVES: {d}")
            check(target - was <= 1, f"a window added {target - was} slaves with SCALE_UP_STEP=1: {d}")
        check([t for _, t, _, _ in d[:3]] == [2, 3, 3], f"targets of the flood's windows: {d}")
        check(poller.polls >= 20 and poller.most <= 1 + max_slaves,
              f"worker/list peaked at {poller.most} workers over {poller.polls} polls")
        ws = status(s)["worker_starts"]
        check(ws["failures"] == 0 and ws["last_failure"] is None, f"worker starts: {ws}")
        print(f"# read flood: {flood.ok} reads answered ({flood.other} not) in {len(d)} windows, rule targets "
              f"{[r for _, _, _, r in d]}, applied {[t for _, t, _, _ in d]}; worker/list peaked at "
              f"{poller.most} over {poller.polls} polls", flush=True)
    finally:
        for x in (flood, poller):
            if x:
                x.stop.set()
        s.stop()


def broken_worker_bin(path, flag):
    """A WORKER_BIN that runs the real worker unless flag exists, then exits 1 at once (as a worker
    whose ZooKeeper refuses the connection does)."""
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nif [ -e '{flag}' ]; then echo 'broken on purpose' >&2; exit 1; fi\n"
                f"exec '{os.path.join(BIN, 'rideshare-worker')}' \"$@\"\n")
    os.chmod(path, 0o755)


@suite.test
def failed_starts_back_off_and_failover_stays_prompt():
    base = os.path.join(TMP, f"broken-{os.getpid()}")
    os.makedirs(base, exist_ok=True)
    flag, wbin = os.path.join(base, "broken"), os.path.join(base, "worker.sh")
    broken_worker_bin(wbin, flag)
    s = Stack("admin-backoff", WORKER_BIN=wbin, INITIAL_SLAVES=2)
    try:
        check(s.client.write(user("b"))[0] == 200, "seed")
        wait_for(lambda: all_ready(s, 3), 30, "master and two slaves ready")
        open(flag, "w").close()
        st, body = s.client.request("POST", "/api/v1/crash/slave")
        check(st == 200, f"crash/slave: {st} {body}")

        def failures():
            return [float(x) / 1000 for x in
                    re.findall(r"worker start failed .*status=256 failures=\d+ next_start_in_ms=(\d+)", s.log_text())]
        wait_for(lambda: len(failures()) >= 4, 20, "four failed starts")
        pauses = failures()
        check(pauses[:4] == [0.5, 1.0, 2.0, 4.0], f"pauses after the failed starts: {pauses}")
        # The starts themselves are spaced by the pauses: no tight loop.
        t = [time.mktime(time.strptime(m[:19], "%Y-%m-%dT%H:%M:%S")) + float(m[19:23]) for m in
             re.findall(r"^(\S+) .*started worker id=", s.log_text(), re.M)]
        spawns = t[3:]  # the first three are the start-up's master and slaves
        gaps = [b - a for a, b in zip(spawns, spawns[1:])]
        check(len(gaps) >= 3 and all(g >= want - 0.05 for g, want in zip(gaps, (0.5, 1.0, 2.0))),
              f"gaps between starts {gaps}")
        b = status(s)
        ws = b["worker_starts"]
        lf = ws["last_failure"]
        check(ws["failures"] >= 4 and ws["backoff_ms"] >= 4000 and lf and lf["status"] == 256
              and lf["why"] == "exited before it was ready" and lf["id"], f"worker_starts: {ws}")
        check("start-failed" in {e["kind"] for e in b["events"]}, "no start-failed event")
        # Failover does not wait for the pause: the live slave is elected at once.
        _, m_pid, epoch = designated(s)
        st, body = s.client.request("POST", "/api/v1/crash/master")
        check(st == 200 and body == [m_pid], f"crash/master: {st} {body}")
        t0 = time.monotonic()
        wait_for(lambda: designated(s)[2] > epoch, 5, "a slave elected while starts are paused")
        wait_for(lambda: s.client.write(user("after"))[0] == 200, 10, "writes after the failover")
        took = time.monotonic() - t0
        check(status(s)["worker_starts"]["backoff_ms"] >= 4000, "the failover reset the pause")
        # Mended: the next start works, and once it lasted the count goes back to 0.
        os.unlink(flag)
        wait_for(lambda: all_ready(s, 3), 60, "the slaves replaced once starts work")
        wait_for(lambda: status(s)["worker_starts"]["failures"] == 0, 15, "the failures forgotten")
        ws = status(s)["worker_starts"]
        check(ws["backoff_ms"] == 0 and ws["next_start_in_ms"] == 0 and ws["last_failure"], f"worker_starts: {ws}")
        check("worker starts work again" in s.log_text(), "no log line for the mended starts")
        print(f"# failed starts: pauses {pauses}, gaps between starts {[round(g, 2) for g in gaps]}; "
              f"a slave elected {took:.2f} s after crash/master while starts were paused", flush=True)
    finally:
        if os.path.exists(flag):
            os.unlink(flag)
        s.stop()


if __name__ == "__main__":
    suite.run()
