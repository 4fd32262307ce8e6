#!/usr/bin/env python3
"""test_admin.py — the admin API (GET /api/v1/status, POST /api/v1/scale,
POST /api/v1/promote) and the orchestrator's restart, end to end over a real
RabbitMQ and ZooKeeper with the process runtime.

What must hold: the status shows every worker with its role, PID, state,
applied seq and lag, the queues, the scaling figures and recent events;
scale sets the slave count (400 outside 1..max); promote hands writes over
to the named slave under write load with nothing lost and nothing applied
twice, and the old master goes on as a slave; an orchestrator killed with
SIGKILL and started again adopts the running workers (none started twice),
serves reads that see every earlier write, and the crash endpoints stay
right.
"""
import os
import re
import signal
import subprocess
import time

from harness import BIN, Stack, Suite, check, pid_alive, wait_for
from test_failover import (WriteLoad, applied_seq, check_replicas, designated, ride, ride_counts, user,
                           worker_list)

suite = Suite("admin")


def status(s):
    st, body = s.client.request("GET", "/api/v1/status")
    check(st == 200 and isinstance(body, dict), f"status: {st} {body}")
    return body


def all_ready(s, n):
    b = status(s)
    ws = b["workers"]
    return len(ws) == n and all(w["state"] == "ready" for w in ws) and b


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

        for bad in ({"slaves": 0}, {"slaves": 17}, {"slaves": "2"}, {"slaves": 1.5}, {}, [], "x"):
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
        rows = check_replicas(s, load)
        check("started worker" not in s.log_text().split("workers ready")[1], "a worker was started")
        check("killed worker" not in s.log_text(), "a worker was killed during the switchovers")
        print(f"# promote: 3 switchovers under load, {len(load.acked)} writes acknowledged, {rows} rows",
              flush=True)
    finally:
        s.stop()


class OffsetLoad(WriteLoad):
    """A WriteLoad whose ride timestamps start at base, so that two loads never write the same row."""

    def __init__(self, client, threads, base):
        self.base = base
        super().__init__(client, threads)

    def run(self, k):
        i = 0
        while not self.stop.is_set():
            ts = self.base + (k + 1) * 10_000_000 + i
            i += 1
            sent = time.monotonic()
            try:
                st, body = self.client.write(ride(ts))
            except Exception as e:
                st, body = -1, repr(e)
            with self.lock:
                if st == 200:
                    self.acked[ts] = (sent, time.monotonic())
                else:
                    self.refused[ts] = (st, body)


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


def replicas_hold(s, acked):
    """Every live replica (by the status) holds every acknowledged ride once, and all hold the same."""
    b = wait_for(lambda: all_ready(s, len(worker_list(s))), 30, "all ready")
    paths = [s.db_path(w["id"]) for w in b["workers"]]
    master = s.db_path(b["master"])
    top = applied_seq(master)
    wait_for(lambda: all(applied_seq(p) >= top for p in paths), 30, "replicas to reach the master's seq")
    first = None
    for p in paths:
        got = ride_counts(p)
        twice = [ts for ts, n in got.items() if n > 1]
        check(not twice, f"{os.path.basename(p)}: applied twice: {twice[:5]}")
        lost = set(acked) - set(got)
        check(not lost, f"{os.path.basename(p)}: {len(lost)} acknowledged writes missing: {sorted(lost)[:5]}")
        first = got if first is None else first
        check(got == first, f"{os.path.basename(p)} differs")
    return len(first)


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
        load = OffsetLoad(s.client, 4, 500_000_000)
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
        rows = replicas_hold(s, acked)
        print(f"# restart: {len(acked)} writes acknowledged across the restart, {rows} rows", flush=True)
    finally:
        stop_all(s)


if __name__ == "__main__":
    suite.run()
