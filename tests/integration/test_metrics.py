#!/usr/bin/env python3
"""test_metrics.py — GET /metrics on users, rides and the orchestrator: valid Prometheus text, the
families operators alert on, values that follow what happened, and no metrics through the gateway.

What must hold (docs/operations.md, "Metrics"): every service answers /metrics in the text format;
requests are counted by route (not by path) with latency histograms; the orchestrator reports the
epoch, workers by role and state, each worker's seq, lag, reads and apply time, the autoscaler,
the read cache and the queues; its /metrics is behind the admin token; the gateway does not serve
/metrics; scraping does not move the spec's _count.
"""
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiClient, ApiStack, start_or_fail  # noqa: E402
from harness import Suite, check, wait_for  # noqa: E402
from ops import PASSWORD  # noqa: E402

suite = Suite("metrics")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? '
                    r'(-?[0-9.e+-]+|\+Inf|NaN)$')


def parse(text):
    """{(name, labels-text): value}; fails on any line that is not a comment or a sample, and on a
    sample whose family has no # TYPE line before it."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        check(m, f"not a sample line: {line!r}")
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in typed or base in typed, f"sample before its # TYPE: {line!r}")
        out[(name, m.group(3) or "")] = float(m.group(4))
    return out


def scrape(client, token=None):
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else None)
    check(r.status == 200, f"GET /metrics: {r}")
    check(r.header("content-type").startswith("text/plain; version=0.0.4"), f"content type {r.headers}")
    return parse(r.data.decode())


def ride_body(by):
    """A ride a week from now (the API's DD-MM-YYYY:SS-MM-HH)."""
    ts = time.strftime("%d-%m-%Y:%S-%M-%H", time.gmtime(time.time() + 7 * 86400))
    return {"created_by": by, "timestamp": ts, "source": "1", "destination": "2"}


def value(samples, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return samples.get((name, want))


@suite.test
def every_service_exposes_its_requests_and_state():
    token = secrets.token_hex(16)
    s = start_or_fail("metrics", lambda: ApiStack("metrics", orch_env={"INITIAL_SLAVES": 2, "ADMIN_TOKEN": token},
                                                  service_env={"ADMIN_TOKEN": token}))
    try:
        s.reset()
        r = s.gw.put("/api/v1/users", {"username": "mia", "password": PASSWORD})
        check(r.status == 201, f"create user: {r}")
        for _ in range(3):
            check(s.gw.post("/api/v1/rides", ride_body("mia")).status == 201, "create ride")
        for i in range(4):
            check(s.gw.get(f"/api/v1/rides/{10**9 + i}").status in (204, 400, 404), "unknown ride")
        before = s.count("rides")

        r = s.rides.get("/metrics")
        check(r.status == 401 and r.header("www-authenticate") == "Bearer", f"rides /metrics without the token: {r}")
        rides = scrape(s.rides, token)
        check(value(rides, "rideshare_http_requests_total", route="/api/v1/rides", method="POST", status="201") == 3,
              f"rides POST counted: {[k for k in rides if 'requests_total' in k[0]]}")
        unknown = sum(v for (n, l), v in rides.items()
                      if n == "rideshare_http_requests_total" and 'route="/api/v1/rides/{rideId}"' in l)
        check(unknown == 4, f"4 unknown rides counted under the route pattern, got {unknown}")
        check(not any("1000000000" in l for _, l in rides), "a ride id leaked into a label")
        check(value(rides, "rideshare_http_request_duration_seconds_count", route="/api/v1/rides") >= 3,
              "latency histogram of POST /api/v1/rides")
        users = scrape(s.users, token)
        check(value(users, "rideshare_http_requests_total", route="/api/v1/users", method="PUT", status="201") == 1,
              "users PUT counted")
        check(s.count("rides") == before, "a scrape moved the rides _count")

        # The orchestrator: behind the token; the workers as the supervisor sees them.
        check(s.orch.get("/metrics").status == 401, "orchestrator /metrics without the token")

        def workers_known():
            o = scrape(s.orch, token)
            ready = value(o, "rideshare_workers", role="slave", state="ready")
            return ready == 2 and value(o, "rideshare_workers", role="master", state="ready") == 1 and o
        o = wait_for(workers_known, 15, "master and 2 slaves ready in /metrics")
        check(value(o, "rideshare_master_present") == 1, "master present")
        check(value(o, "rideshare_epoch") >= 1, "epoch")
        seqs = {l: v for (n, l), v in o.items() if n == "rideshare_worker_applied_seq"}
        check(len(seqs) == 3, f"applied seq of every worker: {seqs}")
        check(value(o, "rideshare_events_total", kind="spawn") >= 3, "spawn events counted")
        check(value(o, "rideshare_scaling_target_slaves") == 2, "target slaves")
        check(value(o, "rideshare_scaling_max_slaves") == 8, "max slaves")
        writes = value(o, "rideshare_http_requests_total", route="/api/v1/db/write", method="POST", status="200")
        check(writes and writes >= 4, f"db/write requests counted: {writes}")

        def applied_everywhere():
            o = scrape(s.orch, token)
            applied = [v for (n, l), v in o.items() if n == "rideshare_worker_applied_total"]
            lags = [v for (n, l), v in o.items() if n == "rideshare_worker_lag"]
            secs = [v for (n, l), v in o.items() if n == "rideshare_worker_apply_seconds_total"]
            return (len(applied) == 3 and min(applied) >= 4 and lags and max(lags) == 0 and min(secs) > 0
                    and value(o, "rideshare_queue_messages", queue="writeQ") is not None and o)
        o = wait_for(applied_everywhere, 15, "every worker's applied entries, no lag, and the queue depths")
        check(value(o, "rideshare_queue_consumers", queue="readQ") == 2, "readQ consumers")

        reads = sum(v for (n, _), v in o.items() if n == "rideshare_worker_reads_total")
        for i in range(10):
            st, _ = s.db.client.read({"op": "select", "table": "users", "where": {"username": f"m{i}"}})
            check(st == 200, "read")
        wait_for(lambda: sum(v for (n, _), v in scrape(s.orch, token).items()
                             if n == "rideshare_worker_reads_total") >= reads + 10, 10, "reads served counted")
        o = scrape(s.orch, token)
        check(value(o, "rideshare_read_cache_misses_total") >= 10, "read cache misses")

        # Not through the gateway.
        r = s.gw.get("/metrics")
        check(r.status == 404 and r.is_json, f"gateway /metrics: {r}")
    finally:
        s.stop()


if __name__ == "__main__":
    suite.run()
