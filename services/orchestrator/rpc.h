/*
 * rpc.h — request/reply over RabbitMQ, for many HTTP threads at once.
 *
 * rpc_call publishes a request to a queue with reply_to set to this
 * orchestrator's exclusive reply queue and a fresh correlation id, then
 * blocks until the matching reply arrives or the timeout passes. Any number
 * of threads may call at once.
 */
#ifndef RS_RPC_H
#define RS_RPC_H

#include <stddef.h>

struct rpc;

/* Starts the reply consumer; connects in the background. */
struct rpc *rpc_start(const char *amqp_url);
void rpc_stop(struct rpc *r);

enum { RPC_OK = 0, RPC_TIMEOUT = -1, RPC_UNAVAILABLE = -2 };

/* Sends body to queue (message_id = rid; persistent if asked) and waits up to
 * timeout_ms. RPC_OK with *reply (malloc'd JSON text), RPC_TIMEOUT when no
 * reply came in time, RPC_UNAVAILABLE when the broker cannot be reached. */
int rpc_call(struct rpc *r, const char *queue, const char *rid, int persistent,
             const char *body, size_t len, int timeout_ms, char **reply);

#endif
