#!/usr/bin/env python3
"""test_grader.py — the course's final-project grader (docs/api.md, "Final-project grader")
through the gateway, on the
process runtime, with a 4 s autoscaling window (grader.py scales its 120/160/150/60 s sleeps).

One ApiStack (apistack.py: orchestrator + workers, users, rides, nginx, on free loopback ports)
with SCALE_WINDOW_S=4 and READS_PER_SLAVE=20. What the grader counted with `docker ps` is here
the workers of worker/list plus the six fixed services of the container stack (gateway, users,
rides, orchestrator, RabbitMQ, ZooKeeper), which run once each either way.

Prints "ok grader: <test>" / "not ok grader: <test> (why)", with the run's timeline as "#"
lines. Arguments: names of tests to run alone.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiStack, install_signal_handlers, start_or_fail  # noqa: E402
from grader import final_project_grader  # noqa: E402
from harness import Suite  # noqa: E402

WINDOW_S = 4
FIXED_SERVICES = 6

suite = Suite("grader")
S = None


def containers():
    r = S.orch.get("/api/v1/worker/list")
    if r.status != 200:
        raise AssertionError(f"worker/list: {r}")
    return len(json.loads(r.data)) + FIXED_SERVICES


@suite.test
def final_project_grader_process_runtime():
    final_project_grader(S.gw, S.orch, containers, WINDOW_S, log=lambda m: print(f"# {m}", flush=True))


def main():
    global S
    install_signal_handlers()
    S = start_or_fail("grader", lambda: ApiStack("grader", orch_env={"SCALE_WINDOW_S": WINDOW_S,
                                                                     "READS_PER_SLAVE": 20}))
    try:
        suite.run()
    finally:
        S.stop()


if __name__ == "__main__":
    main()
