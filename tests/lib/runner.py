"""runner.py — one nemesis run from start to verdict, shared by tests/integration/test_nemesis.py
(process stack, 60 s) and bench/nemesis.py (container stack, 10 min).

run() starts the workload (workload.py) and the nemesis (nemesis.py) against a target, stops both
after the given time (the nemesis heals what it holds), waits for the stack to settle — a master,
every worker ready at the master's seq — reads every replica and the logs through the
caller's functions, and runs the checker (checker.py). It returns a Result; the caller prints it
and decides what is asserted.
"""
import time

import checker
from nemesis import Nemesis


class Result:
    def __init__(self, history, verdicts, stats, avail, settled, skipped, duration):
        self.history, self.verdicts, self.stats, self.avail = history, verdicts, stats, avail
        self.settled, self.skipped, self.duration = settled, skipped, duration


def settle(target, timeout):
    """Waits until the orchestrator answers with a ready master and every worker ready at its
    seq; returns the workers, or None at the deadline."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st, body = target.admin("GET", "/api/v1/status", None)
        if st == 200 and isinstance(body, dict):
            ws = [w for w in body.get("workers", []) if not w.get("retiring")]
            master = [w for w in ws if w["role"] == "master"]
            if (len(master) == 1 and len(ws) >= 2 and all(w.get("state") == "ready" for w in ws)
                    and all(w.get("seq") == body.get("master_seq") for w in ws)):
                return ws
        time.sleep(0.2)
    return None


def read_replicas(workers, path_of, timeout=30):
    """Every worker's file read with checker.read_replica, again until all have applied the same
    seq (the status's seqs lag the files by up to 500 ms) or the deadline passes."""
    end = time.monotonic() + timeout
    while True:
        reps = [checker.read_replica(w["id"], path_of(w)) for w in workers]
        if len({r.applied_seq for r in reps}) <= 1 or time.monotonic() > end:
            return reps
        time.sleep(0.5)


def run(history, workload, target, seconds, kinds, seed, path_of, logs, log=print, gap_s=(1.0, 4.0),
        duration_s=(2.0, 8.0), settle_s=90):
    """path_of(worker) -> its SQLite file; logs() -> every log line (orchestrator and workers)."""
    nem = Nemesis(target, history, kinds, seed=seed, gap_s=gap_s, duration_s=duration_s, log=log)
    started = time.monotonic()
    workload.start()
    try:
        nem.start(seconds)
        nem.thread.join(seconds + 120)
    finally:
        nem.stop()
        target.cleanup()
        workload.stop()
    duration = time.monotonic() - started
    ws = settle(target, settle_s)
    if ws is None:
        log(f"# the stack did not settle within {settle_s}s; judging the replicas as they are")
        ws = target.workers() or []
    reps = read_replicas(ws, path_of)
    verdicts, stats = checker.check(history, reps, logs())
    avail = checker.availability(history.ops, history.faults)
    return Result(history, verdicts, stats, avail, ws is not None, dict(nem.skipped), duration)


def report_lines(res):
    """The verdicts, the fault timeline and the availability table, as text lines."""
    h = res.history
    out = [f"{res.stats['ops']} operations in {res.duration:.0f}s: {res.stats['acked']} writes acknowledged, "
           f"{res.stats['failed']} failed, {res.stats['unknown']} unknown "
           f"({res.stats['unknown_present']} of them applied), {res.stats['reads_ok']} reads answered; "
           f"{len(h.faults)} faults; replicas {', '.join(res.stats['replicas'])}"]
    out.append(f"stale replies refused by the orchestrator: {res.stats['stale_replies_refused']}, "
               f"redeliveries answered from the store: {res.stats['redeliveries_from_store']}, "
               f"masters fenced: {res.stats['fenced']}, epochs named: {res.stats['epochs_named']}, "
               f"acknowledged answers compared with the log's (replica x write): {res.stats['acks_compared']}")
    out += res.verdicts.lines()
    out.append("faults:")
    for f in h.faults:
        end = f"{f['end'] - h.started:7.1f}" if f["end"] else "      -"
        out.append(f"  {f['start'] - h.started:7.1f} {end}  {f['kind']:<20} {f['target']} {f['detail']} "
                   f"{f['note']}".rstrip())
    if res.skipped:
        out.append(f"skipped: {res.skipped}")
    out.append("availability (operations that succeeded, by when they were invoked):")
    for kind, a in sorted(res.avail.items()):
        out.append(f"  {kind:<20} n={a['n']:<3} during {_pct(a['during'])}  writes during {_pct(a['writes_during'])}"
                   f"  after {_pct(a['after'])}  {_resume(a)}".rstrip())
    return out


def _resume(a):
    """How soon writes were acknowledged again after a fault of this kind began (worst case), in
    how many of them before it healed, and the longest time within one with no ack at all."""
    times = a.get("resume_s")
    if not times:
        return ""
    known = [t for t in times if t is not None]
    worst = f"max {max(known):.1f}s" if known else "never"
    never = len(times) - len(known)
    return (f"first write acked: {worst}{f', {never} never' if never else ''}, "
            f"{a['resumed_during']} of {len(times)} during the fault; longest without an ack {a['gap_s']:.1f}s")


def _pct(pair):
    ok, total = pair
    return f"{100.0 * ok / total:5.1f}% of {total:<6}" if total else "    -  of 0     "
