#!/usr/bin/env python3
"""test_auth.py — the orchestrator's admin token (docs/security.md) on a process stack.

One ApiStack (orchestrator + workers, users, rides, nginx) runs with ADMIN_TOKEN set on the
orchestrator, users and rides. What must hold:
  - every orchestrator route of docs/openapi.yaml (each path and method whose servers are the
    orchestrator's, db/clear included) answers 401 with a JSON error and WWW-Authenticate: Bearer
    without the token, with a wrong one, with a prefix of it and under another scheme; an unknown
    path too (no route is revealed); and is served with it (any status but 401: the handlers'
    own answers to an empty body are theirs to give);
  - the public API works end to end through the gateway (users and rides send the token);
  - a users service without the token gets nothing from the orchestrator: it answers 503, and
    nothing is written.
"""
import json
import os
import secrets
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiStack, install_signal_handlers, ride_ts, start_or_fail  # noqa: E402
from harness import ROOT, Suite, check  # noqa: E402
from ops import PASSWORD  # noqa: E402

suite = Suite("auth")
TOKEN = secrets.token_hex(32)
SPEC = os.path.join(ROOT, "docs", "openapi.yaml")
# Routes whose call with the token would disturb the rest (they kill workers): asked last.
LAST = ("/api/v1/crash/master", "/api/v1/crash/slave")


def orchestrator_routes():
    """(method, path) of every route the orchestrator serves, from the OpenAPI file."""
    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    out = []
    for path, item in spec["paths"].items():
        ports = [s["url"].rsplit(":", 1)[-1] for s in item.get("servers", [])]
        if "8083" not in ports:
            continue
        for method in ("get", "put", "post", "delete"):
            if method in item:
                out.append((method.upper(), path))
    out.sort(key=lambda r: r[1] in LAST)
    return out


def refused(resp):
    try:
        err = json.loads(resp.data).get("error")
    except (ValueError, AttributeError):
        err = None
    return resp.status == 401 and resp.header("WWW-Authenticate") == "Bearer" and bool(err)


STACK = None


def stack():
    global STACK
    if STACK is None:
        env = {"ADMIN_TOKEN": TOKEN}
        STACK = start_or_fail("auth", lambda: ApiStack("auth", orch_env=env, service_env=env))
    return STACK


@suite.test
def every_orchestrator_route_needs_the_token():
    s = stack()
    routes = orchestrator_routes()
    check(len(routes) >= 13, f"only {len(routes)} orchestrator routes in {SPEC}")
    bad = {"none": None, "wrong": "Bearer " + TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1"),
           "prefix": "Bearer " + TOKEN[:32], "longer": "Bearer " + TOKEN + "0", "basic": "Basic " + TOKEN}
    for method, path in routes + [("GET", "/api/v1/no/such/route")]:
        for what, value in bad.items():
            r = s.orch.call(method, path, {} if method in ("POST", "PUT") else None,
                            headers={"Authorization": value} if value else None)
            check(refused(r), f"{method} {path} with {what} token: {r}")
    served = []
    for method, path in routes:
        r = s.orch.call(method, path, {} if method in ("POST", "PUT") else None,
                        headers={"Authorization": f"Bearer {TOKEN}"})
        check(r.status != 401, f"{method} {path} with the token: {r}")
        served.append(f"{method} {path} {r.status}")
    print(f"# {len(routes)} routes refused without the token, served with it: " + ", ".join(served), flush=True)


@suite.test
def public_api_works_with_the_token_on():
    s = stack()
    r = s.gw.put("/api/v1/users", {"username": "tokenuser", "password": PASSWORD})
    check(r.status == 201, f"create user: {r}")
    r = s.gw.post("/api/v1/rides", {"created_by": "tokenuser", "timestamp": ride_ts(86400 * 3),
                                    "source": 1, "destination": 2})
    check(r.status == 201, f"create ride: {r}")
    r = s.gw.get("/api/v1/rides?source=1&destination=2")
    check(r.status == 200 and len(json.loads(r.data)) >= 1, f"list rides: {r}")
    r = s.gw.get("/api/v1/users")
    check(r.status == 200 and "tokenuser" in json.loads(r.data), f"list users: {r}")


@suite.test
def a_service_without_the_token_gets_nothing():
    s = stack()
    from apistack import ApiClient, free_ports  # noqa: E402 (one more users service, tokenless)
    port = free_ports(1)[0]
    s.service_env.pop("ADMIN_TOKEN", None)
    p = s._service("users-notoken", {"USERS_HOST": "127.0.0.1", "USERS_PORT": str(port)},
                   binary="rideshare-users")
    c = ApiClient(port)
    try:
        r = c.put("/api/v1/users", {"username": "sneaky", "password": PASSWORD})
        check(r.status == 503, f"create user without the token: {r}")
        r = s.gw.get("/api/v1/users")
        check(r.status == 200 and "sneaky" not in json.loads(r.data), f"the user was written: {r}")
        check("401" in p.log_text() or "admin token" in p.log_text(),
              "the tokenless service's log does not say why: " + p.log_text()[-600:])
    finally:
        c.close()


if __name__ == "__main__":
    install_signal_handlers()
    try:
        suite.run()
    finally:
        if STACK is not None:
            STACK.stop()
