/* test_metrics.c — the metrics registry (metrics.c): the exposition text of
 * counters, gauges and histograms, the bound on series, label escaping and
 * collectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

static int has(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

TEST(counters_and_gauges_render_with_help_and_type)
{
    struct metric *c = metric_family("t_requests_total", "requests", METRIC_COUNTER);
    CHECK(c == metric_family("t_requests_total", "again", METRIC_COUNTER));
    metric_add(metric_series(c, "code=\"200\""), 2);
    metric_add(metric_series(c, "code=\"200\""), 1);
    metric_add(metric_series(c, "code=\"500\""), 1);
    struct metric *g = metric_family("t_epoch", "the epoch", METRIC_GAUGE);
    metric_set(metric_series(g, ""), 7);
    metric_set(metric_series(g, ""), 5);
    size_t len;
    char *t = metrics_render(&len);
    CHECK(strlen(t) == len);
    CHECK(has(t, "# HELP t_requests_total requests"));
    CHECK(has(t, "# TYPE t_requests_total counter"));
    CHECK(has(t, "t_requests_total{code=\"200\"} 3"));
    CHECK(has(t, "t_requests_total{code=\"500\"} 1"));
    CHECK(has(t, "# TYPE t_epoch gauge"));
    CHECK(has(t, "t_epoch 5"));
    free(t);
}

TEST(histogram_buckets_are_cumulative)
{
    struct metric *h = metric_family("t_latency_seconds", "latency", METRIC_HISTOGRAM);
    struct metric_series *s = metric_series(h, "route=\"/x\"");
    metric_observe(s, 0.0004);   /* first bucket */
    metric_observe(s, 0.003);    /* le 0.005 */
    metric_observe(s, 0.003);
    metric_observe(s, 60);       /* only +Inf */
    size_t len;
    char *t = metrics_render(&len);
    CHECK(has(t, "t_latency_seconds_bucket{route=\"/x\",le=\"0.0005\"} 1"));
    CHECK(has(t, "t_latency_seconds_bucket{route=\"/x\",le=\"0.0025\"} 1"));
    CHECK(has(t, "t_latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 3"));
    CHECK(has(t, "t_latency_seconds_bucket{route=\"/x\",le=\"10\"} 3"));
    CHECK(has(t, "t_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4"));
    CHECK(has(t, "t_latency_seconds_count{route=\"/x\"} 4"));
    CHECK(strstr(t, "t_latency_seconds_sum{route=\"/x\"} 60.006") != NULL);
    free(t);
}

TEST(series_are_bounded_and_drops_counted)
{
    struct metric *c = metric_family("t_many_total", "many", METRIC_COUNTER);
    char labels[64];
    int made = 0;
    for (int i = 0; i < METRICS_MAX_SERIES + 50; i++) {
        snprintf(labels, sizeof labels, "k=\"%d\"", i);
        struct metric_series *s = metric_series(c, labels);
        made += s != NULL;
        metric_add(s, 1);   /* NULL is fine */
    }
    CHECK_INT(made, METRICS_MAX_SERIES);
    size_t len;
    char *t = metrics_render(&len);
    CHECK(has(t, "rideshare_metrics_dropped_total 50"));
    snprintf(labels, sizeof labels, "t_many_total{k=\"%d\"} 1", METRICS_MAX_SERIES - 1);
    CHECK(has(t, labels));
    snprintf(labels, sizeof labels, "t_many_total{k=\"%d\"}", METRICS_MAX_SERIES);
    CHECK(strstr(t, labels) == NULL);
    free(t);
}

TEST(label_values_are_escaped)
{
    char v[32];
    metrics_label_value(v, sizeof v, "a\"b\\c\nd");
    CHECK(strcmp(v, "a\\\"b\\\\c\\nd") == 0);
    metrics_label_value(v, 4, "abcdef");
    CHECK(strcmp(v, "abc") == 0);
    metrics_label_value(v, 4, "\"\"\"");
    CHECK(strlen(v) < 4);
}

static void collect(struct metrics_out *out, void *ctx)
{
    metrics_header(out, "t_workers", "workers", METRIC_GAUGE);
    metrics_sample(out, "t_workers", "role=\"slave\"", *(int *)ctx);
}

TEST(collectors_run_at_each_scrape_until_removed)
{
    int n = 2;
    metrics_collector_add(collect, &n);
    size_t len;
    char *t = metrics_render(&len);
    CHECK(has(t, "t_workers{role=\"slave\"} 2"));
    free(t);
    n = 3;
    t = metrics_render(&len);
    CHECK(has(t, "t_workers{role=\"slave\"} 3"));
    free(t);
    metrics_collector_remove(collect, &n);
    t = metrics_render(&len);
    CHECK(strstr(t, "t_workers") == NULL);
    free(t);
}

int main(void)
{
    RUN(counters_and_gauges_render_with_help_and_type);
    RUN(histogram_buckets_are_cumulative);
    RUN(series_are_bounded_and_drops_counted);
    RUN(label_values_are_escaped);
    RUN(collectors_run_at_each_scrape_until_removed);
    return test_done();
}
