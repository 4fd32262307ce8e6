#!/usr/bin/env python3
"""test_infra_restart.py — the DB service across a restart of its
infrastructure: ZooKeeper, then RabbitMQ, each restarted under write load
(services/infra/localinfra.sh restart-zk / restart-rabbitmq on the run's
shared servers; suites run one after another, and each test waits until
the server is back before it ends).

What must hold: no request hangs (each is answered within its timeout, a
503 at worst); once the server is back, writes and reads resume without any
worker being restarted; every write acknowledged is on every replica, once.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import LOCALINFRA, Stack, Suite, check, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import user  # noqa: E402
from replicas import check_replicas  # noqa: E402
from workers import all_ready, status, worker_list  # noqa: E402

suite = Suite("infra-restart")
WRITE_TIMEOUT_S = 3


def restart(what):
    t0 = time.monotonic()
    subprocess.run([LOCALINFRA, what, os.environ["INFRA_DIR"]], check=True, capture_output=True, timeout=180)
    return time.monotonic() - t0


def under_load(name, what):
    s = Stack(name, INITIAL_SLAVES=2, WRITE_TIMEOUT_MS=WRITE_TIMEOUT_S * 1000,
              READ_TIMEOUT_MS=WRITE_TIMEOUT_S * 1000)
    try:
        check(s.client.write(user("owner"))[0] == 200, "owner")
        wait_for(lambda: all_ready(s, 3), 30, "all ready")
        pids = worker_list(s)
        load = WriteLoad(s.client, 4)
        reads = {"ok": 0, "503": 0, "other": [], "longest": 0.0}
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                t = time.monotonic()
                try:
                    st, body = s.client.read({"op": "count", "table": "rides"})
                except Exception as e:  # noqa: BLE001 — a broken connection is a failure to record
                    st, body = -1, repr(e)
                reads["longest"] = max(reads["longest"], time.monotonic() - t)
                if st == 200:
                    reads["ok"] += 1
                elif st == 503:
                    reads["503"] += 1
                else:
                    reads["other"].append((st, body))
                time.sleep(0.02)
        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        try:
            wait_for(lambda: len(load.acked) >= 100, 30, "writes to flow")
            took = restart(what)
            t_back = time.monotonic()
            before = reads["ok"]
            wait_for(lambda: load.first_ack_sent_after(t_back), 60, f"writes to resume after {what}")
            wait_for(lambda: reads["ok"] > before, 60, f"reads to resume after {what}")
            base = len(load.acked)
            wait_for(lambda: len(load.acked) >= base + 50, 30, "writes to keep flowing")
        finally:
            stop.set()
            load.finish()
            rt.join(30)
        check(not rt.is_alive(), "a reader hangs")
        bad = [v for v in load.refused.values() if v[0] != 503]
        check(not bad, f"writes failed other than with 503: {bad[:3]}")
        check(not reads["other"], f"reads failed other than with 503: {reads['other'][:3]}")
        check(reads["longest"] < WRITE_TIMEOUT_S + 3, f"a read took {reads['longest']:.1f}s")
        check(worker_list(s) == pids, f"workers changed: {pids} -> {worker_list(s)}")
        rows = check_replicas(s, load.acked)
        print(f"# {what}: took {took:.1f}s; {len(load.acked)} writes acknowledged, {len(load.refused)} "
              f"answered 503, reads {reads['ok']} ok / {reads['503']} 503, longest read "
              f"{reads['longest']:.1f}s; {rows} rows on every replica", flush=True)
        check("failover" not in {e["kind"] for e in status(s)["events"]}, "a failover happened")
    finally:
        s.stop()


@suite.test
def zookeeper_restart_under_load():
    under_load("zk-restart", "restart-zk")


@suite.test
def rabbitmq_restart_under_load():
    under_load("mq-restart", "restart-rabbitmq")


if __name__ == "__main__":
    suite.run()
