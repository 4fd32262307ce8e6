/*
 * metricsview.c — see metricsview.h.
 *
 * Names and meanings (docs/operations.md, "Metrics", has the full table):
 *   rideshare_epoch                          the current master's epoch
 *   rideshare_master_present                 1 while a designated master is ready
 *   rideshare_workers{role,state}            live workers
 *   rideshare_worker_applied_seq{worker,role}
 *   rideshare_worker_lag{worker,role}        master's seq minus the worker's
 *   rideshare_worker_reads_total{worker}     reads served (a slave's)
 *   rideshare_worker_applied_total{worker,role}  entries applied
 *   rideshare_worker_apply_seconds_total{worker,role}  their transactions' time
 *   rideshare_scaling_*                      target, rule target, cap, step
 *   rideshare_read_cache_*                   hits, misses, entries, bytes
 *   rideshare_checkpoint_age_seconds / _seq  the newest checkpoint (absent before one)
 *   rideshare_broker_up / _blocked           RabbitMQ reachable; under a resource alarm
 */
#include "metricsview.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "readcache.h"
#include "rpc.h"
#include "supervisor.h"
#include "workers.h"
#include "workers_roles.h"

static struct metricsview_config C;

static void gauge(struct metrics_out *o, const char *name, const char *help, double v)
{
    metrics_header(o, name, help, METRIC_GAUGE);
    metrics_sample(o, name, "", v);
}

static void collect_workers(struct metrics_out *o)
{
    struct worker_info w[WORKERS_MAX];
    int n = supervisor_workers(C.sup, w, WORKERS_MAX);
    int64_t master_seq = -1;
    int master_ready = 0;
    for (int i = 0; i < n; i++) {
        if (!w[i].master) continue;
        master_ready = w[i].zn.ready && w[i].zn.master_role;
        if (w[i].zn.registered && w[i].zn.master_role) master_seq = w[i].zn.seq;
    }
    gauge(o, "rideshare_epoch", "the current master's epoch", (double)workers_epoch(C.ws));
    gauge(o, "rideshare_master_present", "1 while the designated master is ready to take writes", master_ready);

    /* Workers by role and state: the few combinations, counted here. */
    static const char *const states[] = { "starting", "catching-up", "ready", "fenced", "retiring", "" };
    metrics_header(o, "rideshare_workers", "live workers by role and state", METRIC_GAUGE);
    for (int role = 0; role < 2; role++) {
        for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
            int count = 0;
            for (int i = 0; i < n; i++) {
                const char *st = w[i].retiring ? "retiring" : w[i].zn.state;
                count += w[i].master == (role == 0) && strcmp(st, states[s]) == 0;
            }
            if (!count && s + 1 == sizeof states / sizeof states[0]) continue;
            char labels[80];
            snprintf(labels, sizeof labels, "role=\"%s\",state=\"%s\"", role == 0 ? "master" : "slave",
                     *states[s] ? states[s] : "unregistered");
            metrics_sample(o, "rideshare_workers", labels, count);
        }
    }

    static const struct { const char *name, *help; enum metric_type type; } per[] = {
        { "rideshare_worker_applied_seq", "the worker's applied log seq (its znode)", METRIC_GAUGE },
        { "rideshare_worker_lag", "the master's applied seq minus the worker's", METRIC_GAUGE },
        { "rideshare_worker_reads_total", "reads the worker served", METRIC_COUNTER },
        { "rideshare_worker_applied_total", "entries the worker applied", METRIC_COUNTER },
        { "rideshare_worker_apply_seconds_total", "time the worker's apply transactions took", METRIC_COUNTER },
    };
    for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) {
        metrics_header(o, per[k].name, per[k].help, per[k].type);
        for (int i = 0; i < n; i++) {
            const struct worker_znode *z = &w[i].zn;
            if (!z->registered || (k == 1 && master_seq < 0)) continue;
            char id[64], labels[128];
            metrics_label_value(id, sizeof id, w[i].id);
            snprintf(labels, sizeof labels, "worker=\"%s\",role=\"%s\"", id, w[i].master ? "master" : "slave");
            double v = k == 0 ? (double)z->seq
                     : k == 1 ? (double)(master_seq > z->seq ? master_seq - z->seq : 0)
                     : k == 2 ? (double)z->reads
                     : k == 3 ? (double)z->applied
                              : (double)z->apply_us / 1e6;
            metrics_sample(o, per[k].name, labels, v);
        }
    }
}

static void collect_scaling(struct metrics_out *o)
{
    struct supervisor_scaling si;
    supervisor_get_scaling(C.sup, &si);
    gauge(o, "rideshare_scaling_target_slaves", "the slave count the orchestrator keeps now", si.target);
    if (si.rule_target >= 0)
        gauge(o, "rideshare_scaling_rule_target", "what the scaling rule asked for at the last window, uncapped",
              si.rule_target);
    gauge(o, "rideshare_scaling_max_slaves", "MAX_SLAVES: the cap on slaves", si.max_slaves);
    gauge(o, "rideshare_scaling_capped", "1 when the last window's decision was held down by MAX_SLAVES",
          si.capped);
}

static void collect_cache(struct metrics_out *o)
{
    struct readcache_stats st;
    readcache_stats(C.cache, &st);
    metrics_header(o, "rideshare_read_cache_hits_total", "db/read answers given from the read cache", METRIC_COUNTER);
    metrics_sample(o, "rideshare_read_cache_hits_total", "", (double)st.hits);
    metrics_header(o, "rideshare_read_cache_misses_total", "db/read requests sent to a slave", METRIC_COUNTER);
    metrics_sample(o, "rideshare_read_cache_misses_total", "", (double)st.misses);
    gauge(o, "rideshare_read_cache_entries", "answers the read cache holds", (double)st.entries);
    gauge(o, "rideshare_read_cache_bytes", "bytes of keys and answers the read cache holds", (double)st.bytes);
}

static void collect_checkpoint(struct metrics_out *o)
{
    int64_t at_ms, seq;
    if (!supervisor_checkpoint(C.sup, &at_ms, &seq)) return;
    int64_t age = clock_wall_ms() - at_ms;
    gauge(o, "rideshare_checkpoint_age_seconds", "time since the newest checkpoint was taken",
          (double)(age > 0 ? age : 0) / 1000.0);
    gauge(o, "rideshare_checkpoint_seq", "the log seq the newest checkpoint holds", (double)seq);
}

static void collect(struct metrics_out *o, void *ctx)
{
    (void)ctx;
    gauge(o, "rideshare_broker_up", "1 while the orchestrator's RabbitMQ connections are up and not blocked",
          rpc_broker_up_since(C.rpc) != 0);
    gauge(o, "rideshare_broker_blocked", "1 while RabbitMQ blocks publishes (a memory or disk alarm)",
          rpc_broker_blocked(C.rpc));
    collect_workers(o);
    collect_scaling(o);
    collect_cache(o);
    collect_checkpoint(o);
}

void metricsview_start(const struct metricsview_config *cfg)
{
    C = *cfg;
    metrics_collector_add(collect, NULL);
}

void metricsview_stop(void) { metrics_collector_remove(collect, NULL); }
