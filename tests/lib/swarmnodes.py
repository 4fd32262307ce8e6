"""swarmnodes.py — a Docker Swarm of three nodes on one machine, for the multi-node tests
(tests/integration/test_swarm.py).

The nodes: this host's engine (the manager) and two more dockerds, each in a network namespace
of this run's with a veth pair to the host: `nsenter --net=<ns> dockerd` with an empty config
file (/etc/docker/daemon.json may set a data root), a data root, exec root, pid file and socket
of its own under /tmp/<run> (`ip netns exec` is not used: it mounts a fresh /sys without the
cgroup hierarchies, where dockerd cannot start). Each namespace has one address of its own
(198.18.0.0/15, the benchmarking range) and reaches the host's address over the veth (a
route on each side, no address added to the host), and the other node's through the host
(proxy ARP on the veths, a forwarding rule in DOCKER-USER); the host's engine makes a new swarm
advertising its own address and the two join it as workers. Images reach them by
`docker save | docker -H ... load` (swarm.sh up with SWARM_NODES): there is no registry.

Everything is named after the run (rsw<pid>): the stack, the namespaces rsw<pid>n1/n2, the
veths rsw<pid>h1/h2, /tmp/rsw<pid>. remove_run() takes it all away; remove_stale() does so for
earlier runs whose process is gone — their swarm too, but only when this host's swarm is the one
that run made (its node id is in /tmp/rsw<pid>/swarm). preflight() skips (exit 77) where this
machine cannot do it: without root, a Docker engine, dockerd, nsenter or ip, the images, or
when the host is already in a swarm of anyone else's.

Module state (one swarm a process): RUN, ENV (the environment of swarm.sh and of the test's
docker commands), NODES.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import ROOT, pid_alive, wait_for

PREFIX = "rsw"
RUN = f"{PREFIX}{os.getpid()}"
ADDRS = ["198.18.0.11", "198.18.0.12"]  # one per namespace of this run's, nowhere else
ENV = {}


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
        self.run, self.k, self.ns, self.host_if, self.ns_if = run, k, f"{run}n{k}", f"{run}h{k}", f"{run}c{k}"
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
        # Node to node goes through the host (the brokers and the ZooKeeper servers of the two
        # nodes talk to each other; the rest talks to the manager, the host itself): the host
        # answers ARP on the veth for the other node's address (proxy ARP; the setting goes
        # with the veth), and forwards between this run's veths, past the DROP policy Docker
        # gives FORWARD.
        with open(f"/proc/sys/net/ipv4/conf/{self.host_if}/proxy_arp", "w") as f:
            f.write("1\n")
        if subprocess.run(["iptables", "-C", *forward_rule(self.run)], capture_output=True, timeout=30).returncode:
            sh("iptables", "-I", *forward_rule(self.run))

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


def forward_rule(run):
    """The host's rule (chain and match) that forwards between run's veths."""
    return ["DOCKER-USER", "-i", f"{run}h+", "-o", f"{run}h+", "-j", "ACCEPT"]


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
    while subprocess.run(["iptables", "-D", *forward_rule(run)], capture_output=True, timeout=30).returncode == 0:
        pass
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


def preflight(images):
    """Skips (exit 77) where this machine cannot make the swarm; removes stale runs."""
    if os.geteuid() != 0:
        skip("needs root (network namespaces, a second dockerd)")
    for tool in ("docker", "dockerd", "nsenter", "ip", "iptables", "findmnt", "containerd"):
        if not shutil.which(tool):
            skip(f"{tool} not found")
    try:
        if subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode != 0:
            skip("no Docker engine")
    except (OSError, subprocess.TimeoutExpired):
        skip("no Docker engine")
    missing = [i for i in images if subprocess.run(["docker", "image", "inspect", i], capture_output=True,
                                                   timeout=60).returncode != 0]
    if missing:
        skip(f"images not built: {' '.join(missing)} (docker/stack.sh build)")
    remove_stale()
    state = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}")).get("LocalNodeState")
    if state != "inactive":
        skip(f"this engine is in a swarm already (state {state}): not ours to change")


NODES = []


def setup(host_addr, node_images):
    """The two nodes and the swarm; raises on what is a failure, skips on what this machine
    cannot do. node_images: what swarm.sh up copies to the two nodes (SWARM_IMAGES)."""
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
    node_id = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}"))["NodeID"]
    with open(f"/tmp/{RUN}/swarm", "w") as f:
        f.write(node_id + "\n")
    token = sh("docker", "swarm", "join-token", "-q", "worker").strip()
    for n in NODES:
        n.docker("swarm", "join", "--token", token, "--advertise-addr", n.addr, f"{host_addr}:2377", timeout=120)
        n.node_id = json.loads(n.docker("info", "--format", "{{json .Swarm}}"))["NodeID"]
    print(f"# swarm of 3 made in {time.monotonic() - t0:.1f}s", flush=True)
    # Copied by swarm.sh up as on a real swarm (docker save | docker -H <node> load).
    ENV.update(SWARM_NODES=" ".join(f"unix://{n.sock}" for n in NODES), SWARM_IMAGES=" ".join(node_images))


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


def slow_wait(cond, timeout, what, every=1.0):
    """wait_for for conditions that ask Docker: a look every so often, not every 20 ms."""
    def paced():
        v = cond()
        if not v:
            time.sleep(every)
        return v
    return wait_for(paced, timeout, what)
