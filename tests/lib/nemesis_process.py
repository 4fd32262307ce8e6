"""nemesis_process.py — the nemesis's target for the process stack (apistack.ApiStack).

Workers are processes of this host: kills are os.kill(SIGKILL), pauses SIGSTOP/SIGCONT by PID,
the PIDs and roles come from the orchestrator's GET /api/v1/status. The orchestrator is this
process's child (harness.Stack): a kill is SIGKILL, and healing it starts it again with the same
environment on the same port (the stack must be made with a fixed ORCH_PORT, see fixed_port_env),
writing to the same log; the new one adopts the running workers by their PID files
(docs/operations.md, "Orchestrator restart").

Partitions need a backend that can cut one process off from ZooKeeper or RabbitMQ while the
others go on. On one host that means a proxy between the processes and the servers; the hook is
the `partitions` argument: any object with cut(pid, peer) -> undo function, where peer is "zk"
or "mq", and heal_all(). NetproxyPartitions adapts the Proxy of netproxy.py (the loopback proxy
test_partition.py cuts processes off with) to it, and netproxy_partitions() makes one, with an
env_hook that routes a harness.Stack through it; without a backend the partition kinds are not
offered (nemesis.supported).
"""
import os
import signal
import subprocess
import time
from urllib.parse import urlsplit

from harness import BIN
from history import OK, Call
from nemesis import OrchestratorView
from netproxy import Proxy, route


def fixed_port_env(port):
    """The orchestrator's settings that let it be restarted where its clients expect it."""
    return {"ORCH_PORT": str(port)}


def netproxy_partitions():
    """A NetproxyPartitions over the run's RabbitMQ and ZooKeeper (RABBITMQ_URL, ZK_HOSTS). Pass
    its env_hook to the Stack (ApiStack's orch_env) and close() it after the stack has stopped."""
    amqp = urlsplit(os.environ["RABBITMQ_URL"])
    zk_host, zk_port = os.environ["ZK_HOSTS"].split(",")[0].rsplit(":", 1)
    return NetproxyPartitions({"mq": Proxy(amqp.hostname, amqp.port), "zk": Proxy(zk_host, zk_port)})


class NetproxyPartitions:
    """The partition backend over netproxy.Proxy objects, one per peer: {"zk": Proxy, "mq": Proxy}.
    The stack's processes must reach ZooKeeper and RabbitMQ through them: env_hook rewrites a
    stack's environment so (netproxy.route)."""

    def __init__(self, proxies):
        self.proxies = proxies

    def env_hook(self, env):
        route(env, self.proxies["mq"], self.proxies["zk"])

    def close(self):
        for p in self.proxies.values():
            p.close()

    def cut(self, pid, peer):
        p = self.proxies.get(peer)
        if p is None:
            return None
        p.cut(pid)
        return lambda: p.heal(pid)

    def heal_all(self):
        for p in self.proxies.values():
            p.heal()


class ProcessTarget(OrchestratorView):
    def __init__(self, stack, session_s, partitions=None, log=print):
        self.stack, self.session_s, self.partitions, self.log = stack, session_s, partitions, log
        self.call = Call(timeout=5, token=stack.db.env.get("ADMIN_TOKEN"))
        self.stopped = set()
        self.restarts = 0

    def can_partition(self):
        return self.partitions is not None

    @property
    def orch_port(self):
        return self.stack.db.port

    # ------------------------------------------------------------------ looking

    def _pid(self, who):
        kind, w = who
        return self.stack.db.proc.pid if kind == "orchestrator" else w["pid"]

    # ------------------------------------------------------------------ faults

    def kill(self, who):
        if who[0] == "orchestrator":
            self.stack.db.proc.kill()
            self.stack.db.proc.wait()
            return
        try:
            os.kill(who[1]["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass

    def pause(self, who):
        pid = self._pid(who)
        self.stopped.add(pid)
        os.kill(pid, signal.SIGSTOP)

    def resume(self, who):
        pid = self._pid(who)
        self._cont(pid)

    def _cont(self, pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self.stopped.discard(pid)

    def partition(self, who, peer):
        if self.partitions is None:
            return None
        return self.partitions.cut(self._pid(who), peer)

    def restart_orchestrator(self, timeout=30):
        """Starts the orchestrator again if it is not running; waits until it answers."""
        db = self.stack.db
        if db.proc.poll() is None:
            return "still running"
        db.proc = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=db.env,
                                   stdout=db.log, stderr=subprocess.STDOUT)
        self.restarts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if db.proc.poll() is not None:  # e.g. its port still held: start it again
                db.proc = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=db.env,
                                           stdout=db.log, stderr=subprocess.STDOUT)
            out, st, _ = self.call.request(db.port, "GET", "/api/v1/worker/list")
            if out == OK:
                return "restarted"
            time.sleep(0.1)
        return "restarted, not answering yet"

    def cleanup(self):
        """SIGCONT whatever is still stopped, heal every partition, and make sure an orchestrator
        runs (the stack's own stop() then stops it and its workers)."""
        for pid in list(self.stopped):
            self._cont(pid)
        if self.partitions is not None:
            self.partitions.heal_all()
        if self.stack.db is not None and self.stack.db.proc.poll() is not None:
            self.restart_orchestrator()

