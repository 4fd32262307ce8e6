"""harness.py — what every integration suite stands on: the Suite that runs and reports its
tests, check and wait_for, and the DB service under test.

A Stack is one DB service under test: an orchestrator (which starts its own
workers through the process runtime) on a free loopback port, with its own
RabbitMQ virtual host, ZooKeeper root and data directory, so suites never see
each other's queues, znodes or files. The RabbitMQ node and ZooKeeper server
themselves are started once per run by tests/run.sh (services/infra/localinfra.sh)
and reached through RABBITMQ_URL, ZK_HOSTS and INFRA_DIR.

Every Stack runs with the brokers' access control on, as make run and make up do
(docs/security.md, "The brokers' users"): its vhost has a RabbitMQ user per role
(localinfra.sh vhost), the same identities are the ZooKeeper digest identities,
and the orchestrator gets its own and the workers' (ZK_ROOT's znodes get ACLs).
A process a test starts in a role gets that role's environment (role_env).

Every wait has a deadline; every process started here is stopped by PID.
Results are printed as "ok <suite>: <name>" / "not ok <suite>: <name> (why)",
the lines tests/run.sh counts.

The rest of the shared harness sits beside this file in tests/lib: ops.py (the operations
the suites write), workers.py (what the orchestrator says of its workers), load.py (write
loads), replicas.py (what the replicas' files hold), apistack.py (the whole stack behind the
gateway), grader.py (the final-project grader) and netproxy.py (a proxy that partitions one
process from its server). A suite puts tests/lib first on sys.path and imports from there; no
suite imports another.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RIDESHARE_BIN", os.path.join(ROOT, "build", "bin"))
HELPERS = os.path.join(ROOT, "build", "tests", "helpers")
TMP = os.environ.get("TEST_TMP", "/tmp")
LOCALINFRA = os.path.join(ROOT, "services", "infra", "localinfra.sh")


class Suite:
    def __init__(self, name):
        self.name, self.failed, self.tests = name, 0, []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def run(self):
        only = set(sys.argv[1:])
        for fn in self.tests:
            if only and fn.__name__ not in only:
                continue
            started = time.monotonic()
            try:
                fn()
                print(f"ok {self.name}: {fn.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
            except Exception as e:  # a test failed: report, go on with the others
                self.failed += 1
                why = f"{type(e).__name__}: {e}".replace("\n", " ")[:400]
                print(f"not ok {self.name}: {fn.__name__} ({why})", flush=True)
                traceback.print_exc(file=sys.stderr)
        sys.exit(1 if self.failed else 0)


def wait_for(cond, timeout, what):
    """Polls cond() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def make_vhost(name):
    """A fresh RabbitMQ virtual host on the run's node with a user per role: {"RABBITMQ_URL": the
    node's admin user there (every permission), "ORCHESTRATOR_AUTH", "WORKER_AUTH", "CONSOLE_AUTH":
    user:password each}."""
    out = subprocess.run([LOCALINFRA, "vhost", os.environ["INFRA_DIR"], name],
                         check=True, capture_output=True, text=True, timeout=120)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def zk_digest_id(auth):
    """ZooKeeper's digest id of user:password: user:base64(sha1(user:password))."""
    return auth.split(":", 1)[0] + ":" + base64.b64encode(hashlib.sha1(auth.encode()).digest()).decode()


def zk_node_auth(orchestrator_auth, worker_id):
    """A worker's own ZooKeeper identity, as the orchestrator derives it (common/zk/zk_acl.h)."""
    key = orchestrator_auth.split(":", 1)[1].encode()
    return f"worker.{worker_id}:" + hmac.new(key, worker_id.encode(), hashlib.sha1).hexdigest()


class Client:
    """An HTTP client with one keep-alive connection per thread; with token, every request
    carries it (Authorization: Bearer)."""

    def __init__(self, port, token=None):
        self.port, self.local = port, threading.local()
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method, path, body=None, timeout=30):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                headers = dict(self.auth)
                if body is not None:
                    headers["Content-Type"] = "application/json"
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return resp.status, parsed

    def write(self, op):
        return self.request("POST", "/api/v1/db/write", op)

    def read(self, op):
        return self.request("POST", "/api/v1/db/read", op)

    def clear(self):
        return self.request("POST", "/api/v1/db/clear", {})


class Stack:
    """An orchestrator and its workers, isolated from every other Stack."""

    def __init__(self, name, env_hook=None, **env):
        self.name = f"{name}-{os.getpid()}"
        self.dir = os.path.join(TMP, self.name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        vhost = make_vhost(self.name)
        self.admin_url = vhost["RABBITMQ_URL"]  # every permission in the vhost: a test's own hands
        self.auth = {r: vhost[f"{r.upper()}_AUTH"] for r in ("orchestrator", "worker", "console")}
        # A cluster's vhost comes as a list of URLs, one per node (localinfra.sh with HA=1).
        wheres = [u.split("@", 1)[1] for u in self.admin_url.split(",")]
        self.urls = {r: ",".join(f"amqp://{a}@{w}" for w in wheres) for r, a in self.auth.items()}
        self.url = self.urls["orchestrator"]  # requests to the workers go as the orchestrator's
        self.env = dict(os.environ)
        self.env.update({
            "RABBITMQ_URL": self.url, "ZK_ROOT": f"/{self.name}", "ORCH_HOST": "127.0.0.1",
            "ORCH_PORT": "0", "DATA_DIR": os.path.join(self.dir, "data"), "ZK_SESSION_MS": "2000",
            "WORKER_RABBITMQ_URL": self.urls["worker"], "ZK_AUTH": self.auth["orchestrator"],
            "WORKER_ZK_AUTH": self.auth["worker"], "ZK_READERS": zk_digest_id(self.auth["console"]),
        })
        self.env.update({k: str(v) for k, v in env.items()})
        if env_hook:  # a suite may rewrite the environment, e.g. to route the stack through a proxy (test_partition.py)
            env_hook(self.env)
        self.log_path = os.path.join(self.dir, "orchestrator.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.extra = []
        try:
            self.port = int(wait_for(lambda: self._listening(), 60, "the orchestrator to listen"))
        except Exception:
            self.stop()
            raise
        self.client = Client(self.port, self.env.get("ADMIN_TOKEN"))

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"orchestrator exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
        m = re.search(r"orchestrator listening url=http://[^:]+:(\d+)/", self.log_text())
        return m and m.group(1)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def workers(self):
        """{id: (role, pid)} of the workers this orchestrator started."""
        out = {}
        for m in re.finditer(r"started worker id=(\S+) pid=(\d+) role=(\w+)", self.log_text()):
            out[m.group(1)] = (m.group(3), int(m.group(2)))
        return out

    def db_path(self, worker_id):
        return os.path.join(self.dir, "data", f"{worker_id}.db")

    def master_id(self):
        return next(i for i, (role, _) in self.workers().items() if role == "master")

    def role_env(self, role, worker_id=None):
        """The environment of a process in role (worker, console) of this Stack: its broker
        identity only (a worker's own ZooKeeper identity too, for worker_id)."""
        env = {k: v for k, v in self.env.items()
               if k not in ("WORKER_RABBITMQ_URL", "WORKER_ZK_AUTH", "ZK_AUTH_PREVIOUS", "ZK_READERS")}
        # A worker reaches the broker as the orchestrator tells its own (env_hook may have rerouted it).
        url = self.env["WORKER_RABBITMQ_URL"] if role == "worker" else self.urls[role]
        env.update(RABBITMQ_URL=url, ZK_AUTH=self.auth[role])
        if role == "worker":
            env["ZK_READERS"] = zk_digest_id(self.auth["orchestrator"]) + "," + self.env["ZK_READERS"]
            if worker_id:
                env["ZK_NODE_AUTH"] = zk_node_auth(self.auth["orchestrator"], worker_id)
        return env

    def start_worker(self, worker_id, role="slave", data_dir=None, **extra_env):
        """A worker started by the test itself, outside the orchestrator, as the orchestrator
        would start it."""
        env = self.role_env("worker", worker_id)
        env.update({"WORKER_ID": worker_id, "WORKER_ROLE": role,
                    "DATA_DIR": data_dir or os.path.join(self.dir, "data")})
        env.update({k: str(v) for k, v in extra_env.items()})
        log = open(os.path.join(self.dir, f"{worker_id}.log"), "w")
        p = subprocess.Popen([os.path.join(BIN, "rideshare-worker")], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
        self.extra.append(p)
        return p

    def stop(self, timeout=5):
        """SIGTERM the orchestrator (it stops its workers). Returns the seconds
        it took and the PIDs of its workers still alive after it exited (then
        killed, so nothing outlives the test)."""
        started = time.monotonic()
        for p in self.extra:
            if p.poll() is None:
                p.terminate()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        took = time.monotonic() - started
        for p in self.extra:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        left = [pid for _, pid in self.workers().values() if pid_alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        self.log.close()
        return took, left
