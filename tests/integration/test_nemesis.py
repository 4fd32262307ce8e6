#!/usr/bin/env python3
"""test_nemesis.py — a minute of faults under load on the process stack, judged from the history.

The whole stack of apistack.ApiStack (gateway, users, rides, orchestrator, a master and two
slaves) on free loopback ports, with its orchestrator on a fixed port so that it can be killed
and started again. Eight writers and eight readers (tests/lib/workload.py), half through the
gateway and half through the DB API, run for NEMESIS_SECONDS (60); meanwhile the nemesis
(tests/lib/nemesis.py) injects, one at a time at random, the faults of the failure model
(docs/design.md, "Failure model"): SIGKILL of a random worker and of the orchestrator (started
again by the nemesis), SIGSTOP of the master or the orchestrator past the ZooKeeper session
(2 s here), crash/master and promote, and partitions — the master cut off from ZooKeeper only or
from RabbitMQ only, the orchestrator from ZooKeeper, a slave from RabbitMQ — through the loopback
proxy of tests/lib/netproxy.py, which the whole stack reaches both servers through
(tests/lib/nemesis_process.py, netproxy_partitions). NEMESIS_PARTITIONS=0 leaves partitions out.

Then the stack settles, every replica's file is read, and the checker (tests/lib/checker.py)
judges the safety properties, one "ok"/"not ok" line each. Availability is printed, not asserted.
NEMESIS_SEED replays a run's choices (the faults' order and times; the load's timing differs).
The history is kept in TEST_TMP (nemesis-history.jsonl) for a failed run's post-mortem.
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness

import checker  # noqa: E402
import runner  # noqa: E402
from apistack import ApiStack, free_ports, install_signal_handlers  # noqa: E402
from harness import TMP  # noqa: E402
from history import History  # noqa: E402
from nemesis import PARTITIONS  # noqa: E402
from nemesis_process import ProcessTarget, fixed_port_env, netproxy_partitions  # noqa: E402
from workload import Workload  # noqa: E402

SUITE = "nemesis"
SECONDS = float(os.environ.get("NEMESIS_SECONDS", "60"))
SESSION_MS = 2000
KINDS = ["kill-worker", "kill-orchestrator", "crash-master", "promote", "pause-master", "pause-orchestrator"]


def say(line):
    print(line, flush=True)


def checker_finds_planted_violations():
    """A history and two replicas with one violation of each property planted: every verdict
    must be FAIL (a checker that passes everything proves nothing)."""
    h = History()

    def op(f, key, value, outcome, result=None, api="db", target=None):
        o = h.invoke("p", api, f, key, value, target)
        return h.complete(o, outcome, 200 if outcome == "ok" else 409, result)

    ride = {"created_by": "owner", "source": 1, "destination": 2}
    user = op("create_user", "a", {"password": "x"}, "ok", {"seq": 1, "changes": 1})
    op("create_ride", 1, ride, "ok", {"seq": 2, "changes": 1, "id": 7})
    op("ghost_ride", 9, dict(ride, created_by="ghost"), "failed")
    op("create_ride", 5, ride, "unknown")
    op("read_user", "a", None, "ok", {"found": []}, api="public", target=user.i)
    rides = {1: [(7, "owner", 1, 2)], 9: [(8, "ghost", 1, 2)], 5: [(9, "owner", 1, 2), (10, "owner", 1, 2)]}
    reps = [checker.Replica("A", {"a": "x"}, rides, {2: (200, '{"changes":1,"id":99}')}, 3, {"users": 1}),
            checker.Replica("B", {}, rides, {}, 2, {"users": 2})]
    log = ["2026-01-01T00:00:00.000Z INFO  worker-w1  master taking writes epoch=2 applied_seq=0",
           "2026-01-01T00:00:01.000Z INFO  worker-w2  master taking writes epoch=2 applied_seq=0"]
    v, _ = checker.check(h, reps, log)
    passed = [prop for prop, (_, bad) in v.items.items() if not bad]
    if passed or len(v.items) != 7:
        say(f"not ok {SUITE}: the checker finds planted violations (passed {passed} of {list(v.items)})")
        return 1
    say(f"ok {SUITE}: the checker finds planted violations (all {len(v.items)} properties fail)")
    return 0


def main():
    install_signal_handlers()
    failed = checker_finds_planted_violations()
    seed = int(os.environ.get("NEMESIS_SEED", str(random.randrange(1 << 30))))
    kinds, parts, orch_env = list(KINDS), None, dict(fixed_port_env(free_ports(1)[0]), INITIAL_SLAVES=2,
                                                     ZK_SESSION_MS=SESSION_MS)
    if os.environ.get("NEMESIS_PARTITIONS", "1") == "1":
        parts = netproxy_partitions()
        orch_env["env_hook"] = parts.env_hook
        kinds += list(PARTITIONS)
    say(f"# seed {seed} (NEMESIS_SEED to replay), {SECONDS:.0f}s, faults {', '.join(kinds)}")
    try:
        stack = ApiStack("nemesis", orch_env=orch_env)
    except Exception as e:
        say(f"not ok {SUITE}: start the stack ({type(e).__name__}: {e})".replace("\n", " ")[:600])
        if parts:
            parts.close()
        sys.exit(1)
    target = ProcessTarget(stack, SESSION_MS / 1000, partitions=parts)
    try:
        history = History()
        load = Workload(history, stack.gw_port, stack.db.port, f"r{seed % 100000}", seed=seed,
                        token=stack.db.env.get("ADMIN_TOKEN"))
        load.create_owner()
        res = runner.run(history, load, target, SECONDS, kinds, seed,
                         path_of=lambda w: stack.db.db_path(w["id"]),
                         logs=lambda: stack.db.log_text().splitlines(), log=say)
        history.dump(os.path.join(TMP, "nemesis-history.jsonl"))
        for line in runner.report_lines(res):
            say(f"# {line}")
        for prop, (checked, bad) in res.verdicts.items.items():
            if bad:
                failed += 1
                say(f"not ok {SUITE}: {prop} ({len(bad)} counterexamples, e.g. {bad[0]})"[:600])
            else:
                say(f"ok {SUITE}: {prop} ({checked} checked)")
        kinds_run = {f["kind"] for f in history.faults}
        if not res.settled:
            failed += 1
            say(f"not ok {SUITE}: the stack settles after the faults (no ready master with every worker caught up)")
        if len(history.faults) < 5 or res.stats["acked"] < 100:
            failed += 1
            say(f"not ok {SUITE}: enough happened ({len(history.faults)} faults of {len(kinds_run)} kinds, "
                f"{res.stats['acked']} writes acknowledged)")
        else:
            say(f"ok {SUITE}: enough happened ({len(history.faults)} faults of {len(kinds_run)} kinds, "
                f"{res.stats['acked']} writes acknowledged)")
    finally:
        target.cleanup()
        stack.stop()
        if parts:
            parts.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
