"""nemesis.py — faults injected at random under load, each healed after a random time.

One fault at a time: the nemesis sleeps a random gap, picks a kind at random among those the
target supports, injects it, waits a random time, heals it, and records both ends in the history
(history.py), so the checker can measure availability per kind of fault. The kinds:

  kill-worker           SIGKILL of a random worker (the orchestrator replaces it, or fails over)
  kill-orchestrator     SIGKILL of the orchestrator; healed by starting it again (the process
                        target does that; compose's restart policy does it for containers)
  crash-master          POST /api/v1/crash/master (the contract's crash route)
  promote               POST /api/v1/promote of a ready slave (a planned switchover)
  pause-master          SIGSTOP of the master for longer than the ZooKeeper session, then SIGCONT
  pause-orchestrator    the same for the orchestrator
  partition-master-zk   the master cut off from ZooKeeper only (it keeps RabbitMQ)
  partition-master-mq   the master cut off from RabbitMQ only (it keeps ZooKeeper)
  partition-orch-zk     the orchestrator cut off from ZooKeeper
  partition-slave-mq    a slave cut off from RabbitMQ (the log)
  kill-broker           (HA targets) SIGKILL of one RabbitMQ node of the cluster, chosen at random,
                        started again when the fault's time is up
  kill-zk               (HA targets) the same for one ZooKeeper server of the ensemble

With the HA pair of orchestrators the target acts on the active one (kill, pause, partition)
and asks the active one (admin, workers); a killed one is started again on heal (a standby then).

A target is the stack under test, seen through a small interface (nemesis_process.py,
nemesis_docker.py): workers() (the orchestrator's status: id, pid, role, state), kill(who),
pause(who) / resume(who), partition(who, peer) -> heal function or None (None: that target has
no partition backend), restart_orchestrator(), admin(method, path, body), session_s, cleanup();
an HA target also can_kill_infra() -> True, kill_node(peer, rng) -> the node killed,
start_node(node) -> note, and wait_ready() -> note: after each fault the nemesis waits for it
(every node back and healthy, an active orchestrator), so that the next fault is again a single
one.
`who` is ("worker", worker dict) or ("orchestrator", None) — with a pair, ("orchestrator", the
active one's service name), from the target's active_orchestrator().

A fault's recorded start is the moment its injection has taken effect (the kill sent, the pause
or the firewall rules in place); a promote's is when it was asked for. Everything a fault changes
has its heal registered before the fault is injected, so heal_all()
undoes whatever is still in effect — on the normal path, after an exception, or after SIGINT /
SIGTERM turned into an exception (apistack.install_signal_handlers); then target.cleanup()
sweeps by label and PID whatever a crash of this process might have left (paused containers,
stopped processes, firewall rules).
"""
import random
import threading
import time

KINDS = ["kill-worker", "kill-orchestrator", "crash-master", "promote", "pause-master", "pause-orchestrator",
         "partition-master-zk", "partition-master-mq", "partition-orch-zk", "partition-slave-mq",
         "kill-broker", "kill-zk"]
PARTITIONS = {"partition-master-zk": ("master", "zk"), "partition-master-mq": ("master", "mq"),
              "partition-orch-zk": ("orchestrator", "zk"), "partition-slave-mq": ("slave", "mq")}
INFRA_KILLS = {"kill-broker": "mq", "kill-zk": "zk"}


class Skip(Exception):
    """The fault cannot be injected now (no slave to promote, the orchestrator is down...)."""


class Nemesis:
    def __init__(self, target, history, kinds=None, seed=None, gap_s=(1.0, 4.0), duration_s=(2.0, 8.0),
                 log=print):
        self.t, self.h = target, history
        self.kinds = supported(target, [k for k in (kinds or KINDS) if k in KINDS])
        self.rng = random.Random(seed)
        self.gap_s, self.duration_s = gap_s, duration_s
        self.log = log
        self.pending = []  # heal functions of faults in effect, newest last
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = None
        self.skipped = {}

    # ---------------------------------------------------------------- the loop

    def start(self, until_s):
        self.thread = threading.Thread(target=self._run, args=(time.monotonic() + until_s,), daemon=True)
        self.thread.start()

    def stop(self, timeout=120):
        self.stop_ev.set()
        if self.thread:
            self.thread.join(timeout)
        self.heal_all()

    def _run(self, end):
        try:
            while not self.stop_ev.is_set():
                if self.stop_ev.wait(self.rng.uniform(*self.gap_s)) or time.monotonic() > end:
                    break
                kind = self.rng.choice(self.kinds)
                try:
                    self.one(kind, min(self.rng.uniform(*self.duration_s), max(0.5, end - time.monotonic())))
                except Skip as e:
                    self.skipped[kind] = self.skipped.get(kind, 0) + 1
                    self.log(f"# nemesis: {kind} skipped: {e}")
                    self.heal_all()  # what was registered before the skip (nothing took effect)
                except Exception as e:  # a fault that could not be injected is reported, not fatal
                    self.skipped[kind] = self.skipped.get(kind, 0) + 1
                    self.log(f"# nemesis: {kind} failed to inject: {type(e).__name__}: {e}")
                    self.heal_all()
        finally:
            self.heal_all()

    def one(self, kind, duration):
        """Injects one fault of kind, keeps it duration seconds (at least what the kind needs),
        heals it."""
        if kind in ("pause-master", "pause-orchestrator"):
            duration = max(duration, 1.5 * self.t.session_s + self.rng.uniform(0, self.t.session_s))
        rec, heal = self._inject(kind)
        self.log(f"# nemesis: {kind} {rec['target']} {rec['detail']} for {duration:.1f}s")
        self.stop_ev.wait(duration)
        note = ""
        if heal is not None:
            note = self._heal(heal) or ""
        self.h.fault_end(rec, note)
        ready = getattr(self.t, "wait_ready", None)
        if ready is not None and not self.stop_ev.is_set():
            t0 = time.monotonic()
            what = ready()
            if what:
                self.log(f"# nemesis: {kind} over ({note}); {what} {time.monotonic() - t0:.1f}s later")

    def _register(self, heal):
        with self.lock:
            self.pending.append(heal)
        return heal

    def _heal(self, heal):
        with self.lock:
            if heal in self.pending:
                self.pending.remove(heal)
            else:
                return None
        return heal()

    def heal_all(self):
        with self.lock:
            todo, self.pending = list(reversed(self.pending)), []
        for heal in todo:
            try:
                heal()
            except Exception as e:
                self.log(f"# nemesis: heal failed: {type(e).__name__}: {e}")

    # ---------------------------------------------------------------- the faults

    def _pick(self, role):
        ws = self.t.workers()
        if ws is None:
            raise Skip("the orchestrator does not answer")
        if role == "any":
            pool = ws
        else:
            pool = [w for w in ws if w["role"] == role]
        if not pool:
            raise Skip(f"no {role} worker")
        return self.rng.choice(pool)

    def _orchestrator(self):
        """("orchestrator", None), or with a pair ("orchestrator", the active one's name)."""
        active = getattr(self.t, "active_orchestrator", None)
        if active is None:
            return ("orchestrator", None)
        name = active()
        if name is None:
            raise Skip("no orchestrator is active")
        return ("orchestrator", name)

    def _inject(self, kind):
        t = self.t
        if kind == "kill-worker":
            w = self._pick("any")
            t.kill(("worker", w))
            return self.h.fault_start(kind, f"{w['role']} {w['id']}", f"pid {w['pid']}"), None
        if kind == "kill-orchestrator":
            who = self._orchestrator()
            heal = self._register(lambda: t.restart_orchestrator())
            t.kill(who)
            return self.h.fault_start(kind, _name(who), ""), heal
        if kind == "crash-master":
            st, body = t.admin("POST", "/api/v1/crash/master", None)
            if st is None:
                raise Skip("the orchestrator does not answer")
            return self.h.fault_start(kind, "master", f"answer {st} {body}"), None
        if kind == "promote":
            ws = t.workers()
            slaves = [w for w in ws or [] if w["role"] == "slave" and w.get("state") == "ready"]
            if not slaves:
                raise Skip("no ready slave")
            w = self.rng.choice(slaves)
            rec = self.h.fault_start(kind, f"slave {w['id']}", "")
            st, body = t.admin("POST", "/api/v1/promote", {"id": w["id"]})
            rec["detail"] = f"answer {st} {body}"
            return rec, None
        if kind in ("pause-master", "pause-orchestrator"):
            who = ("worker", self._pick("master")) if kind == "pause-master" else self._orchestrator()
            heal = self._register(lambda: t.resume(who))
            t.pause(who)
            return self.h.fault_start(kind, _name(who), ""), heal
        if kind in PARTITIONS:
            role, peer = PARTITIONS[kind]
            who = self._orchestrator() if role == "orchestrator" else ("worker", self._pick(role))
            holder = []
            # Registered before the cut: a heal that runs before the cut is made undoes nothing.
            heal = self._register(lambda: holder[0]() if holder else None)
            undo = t.partition(who, peer)
            if undo is None:
                self._heal(heal)
                raise Skip("no partition backend for this target")
            holder.append(undo)
            return self.h.fault_start(kind, _name(who), f"from {peer}"), heal
        if kind in INFRA_KILLS:
            holder = []
            heal = self._register(lambda: t.start_node(holder[0]) if holder else None)
            holder.append(t.kill_node(INFRA_KILLS[kind], self.rng))
            return self.h.fault_start(kind, holder[0], "SIGKILL"), heal
        raise ValueError(f"unknown fault kind {kind}")


class OrchestratorView:
    """admin() and workers() over the orchestrator's admin API, for a target that has a Call
    (history.Call) in self.call and the orchestrator's port in self.orch_port."""

    def admin(self, method, path, body):
        """(status, parsed JSON), or (None, None) when the orchestrator does not answer."""
        _, st, parsed = self.call.request(self.orch_port, method, path, body)
        return (st, parsed) if st is not None else (None, None)

    def workers(self):
        """The live, non-retiring workers of GET /api/v1/status: id, pid, role, state; None when
        the orchestrator does not answer."""
        st, body = self.admin("GET", "/api/v1/status", None)
        if st != 200 or not isinstance(body, dict):
            return None
        return [{"id": w["id"], "pid": w["pid"], "role": w["role"], "state": w.get("state")}
                for w in body.get("workers", []) if not w.get("retiring")]


def _name(who):
    kind, w = who
    if kind == "orchestrator":
        return w or "orchestrator"
    return f"{w['role']} {w['id']}"


def supported(target, kinds):
    """The kinds target can inject (partitions only with a partition backend, kills of RabbitMQ
    and ZooKeeper nodes only where there are several)."""
    infra = getattr(target, "can_kill_infra", lambda: False)()
    return [k for k in kinds
            if (k not in PARTITIONS or target.can_partition()) and (k not in INFRA_KILLS or infra)]
