"""orchpair.py — which orchestrator of the HA pair is active, followed as it changes.

The pair (docker-compose.ha.yml) answers GET /api/v1/role on each orchestrator: "active" only
while that one holds the leader lock and its fence is fresh, "standby", "fenced" or "starting"
otherwise; every other route of a non-active one is a 503. A client of the DB API and the
nemesis must talk to the active one at each moment, as users and rides do by walking their
ORCH_URL list.

One thread per orchestrator asks its role every POLL_S with a short timeout, so a frozen or dead
one delays nothing about the other; the active one is the one whose latest answer, younger than
FRESH_S, says "active". When none does (a failover in progress, or the active one is frozen), the
last known stays: requests go on to it and time out, as a client's would. on_change(port)
callbacks run when the choice moves (the workload's DB API half follows that way).
"""
import threading
import time

from history import OK, Call

POLL_S = 0.2
FRESH_S = 1.5


class OrchestratorPair:
    def __init__(self, ports):
        """ports: {service name: host port}, e.g. {"orchestrator": 8083, "orchestrator-2": 8084}."""
        self.ports = dict(ports)
        self.lock = threading.Lock()
        self.seen = {svc: (None, 0.0) for svc in self.ports}  # svc -> (role, when answered)
        self.current = next(iter(self.ports))
        self.callbacks = []
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._poll, args=(svc,), daemon=True, name=f"role-{svc}")
                        for svc in self.ports]
        self.changes = 0

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(5)

    def on_change(self, fn):
        self.callbacks.append(fn)

    def _poll(self, svc):
        call = Call(timeout=1.0)
        while not self.stop_ev.is_set():
            out, _, body = call.request(self.ports[svc], "GET", "/api/v1/role")
            role = body.get("role") if out == OK and isinstance(body, dict) else None
            with self.lock:
                self.seen[svc] = (role, time.monotonic())
            self._choose()
            self.stop_ev.wait(POLL_S)

    def _choose(self):
        now = time.monotonic()
        with self.lock:
            active = [s for s, (role, at) in self.seen.items() if role == "active" and now - at < FRESH_S]
            if not active or self.current in active:
                return
            self.current = active[0]
            self.changes += 1
            port = self.ports[self.current]
        for fn in self.callbacks:
            fn(port)

    # ------------------------------------------------------------------ asking

    @property
    def port(self):
        with self.lock:
            return self.ports[self.current]

    def active(self):
        """The service whose latest answer says active, or None."""
        now = time.monotonic()
        with self.lock:
            role, at = self.seen[self.current]
            return self.current if role == "active" and now - at < FRESH_S else None

    def roles(self):
        """{service: its latest role (None: no answer)}, fresh answers only."""
        now = time.monotonic()
        with self.lock:
            return {s: (role if now - at < FRESH_S else None) for s, (role, at) in self.seen.items()}

    def wait_active(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            svc = self.active()
            if svc:
                return svc
            time.sleep(0.1)
        return None
