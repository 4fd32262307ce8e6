#!/usr/bin/env python3
"""test_backup.py — backups and restores end to end (common/db/backupfile.h,
services/orchestrator/backups.h and restorer.h, services/worker/backup.c and
restore.h), over a real RabbitMQ and ZooKeeper.

What must hold: a backup taken under write load holds exactly the writes
acknowledged at or below its seq (the writes' own acknowledged seqs are the
oracle) and its checksum header is its CRC-32C; a restore into a fresh
stack makes the REST API show exactly the backed-up users and rides, new
replicas included, and ride ids go on above the backup's; a corrupt, foreign
or mismatched file is refused with a reason and changes nothing; scheduled
backups keep BACKUP_KEEP verified files, the newest.
"""
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiStack, install_signal_handlers, ride_ts  # noqa: E402
from harness import ROOT, Stack, Suite, check, wait_for  # noqa: E402
from ops import PASSWORD, ride, user  # noqa: E402
from replicas import db_digest, query  # noqa: E402

suite = Suite("backup")


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as common/base/checksum.c computes it."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def get_backup(port, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/api/v1/backup")
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def backup_dir(s):
    return os.path.join(s.dir, "data", "backups")


@suite.test
def backup_under_write_load_is_the_data_at_its_seq():
    s = Stack("bkload", CHECKPOINT_ENTRIES=2000)
    stop, lock, acked, unknown = threading.Event(), threading.Lock(), {}, set()
    try:
        def writer(k):
            i = 0
            while not stop.is_set():
                name = f"w{k}-{i}"
                i += 1
                st, body = s.client.write(user(name))
                with lock:
                    if st == 200:
                        acked[name] = body["seq"]
                    else:
                        unknown.add(name)

        threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 1500, 60, "writes to flow")
        st, headers, data = get_backup(s.port)
        during = len(acked)
        wait_for(lambda: len(acked) >= during + 200, 30, "writes to go on after the backup")
        stop.set()
        for t in threads:
            t.join(60)
        check(st == 200, f"GET /api/v1/backup: {st} {data[:300]}")
        seq, epoch = int(headers["X-Rideshare-Seq"]), int(headers["X-Rideshare-Epoch"])
        check(headers["X-Rideshare-Checksum"] == f"crc32c:{crc32c(data):08x}",
              f"checksum header {headers['X-Rideshare-Checksum']} vs the body's {crc32c(data):08x}")
        check(headers.get("Content-Type") == "application/vnd.sqlite3", f"content type: {headers}")
        path = os.path.join(s.dir, "load.db")
        with open(path, "wb") as f:
            f.write(data)
        check(query(path, "PRAGMA integrity_check") == [("ok",)], "integrity_check")
        meta = dict(query(path, "SELECT k, v FROM rs_backup"))
        check(meta["seq"] == seq and meta["epoch"] == epoch and meta["format"] == "rideshare-backup-1",
              f"rs_backup {meta} vs headers {seq} {epoch}")
        got = {r[0] for r in query(path, "SELECT username FROM users")}
        want = {n for n, q in acked.items() if q <= seq}
        later = {n for n, q in acked.items() if q > seq}
        check(want <= got, f"{len(want - got)} writes acknowledged at or below seq {seq} missing, "
                           f"e.g. {sorted(want - got)[:3]}")
        check(not (got & later), f"{len(got & later)} writes acknowledged above seq {seq} in it")
        check(got <= want | unknown, f"{len(got - want - unknown)} rows nobody wrote: {sorted(got - want)[:3]}")
        check(not query(path, "SELECT name FROM sqlite_master WHERE name LIKE 'rs_requests%'"),
              "request ids in the backup")
        print(f"# backup under load at seq {seq}: {len(got)} users ({len(data)} bytes); {len(acked)} writes "
              f"acknowledged in all, {len(unknown)} not", flush=True)
    finally:
        stop.set()
        s.stop()


@suite.test
def restore_into_a_fresh_stack_gives_exactly_the_backup():
    a = Stack("bksrc")
    b = None
    try:
        future = int(time.time()) + 86400
        for i in range(30):
            check(a.client.write(user(f"u{i:02d}"))[0] == 200, "user")
        ids = []
        for i in range(10):
            st, body = a.client.write(ride(future + i, by=f"u{i:02d}"))
            check(st == 200, f"ride: {st} {body}")
            ids.append(body["id"])
        for i in range(5):
            st, _ = a.client.write({"op": "insert", "table": "ride_members",
                                    "values": {"ride_id": ids[0], "username": f"u{20 + i}"}})
            check(st == 200, "join")
        st, headers, data = get_backup(a.port)
        check(st == 200, f"backup: {st} {data[:200]}")
        a.stop()
        a = None
        b = ApiStack("bkdst", orch_env={"INITIAL_SLAVES": 1, "CHECKPOINT_ENTRIES": 50})
        r = b.gw.put("/api/v1/users", {"username": "before-restore", "password": PASSWORD})
        check(r.status == 201, f"a user before the restore: {r}")
        with open(os.path.join(backup_dir(b.db), "a.db"), "wb") as f:
            f.write(data)
        st, out = b.db.client.request("POST", "/api/v1/restore", {"name": "a.db"}, timeout=120)
        check(st == 200 and out["users"] == 30 and out["rides"] == 10 and out["members"] == 5,
              f"restore: {st} {out}")
        check(out["epoch"] > 1, f"the epoch did not move forward: {out}")
        users = b.gw.get("/api/v1/users")
        check(users.status == 200 and sorted(users.json) == [f"u{i:02d}" for i in range(30)],
              f"users after the restore: {users}")
        rides = b.gw.get("/api/v1/rides?source=1&destination=2")
        check(rides.status == 200 and sorted(x["rideId"] for x in rides.json) == sorted(ids),
              f"rides after the restore: {rides}")
        one = b.gw.get(f"/api/v1/rides/{ids[0]}")
        check(one.status == 200 and sorted(one.json["users"]) == [f"u{20 + i}" for i in range(5)],
              f"ride {ids[0]}: {one}")
        # Ride ids go on above the backup's.
        r = b.gw.post("/api/v1/rides", {"created_by": "u00", "timestamp": ride_ts(7200), "source": 1,
                                        "destination": 2})
        check(r.status == 201, f"a ride after the restore: {r}")
        new = b.gw.get("/api/v1/rides?source=1&destination=2")
        fresh = [x["rideId"] for x in new.json if x["rideId"] not in ids]
        check(len(fresh) == 1 and fresh[0] > max(ids), f"new ride id {fresh} vs the backup's {ids}")
        # A new replica starts from the restored state: every read, whoever answers it, sees it.
        st, body = b.db.client.request("POST", "/api/v1/scale", {"slaves": 2})
        check(st == 200, f"scale: {st} {body}")
        # Whether it starts from the checkpoint taken after the restore or from an older one and
        # the log (the restore entry then brings it to the backup's data) depends on which came
        # first; either way it must hold exactly the backup's data.
        wait_for(lambda: len(b.db.client.request("GET", "/api/v1/worker/list")[1]) == 3, 30, "a new slave")
        wait_for(lambda: all(w["state"] == "ready" for w in b.db.client.request("GET", "/api/v1/status")[1]["workers"]),
                 30, "every worker ready")
        for _ in range(10):
            users = b.gw.get("/api/v1/users")
            check(users.status == 200 and "before-restore" not in users.json and len(users.json) == 30,
                  f"a read after the new slave: {users}")
        print(f"# restored {out['users']} users, {out['rides']} rides, {out['members']} memberships in "
              f"{out['took_ms']} ms; epoch {out['epoch']} ({out['switchover']})", flush=True)
    finally:
        if a:
            a.stop()
        if b:
            b.stop()


@suite.test
def a_corrupt_or_foreign_file_is_refused_and_changes_nothing():
    s = Stack("bkbad")
    try:
        for i in range(20):
            check(s.client.write(user(f"k{i}"))[0] == 200, "write")
        st, headers, good = get_backup(s.port)
        check(st == 200, "backup")
        d = backup_dir(s)
        corrupt = bytearray(good)
        for k in range(8192, len(corrupt), 97):
            corrupt[k] ^= 0x5A
        files = {
            "corrupt.db": bytes(corrupt),
            "junk.db": bytes(range(256)) * 64,
            "truncated.db": good[:4096],
            "mismatched.db": good,
        }
        for name, content in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(content)
        with open(os.path.join(d, "mismatched.db.json"), "w") as f:
            json.dump({"crc": "deadbeef"}, f)
        master = re.findall(r"master designated id=(\S+)", s.log_text())[-1]
        foreign = os.path.join(d, "foreign.db")
        src = sqlite3.connect(f"file:{s.db_path(master)}?mode=ro", uri=True)
        dst = sqlite3.connect(foreign)
        src.backup(dst)
        src.close()
        dst.close()
        before = db_digest(s.db_path(master), requests=True)
        for name, why in (("corrupt.db", r"corrupt|not a SQLite"), ("junk.db", r"not a SQLite|corrupt"),
                          ("truncated.db", r"corrupt|not a SQLite|unreadable"), ("mismatched.db", r"checksum"),
                          ("foreign.db", r"not a Rideshare backup")):
            st, body = s.client.request("POST", "/api/v1/restore", {"name": name})
            check(st == 400 and re.search(why, body.get("error", "")), f"{name}: {st} {body}")
        for body, want in (({"name": "../data/x.db"}, 400), ({"name": ".hidden"}, 400), ({"nom": "a"}, 400),
                           ({"name": "missing.db"}, 404), ("not json", 400)):
            st, out = s.client.request("POST", "/api/v1/restore", body)
            check(st == want and "error" in out, f"{body}: {st} {out}")
        check(db_digest(s.db_path(master), requests=True) == before, "a refused restore changed the data")
        check("restored a backup" not in s.log_text(), "a refused restore reached the log")
    finally:
        s.stop()


@suite.test
def scheduled_backups_keep_the_newest_verified_files():
    keep = 2
    s = Stack("bksched", BACKUP_INTERVAL_S=1, BACKUP_KEEP=keep)
    try:
        i = 0

        def taken():
            nonlocal i
            check(s.client.write(user(f"s{i}"))[0] == 200, "write")
            i += 1
            return len(re.findall(r"backup taken file=backup-", s.log_text())) >= keep + 2

        wait_for(taken, 60, f"{keep + 2} scheduled backups")
        wait_for(lambda: s.log_text().count("backup pruned") >= 2, 10, "the oldest to be pruned")
        d = backup_dir(s)
        names = sorted(n for n in os.listdir(d) if n.startswith("backup-") and n.endswith(".db"))
        newest = re.findall(r"backup taken file=(backup-\S+)", s.log_text())
        check(len(names) == keep, f"{len(names)} kept: {names}")
        check(set(names) <= set(newest[-(keep + 1):]), f"kept {names}, the newest taken are {newest[-keep:]}")
        for n in names:
            path = os.path.join(d, n)
            with open(path + ".json") as f:
                side = json.load(f)
            with open(path, "rb") as f:
                data = f.read()
            check(side["crc"] == f"{crc32c(data):08x}" and side["size"] == len(data), f"{n}: sidecar {side}")
            check(query(path, "PRAGMA integrity_check") == [("ok",)], f"{n}: integrity_check")
            check(dict(query(path, "SELECT k, v FROM rs_backup"))["seq"] == side["seq"], f"{n}: seq")
        check(not [n for n in os.listdir(d) if n.startswith(".")], f"temporary files left: {os.listdir(d)}")
        print(f"# scheduled: {len(newest)} taken, {keep} kept: {names}", flush=True)
    finally:
        s.stop()


@suite.test
def make_backup_and_make_restore():
    """The scripts behind `make backup` and `make restore FILE=...`, against a process stack."""
    s = Stack("bkmake")
    try:
        for i in range(10):
            check(s.client.write(user(f"m{i}"))[0] == 200, "write")
        out_dir = os.path.join(s.dir, "mine")
        env = dict(os.environ, ORCH_URL=f"http://127.0.0.1:{s.port}", BACKUPS_DIR=out_dir,
                   RIDESHARE_STACK="no-such-stack")
        script = os.path.join(ROOT, "services", "infra", "backup.sh")
        out = subprocess.run([script, "backup"], env=env, capture_output=True, text=True, timeout=120)
        check(out.returncode == 0, f"backup.sh backup: {out.returncode} {out.stderr}")
        files = [n for n in os.listdir(out_dir) if n.endswith(".db")]
        check(len(files) == 1 and os.path.exists(os.path.join(out_dir, files[0] + ".json")), f"files: {files}")
        path = os.path.join(out_dir, files[0])
        with open(path, "rb") as f, open(path + ".json") as g:
            check(json.load(g)["crc"] == f"{crc32c(f.read()):08x}", "the sidecar's checksum")
        for i in range(10, 15):
            check(s.client.write(user(f"m{i}"))[0] == 200, "write after the backup")
        out = subprocess.run([script, "restore", path], env=env, capture_output=True, text=True, timeout=120)
        check(out.returncode == 0 and '"users":10' in out.stdout.replace(" ", ""),
              f"backup.sh restore: {out.returncode} {out.stdout} {out.stderr}")
        st, body = s.client.read({"op": "count", "table": "users"})
        check(st == 200 and body["count"] == 10, f"after make restore: {st} {body}")
        junk = os.path.join(out_dir, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"x" * 5000)
        out = subprocess.run([script, "restore", junk], env=env, capture_output=True, text=True, timeout=120)
        check(out.returncode != 0 and "not a SQLite" in out.stdout + out.stderr, f"junk: {out.stdout} {out.stderr}")
    finally:
        s.stop()


if __name__ == "__main__":
    install_signal_handlers()
    suite.run()
