#!/usr/bin/env python3
"""test_brokers.py — least privilege in the brokers (docs/security.md, "The brokers' users"), on the
process stack: a Stack's vhost has a RabbitMQ user per role and ZK_ROOT's znodes have digest ACLs
(harness.py), and each role can do what the design needs and nothing the test tries beyond it.

Checked with tests/helpers/brokerprobe, one operation at a time with one role's credentials:
  - RabbitMQ: guest cannot log in; the console's user cannot publish (to the log or to writeQ),
    consume writeQ or declare a queue, yet reads the queues' depths; the orchestrator's cannot
    consume writeQ; the workers' cannot declare a queue outside the design's names;
  - ZooKeeper: nobody anonymous reads or writes ZK_ROOT; the workers' shared identity and a
    worker's own cannot set ZK_ROOT/master, nor one worker another's znode, while the
    orchestrator sets master and a worker its own znode; the console's identity writes, creates
    and deletes nothing anywhere under ZK_ROOT, yet reads every znode;
  - the whole stack under it: writes and reads, crash/master and crash/slave with their
    replacements, every new worker's znode writable by itself alone, and no orchestrator secret
    in a worker's environment;
  - rotation: an orchestrator with a new ZooKeeper identity takes the znodes over when given the
    former one (ZK_AUTH_PREVIOUS), and refuses to start, saying why, when not.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import BIN, HELPERS, Client, Stack, Suite, check, pid_alive, wait_for, zk_node_auth  # noqa: E402
from load import mixed_writes  # noqa: E402
from ops import PASSWORD  # noqa: E402

suite = Suite("brokers")
PROBE = os.path.join(HELPERS, "brokerprobe")
STACK = None  # one Stack for the probes (the tests that change it make their own)


def stack():
    global STACK
    if STACK is None:
        STACK = Stack("brokers")
    return STACK


def probe(s, kind, *args, url=None, auth=None):
    """(exit status, stdout, stderr) of brokerprobe kind args, as url (amqp) or auth (zk)."""
    env = dict(os.environ, ZK_HOSTS=s.env["ZK_HOSTS"], LOG_LEVEL="warn")
    env.pop("ZK_AUTH", None)
    if url:
        env["RABBITMQ_URL"] = url
    if auth:
        env["ZK_AUTH"] = auth
    p = subprocess.run([PROBE, kind, *args], env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def amqp_refused(s, role, op, queue, resource):
    rc, out, err = probe(s, "amqp", op, queue, url=s.urls[role])
    check(rc != 0 and "403 ACCESS_REFUSED" in err and resource in err,
          f"{role} {op} {queue}: exit {rc}, {out.strip()} {err.strip()[-300:]}")


def amqp_ok(s, role, op, queue, url=None):
    rc, out, err = probe(s, "amqp", op, queue, url=url or s.urls[role])
    check(rc == 0, f"{role} {op} {queue}: exit {rc}, {out.strip()} {err.strip()[-300:]}")
    return out


def zk_refused(s, auth, *args):
    rc, out, _ = probe(s, "zk", *args, auth=auth)
    check(rc == 3 and "not authenticated" in out, f"zk {' '.join(args)} as {auth and auth.split(':')[0]}: "
                                                  f"exit {rc}, {out.strip()}")


def zk_ok(s, auth, *args):
    rc, out, _ = probe(s, "zk", *args, auth=auth)
    check(rc == 0, f"zk {' '.join(args)} as {auth and auth.split(':')[0]}: exit {rc}, {out.strip()}")
    return out.rsplit("ok", 1)[0].rstrip("\n")


def root(s):
    return s.env["ZK_ROOT"]


@suite.test
def guest_cannot_log_in():
    s = stack()
    guest = re.sub(r"//[^@]*@", "//guest:guest@", s.admin_url)
    rc, _, err = probe(s, "amqp", "login", url=guest)
    check(rc != 0 and "ACCESS_REFUSED" in err, f"guest: exit {rc}, {err[-300:]}")
    amqp_ok(s, "console", "login", "")


@suite.test
def the_console_cannot_publish_to_the_log():
    s = stack()
    amqp_refused(s, "console", "publish", "replog", "exchange 'amq.default'")
    amqp_refused(s, "console", "publish", "writeQ", "exchange 'amq.default'")
    amqp_refused(s, "console", "consume", "writeQ", "queue 'writeQ'")
    amqp_refused(s, "console", "declare", "readQ", "queue 'readQ'")
    # ... and still sees what it shows: depths, by passive declares that need no permission.
    out = amqp_ok(s, "console", "depth", "writeQ")
    check("consumers=1" in out, f"writeQ as the console sees it: {out}")


@suite.test
def each_role_reaches_only_its_queues():
    s = stack()
    amqp_refused(s, "orchestrator", "consume", "writeQ", "queue 'writeQ'")  # the master's to take
    amqp_refused(s, "orchestrator", "consume", "replog", "queue 'replog'")
    amqp_refused(s, "worker", "declare", "evil", "queue 'evil'")
    amqp_refused(s, "worker", "reply", "", "queue 'amq.gen-")  # reply queues are the orchestrator's
    amqp_ok(s, "orchestrator", "reply", "")
    amqp_ok(s, "worker", "consume", "replog")  # a replica replays the log


@suite.test
def anonymous_sessions_read_and_write_nothing():
    s = stack()
    zk_refused(s, None, "get", f"{root(s)}/master")
    zk_refused(s, None, "children", f"{root(s)}/workers")
    zk_refused(s, None, "set", f"{root(s)}/log_epoch", "99")


@suite.test
def workers_cannot_write_the_master_znode():
    s = stack()
    master = f"{root(s)}/master"
    before = zk_ok(s, s.auth["orchestrator"], "get", master)
    check('"epoch"' in before, f"master znode: {before}")
    wid = s.master_id()
    other = next(i for i in s.workers() if i != wid)
    own = zk_node_auth(s.auth["orchestrator"], wid)
    forged = '{"id":"%s","epoch":999999}' % other
    zk_refused(s, s.auth["worker"], "set", master, forged)
    zk_refused(s, own, "set", master, forged)
    zk_refused(s, f"{s.auth['worker']} {own}", "set", master, forged)  # both, as a worker holds them
    zk_refused(s, s.auth["worker"], "delete", master)
    check(zk_ok(s, s.auth["console"], "get", master) == before, "the master znode changed")
    # Its own znode is a worker's to write, no other's; the orchestrator writes master.
    node = f"{root(s)}/workers/{wid}"
    data = zk_ok(s, own, "get", node)
    zk_ok(s, own, "set", node, data)
    zk_refused(s, s.auth["worker"], "set", node, data)
    zk_refused(s, zk_node_auth(s.auth["orchestrator"], other), "set", node, data)
    zk_refused(s, s.auth["worker"], "delete", node)
    zk_ok(s, s.auth["orchestrator"], "set", master, before)
    acl = zk_ok(s, s.auth["console"], "acl", node)
    check(f"digest:worker.{wid}:x rw" in acl, f"{node}'s ACL:\n{acl}")


@suite.test
def the_console_cannot_write_any_znode():
    s = stack()
    console = s.auth["console"]
    nodes, pending = [], [root(s)]
    while pending:  # every znode under ZK_ROOT, read as the console
        path = pending.pop()
        nodes.append(path)
        pending += [f"{path}/{c}" for c in zk_ok(s, console, "children", path).split("\n") if c]
    check({f"{root(s)}/{n}" for n in ("master", "workers", "log_epoch", "checkpoint", "locks")} <= set(nodes)
          and len(nodes) >= 8, f"znodes: {nodes}")
    for path in nodes:
        data = zk_ok(s, console, "get", path)
        zk_refused(s, console, "set", path, data)
        zk_refused(s, console, "create", f"{path}/console-was-here", "")
        if path != root(s):
            zk_refused(s, console, "delete", path)


def worker_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.split("=", 1) for e in f.read().decode().split("\0") if "=" in e)


@suite.test
def the_whole_stack_works_under_least_privilege():
    s = Stack("brokers-whole")
    try:
        mixed_writes(s.client, 0, 200)
        st, body = s.client.read({"op": "count", "table": "users", "where": {}})
        check(st == 200, f"count: {st} {body}")
        users = body["count"]
        for crash in ("master", "slave"):
            before = set(s.workers())
            st, body = s.client.request("POST", f"/api/v1/crash/{crash}", {})
            check(st == 200, f"crash/{crash}: {st} {body}")
            wait_for(lambda: (set(s.workers()) - before) and
                     (set(s.workers()) - before) <= set(re.findall(r"worker ready id=(\S+)", s.log_text())), 60,
                     f"a replacement after crash/{crash}, ready")
            wait_for(lambda: s.client.write({"op": "insert", "table": "users", "values": {
                "username": f"after-{crash}", "password": PASSWORD}})[0] == 200, 60, f"a write after crash/{crash}")
            users += 1
            wait_for(lambda: s.client.read({"op": "count", "table": "users", "where": {}}) == (200, {"count": users}),
                     30, f"a read of every write after crash/{crash}")
        # Every live worker: its own identity, writable by it alone; none of the orchestrator's
        # secrets in its environment.
        for wid, (_, pid) in s.workers().items():
            if not pid_alive(pid):
                continue
            env = worker_environ(pid)
            check(env.get("ZK_NODE_AUTH") == zk_node_auth(s.auth["orchestrator"], wid)
                  and env.get("ZK_AUTH") == s.auth["worker"] and env.get("RABBITMQ_URL") == s.urls["worker"],
                  f"worker {wid}'s identities")
            check(not any(v for k, v in env.items() if s.auth["orchestrator"].split(":", 1)[1] in v),
                  f"the orchestrator's password in worker {wid}'s environment")
            check("WORKER_ZK_AUTH" not in env and "WORKER_RABBITMQ_URL" not in env, f"worker {wid}'s env")
            acl = zk_ok(s, s.auth["console"], "acl", f"{root(s)}/workers/{wid}")
            check(acl.count(" rw") == 1 and f"worker.{wid}:x rw" in acl, f"{wid}'s ACL:\n{acl}")
    finally:
        s.stop()


def orchestrator(s, name, **env):
    """A second orchestrator on s's vhost, root and data, with env changed; (process, log path)."""
    log = os.path.join(s.dir, f"{name}.log")
    p = subprocess.Popen([os.path.join(BIN, "rideshare-orchestrator")], env=dict(s.env, **env),
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    return p, log


@suite.test
def a_new_orchestrator_identity_takes_over_with_the_former_one():
    s = Stack("brokers-rotate")
    old = s.auth["orchestrator"]
    new = f"{s.name}.orchestrator2:{os.urandom(16).hex()}"
    s.stop()
    p, log = orchestrator(s, "refused", ZK_AUTH=new)
    try:
        check(p.wait(60) != 0, "an orchestrator whose identity the znodes do not name started")
        with open(log) as f:
            text = f.read()
        check("made under another identity" in text and "ZK_AUTH_PREVIOUS" in text, f"its log:\n{text[-1500:]}")
        check(new.split(":", 1)[1] not in text and old.split(":", 1)[1] not in text, "a password in the log")
    finally:
        if p.poll() is None:
            p.kill()
    p, log = orchestrator(s, "rotated", ZK_AUTH=new, ZK_AUTH_PREVIOUS=old)
    try:
        def port():
            check(p.poll() is None, f"the rotated orchestrator exited: {open(log).read()[-1500:]}")
            m = re.search(r"orchestrator listening url=http://[^:]+:(\d+)/", open(log).read())
            return m and int(m.group(1))
        c = Client(wait_for(port, 60, "the rotated orchestrator to listen"))
        st, body = c.write({"op": "insert", "table": "users", "values": {"username": "rotated", "password": PASSWORD}})
        check(st == 200, f"a write after the rotation: {st} {body}")
        for node in ("", "/master", "/workers", "/log_epoch", "/checkpoint", "/locks"):
            acl = zk_ok(s, s.auth["console"], "acl", root(s) + node)
            check(f"digest:{new.split(':')[0]}:x rwcda" in acl and f"{old.split(':')[0]}:" not in acl,
                  f"{root(s) + node}'s ACL:\n{acl}")
        zk_refused(s, old, "set", f"{root(s)}/master", "{}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        # Its workers stop with it; any left (their PIDs in its log) go too.
        with open(log) as f:
            pids = [int(m) for m in re.findall(r"started worker id=\S+ pid=(\d+)", f.read())]
        deadline = time.monotonic() + 5
        while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    try:
        suite.run()
    finally:
        if STACK:
            STACK.stop()
