/*
 * format.h — one line of text per row of a panel, shared by the screen
 * (view.c) and the plain-text snapshot (batch.c) so that both say the same
 * thing the same way. Pure functions of the snapshot; "-" for unknowns.
 */
#ifndef RS_CONSOLE_FORMAT_H
#define RS_CONSOLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define FMT_LINE 512

void fmt_worker_header(char *out, size_t n);
void fmt_worker(char *out, size_t n, const struct c_worker *w);

void fmt_queue_header(char *out, size_t n);
void fmt_queue(char *out, size_t n, const struct c_queue *q);

/* The orchestrator panel's lines (at most max); returns the count. Line
 * FMT_ORCH_LIMITS says how the slave target relates to the spec's rule
 * (capped at MAX_SLAVES, held by SCALE_UP_STEP), line FMT_ORCH_STARTS
 * whether workers fail to start; the screen marks each when it warns
 * (fmt_orch_warns). */
#define FMT_ORCH_LINES 6
#define FMT_ORCH_LIMITS 4
#define FMT_ORCH_STARTS 5
int fmt_orch(char out[][FMT_LINE], int max, const struct c_orch *o, const struct c_worker *w, int nw);

/* Whether line i of fmt_orch reports something wrong (capped, starts failing). */
int fmt_orch_warns(const struct c_orch *o, int i);

/* A znode as "  name  data", indented by its depth; the root by its path. */
void fmt_znode(char *out, size_t n, const struct c_znode *z);

/* "HH:MM:SS kind  text". */
void fmt_event(char *out, size_t n, const struct c_event *e);

/* The status line: each backend unreachable, for how long and why, or
 * that all are reachable. Returns the number unreachable. now_ms: clock_ms(). */
int fmt_status(char *out, size_t n, const struct snapshot *s, int64_t now_ms);

#endif
