/*
 * metrics.h — the process's metrics, in Prometheus's text exposition
 * format (version 0.0.4), for a GET /metrics route.
 *
 * Two kinds of source:
 *   - families kept here: counters, gauges and histograms that code updates
 *     as things happen (a request answered, an RPC timed out). A family is a
 *     name with up to METRICS_MAX_SERIES label sets; each label set is a
 *     series, created on first use.
 *   - collectors: callbacks run at each scrape that emit samples of state
 *     kept elsewhere (workers by role, queue depths), so nothing has to be
 *     copied into the registry as it changes.
 *
 * One registry per process, bounded: METRICS_MAX_FAMILIES families and
 * METRICS_MAX_SERIES series each; a series beyond the bound is not created
 * (its updates are dropped and counted in rideshare_metrics_dropped_total),
 * so label values taken from requests can never grow memory. Label values
 * that come from data are escaped with metrics_label_value. Thread-safe: an
 * update takes one mutex for a few instructions; a scrape copies each series
 * under it and runs the collectors with no lock of ours held.
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stddef.h>

#define METRICS_MAX_FAMILIES 64
#define METRICS_MAX_SERIES 256
#define METRICS_LABELS_MAX 192

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;
struct metric_series;

/* The family called name, registered on first call (later calls with the
 * same name return it). Histograms use latency buckets in seconds, 0.5 ms
 * to 10 s. NULL only when the registry is full. */
struct metric *metric_family(const char *name, const char *help, enum metric_type type);

/* The series of m with these labels, e.g. `route="/api/v1/rides",status="200"`
 * ("" for none; at most METRICS_LABELS_MAX - 1 bytes). NULL when m is NULL
 * or has METRICS_MAX_SERIES series already; every update below takes NULL. */
struct metric_series *metric_series(struct metric *m, const char *labels);

void metric_add(struct metric_series *s, double v);      /* counters and gauges */
void metric_set(struct metric_series *s, double v);      /* gauges */
void metric_observe(struct metric_series *s, double v);  /* histograms */

/* A collector writes its samples with metrics_header and metrics_sample. */
struct metrics_out;
typedef void (*metrics_collector)(struct metrics_out *out, void *ctx);
/* Adds or removes a collector. At most 16. A scrape may still be running
 * one just removed: remove it once the server that answers /metrics has
 * stopped, then free ctx. */
void metrics_collector_add(metrics_collector fn, void *ctx);
void metrics_collector_remove(metrics_collector fn, void *ctx);

void metrics_header(struct metrics_out *out, const char *name, const char *help, enum metric_type type);
void metrics_sample(struct metrics_out *out, const char *name, const char *labels, double v);

/* Writes value into dst (n bytes) as a label value: backslash, double quote
 * and newline escaped, cut at n - 1 bytes. */
void metrics_label_value(char *dst, size_t n, const char *value);

/* The whole exposition text (malloc'd, NUL-terminated), *len its length. */
char *metrics_render(size_t *len);

#endif
