#!/usr/bin/env python3
"""test_partition.py — availability and safety under partitions, pauses and kills.

Every test runs a stack of its own (processes, loopback) whose orchestrator and workers reach RabbitMQ
and ZooKeeper through two proxies (tests/lib/netproxy.py), so that one process can be cut off from one
server while everything else goes on: behind the cut, nothing passes and nothing is closed, like a
network that drops packets. Writers write unique rides without pause; one fault is injected; then:

  - writes are acknowledged again within 10 s WHILE the fault lasts: the first acknowledgement of a
    write sent after the fault began comes within the bound, and writes go on being acknowledged until
    the fault is healed (held for a few seconds after they resumed);
  - after the fault is healed and the stack has settled, every acknowledged write is on every replica
    exactly once, the replicas hold the same rides, and no acknowledgement came from a deposed master:
    the epochs of the acknowledgements never go back in time (an acknowledgement from epoch e for a
    write sent after a write from a later epoch was acknowledged would have come from a replaced
    master; db/write answers carry the epoch of the master that applied them).

The faults: the master cut from ZooKeeper only; the master cut from RabbitMQ only; the orchestrator cut
from ZooKeeper; a slave cut from the log (RabbitMQ); the master frozen (SIGSTOP) past its ZooKeeper
session, then let go (SIGCONT); kill -9 of a slave and of the master. The ZooKeeper session is the
production default (4 s), not the harness's shorter one, so the times measured are the real ones; each
test prints them ("# partition: ...").

Everything a test changes is undone in a finally: cuts healed, stopped processes continued, proxies
closed, the stack stopped.
"""
import os
import signal
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import Stack, Suite, check, pid_alive, wait_for  # noqa: E402
from netproxy import Proxy, route  # noqa: E402
from ops import ride, user  # noqa: E402
from replicas import check_replicas  # noqa: E402
from workers import designated, worker_list  # noqa: E402

suite = Suite("partition")
BOUND_S = 10.0        # writes acknowledged again within this, while the fault lasts
HOLD_S = 3.0          # the fault is held this long after writes resumed
SESSION_MS = 4000     # the production default (ZK_SESSION_MS)


class Net:
    """The two proxies a stack is routed through, and its environment rewritten to use them."""

    def __init__(self):
        amqp = urlsplit(os.environ["RABBITMQ_URL"])
        zk_host, zk_port = os.environ["ZK_HOSTS"].split(",")[0].rsplit(":", 1)
        self.amqp = Proxy(amqp.hostname, amqp.port)
        self.zk = Proxy(zk_host, zk_port)

    def hook(self, env):
        route(env, self.amqp, self.zk)

    def heal(self):
        self.amqp.heal()
        self.zk.heal()

    def close(self):
        self.amqp.close()
        self.zk.close()


class History:
    """Writers of unique rides; every operation with its invoke and complete times and its outcome."""

    def __init__(self, client, threads=6):
        self.client, self.stop, self.lock = client, threading.Event(), threading.Lock()
        self.ops = []        # (ts, invoked, completed, status, epoch)
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, k):
        i = 0
        while not self.stop.is_set():
            ts = (k + 1) * 10_000_000 + i
            i += 1
            invoked = time.monotonic()
            try:
                st, body = self.client.write(ride(ts))
            except Exception:  # a broken connection: unknown outcome
                st, body = -1, None
            epoch = body.get("epoch") if st == 200 and isinstance(body, dict) else None
            with self.lock:
                self.ops.append((ts, invoked, time.monotonic(), st, epoch))
            if st != 200:
                time.sleep(0.05)  # a refusal comes at once while nobody takes writes: do not spin

    def acked(self):
        with self.lock:
            return [o for o in self.ops if o[3] == 200]

    def acks_between(self, a, b):
        return [o for o in self.acked() if a <= o[2] <= b]

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            check(not t.is_alive(), "a writer hangs")


def settled(s, n_workers):
    """n_workers are live and all ready (the master: taking writes), as the status says."""
    try:
        st, body = s.client.request("GET", "/api/v1/status", timeout=5)
    except OSError:
        return False
    if st != 200:
        return False
    ws = body.get("workers", [])
    return len(ws) == n_workers and all(w.get("state") == "ready" for w in ws)


def check_history(s, h):
    """Every acknowledged write once on every live replica, the replicas alike, epochs never going back."""
    acked = h.acked()
    rows = check_replicas(s, {o[0] for o in acked})
    # No acknowledgement from a deposed master: sweeping the writes by the time they were sent, none
    # carries an epoch older than one already acknowledged before it was sent.
    check(all(o[4] for o in acked), "an acknowledgement without its epoch")
    done = sorted((o[2], o[4]) for o in acked)
    newest, k, stale = 0, 0, []
    for o in sorted(acked, key=lambda o: o[1]):
        while k < len(done) and done[k][0] < o[1]:
            newest = max(newest, done[k][1])
            k += 1
        if o[4] < newest:
            stale.append(o)
    check(not stale, f"{len(stale)} acknowledgements from a deposed master, e.g. {stale[:3]} (newest epoch {newest})")
    return rows


def outage(h, t0, t1):
    """The longest stretch of [t0, t1] in which no write was acknowledged, and when it ended (both in
    seconds, the end from t0)."""
    marks = [t0] + sorted(o[2] for o in h.acks_between(t0, t1)) + [t1]
    gap, end = max((b - a, b) for a, b in zip(marks, marks[1:]))
    return gap, end - t0


def run_fault(name, inject, heal, reacted=None, hold=HOLD_S, expect_log=None, after=None, slaves=2):
    """One fault under load (see the top of the file). inject(s, net) starts it and returns what it hit
    (for the report); reacted(s): the stack has done what this fault calls for (a new master, a
    replaced slave), awaited within the bound; the fault is then held hold seconds more before
    heal(s, net) ends it; expect_log: a line the orchestrator's log must show by then; after(s, net, h):
    more checks once healed and settled."""
    net = Net()
    s = None
    healed = False
    try:
        s = Stack(f"part-{name}", env_hook=net.hook, INITIAL_SLAVES=slaves, ZK_SESSION_MS=SESSION_MS)
        check(s.client.write(user("owner"))[0] == 200, "owner")
        wait_for(lambda: settled(s, 1 + slaves), 30, "the stack to be ready")
        h = History(s.client)
        try:
            wait_for(lambda: len(h.acked()) >= 200, 30, "writes to flow")
            _, _, epoch = designated(s)
            t0 = time.monotonic()
            what = inject(s, net)
            if reacted:
                wait_for(lambda: reacted(s), BOUND_S + 5, "the stack to react to the fault")
            react = time.monotonic() - t0
            time.sleep(hold)  # writes go on being acknowledged while the fault lasts
            t1 = time.monotonic()
            gap, back = outage(h, t0, t1)
            check(gap <= BOUND_S, f"no write acknowledged for {gap:.1f}s during the fault (bound {BOUND_S}s)")
            after_react = h.acks_between(t0 + react, t1)
            check(len(after_react) >= 20, f"only {len(after_react)} writes acknowledged in the {t1 - t0 - react:.1f}s "
                                          "after the stack reacted, the fault still on")
            if expect_log:
                check(expect_log in s.log_text(), f"the orchestrator's log does not show \"{expect_log}\"")
            heal(s, net)
            healed = True
            wait_for(lambda: settled(s, 1 + slaves), 30, "the stack to settle after the fault")
            time.sleep(0.5)  # writes after the heal, too
        finally:
            h.finish()
        rows = check_history(s, h)
        if after:
            after(s, net, h)
        _, _, new_epoch = designated(s)
        print(f"# partition: {name} ({what}): longest stretch without an acknowledged write {gap:.2f}s, "
              f"ending {back:.2f}s after the fault began (bound {BOUND_S:.0f}s); fault held {t1 - t0:.1f}s; "
              f"epoch {epoch} -> {new_epoch}; {len(h.acked())} of {len(h.ops)} writes acknowledged, "
              f"{rows} rows on every replica", flush=True)
    finally:
        if not healed and s is not None:
            try:
                heal(s, net)
            except Exception:
                pass
        net.heal()
        if s is not None:
            s.stop()
        net.close()


def failed_over(s):
    """reacted() of a fault that costs the master: a new one took writes."""
    return "failover done" in s.log_text()


def slave_replaced(hit, slaves=2):
    """reacted() of a fault that costs the slave hit["pid"]: it is gone and its replacement ready."""
    return lambda s: hit["pid"] not in worker_list(s) and settled(s, 1 + slaves)


def master_pid(s):
    return designated(s)[1]


def a_slave_pid(s):
    m = master_pid(s)
    return max(p for p in worker_list(s) if p != m)


def cut(server, who, hit):
    """inject(): cuts the process who(s) names off from server ("zk" or "amqp"); its PID goes in hit."""
    def inject(s, net):
        hit["pid"] = who(s)
        getattr(net, server).cut(hit["pid"])
        return f"{who.__name__} {hit['pid']}"
    return inject


def signal_to(sig, who, hit):
    """inject(): sends sig to the process who(s) names; its PID goes in hit."""
    def inject(s, net):
        hit["pid"] = who(s)
        os.kill(hit["pid"], sig)
        return f"{who.__name__} {hit['pid']}"
    return inject


def orchestrator_pid(s):
    return s.proc.pid


def heal(s, net):
    net.heal()


@suite.test
def master_cut_from_zookeeper_only():
    """It keeps RabbitMQ: its session expires, a new master is elected, and the old one stops taking
    writes (its fence, a third of a session before the expiry) so the new one gets writeQ."""
    run_fault("master-zk", cut("zk", master_pid, {}), heal, reacted=failed_over,
              expect_log="its ZooKeeper znode vanished")


@suite.test
def master_cut_from_rabbitmq_only():
    """It keeps its ZooKeeper session: without the broker-lost rule nobody would replace it."""
    run_fault("master-mq", cut("amqp", master_pid, {}), heal, reacted=failed_over,
              expect_log="cut off from the message broker")


@suite.test
def orchestrator_cut_from_zookeeper():
    """The workers keep their sessions and the orchestrator its epoch: writes go on through the master,
    for two sessions and more (the orchestrator's own expires meanwhile; it opens a new one once
    healed)."""
    def after(s, net, h):
        wait_for(lambda: "zk session expired; opening a new one" in s.log_text(), 15,
                 "the orchestrator to renew its session")
        check("failover" not in s.log_text(), "a failover while only the orchestrator was cut off")

    run_fault("orch-zk", cut("zk", orchestrator_pid, {}), heal, hold=2 * SESSION_MS / 1000 + 1, after=after)


@suite.test
def slave_cut_from_the_log():
    """The writes never wait for a slave; the slave that cannot follow the log is replaced."""
    hit = {}
    run_fault("slave-mq", cut("amqp", a_slave_pid, hit), heal, reacted=slave_replaced(hit),
              expect_log="cut off from the message broker")


@suite.test
def master_frozen_past_its_session_then_continued():
    """SIGSTOP longer than the session: replaced; once continued it acknowledges nothing (the
    orchestrator killed it, or its fence and the epoch check hold)."""
    hit = {}

    def heal(s, net):
        if pid_alive(hit["pid"]):
            os.kill(hit["pid"], signal.SIGCONT)

    def after(s, net, h):
        check(not pid_alive(hit["pid"]) or hit["pid"] not in worker_list(s), "the frozen master is still a worker")

    try:
        run_fault("sigstop", signal_to(signal.SIGSTOP, master_pid, hit), heal, reacted=failed_over, after=after)
    finally:
        if hit.get("pid") and pid_alive(hit["pid"]):
            os.kill(hit["pid"], signal.SIGCONT)


@suite.test
def kill9_of_a_slave_and_of_the_master():
    hit = {}
    run_fault("kill9-slave", signal_to(signal.SIGKILL, a_slave_pid, hit), heal, reacted=slave_replaced(hit))
    run_fault("kill9-master", signal_to(signal.SIGKILL, master_pid, {}), heal, reacted=failed_over)


if __name__ == "__main__":
    suite.run()
