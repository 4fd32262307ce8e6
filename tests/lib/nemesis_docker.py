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
cleanup() sends SIGCONT to every process this target stopped, unpauses any paused container of
the stack, deletes every rule this target added that is still there, and makes sure the
orchestrator runs. docker/stack.sh down removes the rest.
"""
import os
import signal
import subprocess
import time

from history import OK, Call
from nemesis import OrchestratorView

PEERS = {"zk": "zookeeper", "mq": "rabbitmq"}


class DockerTarget(OrchestratorView):
    def __init__(self, stack, session_s, log=print):
        self.stack, self.session_s, self.log = stack, session_s, log
        self.call = Call(timeout=5)
        self.rules = []  # (pid, rule args) added and not yet deleted
        self.stopped = []  # (who, pid) stopped and not yet continued
        self.restarts = 0

    def can_partition(self):
        return True

    @property
    def orch_port(self):
        return self.stack.ports["ORCH_PORT"]

    # ------------------------------------------------------------------ looking

    def _container(self, who):
        kind, w = who
        if kind == "orchestrator":
            return self.stack.service_container("orchestrator")
        return self.stack.worker_container(w["id"])

    def _pid(self, who):
        c = self._container(who)
        return self.stack.pid(c) if c else None

    # ------------------------------------------------------------------ faults

    def kill(self, who):
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
        # Every address of the peer: it is on more than one network (docker-compose.yml).
        peer_ips = self.stack.ips(self.stack.service_container(PEERS[peer]))
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

    def restart_orchestrator(self, timeout=60):
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
        self.restart_orchestrator(timeout=30)
