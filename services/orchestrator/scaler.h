/*
 * scaler.h — the autoscaling rule (docs/api.md, "The scaling rule"), as arithmetic.
 *
 * Only db/read requests are counted (scaler_count, from the DB API). The
 * first one starts the window timer; from then on a window closes every
 * window_ms, whether reads come or not. At each close the slave count
 * becomes max(1, ceil(reads / reads_per_slave)) — 0..20 reads: 1 slave,
 * 21..40: 2, and so on — and the counter starts again from 0. The
 * supervisor asks scaler_tick when a window has closed and applies the
 * target; nothing here starts or stops a worker.
 *
 * The rule alone has no ceiling: a burst of reads (a load test, a client in
 * a loop) asks for hundreds of slaves, more than one host can run (each is
 * a process or container with its own SQLite copy and ZooKeeper session).
 * So the target applied is scaler_bounded's: the rule's within
 * [1, MAX_SLAVES], and a decision adds at most SCALE_UP_STEP slaves to the
 * current target (like the scale-up policy of Kubernetes' HPA: capacity
 * grows window by window and a single spike cannot start many workers at
 * once). Scale-in is not stepped: fewer slaves never hurt the host, and an
 * idle window goes back to 1 at once, as the spec says.
 *
 * Thread-safe: counted from every HTTP thread, ticked from the supervisor.
 * Times are clock_ms() values passed in, so the tests drive the clock.
 */
#ifndef RS_SCALER_H
#define RS_SCALER_H

#include <stdint.h>

struct scaler;

struct scaler *scaler_new(int64_t window_ms, int reads_per_slave);
void scaler_free(struct scaler *s);

/* One db/read request arrived at now_ms. */
void scaler_count(struct scaler *s, int64_t now_ms);

/* If a window has closed by now_ms: 1, with that window's read count in
 * *reads and its target slave count in *target; the next window has begun
 * with a counter of 0. 0 if none closed. Several may have closed (a stalled
 * caller): call until it returns 0, the last target wins. */
int scaler_tick(struct scaler *s, int64_t now_ms, int64_t *reads, int *target);

/* Milliseconds until the current window closes; -1 before the first read. */
int64_t scaler_remaining(struct scaler *s, int64_t now_ms);

/* Reads counted so far in the current window. */
int64_t scaler_reads(struct scaler *s);

/* max(1, ceil(reads / per_slave)). */
int scaler_target(int64_t reads, int per_slave);

/* The target a decision applies, from the rule's target and the current
 * one: at most max_slaves, at most current + up_step, at least 1 (values
 * of max_slaves and up_step below 1 count as 1). A current target above
 * max_slaves (a lower cap after a restart) comes down at once. */
int scaler_bounded(int rule, int current, int max_slaves, int up_step);

#endif
