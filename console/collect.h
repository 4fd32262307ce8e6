/*
 * collect.h — the console's data collectors.
 *
 * Three threads, one per backend, each with its own connection and
 * timeouts, so that a slow or dead backend delays only its own panel:
 *   ZooKeeper     the tree under ZK_ROOT, re-read when a watch fires
 *                 (collect_zk.c), and every few seconds as a backstop;
 *   RabbitMQ      depth and consumers of writeQ, readQ and the replog
 *                 stream (passive declares), every period;
 *   orchestrator  GET /api/v1/status, every period.
 * Each thread writes its results into the shared snapshot under one mutex,
 * held only to copy; no network call is made with it held. The screen and
 * batch mode take copies (collector_snapshot) and never wait on a backend.
 */
#ifndef RS_CONSOLE_COLLECT_H
#define RS_CONSOLE_COLLECT_H

#include <stdint.h>

#include "model.h"

struct collect_config {
    const char *zk_hosts;
    const char *zk_root;
    int zk_session_ms;
    const char *amqp_url;
    const char *orch_url;       /* base URL, no trailing slash needed */
    const char *const *orch_headers; /* sent with each call to it (the admin token); may be NULL */
    int64_t period_ms;          /* refresh period */
    int timeout_ms;             /* per network call */
};

struct collector;

/* Starts the threads; NULL if they could not be started. */
struct collector *collector_start(const struct collect_config *cfg);
/* Stops and joins the threads (each within its call's timeout), frees c. */
void collector_stop(struct collector *c);

/* A copy of the latest snapshot. */
void collector_snapshot(struct collector *c, struct snapshot *out);
/* The snapshot's version, to know whether a redraw is due. */
uint64_t collector_version(struct collector *c);

/* Every collector refreshes now instead of at its next period. */
void collector_refresh(struct collector *c);

/* Waits until every backend was tried once (or timeout_ms): 1 if all were. */
int collector_wait_first(struct collector *c, int timeout_ms);

/* A console event (shown in the event log), printf-formatted. */
void collector_event(struct collector *c, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The footer's action message and whether an action is running. */
void collector_message(struct collector *c, int busy, const char *text);

#endif
