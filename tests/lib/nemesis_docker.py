"""nemesis_docker.py — the nemesis's target for the container stack (dockerstack.DockerStack).

Workers are containers the orchestrator creates (<stack>-worker-<id>); the orchestrator, RabbitMQ
and ZooKeeper are compose services. The faults, done from the host as root (no privileged
container is needed):
  kill      SIGKILL of the container's main process (State.Pid; the status's pid of a worker is
            that already). The orchestrator's container comes back by compose's restart policy
            (`restart: unless-stopped`: a process killed from outside is a crash, not a stop);
            healing it is waiting until it answers, and `docker start` if it did not come back.
  pause     `docker pause` (the cgroup freezer: every thread stops at once), healed by unpause.
  partition iptables rules in the container's own network namespace (`nsenter -t <pid> -n
            iptables`), DROP of everything to and from the peer's address (ZooKeeper's or
            RabbitMQ's container on the stack's network), both directions, so neither side hears
            from the other, as behind a network that loses every packet; healed by deleting the
            same rules. A container that dies meanwhile takes its namespace, and the rules, with it.
cleanup() unpauses every paused container of the stack, deletes every rule this target added that
is still there, and makes sure the orchestrator runs. docker/stack.sh down removes the rest.
"""
import os
import signal
import subprocess
import time

from history import OK, Call

PEERS = {"zk": "zookeeper", "mq": "rabbitmq"}


class DockerTarget:
    def __init__(self, stack, session_s, log=print):
        self.stack, self.session_s, self.log = stack, session_s, log
        self.call = Call(timeout=5)
        self.rules = []  # (pid, rule args) added and not yet deleted
        self.restarts = 0

    def can_partition(self):
        return True

    @property
    def orch_port(self):
        return self.stack.ports["ORCH_PORT"]

    # ------------------------------------------------------------------ looking

    def admin(self, method, path, body):
        out, st, parsed = self.call.request(self.orch_port, method, path, body)
        return (st, parsed) if st is not None else (None, None)

    def workers(self):
        st, body = self.admin("GET", "/api/v1/status", None)
        if st != 200 or not isinstance(body, dict):
            return None
        return [{"id": w["id"], "pid": w["pid"], "role": w["role"], "state": w.get("state")}
                for w in body.get("workers", []) if not w.get("retiring")]

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
        subprocess.run(["docker", "pause", self._container(who)], capture_output=True, timeout=60)

    def resume(self, who):
        subprocess.run(["docker", "unpause", self._container(who)], capture_output=True, timeout=60)

    def partition(self, who, peer):
        pid = self._pid(who)
        peer_ip = self.stack.ip(self.stack.service_container(PEERS[peer]))
        if not pid or not peer_ip:
            raise RuntimeError(f"no pid ({pid}) or peer address ({peer_ip})")
        added = []
        for rule in (["INPUT", "-s", peer_ip, "-j", "DROP"], ["OUTPUT", "-d", peer_ip, "-j", "DROP"]):
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
        for pid, rule in list(self.rules):
            self._delete(pid, rule)
        for c in self.stack.paused():
            subprocess.run(["docker", "unpause", c], capture_output=True, timeout=60)
        self.restart_orchestrator(timeout=30)
