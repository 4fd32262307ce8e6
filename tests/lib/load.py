"""load.py — writes sent to a Stack while something happens to it.

WriteLoad keeps threads writing unique rides without pause and remembers which
were acknowledged (and when), which refused: what a suite then looks for on every
replica (replicas.check_replicas), and how long writes stopped. mixed_writes sends a
fixed mix of inserts and deletes and returns once all are answered.
"""
import threading
import time

from harness import check
from ops import ride, user


class WriteLoad:
    """threads clients writing unique rides of "owner" (who must exist) without pause;
    remembers what was acknowledged. Ride timestamps start above base, so that two
    loads on one stack never write the same ride."""

    def __init__(self, client, threads=8, base=0):
        self.client, self.base, self.stop, self.lock = client, base, threading.Event(), threading.Lock()
        self.acked = {}      # ts -> (sent, answered)
        self.refused = {}    # ts -> (status, body)
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, k):
        i = 0
        while not self.stop.is_set():
            ts = self.base + (k + 1) * 10_000_000 + i
            i += 1
            sent = time.monotonic()
            try:
                st, body = self.client.write(ride(ts))
            except Exception as e:  # a broken connection is a refusal, not a test crash
                st, body = -1, repr(e)
            with self.lock:
                if st == 200:
                    self.acked[ts] = (sent, time.monotonic())
                else:
                    self.refused[ts] = (st, body)

    def first_ack_sent_after(self, t):
        """Seconds from t to the first acknowledgement of a write sent after t, or None."""
        with self.lock:
            done = [a for s, a in self.acked.values() if s > t]
        return min(done) - t if done else None

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            check(not t.is_alive(), "a writer hangs")


def mixed_writes(client, first, n, threads=8):
    """Writes n operations numbered first.. from threads clients: users u<i>, a ride of an earlier
    user every tenth, a delete of an earlier user every tenth; every answer must be 200 or 409 (a
    ride of a deleted user). Raises on any other answer."""
    errors = []

    def run(k):
        for i in range(first + k, first + n, threads):
            if i % 10 == 3:
                op = ride(i, by=f"u{i - 3}", src=1 + i % 198)
            elif i % 10 == 7:
                op = {"op": "delete", "table": "users", "where": {"username": f"u{i - 17}"}}
            else:
                op = user(f"u{i}")
            st, body = client.write(op)
            if st not in (200, 409):
                errors.append((i, st, body))
                return

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    check(not errors, f"writes failed: {errors[:3]}")
