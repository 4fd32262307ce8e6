/*
 * model.h — what the console shows, as plain data, and the pure logic over it.
 *
 * A snapshot is everything the console knows at one moment: the state of
 * each backend (ZooKeeper, RabbitMQ, the orchestrator), the workers, the
 * znodes under the service's root, the queue depths, the orchestrator's
 * scaling figures and two event lists (the orchestrator's recent events and
 * the console's own: unreachable backends, actions and their outcomes). The
 * collector threads (collect.c) fill one under a mutex; the screen
 * (view.c) and batch mode (batch.c) read copies of it. Fixed-size arrays
 * only, so a copy is one assignment and nothing in it needs freeing.
 *
 * The functions here do no I/O and take no locks: parsing the admin API's
 * status, merging the orchestrator's view of the workers with their znodes,
 * filtering and ordering the events, choosing the slave a crash would hit,
 * and small formatting helpers. The unit tests exercise them directly.
 */
#ifndef RS_CONSOLE_MODEL_H
#define RS_CONSOLE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "series.h"

#define CW_MAX 32           /* workers shown */
#define MODEL_ZNODES_MAX     64   /* znodes shown */
#define MODEL_ZNODE_PATH     160
#define MODEL_ZNODE_DATA     240
#define MODEL_EVENTS_MAX     60   /* events kept per list */
#define MODEL_EVENT_TEXT     200
#define MODEL_QUEUES         3    /* writeQ, readQ, replog */
#define MODEL_ID_MAX         64

enum backend { B_ZK, B_MQ, B_ORCH, B_N };

struct c_backend {
    int up;                 /* the last attempt worked */
    int tried;              /* at least one attempt finished */
    int64_t since_ms;       /* clock_ms() of the last change of up */
    int64_t updated_ms;     /* clock_ms() of the last success */
    char error[160];        /* why it is down */
};

struct c_worker {
    char id[MODEL_ID_MAX];
    char role[16];          /* master, slave */
    int pid;
    char state[16];         /* starting, catching-up, ready, retiring */
    int64_t seq, lag, reads; /* -1: unknown */
};

struct c_znode {
    char path[MODEL_ZNODE_PATH];
    char data[MODEL_ZNODE_DATA];     /* printable; "" when the node holds none */
    int depth;              /* 0 for the root */
};

struct c_queue {
    char name[16];
    int ok;                 /* depth known */
    int64_t messages, consumers;
    double rate;            /* change of messages per second */
    int has_rate;
};

struct c_orch {
    int64_t epoch;
    char master[MODEL_ID_MAX];       /* "" when none */
    int64_t master_seq;     /* -1: unknown */
    int64_t reads_in_window;
    double seconds_to_decision; /* < 0: no window running */
    int target_slaves, window_s, reads_per_slave;
    /* How the target came about; max_slaves 0: not said (an older orchestrator). */
    int rule_target;        /* the rule at the last window's close, uncapped; -1: none yet */
    int max_slaves, scale_up_step;
    int capped, stepped;    /* the last decision was held down by max_slaves / by the step */
    char set_by[12];        /* "start", "window", "operator"; "" unknown */
    /* Workers that could not start: in a row, the current pause, the last one. */
    int start_failures;
    int64_t start_backoff_ms, start_next_in_ms;
    char start_last[MODEL_EVENT_TEXT]; /* "<id>: <why> (status N)"; "" none */
    /* Every db/read the orchestrator took, cached or not: its read cache's
     * hits + misses, counted from its start; -1: not reported. Stays 0 with
     * the cache off (READ_CACHE_ENTRIES=0). */
    int64_t reads_total;
    double write_rate, read_rate; /* per second between two statuses (model_orch_rates) */
    int has_write_rate, has_read_rate;
};

struct c_event {
    char at[32];            /* ISO-8601 UTC with ms: sorts as text */
    char kind[24];
    char text[MODEL_EVENT_TEXT];
};

struct snapshot {
    uint64_t version;       /* bumped on every change */
    struct c_backend be[B_N];
    int nworkers;           /* from the orchestrator */
    struct c_worker workers[CW_MAX];
    int nznodes;
    struct c_znode znodes[MODEL_ZNODES_MAX];
    int zk_truncated;       /* more znodes than MODEL_ZNODES_MAX */
    struct c_queue queues[MODEL_QUEUES];
    struct c_orch orch;
    struct series series;   /* one sample per poll of the orchestrator (series.h) */
    int norch_events;       /* newest first */
    struct c_event orch_events[MODEL_EVENTS_MAX];
    int nlocal;             /* oldest first, a ring trimmed from the front */
    struct c_event local_events[MODEL_EVENTS_MAX];
    char message[MODEL_EVENT_TEXT];  /* the last action's outcome, for the footer */
    int action_busy;
};

extern const char *const BACKEND_NAMES[B_N]; /* "ZooKeeper", "RabbitMQ", "orchestrator" */

/* Parses GET /api/v1/status into orch, workers (at most CW_MAX) and events
 * (newest first, at most MODEL_EVENTS_MAX). 0, or -1 with why (size n) when the text
 * is not the expected shape. */
int model_parse_status(const char *body, size_t len, struct c_orch *orch, struct c_worker *workers,
                       int *nworkers, struct c_event *events, int *nevents, char *why, size_t n);

/* The workers to show: the orchestrator's list when it answered, with each
 * one's reads (and anything the orchestrator did not know) taken from its
 * znode; else the workers registered in ZooKeeper, their lag measured
 * against the master's znode. Returns the count written to out. */
int model_workers(const struct snapshot *s, const char *zk_root, struct c_worker *out, int max);

/* Sets o's writes and reads per second from the previous status (taken at
 * prev_at_ms; 0: none yet) and copies o into *prev; returns now_ms, the new
 * prev_at_ms.
 * Writes: the growth of the master's seq (one log entry per write); none
 * when it went down (a new master behind the old one's last figure).
 * Reads: the larger of two lower bounds of the db/reads taken in between,
 * the growth of reads_total (exact while the read cache is on) and that of
 * reads_in_window (every read too, but the count restarts when a scaling
 * window closes: then only the reads since the close are known). None when
 * neither can be told (an orchestrator restarted). */
int64_t model_orch_rates(struct c_orch *o, struct c_orch *prev, int64_t prev_at_ms, int64_t now_ms);

/* The index of the slave POST /api/v1/crash/slave would kill (the highest
 * PID, retiring ones excepted), or -1. */
int model_crash_slave_pick(const struct c_worker *w, int n);
/* The master's index, or -1. */
int model_master(const struct c_worker *w, int n);
/* Slaves that are not retiring. */
int model_slave_count(const struct c_worker *w, int n);

/* Whether event e matches filter: every space-separated word of filter is
 * found, case-insensitively, in "kind text". An empty filter matches all. */
int model_event_match(const struct c_event *e, const char *filter);

/* The orchestrator's and the console's events merged, newest first, those
 * matching filter only; at most max. Returns the count. */
int model_events(const struct snapshot *s, const char *filter, struct c_event *out, int max);

/* Adds a console event now (ring of MODEL_EVENTS_MAX). */
void model_local_event(struct snapshot *s, const char *kind, const char *text);

/* url without its user:password@ part, for showing. */
void model_redact_url(const char *url, char *out, size_t n);

/* Copies src into dst (size n), replacing control and non-ASCII bytes by '.'. */
void model_printable(char *dst, size_t n, const char *src, size_t len);

/* "12s", "3m05s", "2h10m" for a duration in ms. */
void model_fmt_age(int64_t ms, char *out, size_t n);

/* The current wall-clock time as the events' ISO text. */
void model_now_iso(char *out, size_t n);

#endif
