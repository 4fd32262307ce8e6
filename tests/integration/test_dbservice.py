#!/usr/bin/env python3
"""test_dbservice.py — the replicated DB service end to end: a real
orchestrator, master and slaves over a real RabbitMQ and ZooKeeper.

What must hold (docs/design.md, "Writes" and "Reads"): every operation kind round-trips; a read never
misses a write acknowledged before it began; bad input changes nothing; a
late replica reaches the master's exact data from the log; a redelivered
write is applied once; SIGTERM stops everything within a second.
"""
import concurrent.futures
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import BIN, HELPERS, Stack, Suite, check, wait_for  # noqa: E402
from load import mixed_writes  # noqa: E402
from ops import PASSWORD, user  # noqa: E402
from replicas import db_digest  # noqa: E402
from workers import status  # noqa: E402

suite = Suite("dbservice")


def count(c, table, where=None):
    op = {"op": "count", "table": table}
    if where:
        op["where"] = where
    status, body = c.read(op)
    check(status == 200, f"count {table}: {status} {body}")
    return body["count"]


@suite.test
def round_trips_every_operation():
    s = Stack("roundtrip")
    try:
        c = s.client
        check(c.clear()[0] == 200, "clear")
        st, body = c.write(user("alice"))
        check(st == 200 and body["changes"] == 1 and body["seq"] >= 1, f"insert user: {st} {body}")
        check(c.write(user("bob"))[0] == 200, "insert bob")
        st, body = c.write({"op": "insert", "table": "rides", "values": {
            "created_by": "alice", "ts": 2000000000, "source": 1, "destination": 2}})
        check(st == 200 and isinstance(body.get("id"), int), f"insert ride: {st} {body}")
        ride = body["id"]
        st, body = c.write({"op": "insert", "table": "rides", "values": {
            "created_by": "alice", "ts": 1000, "source": 1, "destination": 2}})
        check(st == 200 and body["id"] > ride, f"ride ids increase: {body}")
        check(c.write({"op": "insert", "table": "ride_members",
                       "values": {"ride_id": ride, "username": "bob"}})[0] == 200, "join")
        # select with columns, equality and range filters, order, limit
        st, body = c.read({"op": "select", "table": "rides", "columns": ["ride_id", "created_by"],
                           "where": {"source": 1, "destination": 2, "ts": {"gt": 1500}},
                           "order": [{"column": "ts", "dir": "desc"}], "limit": 10})
        check(st == 200 and body["rows"] == [{"ride_id": ride, "created_by": "alice"}], f"select: {body}")
        st, body = c.read({"op": "select", "table": "rides", "order": [{"column": "ride_id"}], "limit": 1})
        check(st == 200 and len(body["rows"]) == 1 and body["rows"][0]["ts"] == 2000000000, f"limit: {body}")
        check(count(c, "rides") == 2 and count(c, "users") == 2, "counts")
        check(count(c, "rides", {"ts": {"le": 1000}}) == 1, "range count")
        # update
        st, body = c.write({"op": "update", "table": "users", "set": {"password": "a" * 40},
                            "where": {"username": "bob"}})
        check(st == 200 and body["changes"] == 1, f"update: {st} {body}")
        st, body = c.read({"op": "select", "table": "users", "where": {"username": "bob"}})
        check(body["rows"] == [{"username": "bob", "password": "a" * 40}], f"updated row: {body}")
        # a constraint violation is a 409 and changes nothing
        st, body = c.write(user("alice"))
        check(st == 409 and "error" in body, f"duplicate user: {st} {body}")
        st, body = c.write({"op": "insert", "table": "rides", "values": {
            "created_by": "nobody", "ts": 1, "source": 1, "destination": 2}})
        check(st == 409, f"ride by unknown user: {st} {body}")
        check(count(c, "users") == 2 and count(c, "rides") == 2, "nothing changed by the 409s")
        # delete cascades: removing alice removes her rides and their members
        st, body = c.write({"op": "delete", "table": "users", "where": {"username": "alice"}})
        check(st == 200 and body["changes"] == 1, f"delete: {body}")
        check(count(c, "rides") == 0 and count(c, "ride_members") == 0, "cascade")
        st, body = c.clear()
        check(st == 200 and "seq" in body, f"clear: {body}")
        check(count(c, "users") == 0, "cleared")
        # ids are never reused, even after a clear
        check(c.write(user("carol"))[0] == 200, "carol")
        st, body = c.write({"op": "insert", "table": "rides", "values": {
            "created_by": "carol", "ts": 5, "source": 3, "destination": 4}})
        check(body["id"] > ride + 1, f"ride id after clear: {body}")
    finally:
        s.stop()


@suite.test
def read_your_writes_with_three_slaves():
    s = Stack("ryw", INITIAL_SLAVES=3)
    try:
        c = s.client
        misses = 0
        for i in range(1000):
            st, _ = c.write(user(f"ryw{i}"))
            check(st == 200, f"write {i}: {st}")
            st, body = c.read({"op": "select", "table": "users", "columns": ["username"],
                               "where": {"username": f"ryw{i}"}})
            check(st == 200, f"read {i}: {st} {body}")
            misses += body["rows"] != [{"username": f"ryw{i}"}]
        check(misses == 0, f"{misses} reads missed the write acknowledged just before")
    finally:
        s.stop()


@suite.test
def concurrent_clients_get_correct_answers():
    s = Stack("concurrent", INITIAL_SLAVES=2)
    try:
        c = s.client

        def client(k):
            errors = []
            for i in range(2000 // 32 // 2):
                name = f"c{k}-{i}"
                st, body = c.write(user(name))
                if st != 200:
                    errors.append(f"write {name}: {st} {body}")
                st, body = c.read({"op": "count", "table": "users", "where": {"username": name}})
                if st != 200 or body != {"count": 1}:
                    errors.append(f"read {name}: {st} {body}")
            return errors

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            errors = [e for f in [pool.submit(client, k) for k in range(32)] for e in f.result(timeout=300)]
        check(not errors, f"{len(errors)} wrong answers, first: {errors[:3]}")
        check(count(c, "users") == 32 * (2000 // 32 // 2), "all users stored once")
    finally:
        s.stop()


@suite.test
def repeated_reads_come_from_the_cache_and_never_miss_a_write():
    """The same read asked again is answered from the orchestrator's cache, and a cached answer is never
    given to a read that began after a write it lacks was acknowledged: 8 writers add users while 8
    readers ask the one same count; each count must be at least the writes acknowledged before it was
    asked."""
    s = Stack("readcache", INITIAL_SLAVES=2)
    try:
        c = s.client
        check(c.clear()[0] == 200, "clear")
        first = count(c, "users")
        for _ in range(50):
            check(count(c, "users") == first, "a repeated read changed with no write")
        cache = status(s)["read_cache"]
        check(cache["hits"] >= 49 and cache["entries"] >= 1, f"repeated reads not cached: {cache}")

        acked = [0]
        lock = threading.Lock()
        stop = time.monotonic() + 8

        def writer(k):
            i = 0
            while time.monotonic() < stop:
                st, body = c.write(user(f"rc{k}-{i}"))
                if st != 200:
                    return [f"write rc{k}-{i}: {st} {body}"]
                with lock:
                    acked[0] += 1
                i += 1
            return []

        def reader(_):
            errors, n = [], 0
            while time.monotonic() < stop:
                with lock:
                    before = acked[0]
                got = count(c, "users")
                n += 1
                if got < before:
                    errors.append(f"count {got} < {before} writes acknowledged before the read")
            return errors if n else ["no read"]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futs = [pool.submit(writer, k) for k in range(8)] + [pool.submit(reader, k) for k in range(8)]
            errors = [e for f in futs for e in f.result(timeout=120)]
        check(not errors, f"{len(errors)} errors, first: {errors[:3]}")
        check(count(c, "users") == acked[0], f"final count is not the {acked[0]} acknowledged writes")
        after = status(s)["read_cache"]
        print(f"# {acked[0]} writes; read cache {after}", flush=True)
    finally:
        s.stop()


@suite.test
def bad_input_is_refused_and_changes_nothing():
    s = Stack("badinput")
    try:
        c = s.client
        check(c.write(user("keep"))[0] == 200, "seed")
        before = {t: count(c, t) for t in ("users", "rides", "ride_members")}
        bad = [
            ("write", "not json"), ("write", "[1, 2]"), ("write", '{"op": "insert"'),
            ("write", {"op": "insert", "table": "nope", "values": {}}),
            ("write", {"op": "insert", "table": "users", "values": {"username": "x", "pw": "y"}}),
            ("write", {"op": "insert", "table": "users", "values": {"username": 5, "password": "y"}}),
            ("write", {"op": "insert", "table": "users", "values": ["username", "password"]}),
            ("write", {"op": "insert", "table": "rides", "values": {
                "ride_id": 9, "created_by": "keep", "ts": 1, "source": 1, "destination": 2}}),
            ("write", {"op": "delete", "table": "users"}),
            ("write", {"op": "update", "table": "users", "set": {}, "where": {"username": "keep"}}),
            ("write", {"op": "drop", "table": "users"}),
            ("write", {"op": "select", "table": "users"}),
            ("write", {"op": "clear"}),
            ("read", {"op": "insert", "table": "users", "values": {"username": "x", "password": "y"}}),
            ("read", {"op": "select", "table": "users", "columns": ["password; DROP TABLE users"]}),
            ("read", {"op": "select", "table": "users", "where": {"username": {"like": "%"}}}),
            ("read", {"op": "select", "table": "users", "limit": -1}),
            ("read", {"op": "count", "table": "rides", "where": {"ts": 1.5}}),
            ("write", "{" + '"a":' * 5000),
            ("clear", "[]"),
        ]
        for kind, body in bad:
            st, resp = c.request("POST", f"/api/v1/db/{kind}", body)
            check(400 <= st < 500, f"{kind} {str(body)[:80]}: status {st}")
            check(isinstance(resp, dict) and isinstance(resp.get("error"), str),
                  f"{kind} {str(body)[:80]}: no JSON error: {resp}")
        big = {"op": "insert", "table": "users", "values": {"username": "big", "password": "x" * (1 << 20)}}
        st, resp = c.request("POST", "/api/v1/db/write", big)
        check(st == 413 and "error" in resp, f"1 MB body: {st}")
        st, _ = c.request("GET", "/api/v1/db/write")
        check(st == 405, f"GET db/write: {st}")
        st, _ = c.request("POST", "/api/v1/db/nope", {})
        check(st == 404, f"unknown path: {st}")
        after = {t: count(c, t) for t in ("users", "rides", "ride_members")}
        check(before == after, f"data changed: {before} -> {after}")
        # Strings that look like SQL, quotes and unicode are data, stored verbatim.
        for name in ["x'); DROP TABLE users;--", 'Robert"); --', "名前 ünïcödé 🚗", "a\\b\"c", " "]:
            st, body = c.write(user(name))
            check(st == 200, f"insert {name!r}: {st} {body}")
            st, body = c.read({"op": "select", "table": "users", "columns": ["username"],
                               "where": {"username": name}})
            check(body["rows"] == [{"username": name}], f"{name!r} read back as {body}")
        check(count(c, "users") == before["users"] + 5, "users table intact")
    finally:
        s.stop()


@suite.test
def late_slave_reaches_the_masters_data():
    s = Stack("lateslave", CHECKPOINT_ENTRIES=1000)
    try:
        c = s.client

        mixed_writes(c, 0, 10000, threads=16)
        master = s.db_path(s.master_id())
        want, master_seq = db_digest(master)
        check(master_seq >= 10000, f"master applied {master_seq}")
        # Two late slaves: one replays the whole log (without ZooKeeper it has no
        # checkpoint to start from), one starts from the newest checkpoint
        # (checkpoint.h) and follows the log after it.
        late_dir = os.path.join(s.dir, "late")
        os.makedirs(late_dir)

        def start_late(wid, **env):
            return s.start_worker(wid, data_dir=late_dir, **env), os.path.join(late_dir, f"{wid}.db"), \
                time.monotonic()

        def caught_up(p, path, seq):
            check(p.poll() is None, f"late slave exited {p.returncode}")
            try:
                return db_digest(path)[1] >= seq
            except sqlite3.Error:
                return False

        wait_for(lambda: re.search(r"checkpoint made .* seq=(\d{4,})", s.log_text()), 30, "a checkpoint")
        for wid, env, how in (("late1", {"ZK_HOSTS": ""}, "replayed"),
                              ("late2", {}, "started from a checkpoint")):
            p, path, started = start_late(wid, **env)
            wait_for(lambda: caught_up(p, path, master_seq), 60, f"{wid} to reach the master's seq")
            took = time.monotonic() - started
            got, seq = db_digest(path)
            check(seq == master_seq and got == want, f"{wid} differs: {seq} {got} vs {master_seq} {want}")
            with open(os.path.join(s.dir, f"{wid}.log")) as f:
                log = f.read()
            check(("started from checkpoint" in log) == (how != "replayed"), f"{wid} should have {how}: {log[-1500:]}")
            print(f"# late slave {how}: {master_seq} entries in {took:.2f}s", flush=True)
        # The checkpoint's slave follows the log after it like any other.
        for i in range(50):
            st, body = c.write(user(f"after{i}"))
            check(st == 200, f"write after the copy: {st} {body}")
        want, master_seq = db_digest(master)
        late2 = os.path.join(late_dir, "late2.db")
        wait_for(lambda: db_digest(late2)[1] >= master_seq, 30, "late2 to follow the log after its checkpoint")
        check(db_digest(late2)[0] == want, "late2 differs from the master after the tail")
    finally:
        s.stop()


@suite.test
def redelivered_write_is_applied_once():
    s = Stack("dedupe")
    try:
        c = s.client
        body = '{"op": {"op": "insert", "table": "users", "values": {"username": "once", "password": "%s"}}}' % PASSWORD
        env = dict(os.environ, RABBITMQ_URL=s.url)
        out = subprocess.run([os.path.join(HELPERS, "mqsend"), "writeQ", "dup-request-1", "2", body],
                             env=env, capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, f"mqsend: {out.returncode} {out.stderr[-500:]}")
        import json
        replies = [json.loads(line) for line in out.stdout.splitlines()]
        check(len(replies) == 2, f"replies: {replies}")
        check(all(r["status"] == 200 for r in replies), f"statuses: {replies}")
        check(replies[0]["seq"] == replies[1]["seq"], f"two seqs for one request: {replies}")
        # Once more, later: still the stored answer, not a second apply (which would be a 409).
        out = subprocess.run([os.path.join(HELPERS, "mqsend"), "writeQ", "dup-request-1", "1", body],
                             env=env, capture_output=True, text=True, timeout=30)
        again = json.loads(out.stdout.splitlines()[0])
        check(again["status"] == 200 and again["seq"] == replies[0]["seq"], f"later redelivery: {again}")
        check(count(c, "users", {"username": "once"}) == 1, "applied once")
        # A read that follows sees it (its min_seq is not known to this orchestrator; it is on the slave).
    finally:
        s.stop()


@suite.test
def no_answer_in_time_is_a_503_not_a_hang():
    s = Stack("timeout", READ_TIMEOUT_MS=1000)
    try:
        c = s.client
        check(c.write(user("before"))[0] == 200, "write")
        # A frozen slave: alive (so nobody replaces it yet), consuming nothing.
        # A dead one would be replaced at once (test_failover.py).
        slave = next(pid for role, pid in s.workers().values() if role == "slave")
        os.kill(slave, signal.SIGSTOP)
        started = time.monotonic()
        st, body = c.read({"op": "count", "table": "users"})
        took = time.monotonic() - started
        check(st == 503 and "error" in body, f"read with no slave answering: {st} {body}")
        check(took < 3, f"the 503 took {took:.1f}s")
        st, body = c.write(user("after"))
        check(st == 200, f"writes go on without slaves: {st} {body}")
    finally:
        s.stop()


@suite.test
def sigterm_stops_everything_within_a_second():
    s = Stack("sigterm")
    check(s.client.write(user("x"))[0] == 200, "write")
    pids = [pid for _, pid in s.workers().values()]
    check(len(pids) == 2, f"workers: {pids}")
    took, left = s.stop()
    check(s.proc.returncode == 0, f"orchestrator exit status {s.proc.returncode}")
    check(took < 1.0, f"took {took:.2f}s")
    check(not left, f"workers left running: {left}")


@suite.test
def every_binary_answers_help():
    for name in ("rideshare-orchestrator", "rideshare-worker"):
        out = subprocess.run([os.path.join(BIN, name), "--help"], capture_output=True, text=True, timeout=10)
        check(out.returncode == 0 and "RABBITMQ_URL" in out.stdout and "default" in out.stdout,
              f"{name} --help: {out.returncode} {out.stdout[:200]}")


if __name__ == "__main__":
    suite.run()
