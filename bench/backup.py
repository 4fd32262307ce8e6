#!/usr/bin/env python3
"""backup.py — what backups and restores cost, at BACKUP_USERS users (default 1,000,000).

Starts the stack of bench/soak.py (private RabbitMQ + ZooKeeper, one orchestrator with one
slave, processes on loopback), fills it with BACKUP_USERS users through bench/writeload, then:
  1. writes BACKUP_WRITES users (default 60,000) with no backup running: the write rate;
  2. the same again with GET /api/v1/backup started 3 s into the writes: the write rate
     before it and while it runs (writeload's 100 ms ticks), the backup's time and size — a
     backup must not stall writes;
  3. POST /api/v1/restore of that backup: the time, and so the time per GB.
Prints one table; keeps its directory only when something failed.
"""
import http.client
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import WRITELOAD, Soak, call  # noqa: E402 (the stack and tools of the soak)

USERS = int(os.environ.get("BACKUP_USERS", "1000000"))
WRITES = int(os.environ.get("BACKUP_WRITES", "60000"))


def writes(soak, prefix):
    """Writes WRITES users; (rate, p99 ms, [(ms since start, acknowledged so far)] every 100 ms)."""
    started = time.monotonic()
    out = subprocess.run([WRITELOAD, soak.url, str(WRITES), "32", "grow", prefix], capture_output=True, text=True,
                         timeout=3600, env=dict(os.environ, WRITELOAD_TICKS="1"))
    ticks = [(started + int(m[0]) / 1000, int(m[1])) for m in re.findall(r"TICK ms=(\d+) acked=(\d+)", out.stdout)]
    result = re.search(r"RESULT acked=\d+ failed=(\d+) secs=\S+ rate=(\d+) p50_ms=\S+ p99_ms=(\S+)", out.stdout)
    if out.returncode or not result:
        raise RuntimeError(f"writeload: {out.returncode} {out.stdout[-500:]} {out.stderr[-500:]}")
    return float(result.group(2)), float(result.group(3)), ticks


def rate_between(ticks, t0, t1):
    """Acknowledged writes per second between the monotonic times t0 and t1."""
    inside = [(t, n) for t, n in ticks if t0 <= t <= t1]
    if len(inside) < 2:
        return float("nan")
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main():
    soak = Soak()
    ok = False
    try:
        soak.start()
        print(f"# filling with {USERS} users", flush=True)
        soak.load(USERS, "fill", [], mode="grow")
        base_rate, base_p99, _ = writes(soak, "quiet")
        got = {}

        def backup():
            time.sleep(3)  # into the steady part of the writes
            t0 = got["t0"] = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", soak.port, timeout=600)
            conn.request("GET", "/api/v1/backup")
            r = conn.getresponse()
            data = r.read()
            got.update(status=r.status, secs=time.monotonic() - t0, size=len(data), seq=r.getheader("X-Rideshare-Seq"),
                       t1=time.monotonic())
            path = os.path.join(soak.dir, "data", "backups", "bench.db")
            with open(path, "wb") as f:
                f.write(data)

        t = threading.Thread(target=backup)
        t.start()
        during_rate, during_p99, ticks = writes(soak, "during")
        t.join(600)
        inside = rate_between(ticks, got["t0"], got["t1"])
        before = rate_between(ticks, ticks[0][0], got["t0"])
        if got.get("status") != 200:
            raise RuntimeError(f"backup: {got}")
        t0 = time.monotonic()
        st, body = call(soak.url + "/api/v1/restore", "POST", {"name": "bench.db"}, timeout=900)
        restore_s = time.monotonic() - t0
        if st != 200:
            raise RuntimeError(f"restore: {st} {body}")
        gb = got["size"] / 1e9
        print()
        print(f"backup/restore at {USERS} users (+{2 * WRITES} written during the run)")
        print(f"{'measure':<44} {'value':>12}")
        print(f"{'writes/s, no backup (p99 ms)':<44} {base_rate:>8.0f} ({base_p99:.0f})")
        print(f"{'writes/s, the run with a backup (p99 ms)':<44} {during_rate:>8.0f} ({during_p99:.0f})")
        print(f"{'  of which before the backup':<44} {before:>8.0f}")
        print(f"{'  of which while the backup ran':<44} {inside:>8.0f}")
        print(f"{'backup: seconds, MB':<44} {got['secs']:>7.2f}, {got['size'] / 1e6:.1f}")
        print(f"{'restore: seconds (users, rides)':<44} {restore_s:>7.2f} ({body['users']}, {body['rides']})")
        print(f"{'restore: seconds per GB':<44} {restore_s / gb:>8.1f}")
        ok = True
    finally:
        soak.stop()
        if ok:
            import shutil
            shutil.rmtree(soak.dir, ignore_errors=True)
        else:
            print(f"bench failed; logs and data kept in {soak.dir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
