/*
 * mq_internal.h — what the two halves of the AMQP wrapper share: the
 * connection state and its failure handling (mq.c) and the message flow on it
 * (mq_flow.c). Internal to those two files; callers use mq.h.
 */
#ifndef RS_MQ_INTERNAL_H
#define RS_MQ_INTERNAL_H

#include "mq.h"

#include <amqp.h>
#include <sys/time.h>

#define CH 1          /* the working channel */
#define PROBE_CH 2    /* passive declares only */
#define RPC_TIMEOUT_MS 15000

struct mq {
    amqp_connection_state_t conn;
    char where[96];           /* host:port for log lines */
    int failed;
    int probe_open;           /* channel 2 is open */
    int confirm;              /* channel 1 is in confirm mode */
    uint64_t published;       /* last publish's sequence number */
    uint64_t base;            /* lowest unsettled sequence number */
    uint64_t first_nack;      /* 0: none */
    uint8_t *settled;         /* ring of cap flags: 1 = settled */
    size_t cap;
};

/* A timeval of ms milliseconds (0 when negative). */
struct timeval mq_tv_ms(int64_t ms);

/* Marks the connection failed; the first failure is logged. */
void mq_fail(struct mq *m, const char *what, const char *err);

/* Answers a broker-side close of ch (or of the connection) with close-ok. */
void mq_handle_close(struct mq *m, amqp_channel_t ch, const amqp_method_t *method,
                     const char *what);

/* 0 if r is a normal reply; otherwise handles it and returns -1. */
int mq_check(struct mq *m, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what);

/* Handles a frame that is not the one a call waits for (mq_flow.c): a
 * confirm, a close, a basic.return, a consumer cancel. */
void mq_handle_frame(struct mq *m, amqp_frame_t *f, const char *what);

#endif
