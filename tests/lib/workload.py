"""workload.py — writers and readers that leave a checkable history (history.py).

Eight writers and eight readers by default, half through the public API (users and rides behind
the gateway), half through the orchestrator's DB API. Every write is identifiable afterwards in any
replica's file: a username, or a ride's start time (ts), that no other operation of the run uses.

Writers (each op's f, and what the checker expects of it):
  public  create_user   PUT /api/v1/users, a new name and a random password
          create_ride   POST /api/v1/rides by a user this writer created and saw acknowledged, a
                        unique ts; its 400 "not an existing user" would be a stale read (the
                        rides service checks the creator with a read)
          dup_user      PUT /api/v1/users of an acknowledged name with another password: must fail,
                        and the stored password must stay the first one
  db      create_ride   insert into rides by the run's owner user: 200 {seq, id}
          create_user   insert into users
          ghost_ride    insert a ride by a user that never exists: must fail (409) and leave nothing
Readers pick, at the moment they are invoked, a write already acknowledged (half the time the
newest one, which a stale replica is likeliest to miss) and look for it:
  public  read_user     GET /api/v1/users?username=NAME: 200 ["NAME"], never 204
  db      read_user     select the user: one row, with the acknowledged password
          read_ride     select rides by ts: one row, as written
A read of a write that failed (a ghost ride, a duplicate's password) must find nothing of it.

Nothing here retries a write: a write of unknown outcome stays unknown, and the checker allows it
to be present once or absent. Threads stop within one request's timeout of stop().
"""
import random
import secrets
import threading
import time
from urllib.parse import quote

from history import FAILED, OK, UNKNOWN, Call

PUBLIC_RIDE_TS = 2_200_000_000   # 2039-09: rides created through the public API
DB_RIDE_TS = 3_000_000_000       # 2065: through the DB API
GHOST_RIDE_TS = 4_000_000_000    # 2096: rides by a user that does not exist
AREAS = 197                      # services/rides/AreaNameEnum.csv


def password():
    return secrets.token_hex(20)


def spec_ts(ts):
    """The public API's DD-MM-YYYY:SS-MM-HH (UTC) of Unix time ts."""
    return time.strftime("%d-%m-%Y:%S-%M-%H", time.gmtime(ts))


class Workload:
    def __init__(self, history, gw_port, orch_port, run, writers=8, readers=8, seed=None, timeout=20.0,
                 think_s=0.0, token=None):
        """token: the orchestrator's admin token, for the DB API calls (None: it runs open)."""
        self.h, self.gw, self.orch, self.run = history, gw_port, orch_port, run
        self.think_s = think_s
        self.call = Call(timeout, token)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.owner = f"owner-{run}"
        # What readers may look for: ops acknowledged (or failed) so far, appended as they complete.
        self.acked_users, self.acked_rides, self.failed_writes = [], [], []
        self.threads = []
        self.n_writers, self.n_readers = writers, readers

    # ------------------------------------------------------------------ setup

    def create_owner(self, deadline_s=60):
        """The DB writers' rides' creator, written before the load starts (retried: not part of
        the history, and its create is idempotent enough: a 409 means it is there)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            out, st, _ = self.call.request(self.orch, "POST", "/api/v1/db/write", {
                "op": "insert", "table": "users", "values": {"username": self.owner, "password": "0" * 40}})
            if out == OK or st == 409:
                return
            time.sleep(0.2)
        raise AssertionError(f"could not create the owner user {self.owner}")

    def start(self):
        half_w, half_r = self.n_writers // 2, self.n_readers // 2
        for k in range(self.n_writers):
            fn = self.public_writer if k < half_w else self.db_writer
            self.threads.append(threading.Thread(target=fn, args=(k,), daemon=True, name=f"w{k}"))
        for k in range(self.n_readers):
            fn = self.public_reader if k < half_r else self.db_reader
            self.threads.append(threading.Thread(target=fn, args=(k,), daemon=True, name=f"r{k}"))
        for t in self.threads:
            t.start()

    def stop(self, timeout=60):
        self.stop_ev.set()
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        hung = [t.name for t in self.threads if t.is_alive()]
        if hung:
            raise AssertionError(f"workload threads still running after {timeout}s: {hung}")

    # ------------------------------------------------------------------ writers

    def _pace(self, out, st):
        """think_s between operations; a tenth of a second after one that was not served (a
        refused connection, a timeout, a 5xx), so that a dead service is not spun against."""
        if out == UNKNOWN or (out != OK and st is None):
            self.stop_ev.wait(0.1)
        elif self.think_s:
            self.stop_ev.wait(self.think_s)

    def _done(self, op, out, st, body, acked_list=None):
        self.h.complete(op, out, st, body)
        self._pace(out, st)
        with self.lock:
            if out == OK and acked_list is not None:
                acked_list.append(op)
            elif out == FAILED and op.f in ("ghost_ride", "dup_user"):
                self.failed_writes.append(op)
        return out

    def public_writer(self, k):
        proc, mine, i = f"pw{k}", [], 0
        while not self.stop_ev.is_set():
            i += 1
            if i % 10 == 9 and mine:
                name = self.rng.choice(mine).key
                pw = password()
                op = self.h.invoke(proc, "public", "dup_user", name, {"password": pw})
                out, st, body = self.call.request(self.gw, "PUT", "/api/v1/users",
                                                  {"username": name, "password": pw})
                self._done(op, out, st, body)
            elif i % 5 == 4 and mine:
                creator = self.rng.choice(mine)
                ts = PUBLIC_RIDE_TS + k * 10_000_000 + i
                src, dst = 1 + i % AREAS, 1 + (i * 7) % AREAS
                op = self.h.invoke(proc, "public", "create_ride", ts,
                                   {"created_by": creator.key, "source": src, "destination": dst,
                                    "creator_op": creator.i})
                out, st, body = self.call.request(self.gw, "POST", "/api/v1/rides", {
                    "created_by": creator.key, "timestamp": spec_ts(ts), "source": src, "destination": dst})
                self._done(op, out, st, body, self.acked_rides)
            else:
                name, pw = f"p{k}-{self.run}-{i}", password()
                op = self.h.invoke(proc, "public", "create_user", name, {"password": pw})
                out, st, body = self.call.request(self.gw, "PUT", "/api/v1/users",
                                                  {"username": name, "password": pw})
                if self._done(op, out, st, body, self.acked_users) == OK:
                    mine.append(op)

    def db_writer(self, k):
        proc, i = f"dw{k}", 0
        while not self.stop_ev.is_set():
            i += 1
            src, dst = 1 + i % AREAS, 1 + (i * 3) % AREAS
            if i % 10 == 9:
                ts = GHOST_RIDE_TS + k * 10_000_000 + i
                ghost = f"ghost-{self.run}-{k}-{i}"
                op = self.h.invoke(proc, "db", "ghost_ride", ts, {"created_by": ghost, "source": src,
                                                                 "destination": dst})
                out, st, body = self.call.request(self.orch, "POST", "/api/v1/db/write", {
                    "op": "insert", "table": "rides",
                    "values": {"created_by": ghost, "ts": ts, "source": src, "destination": dst}})
                self._done(op, out, st, body)
            elif i % 4 == 1:
                name, pw = f"d{k}-{self.run}-{i}", password()
                op = self.h.invoke(proc, "db", "create_user", name, {"password": pw})
                out, st, body = self.call.request(self.orch, "POST", "/api/v1/db/write", {
                    "op": "insert", "table": "users", "values": {"username": name, "password": pw}})
                self._done(op, out, st, body, self.acked_users)
            else:
                ts = DB_RIDE_TS + k * 10_000_000 + i
                op = self.h.invoke(proc, "db", "create_ride", ts, {"created_by": self.owner, "source": src,
                                                                  "destination": dst})
                out, st, body = self.call.request(self.orch, "POST", "/api/v1/db/write", {
                    "op": "insert", "table": "rides",
                    "values": {"created_by": self.owner, "ts": ts, "source": src, "destination": dst}})
                self._done(op, out, st, body, self.acked_rides)

    # ------------------------------------------------------------------ readers

    def _pick(self, pool):
        """A write from pool, chosen now (so it completed before the read is invoked): half the
        time the newest."""
        with self.lock:
            if not pool:
                return None
            return pool[-1] if self.rng.random() < 0.5 else self.rng.choice(pool)

    def _idle(self):
        self.stop_ev.wait(0.05)

    def public_reader(self, k):
        proc = f"pr{k}"
        while not self.stop_ev.is_set():
            target = self._pick(self.acked_users)
            if target is None:
                self._idle()
                continue
            op = self.h.invoke(proc, "public", "read_user", target.key, target=target.i)
            out, st, body = self.call.request(self.gw, "GET", "/api/v1/users?username=" + quote(target.key, safe=""))
            found = None
            if out == OK:  # 200 ["NAME"]; 204: no such user
                found = [n for n in body if n == target.key] if st == 200 and isinstance(body, list) else []
            self.h.complete(op, out, st, {"found": found})
            self._pace(out, st)

    def db_reader(self, k):
        proc = f"dr{k}"
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            if n % 10 == 0:
                with self.lock:
                    target = self.rng.choice(self.failed_writes) if self.failed_writes else None
            elif n % 3 == 0:
                target = self._pick(self.acked_users)
            else:
                target = self._pick(self.acked_rides)
            if target is None:
                self._idle()
                continue
            if target.f in ("create_user", "dup_user"):
                f, q = "read_user", {"op": "select", "table": "users", "where": {"username": target.key}}
            else:
                f, q = "read_ride", {"op": "select", "table": "rides", "where": {"ts": target.key}}
            op = self.h.invoke(proc, "db", f, target.key, target=target.i)
            out, st, body = self.call.request(self.orch, "POST", "/api/v1/db/read", q)
            rows = body.get("rows") if out == OK and isinstance(body, dict) else None
            self.h.complete(op, out if rows is not None or out != OK else UNKNOWN, st, {"found": rows})
            self._pace(out, st)
