"""history.py — the record of a run: every client operation and every fault, with their times.

An operation is invoked, then completes with one of three outcomes:
  ok       the system said it happened (2xx);
  failed   the system said it did not happen (4xx), or the request never left this process
           (the connection was refused before anything was sent);
  unknown  anything else once the request was sent: a timeout, a broken connection, a 5xx.
           docs/design.md, "Failure model": a 503 or a broken connection means the outcome is
           unknown — the write may still be applied once. A timeout is never counted as failed.
Reads have no effects, so for them "unknown" and "failed" only mean "no answer".

Times are wall-clock seconds (time.time()), the clock the services' log lines carry too, so the
checker can line the history up with the logs. Faults are recorded the same way: a start and an
end (the heal) per fault, with what was done.

Call records one HTTP request and sorts its result; it keeps one keep-alive connection per thread
and per port (connect first, explicitly, so that a refused connection is known not to have sent
anything). The history can be written as JSON lines and read back (the checker takes either).
"""
import http.client
import json
import socket
import threading
import time

OK, FAILED, UNKNOWN = "ok", "failed", "unknown"


class Op:
    """One client operation. f: what it does (create_user, create_ride, ghost_ride, dup_user,
    read_user, read_ride); key: what identifies the data it writes or reads (a username, a
    ride's ts); value: the rest of what it wrote (password, creator...); api: public or db."""

    __slots__ = ("i", "proc", "api", "f", "key", "value", "invoke", "complete", "outcome", "status",
                 "result", "target")

    def __init__(self, i, proc, api, f, key, value=None, target=None):
        self.i, self.proc, self.api, self.f, self.key, self.value = i, proc, api, f, key, value
        self.target = target  # a read: the op (its index) whose write it looks for
        self.invoke, self.complete, self.outcome, self.status, self.result = time.time(), None, None, None, None

    def is_write(self):
        return not self.f.startswith("read_")

    def to_json(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_json(cls, d):
        op = cls.__new__(cls)
        for k in cls.__slots__:
            setattr(op, k, d.get(k))
        return op

    def __repr__(self):
        return (f"#{self.i} {self.proc} {self.api} {self.f} {self.key!r} -> {self.outcome}"
                f"({self.status}) [{self.invoke:.3f}, {self.complete or 0:.3f}]")


class History:
    """Operations and faults, appended from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops, self.faults = [], []
        self.started = time.time()

    def invoke(self, proc, api, f, key, value=None, target=None):
        with self.lock:
            op = Op(len(self.ops), proc, api, f, key, value, target)
            self.ops.append(op)
        op.invoke = time.time()
        return op

    def complete(self, op, outcome, status=None, result=None):
        op.complete, op.outcome, op.status, op.result = time.time(), outcome, status, result
        return op

    def fault_start(self, kind, target, detail=""):
        """Records a fault as it begins; returns its record (fault_end closes it)."""
        rec = {"kind": kind, "target": target, "detail": detail, "start": time.time(), "end": None,
               "note": ""}
        with self.lock:
            self.faults.append(rec)
        return rec

    def fault_end(self, rec, note=""):
        rec["end"] = time.time()
        if note:
            rec["note"] = note

    def dump(self, path):
        with open(path, "w") as f:
            f.write(json.dumps({"started": self.started}) + "\n")
            for op in list(self.ops):
                f.write(json.dumps({"op": op.to_json()}) + "\n")
            for rec in list(self.faults):
                f.write(json.dumps({"fault": rec}) + "\n")

    @classmethod
    def load(cls, path):
        h = cls()
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                if "op" in d:
                    h.ops.append(Op.from_json(d["op"]))
                elif "fault" in d:
                    h.faults.append(d["fault"])
                else:
                    h.started = d["started"]
        return h


class Call:
    """HTTP/1.1 to 127.0.0.1 with one keep-alive connection per thread and port. request()
    returns (outcome, status, parsed JSON or None). A connection idle for IDLE_S is not reused:
    the server may have closed it, and a write sent on it would then be of unknown outcome for
    nothing."""

    IDLE_S = 15

    def __init__(self, timeout=20.0, token=None):
        """token: the orchestrator's admin token (docs/security.md), sent as a bearer token on
        every request when set."""
        self.timeout, self.local = timeout, threading.local()
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def _conn(self, port):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get(port)
        if c is not None and time.monotonic() - c[1] > self.IDLE_S:
            c[0].close()
            c = None
        if c is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
            conn.connect()  # raises before anything is sent
            c = conns[port] = [conn, time.monotonic()]
        return c

    def _drop(self, port):
        c = self.local.conns.pop(port, None)
        if c is not None:
            c[0].close()

    def request(self, port, method, path, body=None):
        try:
            c = self._conn(port)
        except OSError:
            return FAILED, None, None  # refused or unreachable: nothing was sent
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.auth)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            c[0].request(method, path, body=data, headers=headers)
            resp = c[0].getresponse()
            raw = resp.read()
            c[1] = time.monotonic()
            if resp.will_close:
                self._drop(port)
        except (http.client.HTTPException, OSError, socket.timeout):
            self._drop(port)
            return UNKNOWN, None, None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        st = resp.status
        if 200 <= st < 300:
            return OK, st, parsed
        if 400 <= st < 500 and st not in (408, 429):
            return FAILED, st, parsed
        # 5xx, and the gateway's 408/429 (it may have passed nothing on, or may have: unknown).
        return UNKNOWN, st, parsed
