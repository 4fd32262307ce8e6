#!/usr/bin/env python3
# test-timeout: 1200
"""test_swarm.py — the stack on a three-node Docker Swarm (docker/swarm.sh, docker/swarm-stack.yml,
the orchestrator's swarm runtime), on one machine: this host's engine and two more dockerds in
network namespaces of the run's (tests/lib/swarmnodes.py: how, and what is cleaned up).

By default the stack is that of `make swarm-up`. With SWARM_HA=1 it is that of `HA=1 make
swarm-up` (docker/swarm-stack.ha.yml): member k of the RabbitMQ cluster and of the ZooKeeper
ensemble on node k, two orchestrators on the manager behind the leader lock, and the node that is
stopped takes a broker and a ZooKeeper server with it. That passed in four runs of five; in the
fifth no write was acknowledged within 90 s of the stop (docs/operations.md, "Running on a
swarm"), which is why `make test` runs the one-node topology.

Checked, in this order: the three nodes are ready; the stack comes up (swarm.sh up: reads go
through the gateway); the orchestrator's master and two slaves are Swarm services, one on each
node (`docker node ps` per node); worker/list equals the tasks' container PIDs; the API
conformance suite (test_api.py, as test_docker.py runs it; users and rides published on this
host for its direct calls); API calls through the gateway; the (active) orchestrator's container
SIGKILLed: the standby, or Swarm's restart of it, adopts the same workers; with HA, under write
load, SIGKILL of RabbitMQ node 1, then of the ZooKeeper leader, then of the master, writes
acknowledged again within a bound each time; then one worker node's dockerd is stopped while writes go on (with HA it takes a
broker and a ZooKeeper server with it): its workers are replaced on the other nodes, writes resume,
and every acknowledged write is read back exactly once; at the end, everything the run made is gone.

Skipped (exit 77) where the machine cannot make the swarm (swarmnodes.preflight: no root, engine,
dockerd, nsenter or ip, no images — docker/stack.sh build —, a second dockerd that cannot start,
or a host already in a swarm of anyone else's). REQUIRE_DOCKER=1 does not make these failures: a
second engine is more than the container stack asks of a machine.
"""
import collections
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiClient, free_ports, ride_ts  # noqa: E402
from harness import TMP, Client, Suite, check, pid_alive, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import PASSWORD, user  # noqa: E402
from swarmnodes import (ENV, NODES, RUN, endpoint_mode, forward_rule, host_address, preflight,  # noqa: E402
                        remove_run, setup, sh, skip, slow_wait, swarm_sh, workers_by_node)

HA = os.environ.get("SWARM_HA", "0") == "1"
APP_IMAGE = os.environ.get("APP_IMAGE", "rideshare-app")  # the C services' and the workers' (swarm.sh's too)
IMAGES = [APP_IMAGE, "rideshare-gateway", "rideshare-rabbitmq", "rideshare-zookeeper", "rideshare-prometheus"]
# What the two extra nodes run: workers, users and rides; with HA a broker and a ZooKeeper server too.
NODE_IMAGES = [APP_IMAGE] + (["rideshare-rabbitmq", "rideshare-zookeeper"] if HA else [])
suite = Suite("swarm")
PORTS = {}
API_SUITE_TIMEOUT_S = 300
RESUME_S = 12.0  # writes acknowledged again within this after a broker's or a ZooKeeper server's kill
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
gw = None


def orch_ports():
    """{service name: host port} of the orchestrator(s)."""
    out = {"orchestrator": PORTS["ORCH_PORT"]}
    if HA:
        out["orchestrator-2"] = PORTS["ORCH2_PORT"]
    return out


def active_orchestrator():
    """(service, port) of the orchestrator that answers for the stack (the active one of the
    pair), or (None, None) while none does."""
    for svc, port in orch_ports().items():
        if not HA:
            return svc, port
        try:
            r = ApiClient(port).get("/api/v1/role")
        except OSError:
            continue
        if r.status == 200 and r.is_json and r.json.get("role") == "active":
            return svc, port
    return None, None


def orch():
    port = active_orchestrator()[1]
    return ApiClient(port) if port else None


def worker_list():
    """The orchestrator's worker/list, or None while none answers."""
    o = orch()
    try:
        r = o.get("/api/v1/worker/list") if o else None
    except OSError:
        return None
    return json.loads(r.data) if r is not None and r.status == 200 else None


def containers(service):
    """[(node's docker argv prefix, container id)] of the running containers of the stack's
    service (a worker's: "-worker-<id>"), on every node."""
    name = f"{RUN}{service}" if service.startswith("-") else f"{RUN}_{service}"
    out = []
    for prefix in [["docker"]] + [["docker", "-H", f"unix://{n.sock}"] for n in NODES if n.proc.poll() is None]:
        ids = sh(*prefix, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={name}",
                 check_rc=False).split()
        out += [(prefix, c) for c in ids]
    return out


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
                                                      ("rides", "RIDES_PORT")))
    port = active_orchestrator()[1]
    check(port is not None, "an active orchestrator")
    env = dict(os.environ, API_TARGET=f"{target},orch={port}", API_SUITE="swarm-api")
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
    """SIGKILL to the (active) orchestrator's container: the standby takes over, or Swarm starts
    the killed one again; either adopts the running worker services (by label) instead of starting
    others."""
    before = slow_wait(lambda: (lambda w: w if w and len(w) == 3 else None)(worker_list()), 30, "three workers")
    svc, _ = active_orchestrator()
    cids = containers(svc)
    check(len(cids) == 1, f"{svc} containers: {cids}")
    prefix, cid = cids[0]
    t0 = time.monotonic()
    sh(*prefix, "kill", "-s", "KILL", cid)
    slow_wait(lambda: worker_list() == before and [c for _, c in containers(svc)] not in ([], [cid]), 120,
              f"an orchestrator listing the same workers {before}, and {svc} running again")
    print(f"# {svc} killed: {active_orchestrator()[0]} active with the same workers "
          f"{time.monotonic() - t0:.1f}s later", flush=True)


def zk_mode(prefix, cid):
    """The ZooKeeper server's mode (leader, follower...; "" when it does not answer)."""
    r = subprocess.run([*prefix, "exec", cid, "bash", "-c",
                        "exec 3<>/dev/tcp/127.0.0.1/2181 && echo srvr >&3 && timeout 2 cat <&3"],
                       capture_output=True, text=True, timeout=30)
    return next((ln.split(":", 1)[1].strip() for ln in r.stdout.splitlines() if ln.startswith("Mode:")), "")


def zk_leader():
    """(service, docker argv prefix, container) of the ZooKeeper server leading the ensemble, or None."""
    for svc in ("zookeeper", "zookeeper-2", "zookeeper-3"):
        for prefix, cid in containers(svc):
            if zk_mode(prefix, cid) == "leader":
                return svc, prefix, cid
    return None


def infra_whole():
    """HA: whether the RabbitMQ cluster runs its three nodes and the three ZooKeeper servers
    serve (a killed member that Swarm started again has rejoined): a fault is injected only into
    a whole system, else it would be a second one."""
    if not HA:
        return True
    broker = next((c for svc in ("rabbitmq", "rabbitmq-2", "rabbitmq-3") for c in containers(svc)), None)
    if broker is None:
        return False
    r = subprocess.run([*broker[0], "exec", broker[1], "rabbitmqctl", "-q", "eval",
                        "length(rabbit_nodes:all_running())."], capture_output=True, text=True, timeout=60)
    if r.stdout.strip() != "3":
        return False
    modes = [zk_mode(*c) for svc in ("zookeeper", "zookeeper-2", "zookeeper-3") for c in containers(svc)[:1]]
    return sorted(modes) == ["follower", "follower", "leader"]


def kill_under_load(load, what, target):
    """SIGKILLs target's container while load runs; the time to the first acknowledgement of a
    write sent after the kill and the longest stretch without one (within 15 s) are printed, and
    that stretch must stay within RESUME_S."""
    prefix, cid = target
    slow_wait(infra_whole, 180, f"three RabbitMQ nodes and three ZooKeeper servers, before the kill of {what}")
    n = len(load.acked)
    wait_for(lambda: len(load.acked) >= n + 20, 60, f"writes flowing before the kill of {what}")
    t_kill = time.monotonic()
    sh(*prefix, "kill", "-s", "KILL", cid)
    resumed = wait_for(lambda: load.first_ack_sent_after(t_kill), 60, f"a write acknowledged after the kill of {what}")
    end = time.monotonic() + max(0.0, 15.0 - (time.monotonic() - t_kill))
    while time.monotonic() < end:
        time.sleep(0.5)
    with load.lock:
        acks = sorted(a for _, a in load.acked.values() if a >= t_kill)
    gap = max((b - a for a, b in zip([t_kill] + acks, acks)), default=15.0)
    print(f"# {what} killed: a write sent after it acknowledged {resumed:.1f}s later; longest stretch without "
          f"an acknowledgement {gap:.1f}s", flush=True)
    check(gap <= RESUME_S, f"{gap:.1f}s without an acknowledged write after the kill of {what}")


def ha_only(fn):
    """A test of the HA topology only: not run (and not counted) on the single one."""
    return suite.test(fn) if HA else fn


@ha_only
def a_broker_a_zookeeper_server_and_the_master_killed_under_write_load():
    """HA only: RabbitMQ node 1 (every client's first, on the manager; Swarm restarts it), then the
    ZooKeeper leader, then the master's container, wherever each runs (with the orchestrator's
    kill above, test_docker_ha.py's sequence); nothing acknowledged is lost (checked with the
    node's stop, which reads back this load's writes too)."""
    db = Client(active_orchestrator()[1])
    st, body = db.write(user("owner"))
    check(st in (200, 409), f"owner: {st} {body}")
    load = WriteLoad(db, threads=4, base=1_000_000_000)  # rides of its own: the node's stop reads both
    try:
        cids = containers("rabbitmq")
        check(len(cids) == 1, f"rabbitmq containers: {cids}")
        kill_under_load(load, "RabbitMQ node 1", cids[0])
        slow_wait(infra_whole, 180, "three RabbitMQ nodes and three ZooKeeper servers again")
        leader = slow_wait(zk_leader, 60, "a ZooKeeper leader")
        kill_under_load(load, f"the ZooKeeper leader ({leader[0]})", leader[1:])
        r = orch().get("/api/v1/status")
        check(r.status == 200 and r.json.get("master"), f"status: {r}")
        cids = containers(f"-worker-{r.json['master']}")
        check(len(cids) == 1, f"the master's containers: {cids}")
        kill_under_load(load, "the master", cids[0])
    finally:
        load.finish()
    ACKED.update(load.acked)


ACKED = {}  # the writes acknowledged by the HA kills' load, read back after the node's stop


def read_ride_ts():
    """{ts: copies} of owner's rides, or None while no replica answers (503: the slaves that
    replaced the lost ones may still be catching up)."""
    db = Client(active_orchestrator()[1])
    st, body = db.read({"op": "select", "table": "rides", "columns": ["ts"], "where": {"created_by": "owner"},
                        "limit": 100000})
    if st == 503:
        return None
    check(st == 200, f"db/read of the rides: {st} {body}")
    return collections.Counter(row["ts"] for row in body["rows"])


@suite.test
def a_node_stopped_under_write_load():
    db = Client(active_orchestrator()[1])
    st, body = db.write(user("owner"))
    check(st in (200, 409), f"owner: {st} {body}")
    slow_wait(infra_whole, 180, "three RabbitMQ nodes and three ZooKeeper servers, before the stop")
    before = workers_by_node()
    r = orch().get("/api/v1/status")
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
    ACKED.update(load.acked)
    counts = slow_wait(lambda: (lambda c: c if c and all(c.get(ts) for ts in ACKED) else None)(read_ride_ts()), 60,
                      "every acknowledged write read back")
    twice = {ts: c for ts, c in counts.items() if c != 1}
    check(not twice, f"rides written more than once: {list(twice.items())[:10]}")
    print(f"# {len(ACKED)} acknowledged writes, all read back once ({len(load.refused)} refused)",
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
    if subprocess.run(["iptables", "-C", *forward_rule(RUN)], capture_output=True, timeout=30).returncode == 0:
        left.append("the forwarding rule")
    if os.path.exists(f"/tmp/{RUN}"):
        left.append(f"/tmp/{RUN}")
    check(not left, f"left behind: {left}")


DONE = {"teardown": False}


def keep_logs():
    """After a failure: the last lines of every service of the stack, workers included, into
    TEST_TMP/swarm-logs (the stack itself is removed)."""
    out = os.path.join(TMP, "swarm-logs")
    os.makedirs(out, exist_ok=True)
    names = sh("docker", "service", "ls", "--format", "{{.Name}}", check_rc=False).split()
    for name in (n for n in names if n.startswith(RUN)):
        r = subprocess.run(["docker", "service", "logs", "--raw", "--timestamps", "--tail", "2000", name],
                           capture_output=True, text=True, timeout=120)
        with open(os.path.join(out, f"{name}.log"), "w") as f:
            f.write(r.stdout + r.stderr)
    print(f"# the services' logs: {out}", flush=True)


def teardown():
    if DONE["teardown"]:
        return
    DONE["teardown"] = True
    if suite.failed:
        keep_logs()
    remove_run(RUN, ours=True)


def on_term(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # nothing may cut the teardown short
    if not DONE["teardown"]:
        raise SystemExit(1)  # the teardown in main's finally runs (tests/run.sh's timeout sends SIGTERM)


def main():
    global gw
    signal.signal(signal.SIGTERM, on_term)
    preflight(IMAGES)
    host_addr = host_address()
    if not host_addr:
        skip("this host has no IPv4 address to advertise")
    ports = free_ports(5)
    PORTS.update(GATEWAY_PORT=ports[0], ORCH_PORT=ports[1], USERS_PORT=ports[2], RIDES_PORT=ports[3],
                 ORCH2_PORT=ports[4])
    ENV.update(os.environ)
    ENV.update({k: str(v) for k, v in PORTS.items()})
    ENV.update(RIDESHARE_STACK=RUN, SWARM_BUILD="0", ENDPOINT_MODE=endpoint_mode(), INITIAL_SLAVES="2",
               SCALE_WINDOW_S="900", UP_TIMEOUT="300", HA="1" if HA else "0",
               ADMIN_TOKEN="", BROKER_SECRETS_DIR=f"/tmp/{RUN}/secrets")
    ENV.pop("ADMIN_TOKEN_FILE", None)
    ENV.pop("DOCKER_HOST", None)
    try:
        try:
            setup(host_addr, NODE_IMAGES)
            with open(f"/tmp/{RUN}/direct-ports.yml", "w") as f:
                f.write(DIRECT_PORTS % PORTS)
            ENV.update(SWARM_STACK_FILES=f"/tmp/{RUN}/direct-ports.yml")
            t0 = time.monotonic()
            out = swarm_sh("up", 360)
            print(f"# stack {RUN} up in {time.monotonic() - t0:.1f}s\n# " + out.replace("\n", "\n# "), flush=True)
        except AssertionError as e:
            print(f"not ok swarm: setup ({str(e)[-600:]})", flush=True)
            sys.exit(1)
        gw = ApiClient(PORTS["GATEWAY_PORT"])
        suite.run()
    finally:
        teardown()


if __name__ == "__main__":
    main()
