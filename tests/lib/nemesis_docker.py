"""nemesis_docker.py — the nemesis's target for the container stack (dockerstack.DockerStack).

Workers are containers the orchestrator creates (<stack>-worker-<id>); the orchestrator, RabbitMQ
and ZooKeeper are compose services. The faults, done from the host as root (no privileged
container is needed):
  kill      SIGKILL of the container's main process (State.Pid; the status's pid of a worker is
            that already). The orchestrator's container comes back by compose's restart policy
            (`restart: unless-stopped`: a process killed from outside is a crash, not a stop);
            healing it is waiting until it answers, and `docker start` if it did not come back.
  pause     SIGSTOP of the container's main process (the service itself: the images run it as
            PID 1, with no init), healed by SIGCONT. Not `docker pause`: the orchestrator's
            docker runtime takes a paused worker container for one that stopped running and
            replaces it at once, so a pause would never outlast the ZooKeeper session unnoticed
            — which is the fault to test: a frozen master that its znode's expiry, not its
            container's state, must depose.
  partition iptables rules in the container's own network namespace (`nsenter -t <pid> -n
            iptables`), DROP of everything to and from the peer's address (ZooKeeper's or
            RabbitMQ's container, each of its addresses), both directions, so neither side hears
            from the other, as behind a network that loses every packet; healed by deleting the
            same rules. A container that dies meanwhile takes its namespace, and the rules, with it.
With the HA stack (DockerStack(ha=True), an orchestrator pair given as an OrchestratorPair,
orchpair.py): a partition from ZooKeeper or RabbitMQ cuts every server of the ensemble or node of
the cluster; the orchestrator faults act on the active one and admin() asks whoever is active at
that moment; kill of the orchestrator is `docker kill` of the active one's container — which the
restart policy leaves down, as a dead machine would stay — and its heal `docker start` (it comes
back as a standby); kill_node() does the same to one RabbitMQ node or ZooKeeper server chosen at
random. wait_ready(), after each fault, waits until every node is healthy again and an
orchestrator is active, so that faults stay single ones.
cleanup() sends SIGCONT to every process this target stopped, unpauses any paused container of
the stack, deletes every rule this target added that is still there, starts every container it
killed, and makes sure the orchestrator runs. docker/stack.sh down removes the rest.
"""
import os
import signal
import subprocess
import time

from history import OK, Call
from nemesis import OrchestratorView

PEERS = {"zk": ("zookeeper",), "mq": ("rabbitmq",)}
PEERS_HA = {"zk": ("zookeeper", "zookeeper-2", "zookeeper-3"), "mq": ("rabbitmq", "rabbitmq-2", "rabbitmq-3")}
ORCHESTRATORS = ("orchestrator", "orchestrator-2")
REJOIN_S = 90.0  # a node started again and not healthy after this is restarted once more


class DockerTarget(OrchestratorView):
    def __init__(self, stack, session_s, log=print, pair=None):
        """pair: the OrchestratorPair of an HA stack (None: the single orchestrator)."""
        self.stack, self.session_s, self.log, self.pair = stack, session_s, log, pair
        self.call = Call(timeout=5)
        self.rules = []  # (pid, rule args) added and not yet deleted
        self.stopped = []  # (who, pid) stopped and not yet continued
        self.killed = []  # containers stopped by docker kill and not yet started
        self.started = {}  # node (service) -> when it was started again, until it is healthy
        self.restarted = []  # (service, note): nodes that did not come back by docker start alone
        self.broken = None  # why the run cannot be judged (the engine lost the stack's networks)
        self.restarts = 0

    def can_partition(self):
        return True

    def can_kill_infra(self):
        return self.pair is not None

    def active_orchestrator(self):
        """The active orchestrator's service name, None if none is; "orchestrator" without a pair."""
        return self.pair.active() if self.pair is not None else "orchestrator"

    @property
    def orch_port(self):
        return self.pair.port if self.pair else self.stack.ports["ORCH_PORT"]

    # ------------------------------------------------------------------ looking

    def _container(self, who):
        kind, w = who
        if kind == "orchestrator":
            return self.stack.service_container(w or "orchestrator")
        return self.stack.worker_container(w["id"])

    def _pid(self, who):
        c = self._container(who)
        return self.stack.pid(c) if c else None

    # ------------------------------------------------------------------ faults

    def kill(self, who):
        if who[0] == "orchestrator" and self.pair is not None:
            self._docker_kill(self._container(who))
            return
        pid = who[1]["pid"] if who[0] == "worker" else self._pid(who)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def pause(self, who):
        pid = who[1]["pid"] if who[0] == "worker" else self._pid(who)
        if not pid:
            raise RuntimeError(f"no pid for {who[0]}")
        self.stopped.append((who, pid))
        os.kill(pid, signal.SIGSTOP)

    def resume(self, who):
        for entry in [x for x in self.stopped if x[0] is who]:
            self._cont(entry[1])
            self.stopped.remove(entry)

    def _cont(self, pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def partition(self, who, peer):
        pid = self._pid(who)
        # Every address of every server of the peer: each is on more than one network
        # (docker-compose.yml).
        peer_ips = [ip for svc in (PEERS_HA if self.pair else PEERS)[peer]
                    for ip in self.stack.ips(self.stack.service_container(svc))]
        if not pid or not peer_ips:
            raise RuntimeError(f"no pid ({pid}) or peer address ({peer_ips})")
        added = []
        for ip in peer_ips:
            for rule in (["INPUT", "-s", ip, "-j", "DROP"], ["OUTPUT", "-d", ip, "-j", "DROP"]):
                self._iptables(pid, "-I", rule)
                added.append((pid, rule))
                self.rules.append((pid, rule))

        def heal():
            for pid_, rule in added:
                self._delete(pid_, rule)
        return heal

    def _iptables(self, pid, action, rule):
        r = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-w", "5", action] + rule,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0 and action != "-D":
            raise RuntimeError(f"iptables {action} {' '.join(rule)} in pid {pid}: {r.stderr.strip()}")
        return r.returncode == 0

    def _delete(self, pid, rule):
        if (pid, rule) in self.rules:
            self.rules.remove((pid, rule))
        if os.path.exists(f"/proc/{pid}/ns/net"):
            self._iptables(pid, "-D", rule)

    # ------------------------------------------------------------------ HA: whole containers

    def _docker_kill(self, container):
        if not container:
            raise RuntimeError("no container to kill")
        self.killed.append(container)
        subprocess.run(["docker", "kill", container], capture_output=True, timeout=60, check=True)

    def kill_node(self, peer, rng):
        """docker kill of one server of the peer's (mq, zk), at random; its service name."""
        svc = rng.choice(PEERS_HA[peer])
        self._docker_kill(self.stack.service_container(svc))
        return svc

    def start_node(self, svc):
        c = self.stack.service_container(svc)
        self.started[svc] = time.monotonic()
        return self._start(c)

    def _start(self, container):
        if container in self.killed:
            self.killed.remove(container)
        r = subprocess.run(["docker", "start", container], capture_output=True, text=True, timeout=120)
        return "started again" if r.returncode == 0 else f"docker start failed: {r.stderr.strip()[-200:]}"

    def wait_ready(self, timeout=180):
        """HA: until every node and both orchestrators run (healthy where they have a check) and
        one orchestrator is active; what was waited for, or None (single stack: nothing to wait
        for). Both check that the engine still lists the stack's networks (_detached)."""
        if self.pair is None:
            self._detached({svc: self.stack.inspect(self.stack.service_container(svc),
                                                    "{{len .NetworkSettings.Networks}}")
                            for svc in ("rabbitmq", "zookeeper", "orchestrator")})
            return None
        end = time.monotonic() + timeout
        services = PEERS_HA["mq"] + PEERS_HA["zk"] + ORCHESTRATORS
        while time.monotonic() < end:
            states, nets = {}, {}
            for svc in services:
                out = self.stack.inspect(self.stack.service_container(svc), "{{len .NetworkSettings.Networks}} "
                                         "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
                nets[svc], _, states[svc] = out.partition(" ")
            waiting = [svc for svc, st in states.items() if st.split() not in (["running", "healthy"], ["running"])]
            for svc in [s for s in self.started if s not in waiting]:
                del self.started[svc]
            for svc in [s for s in waiting if time.monotonic() - self.started.get(s, time.monotonic()) > REJOIN_S]:
                # A node that does not come back (seen with RabbitMQ once the engine's DNS had
                # failed, see below): a second start is what an operator would try.
                del self.started[svc]
                r = subprocess.run(["docker", "restart", "-t", "5", self.stack.service_container(svc)],
                                   capture_output=True, text=True, timeout=120)
                note = f"{svc} not healthy {REJOIN_S:.0f}s after its start: docker restart (status {r.returncode})"
                self.restarted.append(note)
                self.log(f"# nemesis: {note}")
            self._detached({svc: nets[svc] for svc in services if states[svc].startswith("running")})
            roles = self.pair.roles()
            if not waiting and "active" in roles.values() and None not in roles.values():
                return "all nodes healthy, orchestrators " + ", ".join(f"{s} {r}" for s, r in sorted(roles.items()))
            time.sleep(0.5)
        return f"NOT READY after {timeout}s: {states} {self.pair.roles()}"

    def _detached(self, nets):
        """nets: {service: how many networks the engine lists for its running container}. Seen
        when another test put this engine into swarm mode and out again meanwhile: running
        containers lose their networks in the engine's books, and with them its DNS names; the
        run is then void."""
        detached = [svc for svc, n in nets.items() if n == "0"]
        if detached and not self.broken:
            self.broken = f"the engine lists no network for {', '.join(detached)}"
            self.log(f"# nemesis: BROKEN RUN: {self.broken}")

    def restart_orchestrator(self, timeout=60):
        """HA: starts the orchestrators' containers this target killed, and waits until one is
        active."""
        if self.pair is not None:
            killed = [c for c in self.killed
                      if c in [self.stack.service_container(s) for s in ORCHESTRATORS]]
            notes = [self._start(c) for c in killed]
            active = self.pair.wait_active(timeout)
            self.restarts += 1
            return f"{', '.join(notes) or 'nothing to start'}; active: {active}"
        return self._restart_single(timeout)

    def _restart_single(self, timeout):
        """Waits until the orchestrator answers again (compose's restart policy brings it
        back); starts its container if it did not."""
        end = time.monotonic() + timeout
        started = False
        while time.monotonic() < end:
            out, _, _ = self.call.request(self.orch_port, "GET", "/api/v1/worker/list")
            if out == OK:
                self.restarts += 1
                return "restarted" + (" by docker start" if started else "")
            c = self.stack.service_container("orchestrator")
            if (not started and c and time.monotonic() > end - timeout / 2
                    and self.stack.inspect(c, "{{.State.Running}}") != "true"):
                subprocess.run(["docker", "start", c], capture_output=True, timeout=60)
                started = True
            time.sleep(0.2)
        return "not answering"

    def cleanup(self):
        for _, pid in self.stopped:
            self._cont(pid)
        self.stopped = []
        for pid, rule in list(self.rules):
            self._delete(pid, rule)
        for c in self.stack.paused():
            subprocess.run(["docker", "unpause", c], capture_output=True, timeout=60)
        started = list(self.killed)
        for c in started:
            self._start(c)
        if self.pair is not None:
            if started:  # what it started back up, given a while to be healthy again
                self.log(f"# cleanup: {self.wait_ready(60)}")
        else:
            self.restart_orchestrator(timeout=30)
