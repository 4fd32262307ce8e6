#!/usr/bin/env python3
"""stream_failover.py — how long a RabbitMQ stream takes no confirmed writes after a kill -9
of the node that leads it, on the process-mode 3-node cluster (services/infra/localinfra.sh,
HA=1). It measures the broker alone, without the stack: what the master worker waits for when
its replication log loses its leader (docs/reliability-ha.md tells what a broker's kill cost the
container stack, and what this script found).

    bench/stream_failover.py [--trials N] [--kill leader|coordinator|other] [--how kill|blackhole]
                             [--publisher survivor|reconnect] [--advanced FILE] [--log] [--dir DIR]

Each trial starts a fresh cluster in DIR/tK (a killed HA node cannot be restarted in place),
declares a stream with three replicas through node 1 (so node 1 leads it, as the master's log
does: every client tries node 1 first), and waits until its three members are online. A
publisher then sends one persistent message every 20 ms with publisher confirms. Once confirms
flow, the chosen node is killed with SIGKILL:

    --kill leader       the node leading the stream (default; node 1, which also leads the
                        stream coordinator's Ra cluster on a fresh cluster)
    --kill coordinator  the node leading the stream coordinator
    --kill other        a node leading neither (if there is one)

    --how kill          a plain SIGKILL: on loopback the kernel resets the node's connections at
                        once, so the other nodes see it down at once (default)
    --how blackhole     first drop every packet of the node's distribution sockets (iptables on
                        lo), then SIGKILL: the other nodes see what a killed container looks like,
                        silence, and find it gone only by timeouts (the broker's advanced.config:
                        TCP_USER_TIMEOUT, net_setuptime). The script runs itself in a network
                        namespace of its own (unshare --net, as root) so the rules touch nothing
                        else; its AMQP clients still get resets, as the stack's did

    --publisher survivor   the publisher's connection is to a surviving node from the start
    --publisher reconnect  it is to the killed node and, once lost (or once the broker closes its
                           channel), is replaced at once by one to a survivor, again and again:
                           what the master worker does

    --advanced FILE     the nodes' advanced.config (localinfra.sh's RMQ_ADVANCED_CONFIG) instead
                        of services/infra/rabbitmq-advanced.config: to compare settings

The trial's figure is the time from the kill to the first confirm of a message sent after it;
also printed are the stream's and the coordinator's leaders before the kill, how many messages
sent before the kill were confirmed late or never, the publisher's connection events and, with
--log, the coordinator's and osiris's log lines of the surviving nodes around the kill (what
they did, and when). Every wait has a deadline; a trial whose stream gets no confirm within 60 s
of the kill reports that. The clusters are stopped by PID (localinfra.sh stop) whatever happens.
Not part of `make bench`; it needs pika (PyPI) and, for --how blackhole, root (unshare, iptables).
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

try:
    import pika  # from PyPI (pip install pika): not one of the project's dependencies
except ImportError:
    sys.exit("stream_failover.py needs pika: pip install pika")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LOCALINFRA = os.path.join(ROOT, "services", "infra", "localinfra.sh")
STREAM = "bench.failover.log"
PERIOD_S = 0.02          # one message every 20 ms
GAP_DEADLINE_S = 60.0    # a kill after which no confirm comes this long counts as "none"


def say(line):
    print(line, flush=True)


def read_env(d):
    with open(os.path.join(d, "env")) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def ctl(d, *args, timeout=30):
    """rabbitmqctl ARGS on the first live node of the cluster in d: its stdout."""
    out = subprocess.run([LOCALINFRA, "rabbitmqctl", d, *args], capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.stderr.strip()[-400:]}")
    return out.stdout


def params(env, k):
    url = env["RABBITMQ_URL"].split(",")[k - 1]
    p = pika.URLParameters(url)
    p.socket_timeout = 5
    p.blocked_connection_timeout = 10
    return p


def node_index(env, node):
    for k in (1, 2, 3):
        if env[f"RABBITMQ_NODE_{k}"] == node:
            return k
    raise RuntimeError(f"unknown node {node}")


def stream_status(d):
    """(leader node, [online nodes]) of the stream, from list_queues."""
    rows = json.loads(ctl(d, "list_queues", "name", "leader", "online", "--formatter", "json"))
    for r in rows:
        if r["name"] == STREAM:
            return r.get("leader"), r.get("online") or []
    return None, []


def coordinator_leader(d):
    out = ctl(d, "eval", "{ok, _, {_, L}} = ra:members({rabbit_stream_coordinator, node()}), L.")
    return out.strip().strip("'")


class Publisher(threading.Thread):
    """A confirm-mode publisher (pika's SelectConnection in its own thread): sends a message
    every PERIOD_S and keeps, for each, when it was sent and when (if) it was confirmed or
    nacked. It starts on first's node; a lost connection (or one whose channel the broker
    closed, as a channel that fails to reach the stream coordinator is) is replaced at once by
    one to then's node, again and again (as the master reconnects). Events are kept (and said)."""

    def __init__(self, first, then):
        super().__init__(daemon=True)
        self.first, self.then = first, then
        self.lock = threading.Lock()
        self.sent = {}        # seq -> time sent
        self.acked = {}       # seq -> time confirmed
        self.nacked = {}      # seq -> time nacked
        self.events = []      # (time, text)
        self.tag_to_seq = {}
        self.next_tag = 1
        self.seq = 0
        self.ch = None
        self.stopping = False
        self.conn = None

    def run(self):
        p = self.first
        while not self.stopping:
            self.conn = pika.SelectConnection(p, on_open_callback=self._opened,
                                              on_open_error_callback=lambda c, e: self._lost(f"open error {e}"),
                                              on_close_callback=lambda c, e: self._lost(f"connection closed {e}"))
            self.conn.ioloop.start()
            p = self.then
            if not self.stopping:
                time.sleep(0.05)

    def _event(self, text):
        with self.lock:
            self.events.append((time.monotonic(), text))

    def _lost(self, text):
        self._event(text)
        self.ch = None
        self.conn.ioloop.stop()

    def _opened(self, conn):
        self._event(f"connected to port {conn.params.port}")
        conn.channel(on_open_callback=self._channel)

    def _channel(self, ch):
        self.ch = ch
        self.next_tag = 1
        self.tag_to_seq = {}
        ch.add_on_close_callback(self._channel_closed)
        ch.confirm_delivery(ack_nack_callback=self._confirm)
        self.conn.ioloop.call_later(0, self._tick)

    def _channel_closed(self, ch, reason):
        self.ch = None
        self._event(f"channel closed: {reason}")
        if not self.stopping and self.conn.is_open:
            self.conn.close()

    def _tick(self):
        if self.stopping or self.ch is None or not self.ch.is_open:
            return
        self.seq += 1
        self.ch.basic_publish("", STREAM, str(self.seq).encode(),
                              pika.BasicProperties(delivery_mode=2))
        with self.lock:
            self.sent[self.seq] = time.monotonic()
            self.tag_to_seq[self.next_tag] = self.seq
        self.next_tag += 1
        self.conn.ioloop.call_later(PERIOD_S, self._tick)

    def _confirm(self, frame):
        now = time.monotonic()
        m = frame.method
        with self.lock:
            last = m.delivery_tag
            tags = [t for t in self.tag_to_seq if t <= last] if m.multiple else [last]
            into = self.acked if isinstance(m, pika.spec.Basic.Ack) else self.nacked
            for t in tags:
                s = self.tag_to_seq.pop(t, None)
                if s is not None:
                    into[s] = now

    def stop(self):
        self.stopping = True
        if self.conn:
            self.conn.ioloop.add_callback_threadsafe(self._close)
        self.join(10)

    def _close(self):
        if self.conn.is_open:
            self.conn.close()
        elif self.conn.is_closing:
            pass
        else:
            self.conn.ioloop.stop()

    def snapshot(self):
        with self.lock:
            return dict(self.sent), dict(self.acked), dict(self.nacked), list(self.events)


def wait_for(what, cond, deadline_s, step=0.1):
    t = time.monotonic() + deadline_s
    while time.monotonic() < t:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError(f"{what}: not within {deadline_s:.0f}s")


def log_lines_since(d, k, wall_t0, since_s=0.2):
    """The stream coordinator's and osiris's lines of node k's log written since_s before wall_t0
    (epoch seconds) or later, as (offset from wall_t0, text)."""
    env = read_env(d)
    node = env[f"RABBITMQ_NODE_{k}"]
    path = os.path.join(d, "rabbitmq", f"n{k}", "log", f"{node}.log")
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)([+-]\d\d:\d\d) \[(\w+)\] <[^>]*> (.*)", line)
                if not m or not re.search(r"stream_coordinator|osiris|ra: |leader|election|nodedown|node .* down",
                                          m.group(4)):
                    continue
                ts = time.mktime(time.strptime(m.group(1).split(".")[0], "%Y-%m-%d %H:%M:%S"))
                ts += float("0." + m.group(1).split(".")[1])
                if ts >= wall_t0 - since_s:
                    out.append((ts - wall_t0, f"[{m.group(3)}] {m.group(4)[:220]}"))
    except OSError:
        pass
    return out


def private_netns():
    """True when this process's network namespace has no interface but lo (unshare --net)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return all(line.split(":")[1].strip() == "lo" for line in out.splitlines() if line.strip())


def blackhole(pid, spare_port):
    """Drop, on lo, every TCP packet to or from the ports of pid's sockets but spare_port (its
    AMQP listener: clients still see their connections reset at once). Run before a SIGKILL,
    this makes the node vanish the way a killed container does: its peers get no FIN nor RST,
    their packets go unanswered, and connecting to its distribution port hangs. Only in a
    private network namespace (checked by the caller): the rules go with it."""
    out = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        local = line.split()[3]
        port = int(local.rsplit(":", 1)[1])
        if port != spare_port:
            ports.add(port)
    for port in sorted(ports):
        for flag in ("--sport", "--dport"):
            subprocess.run(["iptables", "-w", "-A", "OUTPUT", "-o", "lo", "-p", "tcp", flag, str(port), "-j", "DROP"],
                           check=True, capture_output=True)
    return sorted(ports)


def trial(d, kill_what, how, publisher):
    out = subprocess.run([LOCALINFRA, "start", d], env=dict(os.environ, HA="1"), capture_output=True,
                         text=True, timeout=240)
    if out.returncode != 0:
        raise RuntimeError(f"localinfra start: {out.stderr[-800:]}")
    env = read_env(d)
    c = pika.BlockingConnection(params(env, 1))
    ch = c.channel()
    ch.queue_declare(STREAM, durable=True, arguments={"x-queue-type": "stream", "x-initial-cluster-size": 3})
    c.close()
    leader, _ = wait_for("three online members", lambda: (lambda s: s if len(s[1]) == 3 else None)(stream_status(d)), 30, 0.3)
    coord = coordinator_leader(d)
    li, ci = node_index(env, leader), node_index(env, coord)
    if kill_what == "leader":
        victim = li
    elif kill_what == "coordinator":
        victim = ci
    else:
        others = [k for k in (1, 2, 3) if k not in (li, ci)]
        if not others:
            raise RuntimeError("no node leads neither")
        victim = others[0]
    survivor = next(k for k in (2, 3, 1) if k != victim)
    pub_node = victim if publisher == "reconnect" else survivor
    pub = Publisher(params(env, pub_node), params(env, survivor))
    pub.start()
    try:
        wait_for("confirms flow", lambda: len(pub.snapshot()[1]) >= 25, 20, 0.05)
        pid = int(env[f"RABBITMQ_PID_{victim}"])
        if how == "blackhole":
            blackhole(pid, int(env[f"RABBITMQ_PORT_{victim}"]))
        t_kill, wall_kill = time.monotonic(), time.time()
        os.kill(pid, signal.SIGKILL)

        def first_after():
            sent, acked, _, _ = pub.snapshot()
            later = [acked[s] for s in acked if sent[s] > t_kill]
            return min(later) if later else None
        try:
            t_first = wait_for("a confirm after the kill", first_after, GAP_DEADLINE_S, 0.01)
            gap = t_first - t_kill
        except RuntimeError:
            gap = None
        time.sleep(2)
        sent, acked, nacked, events = pub.snapshot()
    finally:
        pub.stop()
    before = [s for s in sent if sent[s] <= t_kill]
    late = sum(1 for s in before if s in acked and acked[s] > t_kill)
    lost = sum(1 for s in before if s not in acked and s not in nacked)
    fate = (f"{late} sent before the kill confirmed after it, {sum(1 for s in nacked)} nacked, "
            f"{lost} sent before it never confirmed")
    res = {"leader": li, "coordinator": ci, "victim": victim, "publisher": pub_node, "gap": gap, "fate": fate,
           "events": [(round(t - t_kill, 3), e) for t, e in events]}
    res["log"] = {k: log_lines_since(d, k, wall_kill) for k in (1, 2, 3) if k != victim}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--kill", choices=("leader", "coordinator", "other"), default="leader")
    ap.add_argument("--dir", default="/tmp/stream-failover")
    ap.add_argument("--how", choices=("kill", "blackhole"), default="kill",
                    help="blackhole: the node's distribution traffic is dropped as it dies (a killed container)")
    ap.add_argument("--publisher", choices=("survivor", "reconnect"), default="survivor",
                    help="reconnect: publish through the killed node, then through a survivor (as the master)")
    ap.add_argument("--advanced", help="the nodes' advanced.config instead of the project's")
    ap.add_argument("--log", action="store_true", help="print the surviving nodes' coordinator lines")
    a = ap.parse_args()
    if a.advanced:
        os.environ["RMQ_ADVANCED_CONFIG"] = os.path.abspath(a.advanced)
    if a.how == "blackhole" and not private_netns():
        # A namespace of our own, with only lo: the iptables rules touch nothing else, and go with it.
        os.execvp("unshare", ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                              sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
    gaps = []
    for n in range(1, a.trials + 1):
        d = os.path.join(a.dir, f"t{n}")
        if os.path.exists(os.path.join(d, "ports")):
            subprocess.run([LOCALINFRA, "stop", d], capture_output=True, timeout=180)
            subprocess.run(["rm", "-rf", d])
        try:
            r = trial(d, a.kill, a.how, a.publisher)
        finally:
            subprocess.run([LOCALINFRA, "stop", d], capture_output=True, timeout=180)
        g = f"{r['gap']:.2f}s" if r["gap"] is not None else f"none within {GAP_DEADLINE_S:.0f}s"
        say(f"trial {n}: stream leader node {r['leader']}, coordinator leader node {r['coordinator']}, "
            f"killed node {r['victim']}, publisher on node {r['publisher']}: first confirm after the kill {g}; {r['fate']}")
        for t, e in r["events"]:
            say(f"  publisher {t:+.3f}s {e}")
        if a.log:
            for k, lines in r["log"].items():
                for t, text in lines:
                    say(f"  node {k} {t:+.3f}s {text}")
        gaps.append(r["gap"] if r["gap"] is not None else GAP_DEADLINE_S)
    conf = a.advanced or "services/infra/rabbitmq-advanced.config"
    say(f"# {a.how} of the {a.kill} node (publisher: {a.publisher}; advanced.config {conf}), {len(gaps)} trials: first confirm after "
        + ", ".join(f"{g:.2f}" for g in gaps) + f" s (median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s)")


if __name__ == "__main__":
    main()
