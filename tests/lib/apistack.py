"""apistack.py — the whole Rideshare stack for the API suites, on free loopback ports.

An ApiStack is harness.Stack (an orchestrator and its workers, with their own RabbitMQ vhost,
ZooKeeper root and data directory) plus, in the same test directory:
  - rideshare-users  (USERS_PORT, ORCH_URL = the orchestrator),
  - rideshare-rides  (RIDES_PORT, ORCH_URL, GATEWAY_URL = the gateway below, ORIGIN, AREAS_CSV),
  - nginx as the gateway, its config rendered by services/gateway/render.sh with the access log
    written per request (GATEWAY_ACCESS_LOG=sync), so a test can read who called what, with
    which Origin.
Ports: three free loopback ports are taken from the kernel at once and handed to the three;
each part counts as up when it answers GET /api/v1/_count with 200 (never counted: docs/api.md,
"Counting requests"),
so the counters still read 0 when a suite starts. Every wait has a deadline.

Stopping: stop() sends SIGTERM to nginx, rides, users, then the orchestrator (which stops its
workers), each by PID, waits up to a few seconds and then SIGKILLs; nginx's workers, noted at
start, are killed too if their master had to be. install_signal_handlers() turns SIGTERM and
SIGINT into an exception, so that a suite killed by tests/run.sh's timeout still runs its
`finally: stack.stop()` and leaves nothing behind.

ApiClient is an HTTP client with one keep-alive connection per thread that sends any method,
any bytes and any headers, and returns a Response (status, headers, raw body, parsed JSON).
"""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

from harness import BIN, ROOT, Stack, check, pid_alive, wait_for

GATEWAY_DIR = os.path.join(ROOT, "services", "gateway")
AREAS_CSV = os.path.join(ROOT, "services", "rides", "AreaNameEnum.csv")
TEST_AGENT = "rideshare-apistack-test"


class Stop(BaseException):
    """Raised in the main thread on SIGTERM/SIGINT so that finally blocks run."""


def install_signal_handlers():
    def on_signal(signum, frame):
        raise Stop(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


_rng = random.SystemRandom()  # not the tests' seeded random: two runs must not pick alike


def _below_ephemeral():
    """The ports just below the kernel's ephemeral range: a port picked there is never taken
    meanwhile by an outgoing connection (the stack opens hundreds while it starts), which a
    port the kernel hands out for bind(0) can be, before the server that was to use it binds."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(1025, low - 12000), low - 1


def free_ports(n):
    """n distinct free loopback ports, from below the ephemeral range: all bound at once, then
    released."""
    lo, hi = _below_ephemeral()
    socks, seen = [], set()
    try:
        while len(socks) < n:
            port = _rng.randint(lo, hi)
            if port in seen:
                continue
            seen.add(port)
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                if len(seen) > hi - lo:
                    raise RuntimeError(f"no {n} free ports in {lo}-{hi}")
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Response:
    def __init__(self, status, headers, data):
        self.status, self.headers, self.data = status, headers, data
        try:
            self.json = json.loads(data) if data else None
            self.is_json = bool(data)
        except ValueError:
            self.json, self.is_json = None, False

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        text = self.data[:300].decode("utf-8", "replace")
        return f"<{self.status} {text!r}{'...' if len(self.data) > 300 else ''}>"


class ApiClient:
    """HTTP/1.1 with one keep-alive connection per thread, to 127.0.0.1:port. A connection idle
    for IDLE_S is not reused: the server may have closed it (the gateway's keepalive_timeout is
    75 s, the services' 30 s), and a POST sent on it could not be retried safely."""

    IDLE_S = 25

    def __init__(self, port, timeout=30):
        self.port, self.timeout, self.local = port, timeout, threading.local()

    def call(self, method, path, body=None, headers=None, content_type="application/json"):
        """body: dict/list (sent as JSON), str or bytes (sent as is), or None (no body)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"User-Agent": TEST_AGENT}
        if body is not None and content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is not None and time.monotonic() - self.local.used > self.IDLE_S:
                conn.close()
                conn = self.local.conn = None
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                    timeout=self.timeout)
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                self.local.used = time.monotonic()
                if resp.will_close:
                    conn.close()
                    self.local.conn = None
                return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self.local.conn = None
                # Retry once only on a fresh connection, and only what is safe to resend: a
                # reused keep-alive connection the server had just closed.
                if attempt or method not in ("GET", "HEAD", "OPTIONS"):
                    raise
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.call("DELETE", path, body, **kw)

    def close(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None


class Proc:
    """A child process with its log file, stopped by PID."""

    def __init__(self, name, argv, env, log_path):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.children = []

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def render_gateway(listen, users_addr, rides_addr, outdir, access_log="sync", workers=1, check=True,
                   per_client=None):
    """Runs render.sh; returns the CompletedProcess (raises on failure). per_client: the
    gateway's GATEWAY_CONN_PER_CLIENT (None: its default)."""
    env = dict(os.environ, GATEWAY_ACCESS_LOG=access_log, GATEWAY_WORKERS=str(workers),
               GATEWAY_CHECK="1" if check else "0")
    if per_client is not None:
        env["GATEWAY_CONN_PER_CLIENT"] = str(per_client)
    return subprocess.run([os.path.join(GATEWAY_DIR, "render.sh"), listen, users_addr, rides_addr,
                           outdir], env=env, capture_output=True, text=True, timeout=60, check=True)


def start_gateway(outdir, port, wait_path=None, timeout=20):
    """Starts nginx on an already rendered outdir; waits until it listens on port."""
    p = Proc("gateway", ["nginx", "-p", outdir + "/", "-c", "nginx.conf", "-e", "stderr",
                         "-g", "daemon off;"], dict(os.environ), os.path.join(outdir, "nginx.log"))

    def up():
        if not p.alive():
            raise AssertionError(f"nginx exited with {p.proc.returncode}: {p.log_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            return False
        if wait_path is None:
            return True
        try:
            return ApiClient(port, timeout=5).get(wait_path).status == 200
        except OSError:
            return False
    try:
        wait_for(up, timeout, "nginx to listen")
    except BaseException:
        p.stop()
        raise
    p.children = children_of(p.pid)
    return p


def start_or_fail(suite_name, make):
    """The stack make() starts; if it cannot start, one "not ok <suite_name>" line and exit 1
    (the runner counts the suite's failure once, with the reason)."""
    try:
        return make()
    except Exception as e:
        print(f"not ok {suite_name}: start the stack ({type(e).__name__}: {e})".replace("\n", " ")[:600],
              flush=True)
        sys.exit(1)


class Endpoints:
    """A stack seen only through its ports: the clients and operations the tests use."""

    def __init__(self, gw, users, rides, orch):
        self.gw, self.users, self.rides, self.orch = gw, users, rides, orch

    def count(self, service):
        """The _count of 'users' or 'rides', read on the service itself."""
        r = (self.users if service == "users" else self.rides).get("/api/v1/_count")
        check(r.status == 200 and isinstance(r.json, list) and len(r.json) == 1
              and isinstance(r.json[0], int), f"GET {service} _count: {r}")
        return r.json[0]

    def reset(self):
        """Empty data and zero counters (neither db/clear nor _count is counted)."""
        for c, what in ((self.users, "users"), (self.rides, "rides")):
            r = c.post("/api/v1/db/clear", {})
            check(r.status == 200, f"{what} db/clear: {r}")
        for c, what in ((self.users, "users"), (self.rides, "rides")):
            r = c.delete("/api/v1/_count")
            check(r.status == 200, f"{what} DELETE _count: {r}")


class ApiStack(Endpoints):
    """Orchestrator + workers + users + rides + nginx, isolated from every other stack.
    Its clients (gw, users, rides, orch) are set once everything answers."""

    def __init__(self, name, origin="rides.apistack.invalid", orch_env=None, service_env=None):
        self.procs = []
        self.db = Stack(name, **(orch_env or {}))
        try:
            self._start(origin, service_env or {})
        except BaseException:
            self.stop()
            raise

    def _start(self, origin, service_env):
        self.dir = self.db.dir
        self.orch_url = f"http://127.0.0.1:{self.db.port}"
        self.origin = origin
        self.users_port, self.rides_port, self.gw_port = free_ports(3)
        self.gw_url = f"http://127.0.0.1:{self.gw_port}"
        base = {k: v for k, v in os.environ.items()
                if k not in ("ORIGIN", "GATEWAY_URL", "ORCH_URL", "AREAS_CSV")}
        base.update({"ORCH_URL": self.orch_url, "GATEWAY_URL": self.gw_url, "LOG_LEVEL": "info"})
        base.update({k: str(v) for k, v in service_env.items()})
        self.service_env = base
        self.users_proc = self._service("users", {"USERS_HOST": "127.0.0.1",
                                                  "USERS_PORT": str(self.users_port)})
        self.rides_proc = self.start_rides(self.rides_port, origin, name="rides")
        self.gw_dir = os.path.join(self.dir, "gateway")
        render_gateway(f"127.0.0.1:{self.gw_port}", f"127.0.0.1:{self.users_port}",
                       f"127.0.0.1:{self.rides_port}", self.gw_dir)
        self.gw_proc = start_gateway(self.gw_dir, self.gw_port, wait_path="/api/v1/_count")
        self.procs.append(self.gw_proc)
        self.gw = ApiClient(self.gw_port)
        self.users = ApiClient(self.users_port)
        self.rides = ApiClient(self.rides_port)
        self.orch = ApiClient(self.db.port)

    def _service(self, name, env, binary=None):
        e = dict(self.service_env)
        e.update(env)
        port = int(env.get("USERS_PORT") or env.get("RIDES_PORT"))
        p = Proc(name, [os.path.join(BIN, binary or f"rideshare-{name}")], e,
                 os.path.join(self.dir, f"{name}.log"))
        self.procs.append(p)

        def up():
            if not p.alive():
                raise AssertionError(f"{name} exited with {p.proc.returncode}: {p.log_text()[-2000:]}")
            try:
                return ApiClient(port, timeout=5).get("/api/v1/_count").status == 200
            except OSError:
                return False
        wait_for(up, 30, f"{name} to answer on port {port}")
        return p

    def start_rides(self, port, origin=None, name=None):
        """A rides service on port (ORIGIN unset when origin is None: its default applies)."""
        env = {"RIDES_HOST": "127.0.0.1", "RIDES_PORT": str(port), "AREAS_CSV": AREAS_CSV}
        if origin is not None:
            env["ORIGIN"] = origin
        return self._service(name or f"rides-{port}", env, binary="rideshare-rides")

    # ---------------------------------------------------------------- helpers

    def access_log(self):
        """The gateway's access log, one dict per request, oldest first."""
        out = []
        try:
            with open(os.path.join(self.gw_dir, "logs", "access.log"), errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def logs(self):
        return {p.name: p.log_path for p in self.procs}

    def stop(self):
        """Everything, in reverse start order, by PID."""
        for c in ("gw", "users", "rides", "orch"):
            if hasattr(self, c):
                getattr(self, c).close()
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass
        self.procs = []
        if self.db is not None:
            self.db.stop()
            self.db = None


def ride_ts(offset_seconds):
    """A spec timestamp (DD-MM-YYYY:SS-MM-HH, UTC) offset_seconds from now."""
    return time.strftime("%d-%m-%Y:%S-%M-%H", time.gmtime(time.time() + offset_seconds))


def quote_segment(s):
    """Percent-encodes a path segment: every byte but unreserved ASCII."""
    from urllib.parse import quote
    return quote(s, safe="")

