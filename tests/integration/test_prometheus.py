#!/usr/bin/env python3
"""test_prometheus.py — the monitoring side: the rendered Prometheus config and the alert rules pass
promtool (config, rules, and the rules' own unit tests in services/prometheus/alerts_test.yml), and a
real Prometheus scraping a process stack finds every target up, the orchestrator's token accepted,
every worker's series present and every rule loaded.

Prometheus is Debian's (make deps installs it); it binds a free loopback port, keeps its data in
TEST_TMP, and is stopped by PID at the end.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from apistack import ApiStack, Proc, free_ports, start_or_fail  # noqa: E402
from harness import ROOT, TMP, Suite, check, wait_for  # noqa: E402

suite = Suite("prometheus")
PROM_DIR = os.path.join(ROOT, "services", "prometheus")


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def render(out, users, rides, orchs, token_file=""):
    env = dict(os.environ, ADMIN_TOKEN_FILE=token_file)
    p = subprocess.run([os.path.join(PROM_DIR, "render.sh"), users, rides, orchs, out], env=env,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr


@suite.test
def config_and_rules_pass_promtool():
    out = os.path.join(TMP, "prom-check")
    token = os.path.join(TMP, "prom-check-token")
    with open(token, "w") as f:
        f.write("x\n")
    rc, err = render(out, "users:8081", "rides:8082", "orchestrator:8083,orchestrator-2:8083", token)
    check(rc == 0, f"render: {err}")
    rc, text = run(["promtool", "check", "config", os.path.join(out, "prometheus.yml")])
    check(rc == 0 and "SUCCESS" in text, f"promtool check config: {text}")
    rc, text = run(["promtool", "check", "rules", os.path.join(PROM_DIR, "alerts.yml")])
    check(rc == 0 and "7 rules found" in text, f"promtool check rules: {text}")
    rc, text = run(["promtool", "test", "rules", os.path.join(PROM_DIR, "alerts_test.yml")])
    check(rc == 0 and "SUCCESS" in text, f"promtool test rules: {text}")
    # Nothing but an address reaches the config.
    for bad in ("users:8081\n- job_name: x", "users", "a b:1", "users:0"):
        rc, _ = render(out + "-bad", bad, "rides:8082", "orchestrator:8083")
        check(rc == 2, f"render accepted {bad!r}")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


@suite.test
def prometheus_scrapes_every_target():
    token = secrets.token_hex(16)
    s = start_or_fail("prometheus", lambda: ApiStack("prom", orch_env={"INITIAL_SLAVES": 2, "ADMIN_TOKEN": token},
                                                     service_env={"ADMIN_TOKEN": token}))
    prom = None
    try:
        out = os.path.join(s.dir, "prometheus")
        token_file = os.path.join(s.dir, "admin-token")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        rc, err = render(out, f"127.0.0.1:{s.users_port}", f"127.0.0.1:{s.rides_port}", f"127.0.0.1:{s.db.port}",
                         token_file)
        check(rc == 0, f"render: {err}")
        (port,) = free_ports(1)
        prom = Proc("prometheus", [shutil.which("prometheus"), f"--config.file={out}/prometheus.yml",
                                   f"--storage.tsdb.path={out}/data", f"--web.listen-address=127.0.0.1:{port}",
                                   "--storage.tsdb.retention.size=64MB"],
                    dict(os.environ), os.path.join(s.dir, "prometheus.log"))
        base = f"http://127.0.0.1:{port}"

        def all_up():
            check(prom.alive(), f"prometheus exited: {prom.log_text()[-2000:]}")
            try:
                t = get_json(base + "/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return False
            health = {x["labels"]["job"]: x["health"] for x in t}
            return health == {"users": "up", "rides": "up", "orchestrator": "up"} and health
        health = wait_for(all_up, 60, "every target up")
        print(f"# targets {health}", flush=True)

        def workers_seen():
            q = urllib.parse.quote("rideshare_worker_applied_seq")
            r = get_json(f"{base}/api/v1/query?query={q}")["data"]["result"]
            return len(r) == 3 and r
        series = wait_for(workers_seen, 30, "every worker's applied seq in Prometheus")
        check({x["metric"]["role"] for x in series} == {"master", "slave"}, f"roles {series}")
        rules = get_json(base + "/api/v1/rules")["data"]["groups"]
        names = {r["name"] for g in rules for r in g["rules"]}
        check(len(names) == 7 and "RideshareNoMaster" in names, f"rules loaded: {names}")
        alerts = get_json(base + "/api/v1/alerts")["data"]["alerts"]
        firing = [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"]
        check(not firing, f"alerts firing on a healthy stack: {firing}")
    finally:
        if prom:
            prom.stop()
        s.stop()


if __name__ == "__main__":
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        print("# prometheus/promtool not installed (make deps installs them)", flush=True)
        sys.exit(77)
    suite.run()
