/*
 * rpc.h — request/reply over RabbitMQ, for many HTTP threads at once.
 *
 * rpc_call hands a request to the publisher thread, which publishes it to
 * a queue with reply_to set to this orchestrator's exclusive reply queue
 * and a fresh correlation id; the caller blocks until the matching reply
 * arrives or its timeout passes. Any number of threads may call at once;
 * no caller ever waits on the network itself, so a broker that stops
 * taking publishes (a resource alarm) costs callers their timeout at most,
 * and one the broker has declared blocked fails them at once.
 *
 * Shutdown: 200 ms after SIGTERM/SIGINT (service_stop_flag) waiting calls
 * fail with RPC_UNAVAILABLE and new ones are refused.
 */
#ifndef RS_RPC_H
#define RS_RPC_H

#include <stddef.h>
#include <stdint.h>

struct rpc;

/* Starts the reply consumer; connects in the background. */
struct rpc *rpc_start(const char *amqp_url);
void rpc_stop(struct rpc *r);

enum { RPC_OK = 0, RPC_TIMEOUT = -1, RPC_UNAVAILABLE = -2 };

/* A worker's reply (protocol.h): its body and its integer headers. */
struct rpc_reply {
    char *body;                 /* malloc'd, NUL-terminated */
    size_t len;
    int64_t status, seq, epoch;
    int has_seq, has_epoch;
};

/* Sends body to queue (message_id = rid; persistent if asked; with the
 * header "deadline" = deadline_wall_ms unless it is 0: the wall-clock time
 * after which a worker must not act on it, protocol.h) and waits up to
 * timeout_ms. RPC_OK with *reply filled (free with rpc_reply_free),
 * RPC_TIMEOUT when no reply came in time, RPC_UNAVAILABLE when the broker
 * cannot be reached, has blocked publishing, or too many requests wait to
 * be published (1024), and during shutdown. */
int rpc_call(struct rpc *r, const char *queue, const char *rid, int persistent, int64_t deadline_wall_ms,
             const char *body, size_t len, int timeout_ms, struct rpc_reply *reply);
void rpc_reply_free(struct rpc_reply *reply);

/* Since when (clock_ms) both connections have been up without a break; 0
 * while either is down, or the broker blocks publishing (a resource alarm).
 * The supervisor replaces a worker cut off from the broker only while this
 * orchestrator reaches it (supervisor.c). */
int64_t rpc_broker_up_since(struct rpc *r);
/* Whether the broker has said it blocks this orchestrator's publishes (a
 * memory or disk alarm), as of the publisher's last look (every 20 ms). */
int rpc_broker_blocked(struct rpc *r);

#endif
