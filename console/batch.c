/*
 * batch.c — see batch.h. The text is the panels' own lines (format.c) under
 * a heading each; the JSON is built with cJSON, unknown numbers as null.
 */
#include "batch.h"

#include <stdlib.h>

#include "clock.h"
#include "format.h"
#include "json.h"
#include "series.h"

static void print_events_text(FILE *f, const struct snapshot *s)
{
    static struct c_event ev[2 * MODEL_EVENTS_MAX];
    int ne = model_events(s, "", ev, 2 * MODEL_EVENTS_MAX);
    fprintf(f, "\n== events (%d, newest first)\n", ne);
    char line[FMT_LINE];
    for (int i = 0; i < ne; i++) {
        fmt_event(line, sizeof line, &ev[i]);
        fprintf(f, "%s\n", line);
    }
}

void batch_text(FILE *f, const struct snapshot *s, const struct batch_info *info)
{
    char line[FMT_LINE], url[400];
    struct c_worker w[CW_MAX];
    int nw = model_workers(s, info->zk_root, w, CW_MAX);
    model_redact_url(info->amqp_url, url, sizeof url);
    fprintf(f, "rideshare-console snapshot: ZooKeeper %s%s, RabbitMQ %s, orchestrator %s\n", info->zk_hosts,
            info->zk_root, url, info->orch_url);
    fmt_status(line, sizeof line, s, clock_ms());
    fprintf(f, "status: %s\n", line);

    fprintf(f, "\n== workers (%d)%s\n", nw, s->be[B_ORCH].up ? "" : " [from ZooKeeper]");
    fmt_worker_header(line, sizeof line);
    fprintf(f, "%s\n", line);
    for (int i = 0; i < nw; i++) {
        fmt_worker(line, sizeof line, &w[i]);
        fprintf(f, "%s\n", line);
    }

    fprintf(f, "\n== orchestrator%s\n", s->be[B_ORCH].up ? "" : " [unreachable]");
    char lines[FMT_ORCH_LINES][FMT_LINE];
    int no = s->be[B_ORCH].up && s->be[B_ORCH].updated_ms ? fmt_orch(lines, FMT_ORCH_LINES, &s->orch, w, nw) : 0;
    for (int i = 0; i < no; i++) fprintf(f, "%s\n", lines[i]);

    char title[80];
    series_title(&s->series, title, sizeof title);
    fprintf(f, "\n== %s\n", title);
    for (int k = 0; k < SER_N; k++) {
        series_line(&s->series, (enum series_kind)k, 100, info->utf8, line, sizeof line);
        fprintf(f, "%s\n", line);
    }

    fprintf(f, "\n== queues%s\n", s->be[B_MQ].up ? "" : " [unreachable]");
    fmt_queue_header(line, sizeof line);
    fprintf(f, "%s\n", line);
    for (int i = 0; i < MODEL_QUEUES; i++) {
        fmt_queue(line, sizeof line, &s->queues[i]);
        fprintf(f, "%s\n", line);
    }

    fprintf(f, "\n== zookeeper %s%s\n", info->zk_root, s->be[B_ZK].up ? "" : " [unreachable]");
    for (int i = 0; i < s->nznodes; i++) {
        fmt_znode(line, sizeof line, &s->znodes[i]);
        fprintf(f, "%s\n", line);
    }
    if (s->zk_truncated) fprintf(f, "(more znodes not shown)\n");
    print_events_text(f, s);
}

static void add_num(cJSON *o, const char *key, int64_t v)
{
    if (v < 0) cJSON_AddNullToObject(o, key);
    else json_add_int(o, key, v);
}

void batch_json(FILE *f, const struct snapshot *s, const struct batch_info *info)
{
    cJSON *o = cJSON_CreateObject();
    char url[400];
    model_redact_url(info->amqp_url, url, sizeof url);
    int64_t now = clock_ms();

    cJSON *be = cJSON_AddObjectToObject(o, "backends");
    const char *keys[B_N] = { "zookeeper", "rabbitmq", "orchestrator" };
    const char *where[B_N] = { info->zk_hosts, url, info->orch_url };
    for (int b = 0; b < B_N; b++) {
        cJSON *x = cJSON_AddObjectToObject(be, keys[b]);
        cJSON_AddStringToObject(x, "address", where[b]);
        cJSON_AddBoolToObject(x, "reachable", s->be[b].up);
        if (s->be[b].up) cJSON_AddNullToObject(x, "error");
        else cJSON_AddStringToObject(x, "error", s->be[b].tried ? s->be[b].error : "not tried yet");
        if (!s->be[b].up && s->be[b].tried) json_add_int(x, "down_ms", now - s->be[b].since_ms);
    }

    struct c_worker w[CW_MAX];
    int nw = model_workers(s, info->zk_root, w, CW_MAX);
    cJSON *arr = cJSON_AddArrayToObject(o, "workers");
    for (int i = 0; i < nw; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", w[i].id);
        cJSON_AddStringToObject(x, "role", w[i].role);
        json_add_int(x, "pid", w[i].pid);
        cJSON_AddStringToObject(x, "state", w[i].state);
        add_num(x, "seq", w[i].seq);
        add_num(x, "lag", w[i].lag);
        add_num(x, "reads", w[i].reads);
        cJSON_AddItemToArray(arr, x);
    }
    cJSON_AddStringToObject(o, "workers_from", s->be[B_ORCH].up ? "orchestrator" : "zookeeper");

    if (s->be[B_ORCH].up) {
        cJSON *x = cJSON_AddObjectToObject(o, "orchestrator");
        json_add_int(x, "epoch", s->orch.epoch);
        if (s->orch.master[0]) cJSON_AddStringToObject(x, "master", s->orch.master);
        else cJSON_AddNullToObject(x, "master");
        add_num(x, "master_seq", s->orch.master_seq);
        json_add_int(x, "reads_in_window", s->orch.reads_in_window);
        if (s->orch.seconds_to_decision >= 0)
            cJSON_AddNumberToObject(x, "seconds_to_decision", s->orch.seconds_to_decision);
        else cJSON_AddNullToObject(x, "seconds_to_decision");
        json_add_int(x, "target_slaves", s->orch.target_slaves);
        json_add_int(x, "slaves", model_slave_count(w, nw));
        json_add_int(x, "window_s", s->orch.window_s);
        json_add_int(x, "reads_per_slave", s->orch.reads_per_slave);
        add_num(x, "rule_target", s->orch.rule_target);
        json_add_int(x, "max_slaves", s->orch.max_slaves);
        json_add_int(x, "scale_up_step", s->orch.scale_up_step);
        cJSON_AddBoolToObject(x, "capped", s->orch.capped);
        cJSON_AddBoolToObject(x, "stepped", s->orch.stepped);
        cJSON_AddStringToObject(x, "set_by", s->orch.set_by);
        cJSON *st = cJSON_AddObjectToObject(x, "worker_starts");
        json_add_int(st, "failures", s->orch.start_failures);
        json_add_int(st, "backoff_ms", s->orch.start_backoff_ms);
        json_add_int(st, "next_start_in_ms", s->orch.start_next_in_ms);
        if (s->orch.start_last[0]) cJSON_AddStringToObject(st, "last_failure", s->orch.start_last);
        else cJSON_AddNullToObject(st, "last_failure");
        if (s->orch.has_write_rate) cJSON_AddNumberToObject(x, "writes_per_s", s->orch.write_rate);
        else cJSON_AddNullToObject(x, "writes_per_s");
        if (s->orch.has_read_rate) cJSON_AddNumberToObject(x, "reads_per_s", s->orch.read_rate);
        else cJSON_AddNullToObject(x, "reads_per_s");
    } else {
        cJSON_AddNullToObject(o, "orchestrator");
    }

    cJSON *se = cJSON_AddObjectToObject(o, "series");
    cJSON_AddNumberToObject(se, "interval_s", (double)s->series.interval_ms / 1000.0);
    json_add_int(se, "samples", s->series.n);
    for (int k = 0; k < SER_N; k++) {
        double v[SERIES_MAX];
        int nv = series_values(&s->series, (enum series_kind)k, v, SERIES_MAX);
        cJSON *a = cJSON_AddArrayToObject(se, SERIES_KEYS[k]);
        for (int i = 0; i < nv; i++)
            cJSON_AddItemToArray(a, v[i] >= 0 ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    }

    cJSON *q = cJSON_AddArrayToObject(o, "queues");
    for (int i = 0; i < MODEL_QUEUES; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", s->queues[i].name);
        if (s->be[B_MQ].up && s->queues[i].ok) {
            json_add_int(x, "messages", s->queues[i].messages);
            json_add_int(x, "consumers", s->queues[i].consumers);
        } else {
            cJSON_AddNullToObject(x, "messages");
            cJSON_AddNullToObject(x, "consumers");
        }
        if (s->be[B_MQ].up && s->queues[i].has_rate) cJSON_AddNumberToObject(x, "rate", s->queues[i].rate);
        else cJSON_AddNullToObject(x, "rate");
        cJSON_AddItemToArray(q, x);
    }

    cJSON *z = cJSON_AddObjectToObject(o, "zookeeper");
    cJSON_AddStringToObject(z, "root", info->zk_root);
    cJSON *nodes = cJSON_AddArrayToObject(z, "nodes");
    for (int i = 0; i < s->nznodes; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "path", s->znodes[i].path);
        cJSON_AddStringToObject(x, "data", s->znodes[i].data);
        cJSON_AddItemToArray(nodes, x);
    }
    cJSON_AddBoolToObject(z, "truncated", s->zk_truncated);

    static struct c_event ev[2 * MODEL_EVENTS_MAX];
    int ne = model_events(s, "", ev, 2 * MODEL_EVENTS_MAX);
    cJSON *evs = cJSON_AddArrayToObject(o, "events");
    for (int i = 0; i < ne; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "at", ev[i].at);
        cJSON_AddStringToObject(x, "kind", ev[i].kind);
        cJSON_AddStringToObject(x, "text", ev[i].text);
        cJSON_AddItemToArray(evs, x);
    }
    char *text = cJSON_Print(o);
    if (!text) abort();
    fprintf(f, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}
