#!/usr/bin/env python3
"""test_ha_orchestrator.py — two orchestrators on one ZooKeeper root and one broker (LEADER_LOCK=1):
one active, one standing by (docs/operations.md, "The orchestrator pair").

takeover_under_load: orchestrators A and B, a master and two slaves (process runtime), and the users
service given both URLs (ORCH_URL="A,B": its DB API client fails over). B answers 503 naming its role,
and GET /api/v1/role says "standby". Under 8 writers (PUT /api/v1/users, unique names) and 4 readers
(GET /api/v1/users, each checking that every user acknowledged before it began is listed), A is
killed with SIGKILL: B takes over once A's ZooKeeper session expires, adopts the running workers —
worker/list on B is the same set of PIDs, no worker started, none lost — and writes are acknowledged
again within 10 s (measured and printed). Then the master is killed: B fails over as usual. At the end
every acknowledged user is on every replica exactly once, the replicas are identical, no read missed
a write acknowledged before it began, and no write was refused other than with a 503.

deposed_orchestrator_does_not_act: A is frozen (SIGSTOP) for longer than its ZooKeeper session while
a writer sends it writes; B takes over; A is let go (SIGCONT). From then on A acknowledges nothing
(every answer it gives is a 503, or it refuses the connection while it starts over), starts and kills
no worker (its log says so: no "spawned worker" or "signalled worker" line after the SIGCONT), and
comes back as a standby. B's workers are the same ones throughout, and writes through B go on.

cut_off_briefly_pauses_then_resumes: A is cut off from ZooKeeper (a proxy that drops everything) for
longer than its fence (2/3 of the session) but less than the session: it says "fenced" and answers
503 meanwhile, then, its session alive, is the active one again — not deposed, B never took over.
"""
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiClient, Proc, free_ports  # noqa: E402
from harness import BIN, Client, Stack, Suite, check, pid_alive, wait_for  # noqa: E402
from netproxy import Proxy  # noqa: E402
from ops import PASSWORD, ride, user  # noqa: E402
from replicas import applied_seq, db_digest, query  # noqa: E402

suite = Suite("ha_orchestrator")
SESSION_MS = 2000
BOUND_S = 10.0


class Pair:
    """Orchestrator A (a harness Stack: vhost, ZooKeeper root, data directory) and B, a second
    orchestrator with the same environment on a port of its own, both with LEADER_LOCK=1; A starts
    first, so it is the active one."""

    def __init__(self, name, env_hook=None, session_ms=SESSION_MS):
        self.port_a, self.port_b = free_ports(2)
        self.a = Stack(name, env_hook=env_hook, LEADER_LOCK=1, ORCH_PORT=self.port_a, INITIAL_SLAVES=2,
                       ZK_SESSION_MS=session_ms)
        self.b_log_path = os.path.join(self.a.dir, "orchestrator-b.log")
        env = dict(self.a.env, ORCH_PORT=str(self.port_b))
        self.b = Proc("orchestrator-b", [os.path.join(BIN, "rideshare-orchestrator")], env, self.b_log_path)
        self.token = self.a.env.get("ADMIN_TOKEN")
        self.client_a, self.client_b = self.a.client, Client(self.port_b, self.token)
        self.users = None
        wait_for(lambda: self.role(self.client_b) == "standby", 30, "B to stand by")

    def role(self, client):
        try:
            st, body = client.request("GET", "/api/v1/role", timeout=5)
        except OSError:
            return None
        return body.get("role") if st == 200 and isinstance(body, dict) else None

    def start_users(self):
        port = free_ports(1)[0]
        env = dict(os.environ, USERS_HOST="127.0.0.1", USERS_PORT=str(port), ORCH_TIMEOUT_MS="8000",
                   ORCH_URL=f"http://127.0.0.1:{self.port_a},http://127.0.0.1:{self.port_b}")
        self.users = Proc("users", [os.path.join(BIN, "rideshare-users")], env,
                          os.path.join(self.a.dir, "users.log"))
        api = ApiClient(port, timeout=20)

        def up():
            check(self.users.alive(), f"users exited: {self.users.log_text()[-2000:]}")
            try:
                return api.get("/api/v1/_count").status == 200
            except OSError:
                return False
        wait_for(up, 30, "users to answer")
        return port

    def pid_files(self):
        run = os.path.join(self.a.dir, "data", "run")
        return sorted(f for f in os.listdir(run) if f.endswith(".pid"))

    def stop(self):
        """The standby first, then the active one (which stops the workers); whatever is left of
        the workers either started is killed."""
        if self.users:
            self.users.stop()
        order = [self.b, None] if self.role(self.client_a) == "active" else [None, self.b]
        for p in order:
            if p is None:
                if self.a.proc.poll() is None:
                    os.kill(self.a.proc.pid, signal.SIGCONT)
                self.a.stop()
            else:
                if p.alive():
                    os.kill(p.pid, signal.SIGCONT)
                p.stop()
        with open(self.b_log_path) as f:
            text = f.read() + self.a.log_text()
        for pid in {int(x) for x in re.findall(r"(?:spawned|adopted) worker id=\S+ pid=(\d+)", text)}:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def statuses(client):
    st, body = client.request("GET", "/api/v1/status", timeout=5)
    check(st == 200, f"status: {st} {body}")
    return body


def worker_pids(client):
    st, body = client.request("GET", "/api/v1/worker/list", timeout=5)
    check(st == 200 and isinstance(body, list), f"worker/list: {st} {body}")
    return body


class UsersLoad:
    """writers threads creating users u<k>-<i> through the users service, readers threads listing
    all users; remembers acknowledgements (name -> (sent, answered)), refusals, and every read
    that missed a user acknowledged before the read was sent."""

    def __init__(self, port, writers=8, readers=4):
        self.port, self.stop, self.lock = port, threading.Event(), threading.Lock()
        self.acked, self.refused, self.misses, self.reads, self.read_errors = {}, {}, [], 0, {}
        self.threads = [threading.Thread(target=self.write, args=(k,), daemon=True) for k in range(writers)]
        self.threads += [threading.Thread(target=self.read, daemon=True) for _ in range(readers)]
        for t in self.threads:
            t.start()

    def write(self, k):
        api, i = ApiClient(self.port, timeout=20), 0
        while not self.stop.is_set():
            name, i = f"u{k}-{i}", i + 1
            sent = time.monotonic()
            try:
                r = api.put("/api/v1/users", {"username": name, "password": PASSWORD})
                st, body = r.status, r.data[:200]
            except OSError as e:
                st, body = -1, repr(e)
            with self.lock:
                if st == 201:
                    self.acked[name] = (sent, time.monotonic())
                else:
                    self.refused[name] = (st, body)
            if st != 201:
                time.sleep(0.05)

    def read(self):
        api = ApiClient(self.port, timeout=20)
        while not self.stop.is_set():
            with self.lock:
                before = {n for n, (_, answered) in self.acked.items()}
            try:
                r = api.get("/api/v1/users")
            except OSError as e:
                r = None
                err = repr(e)
            if r is not None and r.status in (200, 204):
                got = set(r.json or [])
                missed = before - got
                with self.lock:
                    self.reads += 1
                    if missed:
                        self.misses.append(sorted(missed)[:5])
            else:
                with self.lock:
                    key = r.status if r is not None else err
                    self.read_errors[key] = self.read_errors.get(key, 0) + 1
                time.sleep(0.05)

    def first_ack_sent_after(self, t):
        with self.lock:
            done = [a for s, a in self.acked.values() if s > t]
        return min(done) - t if done else None

    def count(self):
        with self.lock:
            return len(self.acked)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            check(not t.is_alive(), "a load thread hangs")


def check_replicas(pair, client, acked):
    """Every live replica holds every acknowledged user exactly once, and all are identical."""
    n = len(worker_pids(client))
    b = wait_for(lambda: (lambda s: s if all_ready_status(s, n) else None)(statuses(client)), 30,
                 "every worker ready")
    paths = [pair.a.db_path(w["id"]) for w in b["workers"]]
    top = applied_seq(pair.a.db_path(b["master"]))
    wait_for(lambda: all(applied_seq(p) >= top for p in paths), 30, "every replica to reach the master's seq")
    first = None
    for p in paths:
        rows = dict(query(p, "SELECT username, COUNT(*) FROM users GROUP BY username"))
        twice = [u for u, k in rows.items() if k > 1]
        check(not twice, f"{os.path.basename(p)}: users twice: {twice[:5]}")
        lost = set(acked) - set(rows)
        check(not lost, f"{os.path.basename(p)}: {len(lost)} acknowledged users missing, e.g. {sorted(lost)[:5]}")
        d = db_digest(p)
        if first is None:
            first = d
        check(d == first, f"{os.path.basename(p)} differs: {d} vs {first}")
    return len(paths), first


def all_ready_status(b, n):
    ws = b.get("workers") or []
    return len(ws) == n and all(w.get("state") == "ready" for w in ws) and b.get("master")


@suite.test
def takeover_under_load():
    pair = Pair("haorch")
    try:
        # The standby: 503 naming its role, on the DB API and the admin API; its role route answers.
        for method, path, body in (("POST", "/api/v1/db/write", user("x")), ("GET", "/api/v1/worker/list", None),
                                   ("GET", "/api/v1/status", None)):
            st, got = pair.client_b.request(method, path, body)
            check(st == 503 and isinstance(got, dict) and got.get("role") == "standby",
                  f"standby {method} {path}: {st} {got}")
        check(pair.role(pair.client_a) == "active", "A is not the active one")
        st, _ = pair.client_b.request("GET", "/metrics")
        check(st == 200, f"the standby's /metrics: {st}")
        auth = {"Authorization": f"Bearer {pair.token}"} if pair.token else {}
        r = ApiClient(pair.port_b).get("/api/v1/worker/list", headers=auth)
        check(r.header("X-Orchestrator-Role") == "standby", f"no role header: {r.headers}")
        before = worker_pids(pair.client_a)
        check(len(before) == 3, f"workers: {before}")
        files = pair.pid_files()

        users_port = pair.start_users()
        load = UsersLoad(users_port)
        try:
            wait_for(lambda: load.count() >= 100, 30, "writes to flow")
            t0 = time.monotonic()
            os.kill(pair.a.proc.pid, signal.SIGKILL)
            pair.a.proc.wait()
            took = wait_for(lambda: load.first_ack_sent_after(t0), BOUND_S + 0.5,
                            "writes to be acknowledged again after the active orchestrator was killed")
            check(pair.role(pair.client_b) == "active", f"B is {pair.role(pair.client_b)}")
            after = worker_pids(pair.client_b)
            check(after == before, f"workers before the takeover {before}, after {after}")
            check(pair.pid_files() == files, f"pid files {files} -> {pair.pid_files()}")
            with open(pair.b_log_path) as f:
                blog = f.read()
            check("spawned worker" not in blog, "B started a worker while adopting")
            check(blog.count("adopted running worker id=") == 3, "B did not adopt all three workers")
            print(f"# ha_orchestrator: active orchestrator killed; writes acknowledged again after "
                  f"{took * 1000:.0f} ms (ZK_SESSION_MS={SESSION_MS})", flush=True)

            # Then the master: the new active orchestrator fails over as usual.
            base = load.count()
            wait_for(lambda: load.count() >= base + 100, 30, "writes to flow through B")
            st = statuses(pair.client_b)
            master_pid = next(w["pid"] for w in st["workers"] if w["id"] == st["master"])
            t1 = time.monotonic()
            os.kill(master_pid, signal.SIGKILL)
            took2 = wait_for(lambda: load.first_ack_sent_after(t1), BOUND_S + 0.5,
                             "writes to resume after the master was killed")
            wait_for(lambda: "failover done" in open(pair.b_log_path).read(), 15, "B's failover to be done")
            base = load.count()
            wait_for(lambda: load.count() >= base + 100, 30, "writes to flow after the failover")
            print(f"# ha_orchestrator: then the master killed; writes acknowledged again after "
                  f"{took2 * 1000:.0f} ms", flush=True)
        finally:
            load.finish()
        wait_for(lambda: len(worker_pids(pair.client_b)) == 3, 30, "a replacement slave")
        bad = {n: v for n, v in load.refused.items() if v[0] not in (503, -1)}
        check(not bad, f"writes refused other than with 503: {list(bad.items())[:3]}")
        check(not load.misses, f"{len(load.misses)} reads missed acknowledged users, e.g. {load.misses[:3]}")
        check(load.reads > 20, f"only {load.reads} reads answered")
        n, digest = check_replicas(pair, pair.client_b, load.acked)
        print(f"# ha_orchestrator: {len(load.acked)} users acknowledged, {len(load.refused)} writes refused "
              f"(503, not acknowledged), {load.reads} reads each saw every earlier acknowledged user "
              f"({sum(load.read_errors.values())} failed: {load.read_errors}); {n} replicas identical "
              f"({digest[0]['users'][0]} users)", flush=True)
    finally:
        pair.stop()


@suite.test
def deposed_orchestrator_does_not_act():
    pair = Pair("hadepose")
    try:
        check(pair.client_a.write(user("owner"))[0] == 200, "owner")
        before = worker_pids(pair.client_a)
        # A writer aimed at A alone: whatever A answers after it was let go must not be a 2xx.
        answers, stop = [], threading.Event()

        def writer():
            c, i = Client(pair.port_a, pair.token), 0
            while not stop.is_set():
                i += 1
                try:
                    st, _ = c.request("POST", "/api/v1/db/write", ride(10_000_000 + i), timeout=20)
                except OSError:
                    st = -1
                answers.append((time.monotonic(), st))
                if st != 200:
                    time.sleep(0.05)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        wait_for(lambda: sum(1 for _, st in answers if st == 200) >= 20, 30, "writes to flow through A")
        os.kill(pair.a.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        wait_for(lambda: pair.role(pair.client_b) == "active", 20, "B to take over")
        took = time.monotonic() - stopped
        check(worker_pids(pair.client_b) == before, f"B's workers {worker_pids(pair.client_b)} vs {before}")
        check(pair.client_b.write(ride(1))[0] == 200, "a write through B")
        log_mark = len(pair.a.log_text())
        os.kill(pair.a.proc.pid, signal.SIGCONT)
        cont = time.monotonic()
        wait_for(lambda: pair.role(pair.client_a) == "standby", 15, "A to come back as a standby")
        time.sleep(1.0)  # A's writer meets the standby for a while
        stop.set()
        t.join(30)
        late = [(round(at - cont, 3), st) for at, st in answers if at > cont + 0.2 and 200 <= st < 300]
        check(not late, f"A acknowledged writes after it was let go: {late[:5]}")
        after_cont = pair.a.log_text()[log_mark:]
        for line in after_cont.splitlines():
            check(not re.search(r"orchestrator (spawned worker|signalled worker|master designated|killed worker)",
                                line), f"the deposed orchestrator acted: {line}")
        check("deposed" in after_cont, "A's log does not say it was deposed")
        check(pair.a.proc.poll() is None, "A exited instead of standing by")
        check(worker_pids(pair.client_b) == before, f"workers changed: {worker_pids(pair.client_b)} vs {before}")
        check(pair.client_b.write(ride(2))[0] == 200, "a write through B after A came back")
        print(f"# ha_orchestrator: A frozen, B active after {took * 1000:.0f} ms; after SIGCONT A answered "
              f"{sum(1 for at, st in answers if at > cont)} writes, none with a 2xx, and came back as a "
              f"standby", flush=True)
    finally:
        pair.stop()


@suite.test
def cut_off_briefly_pauses_then_resumes():
    zk_host, zk_port = os.environ["ZK_HOSTS"].split(",")[0].rsplit(":", 1)
    proxy = Proxy(zk_host, zk_port)
    session_ms = 4000  # room between the fence (2.7 s) and the session's end
    pair = None
    try:
        pair = Pair("hafence", env_hook=lambda env: env.update(ZK_HOSTS=proxy.address()), session_ms=session_ms)
        check(pair.client_a.write(user("owner"))[0] == 200, "owner")
        roles, stop = [], threading.Event()

        def watch():
            while not stop.is_set():
                roles.append(pair.role(pair.client_a))
                time.sleep(0.05)
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        proxy.cut(pair.a.proc.pid)
        cut_at = time.monotonic()
        wait_for(lambda: "fenced" in roles, session_ms / 1000, "A to say it is fenced")
        fenced_after = time.monotonic() - cut_at
        st, body = pair.client_a.write(ride(5))
        check(st == 503 and body.get("role") == "fenced", f"a write to the fenced A: {st} {body}")
        left = 0.75 * session_ms / 1000 - (time.monotonic() - cut_at)
        check(left > 0, f"the fence came late: {fenced_after:.2f} s after the cut")
        time.sleep(left)
        proxy.heal()
        wait_for(lambda: pair.role(pair.client_a) == "active", 10, "A to be the active one again")
        stop.set()
        t.join(5)
        check(pair.role(pair.client_b) == "standby", f"B is {pair.role(pair.client_b)}")
        check("deposed" not in pair.a.log_text(), "A was deposed")
        check(pair.client_a.write(ride(6))[0] == 200, "a write through A after the cut healed")
        print(f"# ha_orchestrator: A cut off from ZooKeeper: fenced after {fenced_after * 1000:.0f} ms "
              f"(fence {session_ms * 2 // 3} ms), active again once healed", flush=True)
    finally:
        proxy.heal()
        if pair:
            pair.stop()
        proxy.close()


if __name__ == "__main__":
    suite.run()
