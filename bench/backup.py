#!/usr/bin/env python3
"""backup.py — what backups and restores cost, at BACKUP_USERS users (default 1,000,000).

Starts the stack of bench/soak.py (private RabbitMQ + ZooKeeper, one orchestrator with one
slave, processes on loopback), fills it with BACKUP_USERS users through bench/writeload, then:
  1. writes BACKUP_WRITES users (default 60,000) with no backup running: the write rate;
  2. the same again while GET /api/v1/backup runs (started as the writes start): the write
     rate during the backup, the backup's time and size — a backup must not stall writes;
  3. POST /api/v1/restore of that backup: the time, and so the time per GB.
Prints one table; keeps its directory only when something failed.
"""
import http.client
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import WRITELOAD, Soak, call  # noqa: E402 (the stack and tools of the soak)

USERS = int(os.environ.get("BACKUP_USERS", "1000000"))
WRITES = int(os.environ.get("BACKUP_WRITES", "60000"))


def writes(soak, prefix):
    out = subprocess.run([WRITELOAD, soak.url, str(WRITES), "32", "grow", prefix], capture_output=True, text=True,
                         timeout=3600)
    fields = dict(kv.split("=") for kv in out.stdout.split()[1:]) if out.stdout.startswith("RESULT") else {}
    if out.returncode or not fields:
        raise RuntimeError(f"writeload: {out.returncode} {out.stdout} {out.stderr[-500:]}")
    return float(fields["rate"]), float(fields["p99_ms"])


def main():
    soak = Soak()
    ok = False
    try:
        soak.start()
        print(f"# filling with {USERS} users", flush=True)
        soak.load(USERS, "fill", [])
        base_rate, base_p99 = writes(soak, "quiet")
        got = {}

        def backup():
            t0 = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", soak.port, timeout=600)
            conn.request("GET", "/api/v1/backup")
            r = conn.getresponse()
            data = r.read()
            got.update(status=r.status, secs=time.monotonic() - t0, size=len(data), seq=r.getheader("X-Rideshare-Seq"))
            path = os.path.join(soak.dir, "data", "backups", "bench.db")
            with open(path, "wb") as f:
                f.write(data)

        t = threading.Thread(target=backup)
        t.start()
        during_rate, during_p99 = writes(soak, "during")
        t.join(600)
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
        print(f"{'writes/s, a backup running (p99 ms)':<44} {during_rate:>8.0f} ({during_p99:.0f})")
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
