"""workers.py — what a Stack's orchestrator says about its workers: GET /api/v1/worker/list,
GET /api/v1/status, and the lines of its log that name a master or a ready worker.

The log is the suites' window on the orchestrator's decisions: "started worker id= pid=",
"master designated id= pid= epoch=", "worker ready id=", "failover done". A function that
answers a question (all_ready, settled) returns a false value until the answer is yes, so
that it can be waited on with wait_for.
"""
import re

from harness import check


def worker_list(s):
    """The workers' PIDs, as worker/list gives them (sorted)."""
    st, body = s.client.request("GET", "/api/v1/worker/list")
    check(st == 200 and isinstance(body, list) and all(isinstance(p, int) for p in body),
          f"worker/list: {st} {body}")
    check(body == sorted(body), f"worker/list not sorted: {body}")
    return body


def status(s):
    st, body = s.client.request("GET", "/api/v1/status")
    check(st == 200 and isinstance(body, dict), f"status: {st} {body}")
    return body


def all_ready(s, n):
    """The status, once it lists n workers and every one is ready; else False."""
    b = status(s)
    ws = b["workers"]
    return len(ws) == n and all(w["state"] == "ready" for w in ws) and b


def designated(s):
    """(id, pid, epoch) of the master the orchestrator named last."""
    found = re.findall(r"master designated id=(\S+) pid=(\d+) epoch=(\d+)", s.log_text())
    check(found, "no master designated yet")
    i, pid, epoch = found[-1]
    return i, int(pid), int(epoch)


def ids_by_pid(s):
    return {pid: i for i, (_, pid) in s.workers().items()}


def ready_ids(s):
    return set(re.findall(r"worker ready id=(\S+)", s.log_text()))


def settled(s, n_workers, failovers):
    """All n_workers are live and ready, and every failover so far is done."""
    text = s.log_text()
    if text.count("failover done") < failovers:
        return False
    pids = worker_list(s)
    if len(pids) != n_workers:
        return False
    by_pid, ready = ids_by_pid(s), ready_ids(s)
    return all(by_pid.get(p) in ready for p in pids)
