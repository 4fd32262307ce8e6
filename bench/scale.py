#!/usr/bin/env python3
"""scale.py — `make bench`, last part: what the API costs as the data grows.

Starts the whole stack with services/infra/run.sh on free loopback ports (as bench/api.sh does;
2 slaves, autoscaling held off by a day-long window so the slave count stays put), then:
  1. seeds the creator "bench", BENCH_RIDES (100,000) rides of his spread over the area pairs
     3..198 (the rides the joins use), and 20 upcoming rides from area 1 to area 2 (the list);
  2. for each size of BENCH_USERS (1, 10,000, 100,000, 1,000,000 users u0000001...) grows the
     users table to it through the DB service (build/bench/seed, many connections through
     db/write: ~4,000 inserts/s, about four minutes to a million), then measures through the
     gateway, BENCH_CONNS (32) connections for BENCH_SECONDS (10) each:
       POST /api/v1/rides          (bench/api_create.lua: each create checks its user once)
       POST /api/v1/rides/{id}     (bench/api_join.lua: new (ride, user) pairs, a users check each)
       GET  /api/v1/rides?source=1&destination=2   (bench/api_list.lua)
     and GET /api/v1/users, the whole list, three times alone (the median);
  3. at the largest size, sends bodies just under the services' 1 MiB limit, shaped to cost the
     most (75,000 keys, 300,000 numbers, 500,000 brackets, one 1 MiB name, junk) to
     each route that takes a body, five times each, and takes the slowest answer;
and prints one table with its targets (docs/benchmarks.md): ride create at the largest size >= 80 %
of its rate at the smallest; the whole users list at 1,000,000 users in <= 3 s; every body
answered in <= 50 ms. Before each timed run the load average is printed (the machine should be quiet).
Everything started is stopped by PID at the end (TERM to run.sh, which stops its children).

Each size's joins use rides of their own, BENCH_RIDES / the number of sizes of them (25,000): at
1 user that must exceed the joins of one run, since every join there is a new ride. Also printed
per size: the database's size and whether a slave made a checkpoint during the runs (it copies the
whole database, so its cost grows with it).

The table's rates also go to BENCH_DATA (default docs/charts)/scale.dat, one line per size, for
bench/charts.sh.

Environment: BENCH_USERS (sizes, ascending, space-separated), BENCH_RIDES, BENCH_SECONDS,
BENCH_CONNS, BENCH_SLAVES. Prints where the stack's logs are.
"""
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SEED = os.path.join(ROOT, "build", "bench", "seed")
PASSWORD = "3d725109c7e7c0bfb9d709836735b56d943d263f"
MIB = 1024 * 1024
SIZES = [int(x) for x in os.environ.get("BENCH_USERS", "1 10000 100000 1000000").split()]
NRIDES = int(os.environ.get("BENCH_RIDES", "100000"))
SECS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = int(os.environ.get("BENCH_CONNS", "32"))
SLAVES = os.environ.get("BENCH_SLAVES", "2")
PREFIX = "u"
DATA = os.environ.get("BENCH_DATA", os.path.join(ROOT, "docs", "charts"))


def say(*a):
    print(*a, flush=True)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Stack:
    """services/infra/run.sh on free ports, stopped by PID."""

    def __init__(self, workdir):
        self.dir = workdir
        gw, users, rides, orch = free_ports(4)
        env = dict(os.environ, GATEWAY_PORT=str(gw), USERS_PORT=str(users), RIDES_PORT=str(rides),
                   ORCH_PORT=str(orch), RUN_DIR=os.path.join(workdir, "run"), INITIAL_SLAVES=SLAVES,
                   MAX_SLAVES=SLAVES, SCALE_WINDOW_S="86400", LOG_LEVEL="warn",
                   # No admin token: build/bench/seed and the reads here call the orchestrator's
                   # db routes bare (a private stack on loopback).
                   ADMIN_TOKEN="")
        self.log = open(os.path.join(workdir, "run.log"), "w")
        self.proc = subprocess.Popen([os.path.join(ROOT, "services", "infra", "run.sh")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.gw, self.orch = f"127.0.0.1:{gw}", f"127.0.0.1:{orch}"
        deadline = time.monotonic() + 180
        while True:
            with open(self.log.name) as f:
                if any(line.startswith("run: up") for line in f):
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not come up (log: {self.log.name})")
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def call(addr, method, path, body=None, timeout=120):
    """(status, body bytes, seconds) of one request on a new connection."""
    host, port = addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    started = time.monotonic()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    out = resp.read()
    took = time.monotonic() - started
    conn.close()
    return resp.status, out, took


def seed(stack, *args):
    out = subprocess.run([SEED, f"http://{stack.orch}", *map(str, args)], capture_output=True, text=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"seed {args}: {out.stdout} {out.stderr}")
    return dict(kv.split("=") for kv in line[0].split()[1:])


def ride_ids(stack):
    """The lowest and highest ride id of the rides seeded over the pairs 3..198."""
    ids = []
    for d in ("asc", "desc"):
        op = {"op": "select", "table": "rides", "columns": ["ride_id"], "where": {"source": {"ge": 3}},
              "order": [{"column": "ride_id", "dir": d}], "limit": 1}
        st, body, _ = call(stack.orch, "POST", "/api/v1/db/read", op)
        ids.append(json.loads(body)["rows"][0]["ride_id"])
    return ids


def newest_checkpoint(stack):
    """The log seq of the newest checkpoint stream (replog.ckpt.<seq>.<worker>), 0 when none: a
    checkpoint copies the whole database, so one made during a run costs more the larger it is."""
    out = subprocess.run([os.path.join(ROOT, "services", "infra", "localinfra.sh"), "rabbitmqctl",
                          os.path.join(stack.dir, "run", "infra"), "list_queues", "-p", "/", "name"],
                         capture_output=True, text=True)
    seqs = [int(x.split(".")[2]) for x in out.stdout.split() if x.startswith("replog.ckpt.")]
    return max(seqs, default=0)


def db_megabytes(stack):
    """The size of the largest worker database file, in MB."""
    data = os.path.join(stack.dir, "run", "data")
    sizes = [os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(data) for f in files
             if f.endswith(".db")]
    return max(sizes, default=0) / 1e6


def wrk(stack, script, env=None):
    """req/s, p50 and p99 (ms) and errors of one wrk run."""
    out = subprocess.run(["wrk", "-t2", f"-c{CONNS}", f"-d{SECS}s", "--timeout", "10s", "-s",
                          os.path.join(ROOT, "bench", script), f"http://{stack.gw}"],
                         env=dict(os.environ, **(env or {})), capture_output=True, text=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        raise RuntimeError(f"wrk {script}: {out.stdout} {out.stderr}")
    r = dict(kv.split("=") for kv in line[0].split()[1:])
    return float(r["rps"]), float(r["p50_ms"]), float(r["p99_ms"]), int(r["errors"])


def whole_users_list(stack, expect):
    """Median seconds of three GET /api/v1/users, and the answer's size; checks the count."""
    times, size = [], 0
    for _ in range(3):
        st, body, took = call(stack.gw, "GET", "/api/v1/users", timeout=300)
        if st != 200:
            raise RuntimeError(f"GET /api/v1/users: {st} {body[:200]!r}")
        times.append(took)
        size = len(body)
    n = len(json.loads(body))
    if n != expect:
        raise RuntimeError(f"GET /api/v1/users listed {n} users, expected {expect}")
    return statistics.median(times), size


def bodies():
    """(name, bytes) of bodies just under 1 MiB that would cost the most to parse."""
    user = '{"username":"x","password":"%s",' % PASSWORD
    keys = ",".join(f'"k{i}":1' for i in range(75000))
    nums = ",".join(["1"] * 300000)
    return [
        ("75,000 keys (814 KB)", "{" + keys + "}"),
        ("user + 75,000 keys", user + keys + "}"),
        ("300,000 numbers", user + '"a":[' + nums + "]}"),
        ("500,000 brackets", '{"username":' + "[" * 250000 + "]" * 250000 + "}"),
        ("a 1 MiB name", '{"username":"' + "n" * (MIB - 200) + '","password":"%s"}' % PASSWORD),
        ("1 MiB of junk", "j" * (MIB - 10)),
    ]


def body_costs(stack, rid):
    rows = []
    for name, text in bodies():
        data = text.encode()
        assert len(data) < MIB, name
        worst = 0.0
        for method, path in (("PUT", "/api/v1/users"), ("POST", "/api/v1/rides"), ("POST", f"/api/v1/rides/{rid}")):
            for _ in range(5):
                st, body, took = call(stack.gw, method, path, data)
                if st != 400:
                    raise RuntimeError(f"{name} to {method} {path}: {st} {body[:200]!r}")
                worst = max(worst, took)
        rows.append((name, len(data), worst * 1000))
    return rows


def write_data(table):
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "scale.dat"), "w") as f:
        f.write(f"# bench/scale.py {time.strftime('%Y-%m-%d', time.gmtime())}: {NRIDES} rides, {CONNS} connections, "
                f"{SECS} s per run, through the gateway; BENCH_USERS={' '.join(map(str, SIZES))}\n")
        f.write("# users create_rps create_p99_ms join_rps join_p99_ms list_rps list_p99_ms users_list_s\n")
        for size, c, j, li, us, _ in table:
            f.write(f"{size} {c[0]:.0f} {c[2]:.2f} {j[0]:.0f} {j[2]:.2f} {li[0]:.0f} {li[2]:.2f} {us:.3f}\n")


def main():
    workdir = tempfile.mkdtemp(prefix="rideshare-scale.")
    stack = Stack(workdir)
    try:
        run(stack)
    finally:
        stack.stop()
        say(f"(stack logs in {workdir})")


def run(stack):
    now = int(time.time())
    st, body, _ = call(stack.gw, "PUT", "/api/v1/users", {"username": "bench", "password": PASSWORD})
    if st != 201:
        raise RuntimeError(f"PUT bench: {st} {body!r}")
    seed(stack, "rides", "bench", 20, 4, now + 7 * 86400, 1, 2)
    r = seed(stack, "rides", "bench", NRIDES, 32, now + 30 * 86400)
    say(f"seeded {NRIDES} rides in {r['secs']} s ({r['rate']}/s)")
    lo, hi = ride_ids(stack)
    if hi - lo + 1 != NRIDES:
        raise RuntimeError(f"the seeded rides are ids {lo}..{hi}, not {NRIDES} in a row")
    say(f"warm-up: create {wrk(stack, 'api_create.lua')[0]:.0f}/s, list {wrk(stack, 'api_list.lua')[0]:.0f}/s")
    table, have = [], 0
    span = max(1, NRIDES // len(SIZES))
    for i, size in enumerate(SIZES):
        if size > have:
            r = seed(stack, "users", PREFIX, have + 1, size + 1, 64)
            say(f"users {have:,} -> {size:,}: {r['ok']} inserts in {r['secs']} s ({r['rate']}/s)")
            have = size
            time.sleep(3)   # let the slaves' checkpoints after the seeding settle
        say(f"# {size:,} users: load average {load()} before the runs; database {db_megabytes(stack):.0f} MB")
        ckpt = newest_checkpoint(stack)
        create = wrk(stack, "api_create.lua")
        join = wrk(stack, "api_join.lua", {"JOIN_PREFIX": PREFIX, "JOIN_USERS": str(size),
                                           "JOIN_RIDE": str(lo + i * span), "JOIN_SPAN": str(span),
                                           "JOIN_THREADS": "2"})
        lst = wrk(stack, "api_list.lua")
        users_s, users_bytes = whole_users_list(stack, size + 1)
        table.append((size, create, join, lst, users_s, users_bytes))
        say(f"  {size:>9,} users: create {create[0]:.0f}/s, join {join[0]:.0f}/s, list {lst[0]:.0f}/s, "
            f"users list {users_s:.2f} s; a checkpoint during the runs: "
            f"{'yes' if newest_checkpoint(stack) != ckpt else 'no'}; load average {load()} after")
    say(f"# bodies: load average {load()}")
    costs = body_costs(stack, lo)

    write_data(table)
    say("")
    say(f"Scale: {NRIDES:,} rides seeded, {CONNS} connections, {SECS} s per run, through the gateway")
    say("| users | POST rides /s (p99 ms) | POST rides/{id} join /s (p99 ms) | GET rides?src&dst /s (p99 ms) "
        "| GET users: whole list s (MB) | errors (create/join/list) |")
    say("|---:|---:|---:|---:|---:|---:|")
    for size, c, j, li, us, ub in table:
        say(f"| {size:,} | {c[0]:,.0f} ({c[2]:.1f}) | {j[0]:,.0f} ({j[2]:.1f}) | {li[0]:,.0f} ({li[2]:.1f}) "
            f"| {us:.2f} ({ub / 1e6:.1f}) | {c[3]}/{j[3]}/{li[3]} |")
    say("")
    say("| body (to PUT users, POST rides, POST rides/{id}: 400 each) | bytes | slowest answer ms |")
    say("|---|---:|---:|")
    for name, n, ms in costs:
        say(f"| {name} | {n:,} | {ms:.1f} |")
    ratio = table[-1][1][0] / table[0][1][0]
    verdicts = [
        (f"ride create at {table[-1][0]:,} users = {ratio * 100:.0f} % of its rate at {table[0][0]:,} (>= 80 %)",
         ratio >= 0.8),
        (f"whole users list at {table[-1][0]:,} users in {table[-1][4]:.2f} s (<= 3 s)", table[-1][4] <= 3),
        (f"slowest 1 MiB body answered in {max(ms for _, _, ms in costs):.1f} ms (<= 50 ms)",
         max(ms for _, _, ms in costs) <= 50),
        ("no errors in the runs", all(c[3] + j[3] + li[3] == 0 for _, c, j, li, _, _ in table)),
    ]
    for text, met in verdicts:
        say(f"{'met' if met else 'MISSED'}: {text}")
    if not all(met for _, met in verdicts):
        sys.exit(1)


if __name__ == "__main__":
    main()
