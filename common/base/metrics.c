/*
 * metrics.c — see metrics.h.
 *
 * The registry is a fixed array of families, each with a fixed array of
 * series found by their label text (a family holds few series: the routes
 * times the statuses seen). Families are never removed, so a pointer to one
 * stays valid for the life of the process and callers keep them in statics.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double BUCKETS[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])
#define MAX_COLLECTORS 16

struct metric_series {
    char labels[METRICS_LABELS_MAX];
    double value;                /* counter or gauge; a histogram's sum */
    unsigned long long count;    /* a histogram's observations */
    unsigned long long buckets[NBUCKETS]; /* not cumulative: observations in (bucket i-1, bucket i] */
};

struct metric {
    pthread_mutex_t mu;
    char name[96];
    char help[160];
    enum metric_type type;
    int n;
    struct metric_series *series[METRICS_MAX_SERIES];
};

static struct {
    pthread_mutex_t mu;          /* the family table and the collectors */
    int n;
    struct metric families[METRICS_MAX_FAMILIES];
    struct { metrics_collector fn; void *ctx; } collectors[MAX_COLLECTORS];
    int ncollectors;
    unsigned long long dropped;  /* updates to series that could not be created */
} R = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct metrics_out {
    char *buf;
    size_t len, cap;
};

struct metric *metric_family(const char *name, const char *help, enum metric_type type)
{
    struct metric *m = NULL;
    pthread_mutex_lock(&R.mu);
    for (int i = 0; i < R.n && !m; i++)
        if (strcmp(R.families[i].name, name) == 0) m = &R.families[i];
    if (!m && R.n < METRICS_MAX_FAMILIES) {
        m = &R.families[R.n++];
        pthread_mutex_init(&m->mu, NULL);
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->help, sizeof m->help, "%s", help);
        m->type = type;
    }
    pthread_mutex_unlock(&R.mu);
    return m;
}

struct metric_series *metric_series(struct metric *m, const char *labels)
{
    if (!m) return NULL;
    struct metric_series *s = NULL;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n && !s; i++)
        if (strcmp(m->series[i]->labels, labels) == 0) s = m->series[i];
    if (!s && m->n < METRICS_MAX_SERIES && strlen(labels) < METRICS_LABELS_MAX) {
        s = calloc(1, sizeof *s);
        if (!s) abort();
        memcpy(s->labels, labels, strlen(labels) + 1);
        m->series[m->n++] = s;
    }
    pthread_mutex_unlock(&m->mu);
    if (!s) {
        pthread_mutex_lock(&R.mu);
        R.dropped++;
        pthread_mutex_unlock(&R.mu);
    }
    return s;
}

/* Updates of every series take this one lock: they are a few instructions
 * each, and one lock lets a scrape copy a histogram whole. */
static pthread_mutex_t update_mu = PTHREAD_MUTEX_INITIALIZER;

void metric_add(struct metric_series *s, double v)
{
    if (!s) return;
    pthread_mutex_lock(&update_mu);
    s->value += v;
    pthread_mutex_unlock(&update_mu);
}

void metric_set(struct metric_series *s, double v)
{
    if (!s) return;
    pthread_mutex_lock(&update_mu);
    s->value = v;
    pthread_mutex_unlock(&update_mu);
}

void metric_observe(struct metric_series *s, double v)
{
    if (!s) return;
    size_t b = 0;
    while (b < NBUCKETS && v > BUCKETS[b]) b++;
    pthread_mutex_lock(&update_mu);
    s->value += v;
    s->count++;
    if (b < NBUCKETS) s->buckets[b]++;
    pthread_mutex_unlock(&update_mu);
}

void metrics_collector_add(metrics_collector fn, void *ctx)
{
    pthread_mutex_lock(&R.mu);
    if (R.ncollectors < MAX_COLLECTORS) {
        R.collectors[R.ncollectors].fn = fn;
        R.collectors[R.ncollectors].ctx = ctx;
        R.ncollectors++;
    }
    pthread_mutex_unlock(&R.mu);
}

void metrics_collector_remove(metrics_collector fn, void *ctx)
{
    pthread_mutex_lock(&R.mu);
    for (int i = 0; i < R.ncollectors; i++) {
        if (R.collectors[i].fn != fn || R.collectors[i].ctx != ctx) continue;
        R.collectors[i] = R.collectors[--R.ncollectors];
        break;
    }
    pthread_mutex_unlock(&R.mu);
}

static void out_printf(struct metrics_out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if ((size_t)k < o->cap - o->len) {
            o->len += (size_t)k;
            return;
        }
        o->cap = (o->cap + (size_t)k) * 2;
        o->buf = realloc(o->buf, o->cap);
        if (!o->buf) abort();
    }
}

static const char *type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

void metrics_header(struct metrics_out *o, const char *name, const char *help, enum metric_type type)
{
    out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type_name(type));
}

void metrics_sample(struct metrics_out *o, const char *name, const char *labels, double v)
{
    if (labels && *labels) out_printf(o, "%s{%s} %.17g\n", name, labels, v);
    else out_printf(o, "%s %.17g\n", name, v);
}

void metrics_label_value(char *dst, size_t n, const char *value)
{
    if (!n) return;
    size_t j = 0;
    for (const char *p = value; *p; p++) {
        char esc = *p == '\\' ? '\\' : *p == '"' ? '"' : *p == '\n' ? 'n' : 0;
        if (j + (esc ? 2 : 1) >= n) break;   /* never half an escape */
        if (esc) dst[j++] = '\\', dst[j++] = esc;
        else dst[j++] = *p;
    }
    dst[j] = '\0';
}

static void render_histogram(struct metrics_out *o, const struct metric *m, const struct metric_series *s)
{
    const char *sep = *s->labels ? "," : "";
    unsigned long long cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        cum += s->buckets[b];
        out_printf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, s->labels, sep, BUCKETS[b], cum);
    }
    out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, s->labels, sep, s->count);
    out_printf(o, *s->labels ? "%s_sum{%s} %.17g\n" : "%s_sum%s %.17g\n", m->name, s->labels, s->value);
    out_printf(o, *s->labels ? "%s_count{%s} %llu\n" : "%s_count%s %llu\n", m->name, s->labels, s->count);
}

char *metrics_render(size_t *len)
{
    struct metrics_out o = { .cap = 4096 };
    o.buf = malloc(o.cap);
    if (!o.buf) abort();
    o.buf[0] = '\0';

    pthread_mutex_lock(&R.mu);
    int nf = R.n, nc = R.ncollectors;
    struct { metrics_collector fn; void *ctx; } cs[MAX_COLLECTORS];
    memcpy(cs, R.collectors, sizeof cs);
    unsigned long long dropped = R.dropped;
    pthread_mutex_unlock(&R.mu);

    for (int i = 0; i < nf; i++) {
        struct metric *m = &R.families[i];
        pthread_mutex_lock(&m->mu);
        int n = m->n;
        pthread_mutex_unlock(&m->mu);
        if (!n) continue;
        metrics_header(&o, m->name, m->help, m->type);
        for (int k = 0; k < n; k++) {
            /* A copy taken under the update lock: a scrape never shows a
             * histogram whose count and buckets disagree. */
            struct metric_series s;
            pthread_mutex_lock(&update_mu);
            s = *m->series[k];
            pthread_mutex_unlock(&update_mu);
            if (m->type == METRIC_HISTOGRAM) render_histogram(&o, m, &s);
            else metrics_sample(&o, m->name, s.labels, s.value);
        }
    }
    metrics_header(&o, "rideshare_metrics_dropped_total", "updates to series over the registry's bound",
                   METRIC_COUNTER);
    metrics_sample(&o, "rideshare_metrics_dropped_total", "", (double)dropped);
    for (int i = 0; i < nc; i++) cs[i].fn(&o, cs[i].ctx);
    *len = o.len;
    return o.buf;
}
