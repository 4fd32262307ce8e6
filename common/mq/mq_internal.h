/*
 * mq_internal.h — what the parts of the AMQP wrapper share: the connection
 * state and its failure handling (mq.c), the message flow on it
 * (mq_flow.c) and the deadline watchdog (mq_watch.c). Internal to those
 * files; callers use mq.h.
 */
#ifndef RS_MQ_INTERNAL_H
#define RS_MQ_INTERNAL_H

#include "mq.h"

#include <amqp.h>
#include <stdatomic.h>
#include <sys/time.h>

#define WORK_CHANNEL 1     /* every call but the probes: one channel per connection */
#define PROBE_CHANNEL 2    /* passive declares only (a failed one closes its channel) */
#define RPC_TIMEOUT_MS 15000

/* Why the watchdog cut a connection (struct mq.cut). */
enum { MQ_CUT_NONE, MQ_CUT_DEADLINE, MQ_CUT_STOP };

struct mq {
    amqp_connection_state_t conn;
    char where[96];           /* host:port for log lines */
    int node, nodes;          /* which node of a list (mq_nodes.h) this is, of how many; nodes 0: one URL */
    int failed;
    int probe_open;           /* channel 2 is open */
    int confirm;              /* channel 1 is in confirm mode */
    int blocked;              /* the broker sent connection.blocked, not yet unblocked */
    int heartbeat_s;          /* granted heartbeat interval; 0: none */
    int64_t beat_at;          /* clock_ms() of the last mq_keepalive heartbeat */
    int64_t lost_at;          /* failed: when the broker was last heard from, as best known (mq_lost_at) */
    uint64_t published;       /* last publish's sequence number */
    uint64_t base;            /* lowest unsettled sequence number */
    uint64_t first_nack;      /* 0: none */
    int64_t confirm_moved_at; /* clock_ms() since which the oldest unconfirmed publish waits, 0: none waits */
    uint8_t *settled;         /* ring of cap flags: 1 = settled */
    size_t cap;

    /* Deadlines (mq_watch.c). The owner sets busy_until around every call
     * that can wait on the socket; the watchdog thread reads it. */
    int send_timeout_ms;      /* bound of one send (mq_set_send_timeout) */
    int64_t busy_for;         /* the bound of the call in progress, for the log line */
    _Atomic int64_t busy_until; /* clock_ms() by which the call must be over; 0: idle */
    _Atomic int cut;          /* MQ_CUT_*: set by the watchdog when it shut the socket */
    volatile int *stop;       /* the owner's stop flag, or NULL */
    /* The watchdog's own (under its mutex): */
    int watch_fd;             /* a dup of the socket, -1 when not watched */
    int64_t stop_seen;        /* when *stop was first seen set, 0 before */
    struct mq *watch_prev, *watch_next;
};

/* A timeval of ms milliseconds (0 when negative). */
struct timeval mq_tv_ms(int64_t ms);

/* Marks the connection failed; the first failure is logged. */
void mq_fail(struct mq *m, const char *what, const char *err);

/* Answers a broker-side close of ch (or of the connection) with close-ok. */
void mq_handle_close(struct mq *m, amqp_channel_t ch, const amqp_method_t *method,
                     const char *what);

/* 0 if r is a normal reply; otherwise handles it and returns -1. Ends the
 * call's deadline window (mq_busy): it is what every synchronous method
 * (declare, qos, consume, ...) ends with. */
int mq_check(struct mq *m, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what);

/* Handles a frame that is not the one a call waits for (mq_flow.c): a
 * confirm, a close, a basic.return, a consumer cancel, a blocked notice. */
void mq_handle_frame(struct mq *m, amqp_frame_t *f, const char *what);

/* ---- deadlines (mq_watch.c) ---- */

/* Puts the connection under the watchdog (started with the first one): fd
 * is the library's socket, of which the watchdog keeps a dup of its own, so
 * the number it shuts down can never be another file's. -1 if no
 * descriptor is left. */
int mq_watch_add(struct mq *m, int fd);
/* Takes it out again (under the watchdog's mutex): after this, nothing
 * touches the socket but its owner. Safe on a connection never added. */
void mq_watch_remove(struct mq *m);

/* A call that may wait on the socket begins: it must be over within ms,
 * else the watchdog shuts the socket down (the call then fails). */
void mq_busy(struct mq *m, int64_t ms);
/* The call is over. */
void mq_idle(struct mq *m);
/* The bound of a synchronous method: its send, then the broker's reply. */
#define MQ_SYNC_MS(m) ((m)->send_timeout_ms + RPC_TIMEOUT_MS + 1000)

#endif
