"""test_swarm.py — the stack on a three-node Docker Swarm (docker/swarm.sh, docker/swarm-stack.yml,
the orchestrator's swarm runtime), on one machine.

The nodes: this host's engine (the manager) and two more dockerds, each in a network namespace
of this run's with a veth pair to the host: `nsenter --net=<ns> dockerd` with an empty config
file (/etc/docker/daemon.json may set a data root), a data root, exec root, pid file and socket
of its own under /tmp/<run> (`ip netns exec` is not used: it mounts a fresh /sys without the
cgroup hierarchies, where dockerd cannot start). Each namespace has one address of its own
(198.18.0.0/15, the benchmarking range) and reaches the host's address over the veth (a
route on each side, no address added to the host); the host's engine makes a new swarm
advertising its own address and the two join it as workers. The worker image reaches them by
`docker save | docker -H ... load` (swarm.sh up with SWARM_NODES): there is no registry.

Checked, in this order: the three nodes are ready; the stack comes up (swarm.sh up) and the
stack serves reads; the orchestrator's master and two slaves are Swarm services, one on each
node (`docker node ps` per node); worker/list equals the tasks' container PIDs; the API
conformance suite (test_api.py, as test_docker.py runs it, users and rides published on this
host for its direct calls); API calls through the gateway; the orchestrator's container SIGKILLed, Swarm starts it again and it
adopts the same workers; then one worker node's dockerd is stopped while writes go on: its workers
are replaced on the other nodes, writes resume, and every acknowledged write is read back
exactly once; at the end, everything the run made is gone.

Everything is named after the run (rsw<pid>): the stack, the namespaces rsw<pid>n1/n2, the
veths rsw<pid>h1/h2, /tmp/rsw<pid>. It is all removed at the end, also after a failure, and
what an earlier run whose process is gone left behind is removed first — its swarm too, but
only when this host's swarm is the one that run made (its node id is in /tmp/rsw<pid>/swarm).
A host already in a swarm of anyone else's is not touched: the suite is skipped (exit 77), as
it is without root, a Docker engine, dockerd, nsenter or ip, the images (docker/stack.sh
build), or when a second dockerd cannot start here. REQUIRE_DOCKER=1 does not make these
failures: a second engine is more than the container stack asks of a machine.
"""
import collections
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiClient, free_ports, ride_ts  # noqa: E402
from harness import ROOT, Client, Suite, check, pid_alive, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import PASSWORD, user  # noqa: E402

PREFIX = "rsw"
RUN = f"{PREFIX}{os.getpid()}"
ADDRS = ["198.18.0.11", "198.18.0.12"]  # one per namespace of this run's, nowhere else
APP_IMAGE = os.environ.get("APP_IMAGE", "rideshare-app")  # the C services' and the workers' (swarm.sh's too)
IMAGES = [APP_IMAGE, "rideshare-gateway", "rideshare-rabbitmq", "rideshare-zookeeper",
          "rideshare-prometheus"]
suite = Suite("swarm")
ENV = {}
PORTS = {}
API_SUITE_TIMEOUT_S = 600
# Laid over the stack (swarm.sh's SWARM_STACK_FILES): users and rides published on the manager,
# this host, as compose publishes them, for the conformance suite's direct calls.
DIRECT_PORTS = """version: "3.8"
services:
  users:
    ports: [{target: 80, published: %(USERS_PORT)d, protocol: tcp, mode: host}]
    deploy: {placement: {constraints: ["node.role==manager"]}}
  rides:
    ports: [{target: 80, published: %(RIDES_PORT)d, protocol: tcp, mode: host}]
    deploy: {placement: {constraints: ["node.role==manager"]}}
"""


def sh(*argv, timeout=120, check_rc=True, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: status {r.returncode}: {r.stderr.strip()[-800:]}")
    return r.stdout


def skip(why):
    print(f"skip: {why}", flush=True)
    sys.exit(77)


class Node:
    """One extra dockerd in a network namespace of run's."""

    def __init__(self, run, k):
        self.k, self.ns, self.host_if, self.ns_if = k, f"{run}n{k}", f"{run}h{k}", f"{run}c{k}"
        self.addr = ADDRS[k - 1]
        self.dir = f"/tmp/{run}/n{k}"
        self.sock = f"{self.dir}/d.sock"
        self.pidfile = f"{self.dir}/d.pid"
        self.proc, self.node_id = None, ""

    def docker(self, *args, timeout=120, check_rc=True):
        return sh("docker", "-H", f"unix://{self.sock}", *args, timeout=timeout, check_rc=check_rc)

    def daemon_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def make_net(self, host_addr):
        ip = ["ip", "-n", self.ns]
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh(*ip, "link", "set", "lo", "up")
        sh(*ip, "addr", "add", f"{self.addr}/32", "dev", self.ns_if)
        sh(*ip, "link", "set", self.ns_if, "up")
        # Everything off the namespace goes out on the veth; the host answers ARP for its own address.
        sh(*ip, "route", "add", "default", "dev", self.ns_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "route", "add", f"{self.addr}/32", "dev", self.host_if, "src", host_addr)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        cfg = f"{self.dir}/daemon.json"
        with open(cfg, "w") as f:
            f.write("{}\n")
        log = open(f"{self.dir}/dockerd.log", "w")
        env = dict(os.environ, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE="1")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{self.ns}", "dockerd", "--config-file", cfg,
             "--data-root", f"{self.dir}/data", "--exec-root", f"{self.dir}/x", "--pidfile", self.pidfile,
             "-H", f"unix://{self.sock}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()

    def ready(self):
        if self.proc.poll() is not None:
            return "exited"
        r = subprocess.run(["docker", "-H", f"unix://{self.sock}", "version"], capture_output=True, timeout=30)
        return r.returncode == 0

    def log_tail(self, n=15):
        try:
            with open(f"{self.dir}/dockerd.log") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM to dockerd (it stops its containers and its containerd), then waits."""
        pid = (self.proc.pid if self.proc and self.proc.poll() is None else 0) or self.daemon_pid()
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                if self.proc and self.proc.pid == pid:
                    self.proc.poll()
                time.sleep(0.2)
        if self.proc:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def ns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def remove_run(run, ours):
    """Removes what the run named run made; ours: it is this process's run (else a dead one's)."""
    base = f"/tmp/{run}"
    host_swarm = ""
    try:
        with open(f"{base}/swarm") as f:
            host_swarm = f.read().strip()
    except OSError:
        pass
    info = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}", check_rc=False) or "{}")
    owned = host_swarm and info.get("NodeID") == host_swarm and info.get("LocalNodeState") == "active"
    if owned:
        env = dict(ENV if ours else os.environ, RIDESHARE_STACK=run)
        subprocess.run([os.path.join(ROOT, "docker", "swarm.sh"), "down"], env=env, capture_output=True,
                       timeout=180)
    for k in (1, 2):
        n = Node(run, k)
        if os.path.exists(n.sock):
            n.docker("swarm", "leave", "--force", timeout=30, check_rc=False)
        n.stop()
        # Whatever still runs in the namespace (a containerd or shim left by a killed dockerd) is ours.
        for pid in ns_pids(n.ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if owned:
        sh("docker", "swarm", "leave", "--force", timeout=60, check_rc=False)
    # Mounts under the run's directory (layers, container namespaces), deepest first.
    mounts = [m for m in sh("findmnt", "-rn", "-o", "TARGET", check_rc=False).split() if m.startswith(base + "/")]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
    for k in (1, 2):
        n = Node(run, k)
        subprocess.run(["ip", "link", "del", n.host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", n.ns], capture_output=True, timeout=30)
    shutil.rmtree(base, ignore_errors=True)


def remove_stale():
    runs = {os.path.basename(d) for d in glob.glob(f"/tmp/{PREFIX}[0-9]*")}
    runs |= {m.group(1) for m in (re.match(rf"({PREFIX}\d+)n\d$", ln.split()[0])
                                  for ln in sh("ip", "netns", "list", check_rc=False).splitlines() if ln.split())
             if m}
    for run in sorted(runs):
        m = re.fullmatch(rf"{PREFIX}(\d+)", run)
        if m and run != RUN and not pid_alive(int(m.group(1))):
            print(f"# removing what {run} left", flush=True)
            remove_run(run, ours=False)


def host_address():
    out = sh("ip", "-4", "route", "get", "192.0.2.200", check_rc=False)
    m = re.search(r"\bsrc (\d+\.\d+\.\d+\.\d+)", out)
    if m:
        return m.group(1)
    for line in sh("ip", "-4", "-o", "addr", "show", "scope", "global", check_rc=False).splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m:
            return m.group(1)
    return None


def endpoint_mode():
    """vip where this kernel has IPVS (Swarm's virtual IPs), else dnsrr."""
    return "vip" if os.path.exists("/proc/net/ip_vs") else "dnsrr"


def preflight():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, a second dockerd)")
    for tool in ("docker", "dockerd", "nsenter", "ip", "findmnt", "containerd"):
        if not shutil.which(tool):
            skip(f"{tool} not found")
    try:
        if subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode != 0:
            skip("no Docker engine")
    except (OSError, subprocess.TimeoutExpired):
        skip("no Docker engine")
    missing = [i for i in IMAGES if subprocess.run(["docker", "image", "inspect", i], capture_output=True,
                                                   timeout=60).returncode != 0]
    if missing:
        skip(f"images not built: {' '.join(missing)} (docker/stack.sh build)")
    remove_stale()
    state = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}")).get("LocalNodeState")
    if state != "inactive":
        skip(f"this engine is in a swarm already (state {state}): not ours to change")


NODES = []
SWARM = {"made": False}


def setup(host_addr):
    """The two nodes, the swarm, the images; raises on what is a failure, skips on what this
    machine cannot do."""
    os.makedirs(f"/tmp/{RUN}", exist_ok=True)
    for k in (1, 2):
        n = Node(RUN, k)
        NODES.append(n)
        try:
            n.make_net(host_addr)
        except AssertionError as e:
            skip(f"cannot make a network namespace with a veth pair: {e}")
        n.start()
    for n in NODES:
        try:
            st = slow_wait(lambda: n.ready(), 90, f"dockerd in {n.ns}", every=0.5)
        except AssertionError:
            st = "timeout"
        if st is not True:
            print(f"# dockerd in {n.ns}: {st}\n# " + n.log_tail().replace("\n", "\n# "), flush=True)
            skip(f"a second dockerd does not start in a network namespace here ({st})")
    t0 = time.monotonic()
    sh("docker", "swarm", "init", "--advertise-addr", host_addr, "--listen-addr", f"{host_addr}:2377")
    SWARM["made"] = True
    node_id = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}"))["NodeID"]
    with open(f"/tmp/{RUN}/swarm", "w") as f:
        f.write(node_id + "\n")
    token = sh("docker", "swarm", "join-token", "-q", "worker").strip()
    for n in NODES:
        n.docker("swarm", "join", "--token", token, "--advertise-addr", n.addr, f"{host_addr}:2377", timeout=120)
        n.node_id = json.loads(n.docker("info", "--format", "{{json .Swarm}}"))["NodeID"]
    print(f"# swarm of 3 made in {time.monotonic() - t0:.1f}s", flush=True)
    # The two nodes run workers, users and rides, never the infrastructure: the one image they
    # need, copied by swarm.sh up as on a real swarm (docker save | docker -H <node> load).
    ENV.update(SWARM_NODES=" ".join(f"unix://{n.sock}" for n in NODES), SWARM_IMAGES=APP_IMAGE)


def swarm_sh(cmd, timeout):
    return sh(os.path.join(ROOT, "docker", "swarm.sh"), cmd, timeout=timeout, env=ENV)


def node_ids():
    return sh("docker", "node", "ls", "-q").split()


def workers_by_node(nodes=None):
    """{node id: [worker task names]} of the running worker tasks, from `docker node ps`."""
    out = {}
    for nid in nodes or node_ids():
        r = subprocess.run(["docker", "node", "ps", nid, "--filter", "desired-state=running",
                            "--format", "{{.Name}} {{.CurrentState}}"], capture_output=True, text=True, timeout=60)
        rows = [ln.split(None, 1) for ln in r.stdout.splitlines()]
        names = [row[0] for row in rows
                 if len(row) == 2 and row[0].startswith(f"{RUN}-worker-") and row[1].startswith("Running")]
        out[nid] = names
    return out


def worker_list():
    """The orchestrator's worker/list, or None while it does not answer."""
    try:
        r = orch.get("/api/v1/worker/list")
    except OSError:
        return None
    return json.loads(r.data) if r.status == 200 else None


def slow_wait(cond, timeout, what, every=1.0):
    """wait_for for conditions that ask Docker: a look every so often, not every 20 ms."""
    def paced():
        v = cond()
        if not v:
            time.sleep(every)
        return v
    return wait_for(paced, timeout, what)


@suite.test
def three_nodes_ready():
    lines = sh("docker", "node", "ls", "--format", "{{.ID}} {{.Status}} {{.Availability}}").splitlines()
    ready = [ln for ln in lines if " Ready Active" in ln]
    check(len(ready) == 3, f"nodes: {lines}")


@suite.test
def workers_spread_over_the_three_nodes():
    slow_wait(lambda: len(worker_list() or []) == 3, 120, "a master and two slaves in worker/list")
    spread = slow_wait(lambda: (lambda w: w if all(w.values()) and sum(map(len, w.values())) == 3 else None)(
        workers_by_node()), 60, "a worker task running on every node")
    print(f"# workers by node: {spread}", flush=True)


@suite.test
def worker_list_is_the_tasks_pids():
    def agree():
        tasks = sh("docker", "service", "ps", "-q", "--filter", "desired-state=running",
                   *sh("docker", "service", "ls", "-q", "--filter", f"label=rideshare.stack={RUN}",
                       "--filter", "label=rideshare.role=worker").split()).split()
        status = json.loads(sh("docker", "inspect", "--format", "{{json .Status}}", *tasks).replace("}\n{", "},{")
                            .join("[]")) if tasks else []
        pids = sorted(st.get("ContainerStatus", {}).get("PID", 0) for st in status)
        return pids if pids == worker_list() and len(pids) == 3 else None
    slow_wait(agree, 30, "worker/list equal to the running tasks' container PIDs")


@suite.test
def conformance_suite_through_the_gateway():
    """test_api.py against the swarm stack (as test_docker.py runs it against compose's), its lines
    under "swarm-api". users and rides are published on this host for its _count and db/clear
    calls (DIRECT_PORTS); their counters are zeroed first: up's readiness reads were counted."""
    for svc in ("USERS_PORT", "RIDES_PORT"):
        r = ApiClient(PORTS[svc]).delete("/api/v1/_count")
        check(r.status == 200, f"DELETE _count on {svc}: {r}")
    target = ",".join(f"{k}={PORTS[p]}" for k, p in (("gw", "GATEWAY_PORT"), ("users", "USERS_PORT"),
                                                      ("rides", "RIDES_PORT"), ("orch", "ORCH_PORT")))
    env = dict(os.environ, API_TARGET=target, API_SUITE="swarm-api")
    try:
        r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_api.py")],
                           env=env, stdin=subprocess.DEVNULL, timeout=API_SUITE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"not done in {API_SUITE_TIMEOUT_S}s")
    check(r.returncode == 0, "the conformance suite failed (its \"not ok swarm-api\" lines above)")


@suite.test
def api_through_the_gateway():
    name = f"swarm{os.getpid()}"
    r = gw.put("/api/v1/users", {"username": name, "password": PASSWORD})
    check(r.status == 201, f"PUT /api/v1/users: {r}")
    r = gw.get("/api/v1/users")
    check(r.status == 200 and name in json.loads(r.data), f"GET /api/v1/users: {r}")
    ts = ride_ts(86400 * 3)
    r = gw.post("/api/v1/rides", {"created_by": name, "timestamp": ts, "source": "3", "destination": "7"})
    check(r.status == 201, f"POST /api/v1/rides: {r}")
    r = gw.get("/api/v1/rides?source=3&destination=7")
    check(r.status == 200 and any(x.get("username") == name and x.get("timestamp") == ts for x in r.json),
          f"GET /api/v1/rides: {r}")
    r = gw.get("/api/v1/_count")
    check(r.status == 200, f"GET /api/v1/_count: {r}")


@suite.test
def a_killed_orchestrator_adopts_its_workers():
    """SIGKILL to the orchestrator's container: Swarm starts it again, and the new one adopts the
    running worker services (by label) instead of starting others."""
    before = slow_wait(lambda: (lambda w: w if w and len(w) == 3 else None)(worker_list()), 30, "three workers")
    cid = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={RUN}_orchestrator").split()
    check(len(cid) == 1, f"orchestrator containers: {cid}")
    sh("docker", "kill", "-s", "KILL", cid[0])
    slow_wait(lambda: worker_list() == before and sh("docker", "ps", "-q", "--filter",
                                                      f"label=com.docker.swarm.service.name={RUN}_orchestrator")
              .split() not in ([], cid), 120, f"a new orchestrator listing the same workers {before}")


def read_ride_ts():
    db = Client(PORTS["ORCH_PORT"])
    st, body = db.read({"op": "select", "table": "rides", "columns": ["ts"], "where": {"created_by": "owner"},
                        "limit": 100000})
    check(st == 200, f"db/read of the rides: {st} {body}")
    return collections.Counter(row["ts"] for row in body["rows"])


@suite.test
def a_node_stopped_under_write_load():
    db = Client(PORTS["ORCH_PORT"])
    st, body = db.write(user("owner"))
    check(st in (200, 409), f"owner: {st} {body}")
    before = workers_by_node()
    r = orch.get("/api/v1/status")
    check(r.status == 200, f"status: {r}")
    master = f"{RUN}-worker-{json.loads(r.data)['master']}."
    # The node of the master when it is one of the extra two (a failover), else one with a slave.
    runs = [n for n in NODES if before.get(n.node_id)]
    victim = next((n for n in runs if any(t.startswith(master) for t in before[n.node_id])), None)
    lost = "the master" if victim else "a slave"
    victim = victim or (runs[0] if runs else None)
    check(victim is not None, f"no worker on the extra nodes: {before}")
    load = WriteLoad(db, threads=4)
    try:
        wait_for(lambda: len(load.acked) >= 50, 60, "writes acknowledged before the stop")
        t_stop = time.monotonic()
        victim.stop()
        check(not pid_alive(victim.proc.pid), f"dockerd of {victim.ns} still running")
        t_down = time.monotonic()  # its containers are stopped: what it ran is gone
        print(f"# stopped dockerd of {victim.ns} ({victim.node_id[:12]}) in {t_down - t_stop:.1f}s; it ran "
              f"{before[victim.node_id]}, {lost}", flush=True)
        alive = [nid for nid in before if nid != victim.node_id]

        def replaced():
            w = workers_by_node(alive)
            return w if sum(map(len, w.values())) == 3 and len(worker_list() or []) == 3 else None
        after = slow_wait(replaced, 150, "three workers running on the two nodes left")
        print(f"# workers after: {after}, {time.monotonic() - t_down:.1f}s after the stop", flush=True)
        resumed = wait_for(lambda: load.first_ack_sent_after(t_down), 90, "a write acknowledged after the stop")
        with load.lock:
            acks = sorted(a for _, a in load.acked.values())
        gap = max((b - a for a, b in zip(acks, acks[1:]) if b > t_stop - 1), default=0)
        print(f"# first write sent after the stop acknowledged {resumed:.1f}s after it; longest pause in "
              f"acknowledgements {gap:.1f}s", flush=True)
        n = len(load.acked)
        wait_for(lambda: len(load.acked) >= n + 50, 60, "writes going on")
    finally:
        load.finish()
    down = sh("docker", "node", "inspect", "--format", "{{.Status.State}}", victim.node_id).strip()
    print(f"# {victim.ns} is {down} for the swarm", flush=True)
    counts = slow_wait(lambda: (lambda c: c if all(c.get(ts) for ts in load.acked) else None)(read_ride_ts()), 30,
                      "every acknowledged write read back")
    twice = {ts: c for ts, c in counts.items() if c != 1}
    check(not twice, f"rides written more than once: {list(twice.items())[:10]}")
    print(f"# {len(load.acked)} acknowledged writes, all read back once ({len(load.refused)} refused)",
          flush=True)


@suite.test
def everything_removed():
    teardown()
    left = []
    if sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").strip() != "inactive":
        left.append("the swarm")
    left += [ln for ln in sh("ip", "netns", "list").splitlines() if ln.startswith(RUN)]
    left += [ln for ln in sh("ip", "-o", "link").splitlines() if f" {RUN}h" in ln]
    left += sh("docker", "ps", "-aq", "--filter", f"label=rideshare.stack={RUN}").split()
    left += [v for v in sh("docker", "volume", "ls", "-q").split() if v.startswith(RUN)]
    left += [m for m in sh("findmnt", "-rn", "-o", "TARGET").split() if m.startswith(f"/tmp/{RUN}/")]
    if os.path.exists(f"/tmp/{RUN}"):
        left.append(f"/tmp/{RUN}")
    check(not left, f"left behind: {left}")


DONE = {"teardown": False}


def teardown():
    if DONE["teardown"]:
        return
    DONE["teardown"] = True
    remove_run(RUN, ours=True)


def on_term(signum, frame):
    raise SystemExit(1)  # the teardown in main's finally runs (tests/run.sh's timeout sends SIGTERM)


def main():
    global gw, orch
    signal.signal(signal.SIGTERM, on_term)
    preflight()
    host_addr = host_address()
    if not host_addr:
        skip("this host has no IPv4 address to advertise")
    ports = free_ports(4)
    PORTS.update(GATEWAY_PORT=ports[0], ORCH_PORT=ports[1], USERS_PORT=ports[2], RIDES_PORT=ports[3])
    ENV.update(os.environ)
    ENV.update({k: str(v) for k, v in PORTS.items()})
    ENV.update(RIDESHARE_STACK=RUN, SWARM_BUILD="0", ENDPOINT_MODE=endpoint_mode(), INITIAL_SLAVES="2", SCALE_WINDOW_S="900", UP_TIMEOUT="240",
               ADMIN_TOKEN="", BROKER_SECRETS_DIR=f"/tmp/{RUN}/secrets")
    ENV.pop("ADMIN_TOKEN_FILE", None)
    ENV.pop("DOCKER_HOST", None)
    try:
        try:
            setup(host_addr)
            with open(f"/tmp/{RUN}/direct-ports.yml", "w") as f:
                f.write(DIRECT_PORTS % PORTS)
            ENV.update(SWARM_STACK_FILES=f"/tmp/{RUN}/direct-ports.yml")
            t0 = time.monotonic()
            out = swarm_sh("up", 300)
            print(f"# stack {RUN} up in {time.monotonic() - t0:.1f}s\n# " + out.replace("\n", "\n# "), flush=True)
        except AssertionError as e:
            print(f"not ok swarm: setup ({str(e)[-600:]})", flush=True)
            sys.exit(1)
        gw, orch = ApiClient(PORTS["GATEWAY_PORT"]), ApiClient(PORTS["ORCH_PORT"])
        suite.run()
    finally:
        teardown()


if __name__ == "__main__":
    main()
