#!/usr/bin/env python3
"""test_checkpoint.py — bounded history: checkpoints, the log's retention and the
request-id window (services/worker/checkpoint.h, replica.h), end to end over a real
RabbitMQ and ZooKeeper with small numbers.

What must hold: a master cold-started after every worker was lost starts from the
newest checkpoint and applies only the log after it, and holds exactly what a replica
that replayed the whole log holds (tables and remembered request ids); a replica
whose next entries fell out of the log's retention starts over from a checkpoint and
reaches the master's data, and one with no checkpoint to go to stops without ever
serving; request ids are answered from the store within the window, forgotten after
it, and a request past its deadline is never applied.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import HELPERS, Stack, Suite, check, wait_for  # noqa: E402
from load import mixed_writes  # noqa: E402
from ops import user  # noqa: E402
from replicas import db_digest, query  # noqa: E402
from workers import designated, worker_list  # noqa: E402

suite = Suite("checkpoint")


def checkpoints(s):
    """The seqs of the checkpoints made so far, from the workers' lines in the log."""
    return [int(m.group(1)) for m in re.finditer(r"checkpoint made queue=\S+ seq=(\d+)", s.log_text())]


def worker_log(s, wid):
    return "\n".join(line for line in s.log_text().splitlines() if f"worker-{wid} " in line)


def late_worker(s, wid, late_dir, **env):
    p = s.start_worker(wid, data_dir=late_dir, **env)
    return p, os.path.join(late_dir, f"{wid}.db"), os.path.join(s.dir, f"{wid}.log")


def read_file(path):
    with open(path) as f:
        return f.read()


def reaches(p, path, seq):
    check(p.poll() is None, f"worker exited with {p.returncode}")
    try:
        return db_digest(path)[1] >= seq
    except sqlite3.Error:
        return False


@suite.test
def cold_master_starts_from_the_checkpoint_and_matches_a_full_replay():
    s = Stack("coldmaster", CHECKPOINT_ENTRIES=400, CHECKPOINT_S=0, INITIAL_SLAVES=1)
    try:
        c = s.client
        mixed_writes(c, 0, 3000)
        wait_for(lambda: any(q >= 2000 for q in checkpoints(s)), 30, "a checkpoint past seq 2000")
        # A new slave starts from it.
        st, body = c.request("POST", "/api/v1/scale", {"slaves": 2})
        check(st == 200, f"scale: {st} {body}")
        wait_for(lambda: len(worker_list(s)) == 3 and s.log_text().count("started from checkpoint") >= 1, 30,
                 "a new slave started from the checkpoint")
        # Every worker lost at once: the new master has no file.
        old = worker_list(s)
        killed_at = time.monotonic()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: c.write(user("after-kill"))[0] == 200, 30, "a write acknowledged after the kill")
        first_ack = time.monotonic() - killed_at
        m = designated(s)[0]
        mlog = worker_log(s, m)
        started = re.search(r"started from checkpoint queue=\S+ seq=(\d+) offset=(\d+)", mlog)
        check(started, f"the new master did not start from a checkpoint: {mlog[-2000:]}")
        ck_seq, ck_off = int(started.group(1)), int(started.group(2))
        check(ck_seq >= 2000, f"started from an old checkpoint: seq {ck_seq}")
        check(f"following log from={ck_off + 1} " in mlog, f"the new master did not follow from the checkpoint's "
              f"offset {ck_off}: {mlog[-2000:]}")
        mixed_writes(c, 3000, 400)
        # A replica that replays the whole log (no ZooKeeper: no checkpoint) holds exactly the same.
        late_dir = os.path.join(s.dir, "late")
        os.makedirs(late_dir)
        want, seq = db_digest(s.db_path(m), requests=True)
        p, path, _ = late_worker(s, "replay", late_dir, ZK_HOSTS="")
        wait_for(lambda: reaches(p, path, seq), 60, "the full replay to reach the master's seq")
        got, got_seq = db_digest(path, requests=True)
        want, seq = db_digest(s.db_path(m), requests=True)
        check(got_seq == seq, f"seq {got_seq} vs the master's {seq}")
        check(got == want, f"the full replay differs from the master cold-started from a checkpoint:\n{got}\n{want}")
        print(f"# cold master from checkpoint seq {ck_seq} of {seq}; first write acknowledged "
              f"{first_ack:.2f}s after every worker was killed; {want['users'][0]} users, "
              f"{want['rs_requests'][0]} request ids remembered", flush=True)
    finally:
        s.stop()


@suite.test
def replica_behind_the_retention_restarts_from_a_checkpoint():
    s = Stack("gap", CHECKPOINT_ENTRIES=300, CHECKPOINT_S=0, LOG_RETENTION_BYTES=240000,
              LOG_SEGMENT_BYTES=40000)
    try:
        c = s.client
        for i in range(100):
            check(c.write(user(f"early{i}"))[0] == 200, "early write")
        slave = next(i for i, (role, _) in s.workers().items() if role == "slave")
        wait_for(lambda: db_digest(s.db_path(slave))[1] >= 100, 10, "the slave to apply the early writes")
        # A stale copy of the slave, taken now (SQLite's backup: a consistent file).
        late_dir = os.path.join(s.dir, "late")
        os.makedirs(late_dir)
        src = sqlite3.connect(f"file:{s.db_path(slave)}?mode=ro", uri=True)
        dst = sqlite3.connect(os.path.join(late_dir, "stale.db"))
        src.backup(dst)
        src.close()
        dst.close()
        # Five times the retention of log: the stale copy's next entries are dropped.
        mixed_writes(c, 0, 4000)
        text = s.log_text()
        check("log retention budget reached" not in text or "log has room again" in text, "the master stayed throttled")
        seq = db_digest(s.db_path(designated(s)[0]))[1]
        p, path, log = late_worker(s, "stale", late_dir)
        wait_for(lambda: reaches(p, path, seq), 60, "the stale replica to catch up")
        wlog = read_file(log)
        check("log gap" in wlog and "restarted from a checkpoint after a gap" in wlog,
              f"the stale replica did not go through a checkpoint: {wlog[-2000:]}")
        want = db_digest(s.db_path(designated(s)[0]))
        wait_for(lambda: db_digest(path) == want, 20, "the stale replica to hold the master's data")
        # A replica with no checkpoint to go to (no ZooKeeper) stops, never serving.
        p2, _, log2 = late_worker(s, "nockpt", os.path.join(s.dir, "late"), ZK_HOSTS="")
        wait_for(lambda: p2.poll() is not None, 30, "the replica without a checkpoint to stop")
        wlog = read_file(log2)
        check(p2.returncode != 0 and "gap in the log and no checkpoint past it" in wlog,
              f"exit {p2.returncode}: {wlog[-1500:]}")
        check("state=ready" not in wlog, "a replica behind a gap said it was ready")
        print(f"# gap: {len(checkpoints(s))} checkpoints over {seq} writes; the stale replica restarted from "
              f"one and caught up", flush=True)
    finally:
        s.stop()


def mqsend(s, rid, body, deadline_ms=None, copies=1):
    env = dict(os.environ, RABBITMQ_URL=s.url)
    if deadline_ms is not None:
        env["MQSEND_DEADLINE_MS"] = str(deadline_ms)
    out = subprocess.run([os.path.join(HELPERS, "mqsend"), "writeQ", rid, str(copies), body], env=env,
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"mqsend: {out.returncode} {out.stderr[-500:]}")
    return [json.loads(line) for line in out.stdout.splitlines()]


def remembered(path, rid):
    return query(path, "SELECT COUNT(*) FROM rs_requests WHERE rid = ?", (rid,))[0][0]


@suite.test
def request_ids_are_remembered_for_a_window():
    window = 12
    s = Stack("window", WRITE_TIMEOUT_MS=2000, REQUEST_WINDOW_S=window)
    try:
        c = s.client

        def count(name):
            st, body = c.read({"op": "count", "table": "users", "where": {"username": name}})
            check(st == 200, f"count: {st} {body}")
            return body["count"]

        body = json.dumps({"op": user("once")})
        first = mqsend(s, "window-1", body, deadline_ms=5000, copies=2)
        check([r["status"] for r in first] == [200, 200] and first[0]["seq"] == first[1]["seq"],
              f"a redelivery within the window is answered from the store: {first}")
        late = mqsend(s, "window-2", json.dumps({"op": user("late")}), deadline_ms=-1000)
        check(late[0]["status"] == 503, f"a request past its deadline: {late}")
        check(count("late") == 0, "a request past its deadline was applied")
        # Within the window, even past its deadline, the id is known: the stored answer.
        again = mqsend(s, "window-1", body, deadline_ms=-1000)
        check(again[0]["status"] == 200 and again[0]["seq"] == first[0]["seq"], f"within the window: {again}")
        m = s.db_path(designated(s)[0])
        check(remembered(m, "window-1") == 1, "the id is not remembered")
        # After the window (and a write that moves every replica's horizon) it is forgotten ...
        time.sleep(window + 0.5)
        check(c.write(user("later"))[0] == 200, "a write after the window")
        wait_for(lambda: remembered(m, "window-1") == 0, 10, "the id to be forgotten")
        # ... and a redelivery that old is past its deadline: refused, never applied twice.
        old = mqsend(s, "window-1", body, deadline_ms=-(window + 1) * 1000)
        check(old[0]["status"] == 503, f"an old redelivery: {old}")
        check(count("once") == 1, "applied twice")
        rows = db_digest(m, requests=True)[0]["rs_requests"][0]
        check(rows <= 3, f"{rows} request ids remembered after the window")
        print(f"# window {window}s: redelivery answered from the store inside it, id forgotten after it, "
              f"{rows} ids remembered", flush=True)
    finally:
        s.stop()


if __name__ == "__main__":
    suite.run()
