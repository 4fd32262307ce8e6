#!/usr/bin/env python3
"""test_alarm.py — the DB service under a RabbitMQ resource alarm.

`rabbitmqctl set_vm_memory_high_watermark 0` on the run's node raises a
memory alarm: the broker stops reading from every connection that publishes
(it tells those that asked with connection.blocked). Nothing can be
published — not a request, not a reply, not a log entry (but a fresh
connection's first few) — until the
watermark is set back.

What must hold: while the alarm is on, writes and reads are answered 503
within their timeout (plus a margin), none hangs, few are acknowledged (a
fresh connection's first publishes pass before the broker blocks it); a
SIGTERM stops an orchestrator and its workers within a second even then,
with a master stuck in a publish the broker does not read (the second
stack's master is paused while writes queue up for it, so that it has log
entries to publish once the alarm is on);
once the alarm clears, writes are acknowledged again within a bounded time
without anything restarted by hand; and every write acknowledged, before or
after, is on every replica exactly once.

The node is shared with the rest of the run (suites run one after another):
the watermark is always set back in a finally block.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))  # the shared harness
from harness import LOCALINFRA, Stack, Suite, check, wait_for  # noqa: E402
from load import WriteLoad  # noqa: E402
from ops import user  # noqa: E402
from replicas import check_replicas  # noqa: E402
from workers import all_ready  # noqa: E402

suite = Suite("alarm")
TIMEOUT_S = 3          # WRITE_TIMEOUT_MS and READ_TIMEOUT_MS of the stacks
MARGIN_S = 2           # what an answer may take beyond its timeout on a busy machine
ALARM_S = 8            # how long the alarm stays on
NORMAL_WATERMARK = "0.4"


def rabbitmqctl(*args):
    out = subprocess.run([LOCALINFRA, "rabbitmqctl", os.environ["INFRA_DIR"], *args],
                         check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


def memory_alarm():
    """Whether the node reports a memory alarm."""
    status = json.loads(rabbitmqctl("status", "--formatter", "json"))
    return any("memory" in json.dumps(a) for a in status.get("alarms", []))


class TimedClient:
    """A Client whose requests are timed: (sent, seconds, status) of each."""

    def __init__(self, client):
        self.client, self.lock, self.calls = client, threading.Lock(), []

    def _timed(self, fn, op):
        sent = time.monotonic()
        st = -1
        try:
            st, body = fn(op)
            return st, body
        finally:
            with self.lock:
                self.calls.append((sent, time.monotonic() - sent, st))

    def write(self, op):
        return self._timed(self.client.write, op)

    def read(self, op):
        return self._timed(self.client.read, op)

    def longest(self):
        with self.lock:
            return max((took for _, took, _ in self.calls), default=0.0)


def blocked(s, component):
    """Whether the broker told component (a log line's component) it blocks its publishes."""
    return re.search(rf" {re.escape(component)} +amqp broker blocks publishing .*low on memory", s.log_text())


def queued(s, queue):
    """Messages ready in one of the stack's queues, as the broker counts them."""
    rows = json.loads(rabbitmqctl("list_queues", "-p", s.name, "name", "messages", "--formatter", "json"))
    return sum(r["messages"] for r in rows if r["name"] == queue)


@suite.test
def memory_alarm_503_sigterm_and_recovery():
    env = dict(INITIAL_SLAVES=1, WRITE_TIMEOUT_MS=TIMEOUT_S * 1000, READ_TIMEOUT_MS=TIMEOUT_S * 1000)
    s = Stack("alarm", **env)
    other = None
    alarm_on = False
    try:
        # A second stack, only to be stopped by SIGTERM while the alarm is on
        # (under the alarm no orchestrator could start: its first write would
        # not go through).
        # Its master is paused for a while: rabbitmqctl calls take seconds on a busy machine.
        other = Stack("alarm-sigterm", ZK_SESSION_MS=20000, **env)
        for st in (s, other):
            check(st.client.write(user("owner"))[0] == 200, "owner")
            wait_for(lambda: all_ready(st, 2), 30, "master and slave ready")
        timed = TimedClient(s.client)
        load = WriteLoad(timed, 4)
        other_load = WriteLoad(other.client, 2)  # requests in flight when the SIGTERM comes
        wait_for(lambda: len(load.acked) >= 100, 30, "writes to flow")

        other_master = other.master_id()
        other_pid = other.workers()[other_master][1]
        os.kill(other_pid, signal.SIGSTOP)
        try:
            wait_for(lambda: queued(other, "writeQ") > 0, 10, "writes to queue up for the paused master")
            rabbitmqctl("set_vm_memory_high_watermark", "0")
            alarm_on = True
            t_alarm = time.monotonic()
            wait_for(memory_alarm, 30, "the node to report the memory alarm")
        finally:
            os.kill(other_pid, signal.SIGCONT)
        # The alarm truly blocks this setup's publishers: the broker says so.
        wait_for(lambda: blocked(s, "orchestrator"), 15, "the broker to block the orchestrator's publishes")
        t_blocked = time.monotonic()
        wait_for(lambda: blocked(other, f"worker-{other_master}"), 15,
                 "the broker to block the second stack's master")
        refused_before = len(load.refused)
        st, body = timed.read({"op": "count", "table": "rides"})
        check(st == 503, f"a read under the alarm: {st} {body}")
        wait_for(lambda: len(load.refused) >= refused_before + 20, TIMEOUT_S + MARGIN_S + 5,
                 "writes to be refused under the alarm")
        left = ALARM_S - (time.monotonic() - t_alarm)
        if left > 0:
            time.sleep(left)  # the alarm stays on a while: requests must keep being answered

        took, alive = other.stop()
        other_load.finish()
        check(took < 1.0, f"SIGTERM under the alarm: the orchestrator took {took:.2f}s to stop")
        check(not alive, f"workers left running after SIGTERM under the alarm: {alive}")
        check(other.proc.returncode == 0, f"orchestrator exit status {other.proc.returncode}")
        check("did not stop in time" not in other.log_text(), "workers had to be killed after SIGTERM")

        rabbitmqctl("set_vm_memory_high_watermark", NORMAL_WATERMARK)
        alarm_on = False
        t_clear = time.monotonic()
        wait_for(lambda: not memory_alarm(), 30, "the alarm to clear")
        with load.lock:
            during = [ts for ts, (sent, done) in load.acked.items() if sent > t_blocked and done < t_clear]
        # A few may be: a connection the watchdog cut reconnects, and the broker
        # reads a fresh connection's first publishes before it blocks it (the
        # master's too), so an occasional write gets through. Not a fault, as long
        # as it is on every replica (below); but the alarm must block most of them.
        refused_during = len(load.refused) - refused_before
        check(len(during) < refused_during,
              f"{len(during)} writes sent under the alarm were acknowledged under it, "
              f"only {refused_during} refused")
        back = wait_for(lambda: load.first_ack_sent_after(t_clear), 30, "writes to be acknowledged again")
        base = len(load.acked)
        wait_for(lambda: len(load.acked) >= base + 100, 30, "writes to keep flowing")
        load.finish()

        bad = [v for v in load.refused.values() if v[0] != 503]
        check(not bad, f"writes failed other than with 503: {bad[:3]}")
        longest = timed.longest()
        check(longest < TIMEOUT_S + MARGIN_S, f"a request took {longest:.1f}s (timeout {TIMEOUT_S}s)")
        rows = check_replicas(s, load.acked)
        print(f"# alarm: {len(load.acked)} writes acknowledged, {len(load.refused)} answered 503 "
              f"({len(load.refused) - refused_before} after the broker blocked, {len(during)} "
              f"acknowledged under the alarm); longest request "
              f"{longest:.1f}s; SIGTERM took {took:.2f}s; acknowledged again {back:.1f}s after the "
              f"alarm cleared; {rows} rows on every replica", flush=True)
    finally:
        if alarm_on:
            rabbitmqctl("set_vm_memory_high_watermark", NORMAL_WATERMARK)
        s.stop()
        if other:
            other.stop()


if __name__ == "__main__":
    suite.run()
