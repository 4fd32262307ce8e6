#!/usr/bin/env python3
"""test_ha_brokers.py — the stack on a 3-node RabbitMQ cluster and a 3-server ZooKeeper ensemble
keeps taking writes when one node of each is killed, and loses nothing.

The test starts its own HA infrastructure (services/infra/localinfra.sh with HA=1: free loopback
ports, a directory of its own, stopped by PID at the end), and on it the whole stack of
apistack.ApiStack (gateway, users, rides, orchestrator, a master and two slaves) with every
broker setting a list of the three nodes and MQ_REPLICAS=3 (writeQ and readQ quorum queues, the
log a stream with three replicas). Eight writers and four readers (tests/lib/workload.py) run
throughout, half through the gateway and half through the DB API. Then:
  1. kill -9 the RabbitMQ node the master's connections use (every client starts on the first
     node of its list, so it is the node most connections are lost with), and measure how long
     until a write sent after the kill is acknowledged (must be within 10 s);
  2. once writes flow again, kill -9 the ZooKeeper server that leads the ensemble (every session
     then moves, and the ensemble elects a new leader), and measure the same;
  3. with that server still down, scale to four slaves: every new worker must register and become
     ready (a session whose first try hit the dead server once lost its identity, and the worker
     exited on its first read, "not authenticated": common/zk/zk.c, add_auths).
At the end the load stops, the stack settles, and the checker (tests/lib/checker.py) judges the
history and every replica's file: every acknowledged write present exactly once on every replica,
no read missed a write acknowledged before it started, replicas identical (and the rest of its
properties). The measured times are printed ("# ... acknowledged again after X s").
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness

import checker  # noqa: E402
import runner  # noqa: E402
from apistack import ApiStack, install_signal_handlers  # noqa: E402
from harness import LOCALINFRA, TMP, pid_alive  # noqa: E402
from history import OK, History  # noqa: E402
from workload import Workload  # noqa: E402

SUITE = "ha_brokers"
RESUME_S = 10.0      # writes acknowledged again within this after a node is killed
FLOWING = 20         # acknowledgements that show writes flow (before a kill, and between kills)


def say(line):
    print(line, flush=True)


def start_infra(d):
    """HA=1 localinfra.sh start d: {KEY: value} of its env file."""
    t0 = time.monotonic()
    out = subprocess.run([LOCALINFRA, "start", d], env=dict(os.environ, HA="1"), capture_output=True,
                         text=True, timeout=240)
    if out.returncode != 0:
        raise AssertionError(f"HA infrastructure did not start: {out.stderr[-1500:]}")
    with open(os.path.join(d, "env")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    say(f"# HA infrastructure (3 RabbitMQ nodes clustered, 3 ZooKeeper servers) up in {time.monotonic() - t0:.1f}s")
    return env


def zk_mode(port):
    """leader, follower, or None: what ZooKeeper's srvr says of the server on port."""
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2) as s:
            s.sendall(b"srvr")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    m = re.search(rb"Mode: (\w+)", data)
    return m and m.group(1).decode()


def acked_after(history, t):
    """Seconds from wall-clock t to the first acknowledgement of a write invoked after t, or None."""
    done = [op.complete for op in list(history.ops)
            if op.is_write() and op.outcome == OK and op.invoke > t and op.complete]
    return min(done) - t if done else None


def wait_flowing(history, t, timeout):
    """Until FLOWING writes invoked after t are acknowledged and 3 s have passed (more history to
    judge), or timeout seconds; whether enough were."""
    end, least = time.monotonic() + timeout, time.monotonic() + 3
    while (acks_since(history, t) < FLOWING or time.monotonic() < least) and time.monotonic() < end:
        time.sleep(0.1)
    return acks_since(history, t) >= FLOWING


def acks_since(history, t):
    return sum(1 for op in list(history.ops) if op.is_write() and op.outcome == OK and op.invoke > t)


def master_broker(stack):
    """The port of the RabbitMQ node the current master last connected to (its log lines)."""
    st, body = stack.db.client.request("GET", "/api/v1/status")
    master = body.get("master") if st == 200 and isinstance(body, dict) else None
    if not master:
        return None
    ports = re.findall(rf"worker-{re.escape(master)}\s+amqp connected broker=127\.0\.0\.1:(\d+)",
                       stack.db.log_text())
    return ports[-1] if ports else None


def kill_and_measure(history, what, pid):
    """kill -9 pid; the seconds until a write sent after it is acknowledged (None: not within
    3 x RESUME_S)."""
    rec = history.fault_start(what, str(pid))
    t = time.time()
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 3 * RESUME_S
    took = None
    while time.monotonic() < end and took is None:
        time.sleep(0.05)
        took = acked_after(history, t)
    history.fault_end(rec)
    say(f"# {what}: writes acknowledged again after {took:.2f}s" if took is not None
        else f"# {what}: no write acknowledged within {3 * RESUME_S:.0f}s")
    return took


def kill_and_judge(history, which, what, pid):
    """kill_and_measure, then the verdict line: 0 if writes came back within RESUME_S, else 1."""
    took = kill_and_measure(history, what, pid)
    if took is None or took > RESUME_S:
        say(f"not ok {SUITE}: writes acknowledged within {RESUME_S:.0f}s of {which}'s kill ({took})")
        return 1
    say(f"ok {SUITE}: writes acknowledged within {RESUME_S:.0f}s of {which}'s kill ({took:.2f}s)")
    return 0


def scale_with_a_server_down(stack, slaves):
    """POST /api/v1/scale to slaves; every worker must be ready within 90 s, none may have failed
    to start, and no log line may say "not authenticated". 0 or 1 (the verdict is printed)."""
    log_before = len(stack.db.log_text())
    st, body = stack.db.client.request("POST", "/api/v1/scale", {"slaves": slaves})
    ws, end = [], time.monotonic() + 90
    while st == 200 and time.monotonic() < end:
        s, b = stack.db.client.request("GET", "/api/v1/status")
        ws = [w for w in (b or {}).get("workers", []) if not w.get("retiring")] if s == 200 else []
        if len(ws) == slaves + 1 and all(w.get("state") == "ready" for w in ws):
            break
        time.sleep(0.2)
    s, b = stack.db.client.request("GET", "/api/v1/status")
    starts = (b or {}).get("worker_starts") or {} if s == 200 else {}
    text = stack.db.log_text()[log_before:]
    refused = text.count("not authenticated")
    say(f"# {text.count('identity added between connection attempts')} sessions of the new workers had "
        f"their identity refused once between connection attempts (and added again)")
    ok = (st == 200 and len(ws) == slaves + 1 and all(w.get("state") == "ready" for w in ws)
          and not starts.get("failures") and not refused)
    say(f"{'ok' if ok else 'not ok'} {SUITE}: {slaves - 2} new workers register with a ZooKeeper server down "
        f"(scale {st}, {len(ws)} workers {[w.get('state') for w in ws]}, start failures "
        f"{starts.get('failures')}, {refused} 'not authenticated')")
    return 0 if ok else 1


class Target:
    """What runner.settle needs of the stack: its admin API."""

    def __init__(self, stack):
        self.stack = stack

    def admin(self, method, path, body):
        return self.stack.db.client.request(method, path, body)


def main():
    install_signal_handlers()
    failed = 0
    d = os.path.join(TMP, f"ha-brokers-{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    infra_dir = os.path.join(d, "infra")
    stack = load = None
    pids = []
    try:
        infra = start_infra(infra_dir)
        pids = [int(v) for k, v in infra.items() if re.fullmatch(r"(RABBITMQ|ZK)_PID_\d|EPMD_PID", k) and v.isdigit()]
        # The Stack's vhost and URLs come from this infrastructure (harness.make_vhost, Stack).
        os.environ.update(INFRA_DIR=infra_dir, RABBITMQ_URL=infra["RABBITMQ_URL"], ZK_HOSTS=infra["ZK_HOSTS"])
        stack = ApiStack("ha-brokers", orch_env={"INITIAL_SLAVES": 2, "MQ_REPLICAS": infra["MQ_REPLICAS"],
                                                   "SCALE_WINDOW_S": 3600})
        history = History()
        load = Workload(history, stack.gw_port, stack.db.port, f"ha{os.getpid() % 100000}", writers=8,
                        readers=4, timeout=15.0, token=stack.db.env.get("ADMIN_TOKEN"))
        load.create_owner()
        load.start()
        if not wait_flowing(history, time.time(), 60):
            raise AssertionError("writes do not flow on the HA infrastructure")
        say(f"ok {SUITE}: writes flow on 3 RabbitMQ nodes and 3 ZooKeeper servers (quorum writeQ)")

        # 1. The RabbitMQ node the master's connections use.
        port = master_broker(stack)
        k = next((i for i in (1, 2, 3) if infra[f"RABBITMQ_PORT_{i}"] == port), 1)
        failed += kill_and_judge(history, "a RabbitMQ node", f"kill -9 RabbitMQ node {k} (the master's, port {port})",
                                 int(infra[f"RABBITMQ_PID_{k}"]))
        wait_flowing(history, time.time(), 60)

        # 2. The ZooKeeper leader.
        modes = {i: zk_mode(infra[f"ZK_PORT_{i}"]) for i in (1, 2, 3)}
        z = next((i for i, m in modes.items() if m == "leader"), 1)
        failed += kill_and_judge(history, "a ZooKeeper server", f"kill -9 ZooKeeper server {z} ({modes[z]})",
                                 int(infra[f"ZK_PID_{z}"]))
        wait_flowing(history, time.time(), 30)
        load.stop()

        # 3. New workers while that ZooKeeper server is still down: each must register (a session
        #    that first tried the dead server once came up without its identity, and the worker
        #    exited on its first read, "not authenticated").
        failed += scale_with_a_server_down(stack, 4)

        # The verdicts, on what is left: two RabbitMQ nodes, two ZooKeeper servers.
        ws = runner.settle(Target(stack), 90)
        if ws is None:
            failed += 1
            say(f"not ok {SUITE}: the stack settles after the kills (a ready master, every worker at its seq)")
            st, body = stack.db.client.request("GET", "/api/v1/status")
            ws = [w for w in (body or {}).get("workers", [])] if st == 200 else []
        reps = runner.read_replicas(ws, lambda w: stack.db.db_path(w["id"]))
        verdicts, stats = checker.check(history, reps, stack.db.log_text().splitlines())
        say(f"# {stats['ops']} operations: {stats['acked']} writes acknowledged, {stats['failed']} failed, "
            f"{stats['unknown']} unknown ({stats['unknown_present']} applied), {stats['reads_ok']} reads answered; "
            f"replicas {', '.join(stats['replicas'])}")
        if len(reps) < 3:
            failed += 1
            say(f"not ok {SUITE}: a master and two slaves to judge ({len(reps)} replicas)")
        for prop, (checked, bad) in verdicts.items.items():
            if bad:
                failed += 1
                say(f"not ok {SUITE}: {prop} ({len(bad)} counterexamples, e.g. {bad[0]})"[:600])
            else:
                say(f"ok {SUITE}: {prop} ({checked} checked)")
    except Exception as e:
        failed += 1
        say(f"not ok {SUITE}: the run ({type(e).__name__}: {e})".replace("\n", " ")[:600])
    finally:
        if load:
            load.stop_ev.set()
        if stack:
            stack.stop()
        subprocess.run([LOCALINFRA, "stop", infra_dir], capture_output=True, timeout=180)
        left = [p for p in pids if pid_alive(p)]
        if left:
            failed += 1
            say(f"not ok {SUITE}: the HA infrastructure stops (still alive: {left})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
