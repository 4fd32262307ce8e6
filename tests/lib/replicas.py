"""replicas.py — what the replicas' database files hold, read directly (read-only
SQLite connections beside the running workers), and the check every failure suite
ends with: each live replica holds each acknowledged write exactly once.
"""
import hashlib
import os
import sqlite3

from harness import check, wait_for
from workers import all_ready, worker_list


def query(path, sql, args=()):
    """The rows of one read-only query on one worker's file."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def applied_seq(path):
    return query(path, "SELECT v FROM rs_meta WHERE k = 'applied_seq'")[0][0]


def ride_counts(path):
    """{ts: number of rows} of one replica's rides table."""
    return dict(query(path, "SELECT ts, COUNT(*) FROM rides GROUP BY ts"))


def db_digest(path, requests=False):
    """Row counts and a checksum of each replicated table of one worker's file (with the
    remembered request ids if asked), and the file's applied seq."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        tables = [("users", "username"), ("rides", "ride_id"), ("ride_members", "ride_id, username")]
        if requests:
            tables.append(("rs_requests", "rid"))
        for table, key in tables:
            rows = db.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        seq = db.execute("SELECT v FROM rs_meta WHERE k = 'applied_seq'").fetchone()[0]
        return out, seq
    finally:
        db.close()


def check_replicas(s, acked):
    """Every live replica holds every acknowledged ride (acked: their timestamps) exactly
    once, all hold the same rides, and a read through the API counts as many. The replicas
    are those of the status once every worker is ready (it names them also after an
    orchestrator restart, whose log has no "started worker" line). Returns the number of rides."""
    b = wait_for(lambda: all_ready(s, len(worker_list(s))), 30, "every worker ready")
    paths = [s.db_path(w["id"]) for w in b["workers"]]
    top = applied_seq(s.db_path(b["master"]))
    wait_for(lambda: all(applied_seq(p) >= top for p in paths), 30, "every replica to reach the master's seq")
    want, first = set(acked), None
    for p in paths:
        got = ride_counts(p)
        twice = [ts for ts, n in got.items() if n > 1]
        check(not twice, f"{os.path.basename(p)}: {len(twice)} writes applied twice, e.g. {twice[:5]}")
        lost = want - set(got)
        check(not lost, f"{os.path.basename(p)}: {len(lost)} acknowledged writes missing, e.g. {sorted(lost)[:5]}")
        if first is None:
            first = got
        check(got == first, f"{os.path.basename(p)} differs from {os.path.basename(paths[0])}")
    st, body = s.client.read({"op": "count", "table": "rides"})
    check(st == 200 and body["count"] == len(first), f"count through the API: {st} {body} vs {len(first)}")
    return len(first)
