#!/usr/bin/env python3
"""test_console.py — rideshare-console against a live DB service (process
runtime, the run's RabbitMQ and ZooKeeper).

What must hold: --json and --once show the workers the orchestrator runs
(count, roles, PIDs equal to worker/list), the znodes and the queues, and
exit 0; with the orchestrator unreachable they say so, exit 1, and still list
the workers from ZooKeeper; with --sample the series of reads/s, writes/s and the worst slave lag
hold a sample per period, zero while idle and above zero under a load, and --once draws them as
sparklines (block characters in a UTF-8 locale, ASCII otherwise); when MAX_SLAVES holds the slave target below the
spec's rule, both say so ("target 2 (rule 40, capped at 2)"). Interactively, in tmux (send-keys, capture-pane):
the rates panel draws its sparklines; `?` shows the help; `s` asks, `n` cancels, `y` crashes the highest-PID slave,
and the crash event and a replacement worker appear; a resize redraws for
the new size; a RabbitMQ restart shows the unreachable status line while the
console keeps running, and the line clears when the broker is back; `q`,
Ctrl-C, SIGTERM and SIGABRT all give the terminal back (the shell after it finds
echo and canonical mode on); --read-only refuses actions; NO_COLOR turns
colours into reverse video. Given only ORCH_URL, the console learns ZooKeeper's hosts and root and
the broker's address and vhost from GET /api/v1/config (which holds no credentials), logs in to
the broker with its own (RABBITMQ_USER/RABBITMQ_PASSWORD), lets what the environment sets win,
falls back to the defaults in batch mode when the orchestrator does not answer, and on the screen
waits for it (Ctrl-C gives up).
"""
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import BIN, LOCALINFRA, TMP, Stack, Suite, check, pid_alive, wait_for  # noqa: E402
from ops import ride, user  # noqa: E402
from workers import all_ready, worker_list  # noqa: E402

suite = Suite("console")
CONSOLE = os.path.join(BIN, "rideshare-console")


def console_env(s, orch_url=None):
    env = {k: s.role_env("console")[k] for k in ("RABBITMQ_URL", "ZK_HOSTS", "ZK_ROOT", "ZK_AUTH")}
    env["ORCH_URL"] = orch_url or f"http://127.0.0.1:{s.port}"
    env["CONSOLE_TIMEOUT_MS"] = "1000"
    return env


def batch(s, *args, orch_url=None, env=None):
    env = dict(env or os.environ)
    env.update(console_env(s, orch_url))
    p = subprocess.run([CONSOLE, *args], env=env, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


class Tmux:
    """The console in a detached tmux session on a private server (socket).
    The pane runs a shell script: the console, then a line with its exit
    status and the terminal's echo/icanon flags, then a long sleep."""
    count = 0

    def __init__(self, env, args=(), width=160, height=50):
        Tmux.count += 1
        # A socket of its own in the test's directory: a private server, no file left elsewhere.
        self.sock = os.path.join(TMP, f"tmux-{os.getpid()}-{Tmux.count}.sock")
        script = os.path.join(TMP, f"console-{Tmux.count}.sh")
        self.log = os.path.join(TMP, f"console-{Tmux.count}.log")
        lines = ["#!/bin/sh", "trap true INT  # Ctrl-C is for the console: the shell must live on to report"]
        env = dict(env, LANG="C.UTF-8", CONSOLE_LOG=self.log, LOG_LEVEL="info")
        lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        lines += [" ".join(shlex.quote(a) for a in [CONSOLE, *args]),
                  'echo "EXIT=$? TTY=$(stty -a | tr " ;" "\\n\\n" | grep -x -e echo -e icanon | tr "\\n" ,)"',
                  "sleep 600"]
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", script)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def title_attrs(self):
        """The title row with its attributes as escape sequences."""
        return self.tmux("capture-pane", "-p", "-e").splitlines()[0]

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def wait(self, cond, timeout, what):
        """Waits until cond(screen text) is truthy; returns that screen (the
        last one goes into the error on a timeout)."""
        last = [""]

        def probe():
            last[0] = self.screen()
            return cond(last[0])
        try:
            wait_for(probe, timeout, what)
            return last[0]
        except AssertionError as e:
            raise AssertionError(f"{e}; screen:\n{last[0]}") from None

    def wait_text(self, text, timeout=10):
        return self.wait(lambda sc: text in sc, timeout, repr(text))

    def console_pid(self):
        """The console process: the child of the pane's shell."""
        shell = int(self.tmux("display-message", "-p", "#{pane_pid}").strip())
        with open(f"/proc/{shell}/task/{shell}/children") as f:
            kids = [int(k) for k in f.read().split()]
        for k in kids:
            with open(f"/proc/{k}/comm") as f:
                if f.read().strip().startswith("rideshare-cons"):
                    return k
        raise AssertionError(f"no console among the children of {shell}: {kids}")

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True, timeout=10)
        if os.path.exists(self.sock):
            os.unlink(self.sock)


def restored(screen):
    """The line printed after the console exited: its status, and echo and
    icanon on (stty prints -echo/-icanon when they are off)."""
    for line in screen.splitlines():
        if line.startswith("EXIT="):
            return line.strip()
    return None


def zk_workers(screen):
    """Names of the worker znodes in the ZooKeeper panel (indented under
    workers/, their data beside them)."""
    return set(re.findall(r'│ {5}(\S+) +\{"id"', screen))


def worker_rows(screen):
    """{pid: role} of the rows in the workers panel."""
    out = {}
    for line in screen.splitlines():
        cells = line.strip("│ ").split()
        if len(cells) >= 4 and cells[1] in ("master", "slave") and cells[2].isdigit():
            out[int(cells[2])] = cells[1]
    return out


@suite.test
def batch_matches_worker_list():
    s = Stack("console-batch", INITIAL_SLAVES=2)
    try:
        wait_for(lambda: all_ready(s, 3), 30, "master and two slaves ready")
        check(s.client.write({"op": "insert", "table": "users",
                              "values": {"username": "cons", "password": "a" * 40}})[0] in (200, 400), "write")
        rc, out, err = batch(s, "--json")
        check(rc == 0, f"--json exit {rc}: {err[-500:]}")
        j = json.loads(out)
        pids = worker_list(s)
        check(sorted(w["pid"] for w in j["workers"]) == pids, f"PIDs {j['workers']} vs worker/list {pids}")
        roles = sorted(w["role"] for w in j["workers"])
        check(roles == ["master", "slave", "slave"], f"roles {roles}")
        check(all(b["reachable"] for b in j["backends"].values()), f"backends {j['backends']}")
        master = next(w for w in j["workers"] if w["role"] == "master")
        check(j["orchestrator"]["master"] == master["id"] and j["orchestrator"]["slaves"] == 2,
              f"orchestrator {j['orchestrator']}")
        paths = {n["path"] for n in j["zookeeper"]["nodes"]}
        root = s.env["ZK_ROOT"]
        want = {root, f"{root}/master", f"{root}/workers"} | {f"{root}/workers/{w['id']}" for w in j["workers"]}
        check(want <= paths, f"znodes {sorted(paths)} lack {sorted(want - paths)}")
        q = {x["name"]: x for x in j["queues"]}
        check(q["writeQ"]["consumers"] == 1 and q["readQ"]["consumers"] == 2, f"queues {q}")
        check(isinstance(q["replog"]["messages"], int), f"replog {q['replog']}")
        check({"spawn", "election"} <= {e["kind"] for e in j["events"]}, f"events {j['events']}")

        # Reads served, per slave, from the znodes: 40 reads spread over the two slaves
        # (40 different ones: the orchestrator answers a repeated read from its cache).
        for i in range(40):
            check(s.client.read({"op": "select", "table": "users", "where": {"username": f"nobody-{i}"}})[0] == 200,
                  "read")

        def reads_served():
            rc, out, _ = batch(s, "--json")
            ws = json.loads(out)["workers"] if rc == 0 else []
            got = {w["role"]: 0 for w in ws}
            for w in ws:
                got[w["role"]] += w.get("reads") or 0
            return got.get("slave", 0) >= 40 and got.get("master", 0) == 0 and got
        wait_for(reads_served, 10, "the slaves' reads served in --json")

        rc, out, err = batch(s, "--once")
        check(rc == 0, f"--once exit {rc}: {err[-500:]}")
        rows = worker_rows(out)
        check(sorted(rows) == pids and sorted(rows.values()) == roles, f"--once workers {rows} vs {pids}")
        for head in ("== workers (3)", "== orchestrator", "== queues", "== zookeeper", "== events"):
            check(head in out, f"--once lacks {head!r}:\n{out}")

        # The orchestrator unreachable: said so, exit 1, workers from ZooKeeper.
        rc, out, err = batch(s, "--json", orch_url="http://127.0.0.1:9")
        check(rc == 1, f"exit {rc} with the orchestrator unreachable")
        j = json.loads(out)
        check(not j["backends"]["orchestrator"]["reachable"] and j["backends"]["orchestrator"]["error"],
              f"backends {j['backends']}")
        check(j["workers_from"] == "zookeeper" and sorted(w["pid"] for w in j["workers"]) == pids,
              f"workers from ZooKeeper {j['workers']} vs {pids}")
        rc, out, _ = batch(s, "--once", orch_url="http://127.0.0.1:9")
        check(rc == 1 and "orchestrator unreachable" in out, f"--once status:\n{out[:600]}")

        rc, _, err = batch(s, "--bogus")
        check(rc == 2 and "unknown argument" in err, f"bad argument: {rc} {err}")
        rc, _, err = batch(s, "--once", "-d", "0")
        check(rc == 2, f"bad delay: {rc} {err}")
    finally:
        s.stop()


def series_of(out):
    """The --json's series: {name: [values]} and the interval."""
    se = json.loads(out)["series"]
    check(set(se) == {"interval_s", "samples", "reads_per_s", "writes_per_s", "max_lag"}, f"series keys {sorted(se)}")
    check(all(len(se[k]) == se["samples"] for k in ("reads_per_s", "writes_per_s", "max_lag")), f"series {se}")
    return se


def peak(values):
    known = [v for v in values if v is not None]
    return max(known) if known else None


@suite.test
def batch_series_move_with_the_load():
    """--sample: the console watches a while first; its series hold a sample per period, flat at
    zero while nothing happens, above zero while clients write and read; --once draws them."""
    s = Stack("console-series", INITIAL_SLAVES=1)
    try:
        wait_for(lambda: all_ready(s, 2), 30, "master and slave ready")
        check(s.client.write(user("series-owner"))[0] == 200, "write the owner")
        # The master's seq in the status comes from its znode, a moment behind its writes: idle
        # means that figure has stopped moving (and no slave lags).
        seen = []

        def settled():
            st = s.client.request("GET", "/api/v1/status")[1]
            seen.append(st["master_seq"])
            return len(seen) >= 4 and len(set(seen[-4:])) == 1 and seen[-1] and \
                all(w["lag"] == 0 for w in st["workers"]) or time.sleep(0.3)
        wait_for(settled, 20, "the master's seq to settle")
        rc, out, err = batch(s, "--json", "--sample", "2", "-d", "0.25")
        check(rc == 0, f"--json --sample exit {rc}: {err[-500:]}")
        idle = series_of(out)
        check(idle["interval_s"] == 0.25 and 6 <= idle["samples"] <= 12, f"idle series {idle}")
        check(peak(idle["writes_per_s"]) == 0 and peak(idle["reads_per_s"]) == 0, f"idle series {idle}")
        check(peak(idle["max_lag"]) is not None, f"no slave lag sampled: {idle}")

        stop, counts = threading.Event(), {"w": 0, "r": 0}

        def load():
            i = 0
            while not stop.is_set():
                i += 1
                if s.client.write(ride(7_000_000 + i, by="series-owner"))[0] == 200:
                    counts["w"] += 1
                if s.client.read({"op": "count", "table": "rides", "where": {"source": 1 + i % 198}})[0] == 200:
                    counts["r"] += 1
        th = threading.Thread(target=load)
        th.start()
        try:
            wait_for(lambda: counts["w"] >= 20 and counts["r"] >= 20, 30, "the load to flow")
            rc, out, err = batch(s, "--json", "--sample", "2", "-d", "0.25")
        finally:
            stop.set()
            th.join(30)
        check(rc == 0, f"--json --sample under load, exit {rc}: {err[-500:]}")
        busy = series_of(out)
        check(peak(busy["writes_per_s"]) > 0 and peak(busy["reads_per_s"]) > 0, f"series under load {busy}")
        check(busy["samples"] >= 6 and busy["writes_per_s"][0] is None, f"the first sample has no rate: {busy}")

        # --once draws the series: blocks in a UTF-8 locale, ASCII otherwise.
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        rc, out, _ = batch(s, "--once", "--sample", "1", "-d", "0.25", env=env)
        check(rc == 0 and "== rates, last" in out and re.search(r"^reads/s +[▁▂▃▄▅▆▇█ ]+ now ", out, re.M),
              f"--once rates (UTF-8):\n{out}")
        env = dict(os.environ, LANG="C", LC_ALL="C")
        rc, out, _ = batch(s, "--once", "--sample", "1", "-d", "0.25", env=env)
        check(rc == 0 and re.search(r"^writes/s +[_.:=+*#-]+ now ", out, re.M) and "▁" not in out,
              f"--once rates (ASCII):\n{out}")
        rc, _, err = batch(s, "--json", "--sample", "x")
        check(rc == 2 and "--sample" in err, f"bad --sample: {rc} {err}")
    finally:
        s.stop()


@suite.test
def batch_shows_the_cap():
    # One slave per read, at most 2: forty reads make the rule ask for 40 and the cap hold 2.
    s = Stack("console-cap", SCALE_WINDOW_S=2, READS_PER_SLAVE=1, MAX_SLAVES=2, SCALE_UP_STEP=1)
    try:
        for _ in range(40):
            check(s.client.read({"op": "count", "table": "users"})[0] == 200, "read")
        wait_for(lambda: "scale window closed" in s.log_text(), 10, "the window to close")
        rc, out, err = batch(s, "--json")
        check(rc == 0, f"--json exit {rc}: {err[-500:]}")
        o = json.loads(out)["orchestrator"]
        check(o["target_slaves"] == 2 and o["rule_target"] == 40 and o["max_slaves"] == 2 and o["capped"] is True
              and o["scale_up_step"] == 1 and o["set_by"] == "window", f"orchestrator {o}")
        check(o["worker_starts"]["failures"] == 0 and o["worker_starts"]["last_failure"] is None,
              f"worker_starts {o['worker_starts']}")
        rc, out, err = batch(s, "--once")
        check(rc == 0 and "target 2 (rule 40, capped at 2)" in out and "worker starts ok" in out,
              f"--once:\n{out}")
    finally:
        s.stop()


@suite.test
def interactive_in_tmux():
    s = Stack("console-tui", INITIAL_SLAVES=1)
    t = None
    try:
        wait_for(lambda: all_ready(s, 2), 30, "master and slave ready")
        pids = worker_list(s)
        t = Tmux(console_env(s), ["-d", "0.5"])
        t.wait(lambda sc: sorted(worker_rows(sc)) == pids, 15, f"workers {pids} on screen")
        t.wait_text("ZooKeeper, RabbitMQ and the orchestrator are reachable")
        t.wait(lambda sc: len(zk_workers(sc)) == 2, 10, "two worker znodes in the ZooKeeper panel")
        sc = t.screen()
        for panel in ("workers (2)", "orchestrator", "queues", f"ZooKeeper {s.env['ZK_ROOT']}", "events ("):
            check(panel in sc, f"panel {panel!r} missing:\n{sc}")
        check("\x1b[46m" in t.title_attrs(), f"no colour in the title: {t.title_attrs()!r}")
        t.wait(lambda sc: re.search(r"reads/s +[▁▂▃▄▅▆▇█ ]+ now ", sc) and "rates, last" in sc, 10,
               "the rates panel's sparklines")

        # Help.
        t.keys("?")
        t.wait_text("help - keys")
        for k in ("crash the master", "promote the selected slave", "filter the event log", "quit"):
            check(k in t.screen(), f"help lacks {k!r}")
        t.keys("x")
        t.wait(lambda sc: "help - keys" not in sc, 5, "the help to close")

        # A question, answered no: nothing happens.
        master_pid = next(p for p, r in worker_rows(t.screen()).items() if r == "master")
        t.keys("m")
        t.wait_text(f"crash the master")
        t.keys("n")
        t.wait_text("cancelled")
        check(pid_alive(master_pid) and master_pid in worker_list(s), "the master survived a 'no'")

        # Crash a slave: s, y.
        slave_pid = max(p for p, r in worker_rows(t.screen()).items() if r == "slave")
        t.keys("s")
        t.wait_text(f"(pid {slave_pid})? [y/n]")
        t.keys("y")
        t.wait_text(f"killed pid {slave_pid}", 10)
        t.wait_text(f"pid={slave_pid}: crash/slave", 10)  # the orchestrator's crash event
        new = wait_for(lambda: (lambda l: len(l) == 2 and slave_pid not in l and l)(worker_list(s)), 30,
                       "a replacement slave")
        t.wait(lambda sc: sorted(worker_rows(sc)) == new, 15, f"replacement workers {new} on screen")
        ids = {w["id"] for w in s.client.request("GET", "/api/v1/status")[1]["workers"]}
        t.wait(lambda sc: zk_workers(sc) == ids, 15, f"the ZooKeeper panel to show the znodes of {ids}")

        # Filter the events.
        t.keys("/", "c", "r", "a", "s", "h", "Enter")
        t.wait_text("filter: crash")
        sc = t.screen()
        ev = [l for l in sc.splitlines() if l.startswith("│ ") and l[2:10].count(":") == 2]
        check(ev and all("crash" in l for l in ev), f"filtered events: {ev}")
        t.keys("/", "Escape")
        t.wait(lambda sc: "filter:" not in sc, 5, "the filter to clear")

        # Resize: narrower and shorter, then back.
        t.tmux("resize-window", "-x", "100", "-y", "30")
        sc = t.wait(lambda sc: len(sc.splitlines()) == 30 and "┐┌" not in sc.splitlines()[2], 10,
                    "the narrow layout")
        check(max(len(l) for l in sc.splitlines()) <= 100, "a line wider than the window")
        check(f"ZooKeeper {s.env['ZK_ROOT']}" in sc and sorted(worker_rows(sc)) == new, f"narrow screen:\n{sc}")
        t.tmux("resize-window", "-x", "160", "-y", "50")
        t.wait(lambda sc: len(sc.splitlines()) == 50 and "┐┌" in sc.splitlines()[2], 10, "the wide layout again")

        # RabbitMQ restarted: the status line says so, the console goes on, then recovers.
        done = {}

        def restart():
            try:
                subprocess.run([LOCALINFRA, "restart-rabbitmq", os.environ["INFRA_DIR"]], check=True,
                               capture_output=True, timeout=180)
                done["ok"] = True
            except Exception as e:  # reported below
                done["error"] = e
        th = threading.Thread(target=restart)
        th.start()
        t.wait_text("RabbitMQ unreachable for", 60)
        check("queues - unreachable" in t.screen(), "the queues panel does not say unreachable")
        clock = t.screen().splitlines()[0][-10:]
        t.wait(lambda sc: sc.splitlines()[0][-10:] != clock, 5, "the clock to move while RabbitMQ is down")
        th.join(200)
        check(done.get("ok"), f"restart-rabbitmq: {done}")
        t.wait(lambda sc: "RabbitMQ unreachable" not in sc.splitlines()[1], 30, "the status line to recover")
        t.wait_text("RabbitMQ reachable again", 10)

        # q: exit 0, terminal restored.
        t.keys("q")
        line = t.wait(restored, 10, "the console to exit")
        check(restored(line) == "EXIT=0 TTY=icanon,echo,", f"after q: {restored(line)}")
    finally:
        if t:
            t.close()
        s.stop()


@suite.test
def signals_restore_the_terminal_and_read_only():
    """SIGTERM, SIGABRT (a crash) and Ctrl-C: the shell after the console finds
    the terminal in its normal modes; the exit status is the signal's."""
    s = Stack("console-sig", INITIAL_SLAVES=1)
    ts = []
    try:
        wait_for(lambda: all_ready(s, 2), 30, "master and slave ready")
        pids = worker_list(s)
        for sig, want in (("TERM", "EXIT=0"), ("ABRT", "EXIT=134"), ("INT", "EXIT=0")):
            t = Tmux(dict(console_env(s), NO_COLOR="1"), ["--read-only"], width=120, height=40)
            ts.append(t)
            t.wait(lambda sc: sorted(worker_rows(sc)) == pids, 15, "workers on screen")
            title = t.title_attrs()
            check("\x1b[7m" in title and "\x1b[46m" not in title, f"NO_COLOR title: {title!r}")
            if sig == "TERM":  # read-only: asks nothing, does nothing
                check("READ-ONLY" in t.screen(), "no READ-ONLY in the title")
                t.keys("s")
                t.wait_text("read-only: actions are disabled")
                check("[y/n]" not in t.screen(), "a question in read-only mode")
            if sig == "INT":  # Ctrl-C from the terminal
                t.keys("C-c")
            else:
                subprocess.run(["kill", f"-{sig}", str(t.console_pid())], check=True)
            line = restored(t.wait(restored, 10, f"the console to die of SIG{sig}"))
            check(line == f"{want} TTY=icanon,echo,", f"after SIG{sig}: {line}")
        check(worker_list(s) == pids, "workers changed in read-only mode")
    finally:
        for t in ts:
            t.close()
        s.stop()


@suite.test
def slow_orchestrator_never_freezes_the_screen():
    """An orchestrator that accepts connections and never answers: the screen
    still draws, ticks and takes keys while each status call waits out its
    timeout, and then says the orchestrator is unreachable and why."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing is ever read or answered
    env = {"RABBITMQ_URL": os.environ["RABBITMQ_URL"], "ZK_HOSTS": os.environ["ZK_HOSTS"],
           "ZK_ROOT": f"/console-slow-{os.getpid()}", "CONSOLE_TIMEOUT_MS": "6000",
           "ORCH_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    t = Tmux(env, ["-d", "0.5"], width=120, height=40)
    try:
        sc = t.wait_text("orchestrator - ", 5)
        check("asking..." in sc or "no answer yet" in sc, f"orchestrator panel:\n{sc}")
        clock = sc.splitlines()[0][-10:]
        started = time.monotonic()
        t.keys("?")
        t.wait_text("help - keys", 2)
        t.keys("x")
        t.wait(lambda sc: sc.splitlines()[0][-10:] != clock, 3, "the clock to tick")
        check(time.monotonic() - started < 4, "the screen waited for the orchestrator")
        t.wait_text("orchestrator unreachable for", 15)
        check("imeout" in t.screen(), f"no timeout reason:\n{t.screen()}")
        t.keys("q")
        line = restored(t.wait(restored, 15, "the console to exit"))
        check(line.startswith("EXIT=0"), f"after q: {line}")
    finally:
        t.close()
        silent.close()


@suite.test
def learns_where_the_rest_is_from_the_orchestrator():
    s = Stack("console-learn")
    t = None
    try:
        vhost = s.env["RABBITMQ_URL"].rsplit("/", 1)[1]
        amqp_port = int(s.env["RABBITMQ_URL"].rsplit(":", 1)[1].split("/")[0])
        st, cfg = s.client.request("GET", "/api/v1/config")
        check(st == 200 and cfg == {"zk_hosts": s.env["ZK_HOSTS"], "zk_root": s.env["ZK_ROOT"],
                                    "amqp": {"host": "127.0.0.1", "port": amqp_port, "vhost": vhost},
                                    "amqp_nodes": [{"host": "127.0.0.1", "port": amqp_port}]},
              f"GET /api/v1/config: {st} {cfg}")
        check("guest" not in json.dumps(cfg), f"credentials in {cfg}")

        orch = f"http://127.0.0.1:{s.port}"
        only_orch = {k: v for k, v in os.environ.items() if k not in ("RABBITMQ_URL", "ZK_HOSTS", "ZK_ROOT")}
        user, password = s.auth["console"].split(":", 1)  # the console's identity: the one it needs
        only_orch.update(ORCH_URL=orch, CONSOLE_TIMEOUT_MS="1000", RABBITMQ_USER=user, RABBITMQ_PASSWORD=password,
                         ZK_AUTH=s.auth["console"])

        def console(*args, **env):
            p = subprocess.run([CONSOLE, *args], env=dict(only_orch, **env), capture_output=True, text=True,
                               timeout=30)
            return p.returncode, p.stdout, p.stderr
        rc, out, err = console("--json")
        check(rc == 0, f"--json with ORCH_URL alone exited {rc}: {err[-500:]}")
        j = json.loads(out)
        be = j["backends"]
        check(be["zookeeper"]["address"] == s.env["ZK_HOSTS"] and j["zookeeper"]["root"] == s.env["ZK_ROOT"]
              and be["rabbitmq"]["address"] == f"amqp://127.0.0.1:{amqp_port}/{vhost}", f"addresses {be}")
        check(len(j["workers"]) == 2 and {q["name"]: q["consumers"] for q in j["queues"]}["writeQ"] == 1,
              f"workers {j['workers']} queues {j['queues']}")

        # What the environment sets wins; the broker login is the console's own.
        rc, out, _ = console("--json", ZK_ROOT="/console-learn-elsewhere")
        check(json.loads(out)["zookeeper"]["root"] == "/console-learn-elsewhere", "ZK_ROOT from the environment")
        rc, out, _ = console("--json", RABBITMQ_PASSWORD="not-the-password")
        be = json.loads(out)["backends"]
        check(rc == 1 and not be["rabbitmq"]["reachable"] and be["zookeeper"]["reachable"],
              f"a wrong RABBITMQ_PASSWORD: exit {rc}, {be}")

        # No answer: batch modes take the defaults and say so; the screen waits, Ctrl-C gives up.
        rc, out, err = console("--json", ORCH_URL="http://127.0.0.1:9")
        check(rc == 1 and "did not say where" in err and
              json.loads(out)["backends"]["zookeeper"]["address"] == "127.0.0.1:2181", f"exit {rc}: {err}")
        # (ZK_ROOT empty counts as unset: the pane's shell may inherit the run's other settings.)
        t = Tmux({"ORCH_URL": "http://127.0.0.1:9", "ZK_ROOT": "", "CONSOLE_TIMEOUT_MS": "1000"},
                 width=120, height=30)
        t.wait_text("waiting for http://127.0.0.1:9 to say where", 10)
        t.keys("C-c")
        t.wait_text("EXIT=1", 10)  # after the echoed ^C
    finally:
        if t:
            t.close()
        s.stop()


if __name__ == "__main__":
    suite.run()
