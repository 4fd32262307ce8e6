#!/usr/bin/env python3
"""nemesis.py — `make nemesis`: ten minutes of partitions, pauses and kills on the container stack,
judged from the history, written into docs/reliability.md (docs/reliability-ha.md with HA=1).

  make nemesis                          (= python3 bench/nemesis.py)
  HA=1 make nemesis                     the same on the HA stack (`HA=1 make up`'s topology)
  NEMESIS_SECONDS=600 NEMESIS_SEED=N NEMESIS_OUT=docs/reliability.md NEMESIS_KINDS=a,b,...
  bench/nemesis.py rejudge WORKDIR      the checker and the report again over a kept run

Brings up a private container stack (tests/lib/dockerstack.py: its own compose project name, free
host ports, images pinned to a tag of its own; MAX_SLAVES=3 and a 60 s scaling window, so the
autoscaler adds and retires slaves during the run too), runs eight writers and eight readers
(tests/lib/workload.py) through the gateway and the orchestrator's DB API, and meanwhile the
nemesis (tests/lib/nemesis.py) injects, one at a time at random, every kind of fault it has: the
master cut off from ZooKeeper only and from RabbitMQ only, the orchestrator from ZooKeeper, a
slave from RabbitMQ (iptables in the container's network namespace), the master or the
orchestrator frozen (SIGSTOP) past the ZooKeeper session (4 s), SIGKILL of a random worker and of
the orchestrator (compose restarts it), crash/master and promote. With HA=1 (or NEMESIS_HA=1) the
stack is docker-compose.ha.yml's (three RabbitMQ nodes, three ZooKeeper servers, two orchestrators
with the leader lock) and the nemesis has two kinds more: SIGKILL of one RabbitMQ node and of one
ZooKeeper server (docker kill; started again when the fault's time is up); the orchestrator's
faults hit the active one (a killed one is started again on heal and comes back as a standby), and
the DB API half of the load and the nemesis's own admin calls follow whichever is active
(tests/lib/orchpair.py). After each fault the nemesis waits until every node is healthy again and
an orchestrator is active, so that every fault is a single one. Then it waits for the stack to
settle, copies every worker's SQLite file out through /proc/<pid>/root, gathers the logs (every
worker's and both orchestrators'; with HA the brokers' and ZooKeeper servers' are kept in the work
directory's infra-logs/, for a post-mortem), and runs the checker (tests/lib/checker.py). The
verdicts, the fault timeline and the availability per kind of fault go to NEMESIS_OUT and to
stdout (a section "## Notes" at the end of an earlier NEMESIS_OUT, written by hand, is kept); the
history (JSON lines) and the logs stay in a temporary directory, named at the end (with run.json
and the replicas' copies: `rejudge` reads them). Exit status 1 if a safety property failed; 3 (no
report) if the engine lost the stack's networks meanwhile (another test's swarm mode on the
same engine did that: DNS inside the stack then fails).

Cleanup: every fault is healed when its time is up, and whatever is still in effect at the end —
also after an exception or Ctrl-C/SIGTERM — is healed in finally blocks; the stack is then
removed (docker/stack.sh down: containers, workers, network, volumes) with its image tags.
Stacks of earlier runs that were killed before their teardown (nemesis<pid>x<n>, with HA
nemha<pid>x<n>; pid gone) are removed first.
"""
import os
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))  # the tests' shared harness

import checker  # noqa: E402
import runner  # noqa: E402
from apistack import Stop, free_ports, install_signal_handlers  # noqa: E402
from dockerstack import DockerStack, LogFollower, remove_stale  # noqa: E402
from history import History  # noqa: E402
from nemesis import INFRA_KILLS, KINDS, supported  # noqa: E402
from nemesis_docker import PEERS_HA, DockerTarget  # noqa: E402
from orchpair import OrchestratorPair  # noqa: E402
from workload import Workload  # noqa: E402

HA = os.environ.get("HA") == "1" or os.environ.get("NEMESIS_HA") == "1"
PREFIX = "nemha" if HA else "nemesis"
SECONDS = float(os.environ.get("NEMESIS_SECONDS", "600"))
OUT = os.environ.get("NEMESIS_OUT", os.path.join(ROOT, "docs", f"reliability{'-ha' if HA else ''}.md"))
SESSION_S = 4.0  # the orchestrator's default ZK_SESSION_MS, which compose does not set
# The clients' timeout: with HA shorter, so that a client whose request is stuck on a frozen or
# cut-off active orchestrator (its outcome unknown) sends its next one while the fault lasts —
# to the orchestrator that took over — as a population of clients would keep arriving.
CLIENT_TIMEOUT_S = 5.0 if HA else 20.0
# Gaps between faults and their lengths, drawn at random. With HA a little shorter: after a kill of
# a RabbitMQ node the nemesis waits for it to be back in the cluster (up to a minute), and a run
# is still to see 30 faults or more in ten minutes.
GAP_S, DURATION_S = ((1.5, 5.0), (4.0, 12.0)) if HA else ((2.0, 8.0), (4.0, 15.0))
SETTINGS = {"MAX_SLAVES": 3, "SCALE_WINDOW_S": 60, "READS_PER_SLAVE": 2000, "LOG_LEVEL": "info"}


def say(line):
    print(line, flush=True)


def git(*args):
    r = subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True)
    return r.stdout.strip()


def commit():
    """The commit this run is of, and whether tracked files differ from it."""
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"`{git('rev-parse', '--short', 'HEAD')}`" + (" (with local changes)" if dirty else "")


def notes_of(path):
    """The hand-written "## Notes" section of an earlier report (kept across runs), or ""."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    i = text.find("\n## Notes")
    return text[i:] if i >= 0 else ""


def section(lines, head):
    """The indented lines after the line that starts with head."""
    i = next(k for k, ln in enumerate(lines) if ln.startswith(head)) + 1
    out = []
    while i < len(lines) and lines[i].startswith("  "):
        out.append(lines[i])
        i += 1
    return out


def write_report(path, res, seed, stack, kinds, workdir, at_commit):
    lines = runner.report_lines(res)
    verdicts = res.verdicts.lines()
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(res.history.started))
    notes = notes_of(path)
    title, intro, ha_env = "", "", ""
    if HA:
        title = " on the HA topology"
        intro = ("\nThe stack is `HA=1 make up`'s: three RabbitMQ nodes, three ZooKeeper servers, two orchestrators\n"
                 "with the leader lock. The single-node run is in `docs/reliability.md`.\n")
        ha_env = "HA=1 "
    with open(path, "w") as f:
        f.write(f"""# Reliability: the nemesis run{title}

Generated by `bench/nemesis.py` (`{ha_env}make nemesis`); how it works and what each property means:
the top of `bench/nemesis.py`, `tests/lib/nemesis.py` and `tests/lib/checker.py`. The
60-second version on the process stack runs in `make test` (`tests/integration/test_nemesis.py`).
{intro}
Run: {at}, commit {at_commit},
seed {seed}, {res.duration:.0f} s, {'HA ' if HA else ''}container stack `{stack}` on Docker
{subprocess.run(['docker', 'version', '-f', '{{.Server.Version}}'], capture_output=True, text=True).stdout.strip()},
settings {', '.join(f'{k}={v}' for k, v in SETTINGS.items())}, ZooKeeper session {SESSION_S:.0f} s,
clients' timeout {CLIENT_TIMEOUT_S:.0f} s.
Command:

```sh
{ha_env}NEMESIS_SEED={seed} NEMESIS_SECONDS={SECONDS:.0f} make nemesis
```

Fault kinds: {', '.join(kinds)}.

## Verdicts

```
{chr(10).join(verdicts)}
```

{lines[0]}.
{lines[1]}.

## Fault timeline

Seconds from the start of the load; one fault at a time.

```
{chr(10).join(section(lines, 'faults:'))}
```

## Availability

Operations (reads and writes, both APIs) that succeeded, by when they were invoked: while a
fault of that kind lasted, and in the 10 s after it was healed; "none": while no fault was in
effect. "first write acked": from the fault's start (its injection in effect) to the first
acknowledgement of a write sent after it began, worst case, and in how many of the faults that
happened before the heal; "longest without an ack": the longest time within one fault of the kind
with no write acknowledged at all.
A write acknowledged is one the system promised to keep; a failed or unknown one is only
unavailability (safety is the verdicts above).

```
{chr(10).join(section(lines, 'availability'))}
```
{notes}""")
    say(f"# report written to {path}; history and logs in {workdir}")


def keep_infra_logs(stack, directory):
    """The RabbitMQ nodes' and ZooKeeper servers' logs, one file each (not the services' format:
    for a post-mortem, not for the checker)."""
    os.makedirs(directory, exist_ok=True)
    for svc in PEERS_HA["mq"] + PEERS_HA["zk"]:
        c = stack.service_container(svc)
        if c:
            with open(os.path.join(directory, f"{svc}.log"), "w") as f:
                subprocess.run(["docker", "logs", "-t", c], stdout=f, stderr=subprocess.STDOUT, timeout=120)


def rejudge(workdir):
    """The checker again over a kept run (history.jsonl, run.json, all.log, replicas/*.db), and
    the report written anew: for a change to the checker or the report, without a new run."""
    with open(os.path.join(workdir, "run.json")) as f:
        run = json.load(f)
    if run.get("ha", False) != HA:
        say("# that run's topology is not this one's: rejudge it " + ("with HA=1" if run.get("ha") else "without HA"))
        return 2
    history = History.load(os.path.join(workdir, "history.jsonl"))
    with open(os.path.join(workdir, "all.log"), errors="replace") as f:
        lines = f.read().splitlines()
    rdir = os.path.join(workdir, "replicas")
    reps = [checker.read_replica(n[:-3], os.path.join(rdir, n)) for n in sorted(os.listdir(rdir)) if n.endswith(".db")]
    verdicts, stats = checker.check(history, reps, lines)
    res = runner.Result(history, verdicts, stats, checker.availability(history.ops, history.faults),
                        run["settled"], run["skipped"], run["duration"])
    for line in runner.report_lines(res):
        say(f"# {line}")
    write_report(OUT, res, run["seed"], run["stack"], run["kinds"], workdir, run["commit"])
    return 0 if verdicts.ok() else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "rejudge":
        return rejudge(sys.argv[2])
    install_signal_handlers()
    seed = int(os.environ.get("NEMESIS_SEED", str(random.randrange(1 << 30))))
    kinds = [k for k in os.environ.get("NEMESIS_KINDS", ",".join(KINDS)).split(",") if HA or k not in INFRA_KILLS]
    workdir = tempfile.mkdtemp(prefix="rideshare-nemesis.")
    at_commit = commit()
    say(f"# seed {seed}, {SECONDS:.0f}s, {'HA stack, ' if HA else ''}faults {', '.join(kinds)}; "
        f"work directory {workdir}")
    remove_stale(PREFIX, log=say)
    stack = DockerStack.fresh(PREFIX, SETTINGS, ha=HA)
    follower, target, pair = None, None, None
    try:
        names = ["GATEWAY_PORT", "USERS_PORT", "RIDES_PORT", "ORCH_PORT", "PROMETHEUS_PORT"] + (["ORCH2_PORT"] * HA)
        ports = dict(zip(names, free_ports(len(names))))
        t0 = time.monotonic()
        stack.up(ports, workdir)
        say(f"# stack {stack.name} up in {time.monotonic() - t0:.0f}s, ports {ports}")
        follower = LogFollower(stack, os.path.join(workdir, "logs"))
        follower.start()
        if HA:
            pair = OrchestratorPair({"orchestrator": ports["ORCH_PORT"], "orchestrator-2": ports["ORCH2_PORT"]})
            pair.start()
            say(f"# active orchestrator: {pair.wait_active(120)}")
        target = DockerTarget(stack, SESSION_S, log=say, pair=pair)
        kinds = supported(target, kinds)
        history = History()
        load = Workload(history, ports["GATEWAY_PORT"], target.orch_port, f"n{seed % 100000}", seed=seed,
                        think_s=0.005, timeout=CLIENT_TIMEOUT_S)
        if pair:  # the DB API half follows the active orchestrator, as users and rides do
            pair.on_change(lambda port: setattr(load, "orch", port))
        load.create_owner()

        def path_of(w):
            """A copy of the worker's file (and its WAL), taken through /proc/<pid>/root once the
            load has stopped: SQLite resolves the /proc/<pid>/root link to this host's / and
            could not open the file where it is."""
            src = f"/proc/{stack.pid(stack.worker_container(w['id']))}/root/data/{w['id']}.db"
            dst = os.path.join(workdir, "replicas", f"{w['id']}.db")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            for suffix in ("", "-wal"):
                if os.path.exists(dst + suffix):
                    os.unlink(dst + suffix)
                if os.path.exists(src + suffix):
                    shutil.copyfile(src + suffix, dst + suffix)
            for stale in (dst + "-shm",):
                if os.path.exists(stale):
                    os.unlink(stale)
            return dst

        def logs():
            lines = follower.lines()
            if HA:
                keep_infra_logs(stack, os.path.join(workdir, "infra-logs"))
            with open(os.path.join(workdir, "all.log"), "w") as f:
                f.write("\n".join(lines) + "\n")
            return lines

        res = runner.run(history, load, target, SECONDS, kinds, seed, path_of=path_of, logs=logs,
                         log=say, gap_s=GAP_S, duration_s=DURATION_S, settle_s=180)
        history.dump(os.path.join(workdir, "history.jsonl"))
        if target.broken:
            say(f"# the run is void, no report written: {target.broken}; history and logs in {workdir}")
            return 3
        with open(os.path.join(workdir, "run.json"), "w") as f:
            json.dump({"seed": seed, "stack": stack.name, "kinds": kinds, "commit": at_commit, "ha": HA,
                       "duration": res.duration, "settled": res.settled, "skipped": res.skipped}, f)
        for line in runner.report_lines(res):
            say(f"# {line}")
        write_report(OUT, res, seed, stack.name, kinds, workdir, at_commit)
        return 0 if res.verdicts.ok() else 1
    finally:
        if target is not None:
            target.cleanup()
        if pair is not None:
            pair.stop()
        if follower is not None:
            follower.stop()
        stack.down()
        left = stack.leftovers()
        say(f"# stack {stack.name} removed" + (f"; LEFT: {left}" if left else ", nothing left"))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Stop as e:  # Ctrl-C or SIGTERM: everything was undone in main's finally
        say(f"# interrupted ({e})")
        sys.exit(130)
