#!/usr/bin/env python3
"""test_make_run.py — `make run` stops clean, every time, and the console finds it by the
orchestrator's URL alone.

Each test starts `make run` (services/infra/run.sh) on four free loopback ports, with RUN_DIR
and RUN_INFO in the test's directory, in a session of its own with SIGINT and SIGQUIT at their
defaults (as a shell on a terminal starts it; a test runner may have started this program with
them ignored, and an ignored signal stays ignored across exec). Once run.sh says "up", the test
notes what the run consists of: every descendant of make, the RabbitMQ, epmd and ZooKeeper PIDs
(infra/env), the workers' PID files, nginx's workers, each with its start time so that a
recycled PID is not mistaken for ours, and every port (the four, AMQP, Erlang distribution,
epmd, ZooKeeper). Then it stops the run one of three ways:
  ctrl_c         SIGINT to the process group, which is what a terminal's Ctrl-C sends;
  term_to_make   SIGTERM to make alone (make passes it on to run.sh);
  term_to_group  SIGTERM to the whole group (timeout, a supervisor, a CI runner): run.sh gets
                 it twice, from the sender and from make.
After make returns, run.sh must have finished its stop ("run: stopped;") and, within a few
seconds (the last pipes drain, init reaps), nothing may remain: none of the processes noted, no
process whose command line, environment or working directory names the run's directory, and
nothing listening on any of its ports. Each way is tried RUN_STOPS times (default 5).

console_with_only_the_orchestrator_url: against one `make run`, GET /api/v1/config names the
run's ZooKeeper and broker (and no password); `rideshare-console --once` and `--json` with
ORCH_URL alone (ZK_HOSTS, ZK_ROOT, RABBITMQ_URL unset) and the console's broker identity reach all
three backends and exit 0; `make console CONSOLE_ARGS=--once` finds the run, its token and that
identity through RUN_INFO and does the same. The brokers' users (docs/security.md): make run made
one identity per role in BROKER_SECRETS_DIR (0600 files), guest cannot log in to its RabbitMQ, and
no process of the run carries a broker password on its command line.

A failed test kills whatever is left of its run (the group, the noted PIDs, localinfra.sh stop)
and keeps its directory; SIGTERM/SIGINT to this program do the same.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import free_ports, install_signal_handlers  # noqa: E402
from harness import BIN, ROOT, TMP, Suite, check, wait_for  # noqa: E402

suite = Suite("make_run")
STOPS = int(os.environ.get("RUN_STOPS", "5"))
UP_TIMEOUT = 180        # make's checks, RabbitMQ's boot and four services on a loaded machine
STOP_TIMEOUT = 120      # run.sh's own bounds: STOP_WAIT per process, localinfra.sh's deadlines
SETTLE = 5              # after make returned: pipes drain, exited processes are reaped
# Settings of the test runner's stack that must not leak into the run (run.sh makes its own).
DROP = ("RABBITMQ_URL", "ZK_HOSTS", "ZK_ROOT", "DATA_DIR", "INFRA_DIR", "ORCH_URL", "RUN_DIR", "RUN_INFO",
        "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT", "MAKE_TERMERR",
        "BROKER_SECRETS_DIR", "ZK_AUTH", "RABBITMQ_USER", "RABBITMQ_PASSWORD")


def start_time(pid):
    """Field 22 of /proc/PID/stat, or None if PID is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def parents():
    """{pid: ppid} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    out[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def descendants(root):
    kids = {}
    for pid, ppid in parents().items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def listening_ports():
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A":  # LISTEN
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def read_env_file(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep:
                    out[k] = v
    except OSError:
        pass
    return out


def keep_signals_default():
    """In the child before exec: SIGINT and SIGQUIT as an interactive shell would leave them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class MakeRun:
    """One `make run` in a session of its own, its output in DIR/make.out."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"makerun-{name}-", dir=TMP)
        self.run_dir = os.path.join(self.dir, "run")
        self.info = os.path.join(self.dir, "run.env")
        self.out_path = os.path.join(self.dir, "make.out")
        names = ("GATEWAY_PORT", "USERS_PORT", "RIDES_PORT", "ORCH_PORT")
        self.ports = dict(zip(names, free_ports(4)))
        env = {k: v for k, v in os.environ.items() if k not in DROP}
        env.update({k: str(v) for k, v in self.ports.items()})
        # The admin token and the brokers' identities make run makes on first use: in the test's
        # directory, not the checkout's.
        self.token_file = os.path.join(self.dir, "admin_token")
        env.update(RUN_DIR=self.run_dir, RUN_INFO=self.info, LOG_LEVEL="warn", ADMIN_TOKEN_FILE=self.token_file,
                   BROKER_SECRETS_DIR=self.dir)
        self.env = env
        self.noted = {}  # pid -> (start time, what)
        self.all_ports = set(self.ports.values())
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(["make", "-C", ROOT, "--no-print-directory", "run"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=keep_signals_default)

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def wait_up(self):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited with {self.proc.returncode} before it was up:\n"
                                     + self.output()[-2000:])
            return "run: up " in self.output()
        wait_for(up, UP_TIMEOUT, "make run to say it is up")
        self.note()

    def note(self):
        """What the run consists of, now that it is up."""
        def add(pid, what):
            st = start_time(pid)
            if st is not None:
                self.noted[pid] = (st, what)
        for pid in descendants(self.proc.pid):
            add(pid, "descendant of make")
        infra = read_env_file(os.path.join(self.run_dir, "infra", "env"))
        for key in ("RABBITMQ_PID", "ZK_PID", "EPMD_PID"):
            check(infra.get(key, "").isdigit(), f"infra/env has no {key}: {infra}")
            add(int(infra[key]), key)
        for key in ("RABBITMQ_PORT", "RABBITMQ_DIST_PORT", "ERL_EPMD_PORT", "ZK_PORT"):
            self.all_ports.add(int(infra[key]))
        piddir = os.path.join(self.run_dir, "data", "run")
        workers = [f for f in os.listdir(piddir) if f.endswith(".pid")] if os.path.isdir(piddir) else []
        for f in workers:
            with open(os.path.join(piddir, f)) as fh:
                add(int(fh.read().split()[0]), f"worker {f}")
        # Something to lose: the infrastructure, the four services, a master and a slave.
        check(len(workers) >= 2, f"worker PID files: {workers}")
        comms = set()
        for pid in self.noted:
            try:
                with open(f"/proc/{pid}/comm") as fh:
                    comms.add(fh.read().strip())
            except OSError:
                pass
        for want in ("rideshare-orch", "rideshare-user", "rideshare-ride", "rideshare-work", "nginx", "java",
                     "beam.smp", "epmd"):
            check(any(c.startswith(want) for c in comms), f"no {want} among {sorted(comms)}")

    def signal(self, kind):
        if kind == "ctrl_c":
            os.killpg(self.proc.pid, signal.SIGINT)
        elif kind == "term_to_make":
            os.kill(self.proc.pid, signal.SIGTERM)
        else:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def leftovers(self):
        """What of the run still exists, as readable lines."""
        left = []
        for pid, (st, what) in sorted(self.noted.items()):
            if start_time(pid) == st:
                left.append(f"pid {pid} ({what}): {cmdline(pid)}")
        me = os.getpid()
        for pid in parents():
            if pid == me or pid in self.noted or start_time(pid) is None:
                continue
            if names_dir(pid, self.dir):
                left.append(f"pid {pid} names {self.dir}: {cmdline(pid)}")
        busy = sorted(self.all_ports & listening_ports())
        if busy:
            left.append(f"ports still listening: {busy}")
        return left

    def kill_everything(self):
        """After a failure: nothing of the run may outlive the test."""
        def kill(pid, group=False):
            try:
                (os.killpg if group else os.kill)(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            kill(self.proc.pid, group=True)
        for pid, (st, _) in self.noted.items():
            if start_time(pid) == st:
                kill(pid)
        for pid in parents():
            if pid != os.getpid() and start_time(pid) is not None and names_dir(pid, self.dir):
                kill(pid)
        subprocess.run([os.path.join(ROOT, "services", "infra", "localinfra.sh"), "stop",
                        os.path.join(self.run_dir, "infra")], capture_output=True, timeout=120)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "?"


def names_dir(pid, d):
    """The process's command line, environment or working directory names d."""
    needle = d.encode()
    for part in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as f:
                if needle in f.read():
                    return True
        except OSError:
            pass
    try:
        return os.readlink(f"/proc/{pid}/cwd").startswith(d)
    except OSError:
        return False


def stop_and_check(run, kind):
    """Stops run the way kind says and checks that nothing is left."""
    run.signal(kind)
    try:
        run.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make run still running {STOP_TIMEOUT}s after {kind}") from None
    t0 = time.monotonic()
    try:
        wait_for(lambda: not run.leftovers(), SETTLE, "nothing of the run to remain")
    except AssertionError:
        raise AssertionError(f"{kind}: left running {SETTLE}s after make returned (exit {run.proc.returncode}): "
                             f"{run.leftovers()}; make's output ends:\n{run.output()[-800:]}") from None
    lag = time.monotonic() - t0
    check("run: stopped;" in run.output(), f"{kind}: run.sh's stop did not finish (make exited "
          f"{run.proc.returncode}):\n{run.output()[-1500:]}")
    check(not os.path.exists(run.info), f"{kind}: {run.info} was not removed")
    return lag


@contextlib.contextmanager
def make_run(name):
    """A MakeRun, up; if the block fails, everything of it is killed and its directory kept."""
    run = MakeRun(name)
    ok = False
    try:
        run.wait_up()
        yield run
        ok = True
    finally:
        if ok:
            shutil.rmtree(run.dir, ignore_errors=True)
        else:
            run.kill_everything()
            print(f"# {name}: kept {run.dir}", flush=True)


def stops(kind):
    lag = 0.0
    for i in range(STOPS):
        with make_run(f"{kind}{i}") as run:
            t0 = time.monotonic()
            lag = max(lag, stop_and_check(run, kind))
            print(f"# {kind} {i + 1}/{STOPS}: clean, {len(run.noted)} processes noted, "
                  f"make returned {run.proc.returncode} {time.monotonic() - t0:.1f}s after the signal", flush=True)
    print(f"# {kind}: {STOPS} stops, the last process gone at most {lag:.2f}s after make returned", flush=True)


@suite.test
def ctrl_c():
    stops("ctrl_c")


@suite.test
def term_to_make():
    stops("term_to_make")


@suite.test
def term_to_group():
    stops("term_to_group")


def get_json(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@suite.test
def console_with_only_the_orchestrator_url():
    with make_run("console") as run:
        infra = read_env_file(os.path.join(run.run_dir, "infra", "env"))
        orch = f"http://127.0.0.1:{run.ports['ORCH_PORT']}"
        # make run made a token, only its owner may read it, and the orchestrator wants it.
        mode = os.stat(run.token_file).st_mode & 0o777
        with open(run.token_file) as f:
            token = f.readline().strip()
        check(mode == 0o600 and len(token) == 64, f"token file mode {oct(mode)}, {len(token)} characters")
        status, body = get_json(f"{orch}/api/v1/config")
        check(status == 401 and json.loads(body).get("error"), f"no token: {status} {body!r}")
        status, body = get_json(f"{orch}/api/v1/config", token)
        cfg = json.loads(body)
        check(status == 200 and cfg == {"zk_hosts": infra["ZK_HOSTS"], "zk_root": "/rideshare",
                                         "amqp": {"host": "127.0.0.1", "port": int(infra["RABBITMQ_PORT"]),
                                                  "vhost": "/"},
                                         "amqp_nodes": [{"host": "127.0.0.1", "port": int(infra["RABBITMQ_PORT"])}]},
              f"GET /api/v1/config: {status} {cfg}")
        check(b"guest" not in body, f"credentials in {body!r}")

        # One identity per role, only its owner may read it; none is in GET /api/v1/config or on
        # any command line; guest is no user of the run's RabbitMQ.
        auths = {}
        for role in ("orchestrator", "worker", "console"):
            path = os.path.join(run.dir, f"broker_{role}")
            with open(path) as f:
                auths[role] = f.readline().strip()
            user, password = auths[role].split(":", 1)
            check(os.stat(path).st_mode & 0o777 == 0o600 and user == role and len(password) == 64,
                  f"{path}: mode {oct(os.stat(path).st_mode & 0o777)}, {user}, {len(password)} characters")
            check(password.encode() not in body, f"the {role}'s password in GET /api/v1/config")
        for pid in [d for d in os.listdir("/proc") if d.isdigit()]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read()
            except OSError:
                continue
            check(not any(a.split(":", 1)[1].encode() in argv for a in auths.values()),
                  f"a broker password on the command line of pid {pid}")
        probe = os.path.join(ROOT, "build", "tests", "helpers", "brokerprobe")
        p = subprocess.run([probe, "amqp", "login"], capture_output=True, text=True, timeout=30,
                           env=dict(run.env, RABBITMQ_URL=f"amqp://guest:guest@127.0.0.1:{infra['RABBITMQ_PORT']}/"))
        check(p.returncode != 0 and "ACCESS_REFUSED" in p.stderr, f"guest logged in: {p.stdout} {p.stderr[-300:]}")

        user, password = auths["console"].split(":", 1)
        # No ZK_HOSTS, ZK_ROOT, RABBITMQ_URL in it (DROP): the console's identity only.
        env = dict(run.env, ORCH_URL=orch, RABBITMQ_USER=user, RABBITMQ_PASSWORD=password, ZK_AUTH=auths["console"])
        console = os.path.join(BIN, "rideshare-console")
        p = subprocess.run([console, "--once"], env=env, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"--once exited {p.returncode}:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
        check(f"ZooKeeper {infra['ZK_HOSTS']}/rideshare" in p.stdout and f":{infra['RABBITMQ_PORT']}/" in p.stdout,
              f"--once does not name the run's backends:\n{p.stdout[:400]}")
        p = subprocess.run([console, "--json"], env=env, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"--json exited {p.returncode}: {p.stderr[-1500:]}")
        j = json.loads(p.stdout)
        check(all(b["reachable"] for b in j["backends"].values()), f"backends {j['backends']}")
        check(len(j["workers"]) >= 2 and j["zookeeper"]["root"] == "/rideshare", f"{j['workers']} {j['zookeeper']}")

        # make console: finds this run by RUN_INFO (in env), passes its orchestrator's URL, token file
        # and the console's identity.
        p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "console", "CONSOLE_ARGS=--once"],
                           env={k: v for k, v in env.items()
                                if k not in ("ORCH_URL", "ADMIN_TOKEN_FILE", "RABBITMQ_USER", "RABBITMQ_PASSWORD",
                                             "ZK_AUTH")},
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and f"orchestrator {orch}" in p.stdout,
              f"make console exited {p.returncode}:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
        stop_and_check(run, "term_to_group")


if __name__ == "__main__":
    install_signal_handlers()
    suite.run()
