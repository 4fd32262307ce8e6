/*
 * series.h — the console's recent history: a bounded ring of samples of
 * reads/s, writes/s and the worst replica lag, and their sparklines.
 *
 * The orchestrator's collector (collect.c) adds one sample per poll of
 * GET /api/v1/status, so samples are one refresh period apart (-d, 1 s by
 * default) and the ring of SERIES_MAX holds the last minute at the default.
 * A poll that failed, or a figure that cannot be told (the first poll has no
 * rate yet; no slave reports a lag), is a gap: it keeps its place in time
 * and is drawn blank, so an outage shows as a hole, not as a squeezed line.
 *
 * What a sample holds (all from what the console already polls):
 *   reads/s   db/reads the orchestrator took per second, cache hits
 *             included (model_orch_rates: its read cache's counters, and
 *             the scaling window's count);
 *   writes/s  the growth of the master's applied seq per second: every
 *             acknowledged write is one log entry;
 *   max lag   the largest lag, in log entries, of a slave that is not
 *             retiring, as the status gives it (master seq - slave seq).
 *
 * A sparkline is one character per sample, the newest at the right: the
 * block characters U+2581..U+2588 where the terminal speaks UTF-8, else
 * the ASCII ramp "_.-:=+*#". Each line is scaled to its own largest visible
 * value: 0 is the lowest mark, any non-zero value at least the second, the
 * largest the full block. Pure functions, no I/O, no locks.
 */
#ifndef RS_CONSOLE_SERIES_H
#define RS_CONSOLE_SERIES_H

#include <stddef.h>
#include <stdint.h>

struct c_orch;
struct c_worker;

#define SERIES_MAX 60

enum series_kind { SER_READS, SER_WRITES, SER_LAG, SER_N };

extern const char *const SERIES_LABELS[SER_N];  /* "reads/s", "writes/s", "max lag" */
extern const char *const SERIES_KEYS[SER_N];    /* "reads_per_s", "writes_per_s", "max_lag" */

struct series {
    int64_t interval_ms;    /* between two samples; 0: no sample yet */
    int n;                  /* samples held, at most SERIES_MAX */
    int next;               /* where the next sample goes */
    double v[SER_N][SERIES_MAX]; /* < 0: a gap */
};

/* Adds a sample (each value < 0 for a gap), dropping the oldest when full. */
void series_push(struct series *s, const double sample[SER_N]);

/* Series k oldest first into out (at most max); returns the count. */
int series_values(const struct series *s, enum series_kind k, double *out, int max);

/* The sample the status and workers give: rates when model_orch_rates could
 * tell them, the worst lag of a slave that is not retiring. */
void series_sample(const struct c_orch *o, const struct c_worker *w, int nw, double sample[SER_N]);

/* The last `cols` of the nv values as a sparkline into out (size n), padded
 * on the left with blanks when fewer; utf8 chooses blocks or ASCII. Returns
 * the columns drawn (cols, or fewer if out is too small). */
int series_spark(const double *v, int nv, int cols, int utf8, char *out, size_t n);

/* A panel line "reads/s   <sparkline> now 12.5 max 40" in at most cols
 * columns (the sparkline takes what the label and the figures leave, at
 * most SERIES_MAX). Returns its width in columns. */
int series_line(const struct series *s, enum series_kind k, int cols, int utf8, char *out, size_t n);

/* The panel's title: "rates, last 60 s (a sample every 1 s)" for what is held. */
void series_title(const struct series *s, char *out, size_t n);

#endif
