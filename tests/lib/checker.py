"""checker.py — judges a run: its history (history.py), every replica's final file, and the logs.

Properties, each given a verdict with counterexamples (docs/design.md, "Invariants"):
  acked-present      every acknowledged write is on every replica exactly once, as written
  failed-absent      no write that failed (4xx, or never sent) left anything on any replica
  unknown-once       a write of unknown outcome is present at most once (and the same on all, by
                     replicas-identical)
  reads-see-acked    no read missed a write acknowledged before the read was invoked, and no read
                     saw a write that failed; a public ride create refused with "not an existing
                     user" for a creator acknowledged before it is such a read too (the rides
                     service checks its creator with one)
  replicas-identical every replica has applied the same seq and holds the same tables and request
                     ids (a checksum of each)
  one-master-per-epoch  no two workers took writes ("master taking writes epoch=E", "promoted to
                     master ... epoch=E") in the same epoch, and none took writes in an epoch the
                     orchestrator named someone else for ("master designated id= epoch=")
  acks-from-the-log  an acknowledged DB API insert's answer is what the log kept: the ride with its
                     ts has the id the client was told, and the request id remembered at the seq it
                     was told (while the replicas still remember it) holds the same answer — an
                     answer from a deposed master, whose entries every replica ignores, fails this
Availability is measured, not judged: for each kind of fault, the share of operations invoked
while it lasted, and in the AFTER_S seconds after it healed, that succeeded; and how long after
each fault began the first write sent after it was acknowledged (resume_s), and how many times
that happened while the fault still lasted (resumed_during); and the longest time within a fault
with no write acknowledged at all (gap_s).

Replicas are read with read_replica(path) (SQLite, read-only): a process stack's files directly,
a container's through /proc/<pid>/root. Log lines are the services' format (common/base/log.h):
"<ISO time> <LEVEL> <component> <message key=value...>".
"""
import bisect
import calendar
import hashlib
import json
import re
import sqlite3
import time

AFTER_S = 10.0
EXAMPLES = 5
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z\s+(\w+)\s+(\S+)\s+(.*)$")


# ---------------------------------------------------------------------- inputs

class Replica:
    """What the checker needs of one worker's file."""

    def __init__(self, name, users, rides, requests, applied_seq, digest):
        self.name, self.users, self.rides, self.requests = name, users, rides, requests
        self.applied_seq, self.digest = applied_seq, digest


def read_replica(name, path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        digest = {}
        for table, key in (("users", "username"), ("rides", "ride_id"), ("ride_members", "ride_id, username"),
                           ("rs_requests", "rid")):
            h, n = hashlib.sha256(), 0
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {key}"):
                h.update(repr(row).encode())
                n += 1
            digest[table] = (n, h.hexdigest()[:16])
        users = dict(db.execute("SELECT username, password FROM users"))
        rides = {}
        for rid, by, ts, src, dst in db.execute("SELECT ride_id, created_by, ts, source, destination FROM rides"):
            rides.setdefault(ts, []).append((rid, by, src, dst))
        requests = {seq: (status, body) for seq, status, body in db.execute("SELECT seq, status, body FROM rs_requests")}
        seq = db.execute("SELECT v FROM rs_meta WHERE k = 'applied_seq'").fetchone()[0]
        return Replica(name, users, rides, requests, seq, digest)
    finally:
        db.close()


def parse_log(lines):
    """[(t, level, component, message)] of the lines in the services' format, in file order."""
    out = []
    for line in lines:
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)
        out.append((t, m.group(3), m.group(4), m.group(5)))
    return out


# ---------------------------------------------------------------------- the checks

class Verdicts:
    def __init__(self):
        self.items = {}  # property -> (checked count, [counterexamples])

    def add(self, prop, checked, bad):
        self.items[prop] = (checked, bad)

    def ok(self):
        return all(not bad for _, bad in self.items.values())

    def lines(self):
        out = []
        for prop, (checked, bad) in self.items.items():
            if bad:
                out.append(f"FAIL {prop}: {len(bad)} counterexamples of {checked} checked")
                out += [f"    {b}" for b in bad[:EXAMPLES]]
            else:
                out.append(f"PASS {prop}: {checked} checked")
        return out


def _ride_matches(op, rows):
    v = op.value
    return [r for r in rows if r[1] == v["created_by"] and r[2] == v["source"] and r[3] == v["destination"]]


def check_writes(v, ops, replicas):
    acked_bad, failed_bad, unknown_bad = [], [], []
    n_acked = n_failed = n_unknown = 0
    unknown_present = 0
    for op in ops:
        if not op.is_write() or op.outcome is None:
            continue
        for r in replicas:
            if op.f == "create_user" or op.f == "dup_user":
                pw = r.users.get(op.key)
                here = 1 if pw is not None and pw == op.value["password"] else 0
                extra = ""
            else:
                rows = r.rides.get(op.key, [])
                here = len(_ride_matches(op, rows))
                extra = f" rows={rows}" if len(rows) != here else ""
            if op.outcome == "ok":
                if here != 1:
                    acked_bad.append(f"{op} on {r.name}: present {here} times{extra}")
            elif op.outcome == "failed":
                if here:
                    failed_bad.append(f"{op} on {r.name}: present{extra}")
            elif here > 1:
                unknown_bad.append(f"{op} on {r.name}: present {here} times{extra}")
        if op.outcome == "ok":
            n_acked += 1
        elif op.outcome == "failed":
            n_failed += 1
        else:
            n_unknown += 1
            if replicas and _present(op, replicas[0]):
                unknown_present += 1
    v.add("acked-present", n_acked, acked_bad)
    v.add("failed-absent", n_failed, failed_bad)
    v.add("unknown-once", n_unknown, unknown_bad)
    return {"acked": n_acked, "failed": n_failed, "unknown": n_unknown, "unknown_present": unknown_present}


def _present(op, r):
    if op.f in ("create_user", "dup_user"):
        return r.users.get(op.key) == op.value["password"]
    return bool(_ride_matches(op, r.rides.get(op.key, [])))


def check_reads(v, ops):
    by_i = {op.i: op for op in ops}
    bad, n = [], 0
    for op in ops:
        if op.f == "create_ride" and op.api == "public" and op.outcome == "failed" and op.status == 400:
            creator = by_i.get(op.value.get("creator_op"))
            if creator is not None and creator.outcome == "ok" and creator.complete < op.invoke:
                n += 1
                bad.append(f"{op}: creator {creator.key!r} acknowledged at {creator.complete:.3f} not seen "
                           f"({(op.result or {}).get('error') if isinstance(op.result, dict) else op.result})")
            continue
        if op.is_write() or op.outcome != "ok":
            continue
        t = by_i[op.target]
        found = (op.result or {}).get("found") or []
        n += 1
        if t.outcome == "ok":
            if t.complete is None or t.complete >= op.invoke:
                bad.append(f"{op}: target {t} not complete before the read (workload bug)")
            elif op.f == "read_user" and op.api == "public":
                if found != [t.key]:
                    bad.append(f"{op}: missed {t} (acknowledged {op.invoke - t.complete:.3f}s before): {found}")
            elif op.f == "read_user":
                if len(found) != 1 or found[0].get("password") != t.value["password"]:
                    bad.append(f"{op}: missed {t} (acknowledged {op.invoke - t.complete:.3f}s before): {found}")
            else:
                rows = [(r.get("ride_id"), r.get("created_by"), r.get("source"), r.get("destination"))
                        for r in found]
                if len(_ride_matches(t, rows)) != 1 or len(rows) != 1:
                    bad.append(f"{op}: missed {t} (acknowledged {op.invoke - t.complete:.3f}s before): {found}")
        elif t.outcome == "failed":
            if t.f == "dup_user" and any(r.get("password") == t.value["password"] for r in found):
                bad.append(f"{op}: saw the failed {t}")
            elif t.f == "ghost_ride" and found:
                bad.append(f"{op}: saw the failed {t}: {found}")
    v.add("reads-see-acked", n, bad)


def check_identical(v, replicas):
    bad = []
    if replicas:
        first = replicas[0]
        for r in replicas[1:]:
            if r.applied_seq != first.applied_seq:
                bad.append(f"{r.name} applied_seq {r.applied_seq} != {first.name} {first.applied_seq}")
            for table, d in first.digest.items():
                if r.digest.get(table) != d:
                    bad.append(f"{r.name} {table} {r.digest.get(table)} != {first.name} {d}")
    v.add("replicas-identical", len(replicas), bad)


def check_epochs(v, log):
    """log: parse_log() output of the orchestrator's and every worker's lines."""
    named, took = {}, {}  # epoch -> {worker ids}
    for t, _, comp, msg in log:
        m = re.match(r"master designated id=(\S+) pid=\d+ epoch=(\d+)", msg)
        if m and comp.startswith("orchestrator"):
            named.setdefault(int(m.group(2)), set()).add(m.group(1))
            continue
        if not comp.startswith("worker-"):
            continue
        wid = comp[len("worker-"):]
        m = re.match(r"(?:master taking writes|taking writes again) epoch=(\d+)", msg) or \
            re.match(r"promoted to master id=\S+ epoch=(\d+)", msg)
        if m:
            took.setdefault(int(m.group(1)), {}).setdefault(wid, t)
    bad = []
    for epoch, workers in sorted(took.items()):
        if len(workers) > 1:
            bad.append(f"epoch {epoch}: writes taken by {sorted(workers)} at "
                       f"{', '.join(f'{w}@{t:.3f}' for w, t in sorted(workers.items()))}")
        if epoch in named and not set(workers) <= named[epoch]:
            bad.append(f"epoch {epoch}: named {sorted(named[epoch])}, writes taken by {sorted(workers)}")
    for epoch, ids in sorted(named.items()):
        if len(ids) > 1:
            bad.append(f"epoch {epoch} named for {sorted(ids)}")
    v.add("one-master-per-epoch", len(took), bad)
    return {"epochs_named": len(named), "epochs_taking_writes": len(took)}


def check_acks(v, ops, replicas):
    bad, n, compared = [], 0, 0
    for op in ops:
        if op.outcome != "ok" or op.api != "db" or op.f not in ("create_ride", "create_user"):
            continue
        res = op.result if isinstance(op.result, dict) else {}
        seq = res.get("seq")
        n += 1
        for r in replicas:
            if op.f == "create_ride":
                ids = [row[0] for row in _ride_matches(op, r.rides.get(op.key, []))]
                if ids and ids != [res.get("id")]:
                    bad.append(f"{op} on {r.name}: told id {res.get('id')} seq {seq}, the log kept id {ids}")
            stored = r.requests.get(seq)
            if stored is None:
                continue  # forgotten (REQUEST_WINDOW_S) or never: acked-present judges presence
            try:
                body = json.loads(stored[1])
            except ValueError:
                body = None
            want = {k: x for k, x in res.items() if k not in ("seq", "epoch")}
            compared += 1
            if stored[0] != 200 or body != want:
                bad.append(f"{op} on {r.name}: told {res}, the log's entry at seq {seq} answered {stored}")
    v.add("acks-from-the-log", n, bad)
    return {"acks_compared": compared}


# ---------------------------------------------------------------------- availability

def availability(ops, faults, after_s=AFTER_S):
    """{kind: {"n": faults, "during": (ok, total), "after": (ok, total), "writes_during": (ok, total)}},
    plus "none" for operations invoked while no fault was active."""
    spans = [(f["start"], f["end"] or f["start"], f["kind"]) for f in faults]
    out = {}
    for f in faults:
        k = out.setdefault(f["kind"], {"n": 0, "during": [0, 0], "after": [0, 0], "writes_during": [0, 0],
                                       "longest_s": 0.0})
        k["n"] += 1
        k["longest_s"] = max(k["longest_s"], (f["end"] or f["start"]) - f["start"])
    quiet = [0, 0]
    for op in ops:
        if op.outcome is None:
            continue
        ok = op.outcome == "ok" or (op.f in ("ghost_ride", "dup_user") and op.outcome == "failed")
        active = False
        for s, e, kind in spans:
            if s <= op.invoke <= e:
                active = True
                k = out[kind]
                k["during"][0] += ok
                k["during"][1] += 1
                if op.is_write():
                    k["writes_during"][0] += ok
                    k["writes_during"][1] += 1
            elif e < op.invoke <= e + after_s:
                out[kind]["after"][0] += ok
                out[kind]["after"][1] += 1
        if not active:
            quiet[0] += ok
            quiet[1] += 1
    out["none"] = {"n": 0, "during": quiet, "after": [0, 0], "writes_during": [0, 0], "longest_s": 0.0}
    # How long after a fault began the first write sent after it was acknowledged, and whether
    # that happened while the fault lasted.
    writes = sorted((op.invoke, op.complete) for op in ops if op.is_write() and op.outcome == "ok")
    starts = [w[0] for w in writes]
    acks = sorted(c for _, c in writes)
    for f in faults:
        k = out[f["kind"]]
        end = f["end"] or f["start"]
        lo, hi = bisect.bisect_left(starts, f["start"]), bisect.bisect_right(starts, end + after_s)
        first = min((c for _, c in writes[lo:hi]), default=None)
        k.setdefault("resume_s", []).append(None if first is None else first - f["start"])
        k["resumed_during"] = k.get("resumed_during", 0) + (first is not None and first <= end)
        k["gap_s"] = max(k.get("gap_s", 0.0), _longest_gap(acks, f["start"], end))
    return out


def _longest_gap(acks, start, end):
    """The longest time within [start, end] with no write acknowledged (acks: sorted times)."""
    lo, hi = bisect.bisect_left(acks, start), bisect.bisect_right(acks, end)
    points = [start] + acks[lo:hi] + [end]
    return max(b - a for a, b in zip(points, points[1:]))


def check(history, replicas, log_lines):
    """Runs every check; returns (Verdicts, stats dict)."""
    v = Verdicts()
    ops = [op for op in history.ops if op.outcome is not None]
    stats = check_writes(v, ops, replicas)
    check_reads(v, ops)
    check_identical(v, replicas)
    stats.update(check_epochs(v, parse_log(log_lines)))
    stats.update(check_acks(v, ops, replicas))
    stats["ops"] = len(ops)
    stats["reads_ok"] = sum(1 for op in ops if not op.is_write() and op.outcome == "ok")
    stats["replicas"] = [r.name for r in replicas]
    stats["stale_replies_refused"] = sum(1 for ln in log_lines if "reply from a replaced master" in ln)
    stats["redeliveries_from_store"] = sum(1 for ln in log_lines if "answering redelivered request from the store" in ln)
    stats["fenced"] = sum(1 for ln in log_lines if "not taking writes: ZooKeeper lost" in ln)
    return v, stats
