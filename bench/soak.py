#!/usr/bin/env python3
"""soak.py — `make soak`: does the DB service stay bounded over a long history, and
does recovery time depend on the data's size rather than its history?

Starts a private RabbitMQ + ZooKeeper (services/infra/localinfra.sh) and one
orchestrator with SOAK_SLAVES slaves (process runtime, loopback), then writes
SOAK_WRITES acknowledged writes (default 1,000,000) with bench/writeload
(SOAK_CONNS keep-alive connections, SOAK_MODE churn: every connection inserts users
and deletes the one it inserted 2,000 writes earlier, so the data stays small while
the history grows; grow: every write a new user). At 10 %, 50 % and 100 % of the
writes it records:
  - RabbitMQ's data directory (du of its mnesia base: the log's retained segments,
    the checkpoint streams, the queues) and its replog stream's directory;
  - the workers' files (every <id>.db, -wal, -shm, .ckpt, .fetch in DATA_DIR) and
    the master's database file;
  - the request ids the master remembers, the checkpoints made so far;
  - the RSS of the orchestrator, each worker, RabbitMQ and ZooKeeper.
Then it SIGKILLs every worker at once and measures the time to the first
acknowledged write after it (a probe write every 20 ms), and to the first read.

The log and checkpoint settings are the workers' (passed on by the orchestrator):
SOAK_RETENTION (default 32 MiB), SOAK_SEGMENT (4 MiB), SOAK_CKPT_ENTRIES (20,000),
SOAK_REQUEST_WINDOW_S (60).
Prints one table and the settings; keeps its directory (logs, data) only when
something failed. Every wait has a deadline; everything started is stopped by PID.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from harness import wait_for  # noqa: E402 (after the path it comes from)
INFRA = os.path.join(ROOT, "services", "infra", "localinfra.sh")
BIN = os.path.join(ROOT, "build", "bin")
WRITELOAD = os.path.join(ROOT, "build", "bench", "writeload")
WRITES = int(os.environ.get("SOAK_WRITES", "1000000"))
CONNS = int(os.environ.get("SOAK_CONNS", "32"))
MODE = os.environ.get("SOAK_MODE", "churn")
SLAVES = int(os.environ.get("SOAK_SLAVES", "1"))
SETTINGS = {
    "LOG_RETENTION_BYTES": os.environ.get("SOAK_RETENTION", str(32 << 20)),
    "LOG_SEGMENT_BYTES": os.environ.get("SOAK_SEGMENT", str(4 << 20)),
    "CHECKPOINT_ENTRIES": os.environ.get("SOAK_CKPT_ENTRIES", "20000"),
    "REQUEST_WINDOW_S": os.environ.get("SOAK_REQUEST_WINDOW_S", "60"),
}
PASSWORD = "3d725109c7e7c0bfb9d709836735b56d943d263f"


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        return None


def mib(n):
    return f"{n / (1 << 20):.1f}"


def call(url, method="GET", body=None, timeout=2):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return 0, None


class Soak:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rideshare-soak.")
        self.infra = os.path.join(self.dir, "infra")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.orch = None
        self.rows = []

    def start(self):
        subprocess.run([INFRA, "start", self.infra], check=True, capture_output=True, timeout=180)
        env = dict(os.environ)
        with open(os.path.join(self.infra, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v
        self.infra_env = env
        with socket_port() as port:
            self.port = port
        env.update({"ORCH_HOST": "127.0.0.1", "ORCH_PORT": str(self.port), "DATA_DIR": self.data,
                    "INITIAL_SLAVES": str(SLAVES), "LOG_LEVEL": "info", "ZK_SESSION_MS": "2000"})
        env.update(SETTINGS)
        self.log = open(os.path.join(self.dir, "orchestrator.log"), "w")
        self.orch = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: call(self.url + "/api/v1/worker/list")[0] == 200, 120, "the orchestrator")

    def log_text(self):
        with open(os.path.join(self.dir, "orchestrator.log")) as f:
            return f.read()

    def status(self):
        st, body = call(self.url + "/api/v1/status", timeout=5)
        return body if st == 200 else None

    def master(self):
        s = self.status()
        return s and s.get("master")

    def measure(self, writes):
        st = self.status() or {}
        workers = st.get("workers", [])
        master = st.get("master")
        mnesia = os.path.join(self.infra, "rabbitmq", "mnesia")
        streams = glob.glob(os.path.join(mnesia, "*", "stream", "*"))  # <vhost>_<queue with _ for .>_<n>
        replog = sum(du(p) for p in streams if re.search(r"_replog_\d+$", p))
        ckpts = sum(du(p) for p in streams if "_replog_ckpt_" in p)
        db = os.path.join(self.data, f"{master}.db")
        try:
            import sqlite3
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            requests = c.execute("SELECT COUNT(*) FROM rs_requests").fetchone()[0]
            users = c.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            c.close()
        except Exception:  # a measurement, not a verdict
            requests = users = None
        row = {
            "writes": writes,
            "rabbitmq_bytes": du(mnesia), "replog_bytes": replog, "ckpt_stream_bytes": ckpts,
            "worker_files_bytes": du(self.data), "master_db_bytes": os.path.getsize(db) if os.path.exists(db) else 0,
            "users": users, "request_ids": requests,
            "checkpoints": self.log_text().count("checkpoint made"),
            "throttled": self.log_text().count("log retention budget reached"),
            "rss_kib": {"orchestrator": rss_kib(self.orch.pid),
                        "rabbitmq": rss_kib(int(self.infra_env["RABBITMQ_PID"])),
                        "zookeeper": rss_kib(int(self.infra_env["ZK_PID"]))},
        }
        for w in workers:
            row["rss_kib"][f"{w['role']}:{w['id']}"] = rss_kib(w["pid"])
        self.rows.append(row)
        print(f"# at {writes} writes: rabbitmq {mib(row['rabbitmq_bytes'])} MiB (replog {mib(replog)}, "
              f"checkpoints {mib(ckpts)}), worker files {mib(row['worker_files_bytes'])} MiB, master db "
              f"{mib(row['master_db_bytes'])} MiB, {users} users, {requests} request ids, "
              f"{row['checkpoints']} checkpoints, rss {row['rss_kib']}", flush=True)
        return row

    def load(self, count, prefix, marks, mode=MODE):
        """Runs the whole load in one writeload process, measuring at each mark as it passes."""
        p = subprocess.Popen([WRITELOAD, self.url, str(count), str(CONNS), mode, prefix] + [str(m) for m in marks],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result = None
        for line in p.stdout:
            m = re.match(r"MARK acked=(\d+)", line)
            if m:
                self.measure(int(m.group(1)))
            if line.startswith("RESULT"):
                result = line.strip()
        err = p.stderr.read()
        p.wait(3600)
        m = re.search(r"RESULT acked=(\d+) failed=(\d+) secs=([\d.]+) rate=(\d+) p50_ms=([\d.]+) p99_ms=([\d.]+)",
                      result or "")
        if not m:
            raise RuntimeError(f"writeload: {p.returncode} {result} {err[-2000:]}")
        print(f"# {result}", flush=True)
        return int(m.group(1)), int(m.group(2)), float(m.group(4)), float(m.group(5)), float(m.group(6))

    def kill_all_and_recover(self):
        pids = call(self.url + "/api/v1/worker/list")[1]
        t0 = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        probes = iter(range(1 << 30))
        names = []

        def probe():
            names.append(f"after-kill-{next(probes)}")  # a fresh name each time: an earlier probe may land late
            body = {"op": "insert", "table": "users", "values": {"username": names[-1], "password": PASSWORD}}
            return call(self.url + "/api/v1/db/write", "POST", body, timeout=1)[0] == 200 and time.monotonic() - t0

        first_write = wait_for(probe, 120, "a write after killing every worker")
        read = {"op": "count", "table": "users", "where": {"username": names[-1]}}
        first_read = wait_for(lambda: call(self.url + "/api/v1/db/read", "POST", read, timeout=1) == (200, {"count": 1})
                              and time.monotonic() - t0, 120, "a read after killing every worker")
        m = re.findall(r"started from checkpoint queue=\S+ seq=(\d+) offset=\d+ bytes=(\d+) took_ms=(\d+)",
                       self.log_text())
        return first_write, first_read, m[-1] if m else None

    def stop(self):
        if self.orch and self.orch.poll() is None:
            self.orch.send_signal(signal.SIGTERM)
            try:
                self.orch.wait(10)
            except subprocess.TimeoutExpired:
                self.orch.kill()
                self.orch.wait()
        subprocess.run([INFRA, "stop", self.infra], capture_output=True, timeout=120)


class socket_port:
    def __enter__(self):
        import socket
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *a):
        self.s.close()


def main():
    soak = Soak()
    ok = False
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    try:
        soak.start()
        soak.measure(0)
        acked, failed, rate, p50, p99 = soak.load(WRITES, "soak", [WRITES // 10, WRITES // 2, WRITES])
        if failed:
            raise RuntimeError(f"{failed} writes not acknowledged")
        soak.measure(acked)
        done = acked
        first_write, first_read, ckpt = soak.kill_all_and_recover()
        print()
        print(f"soak: {done} acknowledged writes ({MODE}, {CONNS} connections, {SLAVES} slave(s)), settings {SETTINGS}")
        print(f"{'writes':>9} {'rabbitmq MiB':>13} {'replog MiB':>11} {'ckpt MiB':>9} {'workers MiB':>12} "
              f"{'master db MiB':>14} {'request ids':>12} {'checkpoints':>12}")
        for r in soak.rows:
            print(f"{r['writes']:>9} {mib(r['rabbitmq_bytes']):>13} {mib(r['replog_bytes']):>11} "
                  f"{mib(r['ckpt_stream_bytes']):>9} {mib(r['worker_files_bytes']):>12} "
                  f"{mib(r['master_db_bytes']):>14} {r['request_ids']!s:>12} {r['checkpoints']:>12}")
        print(f"writes: {rate:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        first, last = soak.rows[0]["rss_kib"], soak.rows[-1]["rss_kib"]
        print("RSS KiB at start -> end:", ", ".join(f"{k} {first.get(k)} -> {v}" for k, v in last.items()))
        print(f"every worker SIGKILLed: first acknowledged write after {first_write:.2f}s, first read after "
              f"{first_read:.2f}s; the new master started from checkpoint seq/bytes/ms {ckpt}")
        with open(os.path.join(soak.dir, "soak.json"), "w") as f:
            json.dump({"rows": soak.rows, "rate": rate, "p99_ms": p99, "first_write_s": first_write,
                       "first_read_s": first_read}, f, indent=1)
        ok = True
    finally:
        soak.stop()
        if ok:
            shutil.rmtree(soak.dir, ignore_errors=True)
        else:
            print(f"soak failed; logs and data kept in {soak.dir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
