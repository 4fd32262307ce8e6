/* test_console_model.c — the console's pure logic: parsing the admin API's
 * status, merging workers with their znodes, the crash-slave pick, event
 * merging and filtering, the status line and the row formats. */
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "model.h"
#include "test.h"

static const char STATUS[] =
    "{\"epoch\":3,\"master\":\"wm\",\"master_seq\":42,"
    "\"workers\":[{\"id\":\"wm\",\"role\":\"master\",\"pid\":100,\"state\":\"ready\",\"seq\":42,\"epoch\":3,\"lag\":0},"
    "{\"id\":\"ws1\",\"role\":\"slave\",\"pid\":300,\"state\":\"ready\",\"seq\":40,\"epoch\":3,\"lag\":2},"
    "{\"id\":\"ws2\",\"role\":\"slave\",\"pid\":200,\"state\":\"starting\",\"seq\":null,\"epoch\":null,\"lag\":null}],"
    "\"queues\":{\"writeQ\":null,\"readQ\":null,\"replog\":null},\"queues_age_ms\":null,"
    "\"scaling\":{\"target_slaves\":2,\"window_s\":120,\"reads_per_slave\":20,\"reads_in_window\":7,"
    "\"seconds_to_decision\":12.5},"
    "\"events\":[{\"at\":\"2026-11-25T04:00:03.000Z\",\"kind\":\"spawn\",\"text\":\"started slave ws2 pid=200\"},"
    "{\"at\":\"2026-11-25T04:00:01.000Z\",\"kind\":\"election\",\"text\":\"master wm pid=100 epoch=3\"}]}";

static struct snapshot snap;

static void load(struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    char why[160];
    int rc = model_parse_status(STATUS, strlen(STATUS), &s->orch, s->workers, &s->nworkers, s->orch_events,
                                &s->norch_events, why, sizeof why);
    s->be[B_ORCH].up = rc == 0;
}

static void znode(struct snapshot *s, const char *path, const char *data, int depth)
{
    struct c_znode *z = &s->znodes[s->nznodes++];
    snprintf(z->path, sizeof z->path, "%s", path);
    snprintf(z->data, sizeof z->data, "%s", data);
    z->depth = depth;
}

TEST(parses_the_status)
{
    load(&snap);
    CHECK(snap.be[B_ORCH].up);
    CHECK_INT(snap.orch.epoch, 3);
    CHECK_STR(snap.orch.master, "wm");
    CHECK_INT(snap.orch.master_seq, 42);
    CHECK_INT(snap.orch.target_slaves, 2);
    CHECK_INT(snap.orch.reads_in_window, 7);
    CHECK(snap.orch.seconds_to_decision > 12.4 && snap.orch.seconds_to_decision < 12.6);
    CHECK_INT(snap.nworkers, 3);
    CHECK_STR(snap.workers[2].state, "starting");
    CHECK_INT(snap.workers[2].seq, -1);
    CHECK_INT(snap.workers[1].lag, 2);
    CHECK_INT(snap.workers[0].reads, -1);
    CHECK_INT(snap.norch_events, 2);
    CHECK_STR(snap.orch_events[0].kind, "spawn");
}

TEST(rejects_what_is_not_a_status)
{
    struct c_orch o;
    struct c_worker w[CW_MAX];
    struct c_event e[MODEL_EVENTS_MAX];
    int nw, ne;
    char why[160] = "";
    const char *bad[] = { "", "[]", "{\"workers\":3}", "{", "null" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(model_parse_status(bad[i], strlen(bad[i]), &o, w, &nw, e, &ne, why, sizeof why), -1);
    CHECK(why[0] != 0);
}

TEST(workers_take_reads_from_znodes)
{
    load(&snap);
    znode(&snap, "/r", "", 0);
    znode(&snap, "/r/workers", "", 1);
    znode(&snap, "/r/workers/ws1", "{\"id\":\"ws1\",\"role\":\"slave\",\"pid\":300,\"state\":\"ready\",\"seq\":40,\"reads\":17}", 2);
    struct c_worker w[CW_MAX];
    int n = model_workers(&snap, "/r", w, CW_MAX);
    CHECK_INT(n, 3);
    CHECK_INT(w[1].reads, 17);
    CHECK_INT(w[0].reads, -1);
}

TEST(workers_from_zookeeper_when_the_orchestrator_is_down)
{
    load(&snap);
    snap.be[B_ORCH].up = 0;
    znode(&snap, "/r", "", 0);
    znode(&snap, "/r/master", "{\"id\":\"wm\",\"epoch\":3}", 1);
    znode(&snap, "/r/workers", "", 1);
    znode(&snap, "/r/workers/wm", "{\"id\":\"wm\",\"role\":\"master\",\"pid\":100,\"state\":\"ready\",\"seq\":50}", 2);
    znode(&snap, "/r/workers/ws1", "{\"id\":\"ws1\",\"role\":\"slave\",\"pid\":300,\"state\":\"ready\",\"seq\":45}", 2);
    znode(&snap, "/r/workers/junk", "not json", 2);
    znode(&snap, "/other/workers/x", "{\"id\":\"x\",\"role\":\"slave\",\"pid\":1}", 2);
    struct c_worker w[CW_MAX];
    int n = model_workers(&snap, "/r", w, CW_MAX);
    CHECK_INT(n, 2);
    CHECK_STR(w[0].id, "wm");
    CHECK_INT(w[0].lag, 0);
    CHECK_INT(w[1].pid, 300);
    CHECK_INT(w[1].lag, 5);
}

TEST(crash_slave_picks_the_highest_pid)
{
    load(&snap);
    CHECK_INT(model_crash_slave_pick(snap.workers, snap.nworkers), 1); /* pid 300 */
    CHECK_INT(model_master(snap.workers, snap.nworkers), 0);
    CHECK_INT(model_slave_count(snap.workers, snap.nworkers), 2);
    snprintf(snap.workers[1].state, sizeof snap.workers[1].state, "retiring");
    CHECK_INT(model_crash_slave_pick(snap.workers, snap.nworkers), 2);
    CHECK_INT(model_crash_slave_pick(snap.workers, 1), -1); /* the master alone */
}

TEST(events_merge_newest_first_and_filter)
{
    load(&snap);
    struct c_event *l = &snap.local_events[snap.nlocal++];
    snprintf(l->at, sizeof l->at, "2026-11-25T04:00:02.000Z");
    snprintf(l->kind, sizeof l->kind, "error");
    snprintf(l->text, sizeof l->text, "RabbitMQ unreachable: cannot connect");
    l = &snap.local_events[snap.nlocal++];
    snprintf(l->at, sizeof l->at, "2026-11-25T04:00:09.000Z");
    snprintf(l->kind, sizeof l->kind, "recovered");
    snprintf(l->text, sizeof l->text, "RabbitMQ reachable again");
    struct c_event ev[10];
    int n = model_events(&snap, "", ev, 10);
    CHECK_INT(n, 4);
    CHECK_STR(ev[0].kind, "recovered");
    CHECK_STR(ev[1].kind, "spawn");
    CHECK_STR(ev[2].kind, "error");
    CHECK_STR(ev[3].kind, "election");
    CHECK_INT(model_events(&snap, "rabbitmq", ev, 10), 2);
    CHECK_INT(model_events(&snap, "RABBIT again", ev, 10), 1);
    CHECK_STR(ev[0].kind, "recovered");
    CHECK_INT(model_events(&snap, "  spawn  ", ev, 10), 1);
    CHECK_INT(model_events(&snap, "nothing-like-it", ev, 10), 0);
    CHECK_INT(model_events(&snap, "", ev, 2), 2);
}

TEST(local_events_are_a_ring)
{
    memset(&snap, 0, sizeof snap);
    char t[32];
    for (int i = 0; i < MODEL_EVENTS_MAX + 5; i++) {
        snprintf(t, sizeof t, "n=%d", i);
        model_local_event(&snap, "action", t);
    }
    CHECK_INT(snap.nlocal, MODEL_EVENTS_MAX);
    CHECK_STR(snap.local_events[0].text, "n=5");
    CHECK(snap.version > 0);
    CHECK_INT((int)strlen(snap.local_events[0].at), 24);
}

TEST(status_line_names_what_is_down)
{
    memset(&snap, 0, sizeof snap);
    char line[FMT_LINE];
    CHECK_INT(fmt_status(line, sizeof line, &snap, 1000), 0);
    CHECK_STR(line, "connecting...");
    for (int b = 0; b < B_N; b++) snap.be[b].tried = snap.be[b].up = 1;
    CHECK_INT(fmt_status(line, sizeof line, &snap, 1000), 0);
    CHECK(strstr(line, "reachable") != NULL);
    snap.be[B_MQ].up = 0;
    snap.be[B_MQ].since_ms = 1000;
    snprintf(snap.be[B_MQ].error, sizeof snap.be[B_MQ].error, "cannot connect to x");
    CHECK_INT(fmt_status(line, sizeof line, &snap, 13500), 1);
    CHECK_STR(line, "RabbitMQ unreachable for 12s (cannot connect to x)");
    snap.be[B_ZK].up = 0;
    CHECK_INT(fmt_status(line, sizeof line, &snap, 13500), 2);
    CHECK(strstr(line, "ZooKeeper unreachable") == line);
    CHECK(strstr(line, "; RabbitMQ unreachable") != NULL);
    char tiny[10];
    CHECK_INT(fmt_status(tiny, sizeof tiny, &snap, 13500), 2); /* cut, never overflowed */
    CHECK_INT((int)strlen(tiny), 9);
}

TEST(orchestrator_rates)
{
    struct c_orch prev = { 0 }, o = { 0 };
    o.master_seq = 10;
    o.reads_in_window = 4;
    o.reads_total = -1;
    int64_t at = model_orch_rates(&o, &prev, 0, 5000);
    CHECK_INT(at, 5000);
    CHECK(!o.has_write_rate && !o.has_read_rate); /* one sample: no rate */
    o = prev;
    o.master_seq = 30;
    o.reads_in_window = 9;
    at = model_orch_rates(&o, &prev, at, 7000);
    CHECK(o.has_write_rate && o.has_read_rate);
    CHECK(o.write_rate > 9.99 && o.write_rate < 10.01);
    CHECK(o.read_rate > 2.49 && o.read_rate < 2.51);
    /* The window closed: only the reads since the close (3) are known; a
     * new master behind the old figure: no write rate. */
    struct c_orch next = prev;
    next.master_seq = 29;
    next.reads_in_window = 3;
    model_orch_rates(&next, &prev, at, 8000);
    CHECK(!next.has_write_rate && next.has_read_rate);
    CHECK(next.read_rate > 2.99 && next.read_rate < 3.01);
    char lines[FMT_ORCH_LINES][FMT_LINE];
    struct c_worker w[1] = { { "s", "slave", 1, "ready", 0, 0, -1 } };
    CHECK_INT(fmt_orch(lines, FMT_ORCH_LINES, &o, w, 1), FMT_ORCH_LINES);
    CHECK(strstr(lines[1], "master seq 30 (10.0/s)") != NULL);
    CHECK(strstr(lines[1], "slaves 1, target 0") != NULL);
    CHECK(strstr(lines[2], "2.5/s") != NULL);
    CHECK(strstr(lines[3], "- (no read yet)") == NULL); /* seconds_to_decision 0: a number */
}

/* Reads from the read cache's counters (every db/read, hits too), the
 * window's count when that says more, and a window's close told by the time
 * to the decision going up even when the count did not go down. */
TEST(read_rates_from_the_cache_counters_and_the_window)
{
    static const char S1[] = "{\"master_seq\":5,\"workers\":[],\"scaling\":{\"reads_in_window\":10,"
                             "\"seconds_to_decision\":3.0},\"read_cache\":{\"hits\":100,\"misses\":50},\"events\":[]}";
    static const char S2[] = "{\"master_seq\":5,\"workers\":[],\"scaling\":{\"reads_in_window\":20,"
                             "\"seconds_to_decision\":119.0},\"read_cache\":{\"hits\":140,\"misses\":60},\"events\":[]}";
    static const char S3[] = "{\"master_seq\":5,\"workers\":[],\"scaling\":{\"reads_in_window\":26,"
                             "\"seconds_to_decision\":118.0},\"events\":[]}";
    struct c_orch prev, o;
    struct c_worker w[CW_MAX];
    struct c_event e[MODEL_EVENTS_MAX];
    int nw, ne;
    char why[160];
    memset(&prev, 0, sizeof prev);
    CHECK_INT(model_parse_status(S1, strlen(S1), &o, w, &nw, e, &ne, why, sizeof why), 0);
    CHECK_INT(o.reads_total, 150);
    int64_t at = model_orch_rates(&o, &prev, 0, 1000);
    CHECK_INT(model_parse_status(S2, strlen(S2), &o, w, &nw, e, &ne, why, sizeof why), 0);
    at = model_orch_rates(&o, &prev, at, 2000);
    CHECK(o.has_read_rate && o.read_rate > 49.99 && o.read_rate < 50.01); /* 200 - 150, not 20 - 10 */
    CHECK(o.has_write_rate && o.write_rate == 0);
    /* No cache counters (an older orchestrator): the window's growth. */
    CHECK_INT(model_parse_status(S3, strlen(S3), &o, w, &nw, e, &ne, why, sizeof why), 0);
    CHECK_INT(o.reads_total, -1);
    model_orch_rates(&o, &prev, at, 4000);
    CHECK(o.has_read_rate && o.read_rate > 2.99 && o.read_rate < 3.01);
    /* Window closed between the polls while the count grew: the new count alone. */
    struct c_orch a = { 0 }, b = { 0 };
    a.reads_total = b.reads_total = -1;
    a.reads_in_window = 5;
    a.seconds_to_decision = 0.5;
    b.reads_in_window = 8;
    b.seconds_to_decision = 119.5;
    model_orch_rates(&b, &a, 1000, 2000);
    CHECK(b.has_read_rate && b.read_rate > 7.99 && b.read_rate < 8.01);
}

/* The status of a flood held at the cap, with a worker that cannot start. */
static const char CAPPED[] =
    "{\"epoch\":1,\"master\":\"wm\",\"master_seq\":5,\"workers\":[],"
    "\"scaling\":{\"target_slaves\":8,\"window_s\":120,\"reads_per_slave\":20,\"reads_in_window\":0,"
    "\"seconds_to_decision\":null,\"rule_target\":663,\"max_slaves\":8,\"scale_up_step\":2,"
    "\"capped\":true,\"stepped\":false,\"set_by\":\"window\"},"
    "\"worker_starts\":{\"failures\":3,\"backoff_ms\":2000,\"next_start_in_ms\":1500,"
    "\"last_failure\":{\"at\":\"2026-11-25T04:00:03.000Z\",\"id\":\"w9\","
    "\"why\":\"exited before it was ready\",\"status\":256}},\"events\":[]}";

static void parse(const char *text, struct c_orch *o)
{
    struct c_worker w[CW_MAX];
    struct c_event e[MODEL_EVENTS_MAX];
    int nw, ne;
    char why[160];
    CHECK_INT(model_parse_status(text, strlen(text), o, w, &nw, e, &ne, why, sizeof why), 0);
}

TEST(scaling_limits_and_failed_starts)
{
    struct c_orch o;
    parse(CAPPED, &o);
    CHECK_INT(o.target_slaves, 8);
    CHECK_INT(o.rule_target, 663);
    CHECK_INT(o.max_slaves, 8);
    CHECK_INT(o.scale_up_step, 2);
    CHECK(o.capped && !o.stepped);
    CHECK_STR(o.set_by, "window");
    CHECK_INT(o.start_failures, 3);
    CHECK_INT(o.start_backoff_ms, 2000);
    CHECK_INT(o.start_next_in_ms, 1500);
    CHECK_STR(o.start_last, "w9: exited before it was ready (status 256)");

    char lines[FMT_ORCH_LINES][FMT_LINE];
    CHECK_INT(fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0), FMT_ORCH_LINES);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "target 8 (rule 663, capped at 8)");
    CHECK(fmt_orch_warns(&o, FMT_ORCH_LIMITS));
    CHECK(strstr(lines[FMT_ORCH_STARTS], "starts failing (3 in a row), next in 1.5 s: w9: exited") != NULL);
    CHECK(fmt_orch_warns(&o, FMT_ORCH_STARTS));
    CHECK(!fmt_orch_warns(&o, 0));

    /* Capped and stepped at once; stepped only; neither; set by hand; no window yet. */
    o.target_slaves = 4;
    o.stepped = 1;
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "target 4 (rule 663, capped at 8, +2/window)");
    o.capped = 0;
    o.rule_target = 7;
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "target 4 (rule 7, stepped +2/window; max 8)");
    CHECK(fmt_orch_warns(&o, FMT_ORCH_LIMITS));
    o.stepped = 0;
    o.target_slaves = 7;
    o.start_failures = 0;
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "target 7 = rule (max 8, +2/window)");
    CHECK(!fmt_orch_warns(&o, FMT_ORCH_LIMITS));
    CHECK_STR(lines[FMT_ORCH_STARTS], "worker starts ok");
    CHECK(!fmt_orch_warns(&o, FMT_ORCH_STARTS));
    snprintf(o.set_by, sizeof o.set_by, "operator");
    o.capped = 1; /* the last window's, overridden by hand: no warning */
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "target 7 set by hand (max 8, +2/window)");
    CHECK(!fmt_orch_warns(&o, FMT_ORCH_LIMITS));
    snprintf(o.set_by, sizeof o.set_by, "start");
    o.rule_target = -1;
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "no window closed yet (max 8, +2/window)");

    /* An orchestrator that says nothing of limits or starts (STATUS): unknowns, no warnings. */
    parse(STATUS, &o);
    CHECK_INT(o.rule_target, -1);
    CHECK_INT(o.max_slaves, 0);
    CHECK_INT(o.start_failures, 0);
    CHECK_STR(o.start_last, "");
    fmt_orch(lines, FMT_ORCH_LINES, &o, NULL, 0);
    CHECK_STR(lines[FMT_ORCH_LIMITS], "scaling limits not reported");
    CHECK(!fmt_orch_warns(&o, FMT_ORCH_LIMITS));
}

TEST(rows_and_helpers)
{
    char line[FMT_LINE];
    struct c_worker w = { "ws1", "slave", 300, "ready", 40, 2, -1 };
    fmt_worker(line, sizeof line, &w);
    CHECK(strstr(line, "ws1") == line);
    CHECK(strstr(line, " 300 ") != NULL);
    CHECK(line[strlen(line) - 1] == '-'); /* reads unknown */
    struct c_queue q = { "writeQ", 1, 5, 1, -2.5, 1 };
    fmt_queue(line, sizeof line, &q);
    CHECK(strstr(line, "-2.5") != NULL);
    q.ok = 0;
    fmt_queue(line, sizeof line, &q);
    CHECK(strstr(line, " 5 ") == NULL);
    struct c_znode z = { "/r/workers/ws1", "{}", 2 };
    fmt_znode(line, sizeof line, &z);
    CHECK(strncmp(line, "    ws1 ", 8) == 0);
    struct c_event e = { "2026-11-25T04:05:06.789Z", "crash", "killed" };
    fmt_event(line, sizeof line, &e);
    CHECK(strncmp(line, "04:05:06 crash", 14) == 0);

    char out[200];
    model_redact_url("amqp://guest:secret@10.0.0.1:5672/vh", out, sizeof out);
    CHECK_STR(out, "amqp://10.0.0.1:5672/vh");
    model_redact_url("amqp://host/v@x", out, sizeof out);
    CHECK_STR(out, "amqp://host/v@x");
    model_printable(out, 6, "a\nb\x01\xff" "cdef", 8);
    CHECK_STR(out, "a.b..");
    model_fmt_age(59999, out, sizeof out);
    CHECK_STR(out, "59s");
    model_fmt_age(185000, out, sizeof out);
    CHECK_STR(out, "3m05s");
    model_fmt_age(7800000, out, sizeof out);
    CHECK_STR(out, "2h10m");
}

int main(void)
{
    RUN(parses_the_status);
    RUN(rejects_what_is_not_a_status);
    RUN(workers_take_reads_from_znodes);
    RUN(workers_from_zookeeper_when_the_orchestrator_is_down);
    RUN(crash_slave_picks_the_highest_pid);
    RUN(events_merge_newest_first_and_filter);
    RUN(local_events_are_a_ring);
    RUN(status_line_names_what_is_down);
    RUN(orchestrator_rates);
    RUN(read_rates_from_the_cache_counters_and_the_window);
    RUN(scaling_limits_and_failed_starts);
    RUN(rows_and_helpers);
    return test_done();
}
