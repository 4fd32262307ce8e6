/*
 * mq.h — an AMQP 0-9-1 connection on rabbitmq-c, reduced to what the
 * services need: declare queues, publish (optionally with publisher
 * confirms), consume, ack.
 *
 * One struct mq is one TCP connection with one channel. It is owned by one
 * thread at a time: rabbitmq-c connections are not thread-safe, and this
 * wrapper adds no locking. A component that consumes and also publishes with
 * confirms uses two connections, so that waiting for confirms never has to
 * sort deliveries from acks.
 *
 * Failure model: any error on the connection (broker gone, channel closed by
 * the broker) makes every later call fail with -1 and mq_ok() false. The
 * owner then mq_close()s it, reconnects with mq_connect_retry(), and declares
 * its topology again. Nothing here reconnects behind the caller's back,
 * because what must be redone after a reconnect (re-declare, re-consume from
 * an offset, fail in-flight RPCs) is the caller's knowledge.
 *
 * Deadlines: every call that can wait on the broker is bounded — connect
 * by its timeout, a publish or an ack by the connection's send timeout
 * (mq_set_send_timeout, MQ_SEND_TIMEOUT_MS by default), mq_next and
 * mq_wait_confirms by their timeout plus the send timeout, a synchronous
 * method (declare, qos, consume, confirm.select) by the send timeout plus
 * 15 s for the reply, mq_close by about a second. rabbitmq-c itself sends
 * without a timeout (a broker under a memory or disk alarm stops reading
 * from publishers, and a publish then waits until the alarm clears), so a
 * watchdog thread (mq_watch.c) shuts the socket of a call that outlives its
 * bound: the call fails and the connection is failed, as for any broker
 * error. The same happens to a call still running 300 ms after the
 * connection's stop flag (mq_set_stop; mq_connect_retry sets its own) or
 * the process's (mq_set_process_stop) was set, so a process stops within a
 * second whatever the broker does.
 *
 * Heartbeats (mq_set_heartbeat): off unless the process asks for them. With
 * an interval of H seconds the broker closes a connection it has heard
 * nothing from for about 2H, and this side fails one it has heard nothing
 * from for 2H while it waits on it (mq_next, mq_wait_confirms, mq_poll): a
 * broker cut off behind a silent network, or a process frozen by SIGSTOP,
 * is noticed within seconds instead of never (TCP keepalive does not see a
 * frozen process: its kernel still answers). The price: rabbitmq-c sends
 * and reads heartbeats only from inside its calls, so the owner of a
 * connection must call into it at least every H/2 — a consumer's mq_next
 * loop does; a connection that only publishes calls mq_poll when idle; a
 * thread busy with local work for longer keeps its connections with
 * mq_keepalive (or opens them only when it needs them).
 *
 * Resource alarms: the login announces the capability connection.blocked;
 * the broker then says when it stops taking publishes, and mq_blocked()
 * reports it (as of the last frame read on the connection), so a publisher
 * can refuse work at once instead of filling its socket.
 *
 * Streams (the replication log): a queue declared with MQ_STREAM is a
 * RabbitMQ stream. Its consumers must set a prefetch (mq_qos) and must ack —
 * never nack or reject, which the broker answers by closing the connection.
 */
#ifndef RS_MQ_H
#define RS_MQ_H

#include <stddef.h>
#include <stdint.h>

struct mq;

enum mq_queue_kind {
    MQ_CLASSIC,        /* durable classic queue (quorum with mq_set_replicas > 1) */
    MQ_SINGLE_ACTIVE,  /* the same, with x-single-active-consumer */
    MQ_STREAM,         /* durable stream, x-queue-type=stream */
};

/* An integer message header: small metadata beside an opaque body. */
struct mq_header {
    const char *name;            /* at most MQ_HEADER_NAME-1 bytes */
    int64_t value;
};
#define MQ_MAX_HEADERS 4
#define MQ_HEADER_NAME 16

struct mq_props {
    const char *message_id;      /* NULL: unset */
    const char *correlation_id;  /* NULL: unset */
    const char *reply_to;        /* NULL: unset */
    int persistent;              /* delivery_mode 2 */
    int nheaders;                /* integer headers, at most MQ_MAX_HEADERS */
    struct mq_header headers[MQ_MAX_HEADERS];
};

struct mq_message {
    uint64_t delivery_tag;
    int redelivered;
    char *body;                  /* malloc'd, NUL-terminated copy */
    size_t len;
    char message_id[128];        /* "" when unset */
    char correlation_id[128];
    char reply_to[256];
    int64_t stream_offset;       /* -1 unless delivered from a stream */
    int nheaders;                /* the message's integer headers (up to MQ_MAX_HEADERS) */
    char header_names[MQ_MAX_HEADERS][MQ_HEADER_NAME];
    int64_t header_values[MQ_MAX_HEADERS];
};

/* The integer header name of msg: 1 with *value set, 0 if absent. */
int mq_header(const struct mq_message *msg, const char *name, int64_t *value);

/* Connects to an amqp:// URL within timeout_ms and opens the channel.
 * NULL on failure, with the reason logged.
 *
 * url may name the nodes of a cluster, comma-separated (mq_nodes.h): they
 * are tried in turn, each within timeout_ms (so the whole call within
 * nodes x timeout_ms; a node that is gone refuses at once), from the node
 * the process last reached, or the one after it once a connection to it
 * failed (mq_ok false), so that a node that died or went silent is tried
 * last. A failover is logged ("amqp node failover"). One URL: one try. */
struct mq *mq_connect(const char *url, int timeout_ms);

/* Retries mq_connect with exponential backoff (100 ms doubling to 2 s)
 * until it succeeds or *stop becomes non-zero (checked at least every
 * 100 ms); NULL when stopped. With a list, each retry is one round over
 * every node (2 s each), and the backoff comes after a whole round: the
 * next node is tried at once. The connection's stop flag is stop (see
 * mq_set_stop), so the flag must outlive the connection. */
struct mq *mq_connect_retry(const char *url, volatile int *stop);

/* Sends the broker connection.close and frees m; bounded (about a second,
 * 200 ms once the stop flag is set), whatever the broker does. */
void mq_close(struct mq *m);

/* Whether every node of list (mq_nodes.h) answers, each within timeout_ms,
 * and announces the same cluster_name: 1, or 0 with the first node that
 * does not in detail (n bytes); 0 at once when *stop is set (NULL: none). A node that booted on its own announces a
 * name of its own until it has joined, so this is how a client tells that
 * a cluster has formed — provided the cluster was given a name
 * (`rabbitmqctl set_cluster_name`, as the project's stacks do): unnamed,
 * every node announces its own. Queues declared before that get fewer
 * replicas than asked for, on the nodes there were. */
int mq_cluster_whole(const char *list, int timeout_ms, volatile int *stop, char *detail, size_t n);

/* Whether the connection is still usable. */
int mq_ok(const struct mq *m);

/* A failed connection: when it was lost, as best known (clock_ms) — when
 * it failed, or for a heartbeat timeout two intervals before that, when the
 * broker was last heard from. 0 while the connection is usable. */
int64_t mq_lost_at(const struct mq *m);

/* The heartbeat interval, in seconds, that connections opened after this
 * call ask the broker for (the broker may grant less); 0, the default: no
 * heartbeats. Services set it once at start (AMQP_HEARTBEAT_S). */
void mq_set_heartbeat(int seconds);

/* Services a connection that has no consumer (a publisher waiting for
 * work): reads what the broker sent (confirms, a blocked notice, a close,
 * heartbeats) without waiting and sends a heartbeat when one is due. 0, or
 * -1 when the connection has failed (also: nothing heard for two heartbeat
 * intervals). Never on a connection with a consumer: a delivery read here
 * would be lost. */
int mq_poll(struct mq *m);

/* Sends a heartbeat if half an interval has passed since the last one sent
 * here, and reads nothing: safe on any connection, consumers included, for
 * its owner busy with local work, so the broker does not close it. 0, or -1
 * when the connection has failed. Does nothing without heartbeats. */
int mq_keepalive(struct mq *m);

/* The bound of one send (publish, ack) on m; 0: back to the default.
 * A send that cannot be written within it fails the connection. */
#define MQ_SEND_TIMEOUT_MS 5000
void mq_set_send_timeout(struct mq *m, int ms);

/* Once *stop has been non-zero for 300 ms, a call still waiting on m's
 * socket is cut short (it fails, and m with it); NULL: none. stop must
 * outlive m (or be replaced before it goes). */
void mq_set_stop(struct mq *m, volatile int *stop);

/* The same for every connection of the process: once *stop has been
 * non-zero for 300 ms, any call still waiting on a socket is cut short.
 * service_signals_init registers the services' SIGTERM flag here. */
void mq_set_process_stop(volatile int *stop);

/* Whether the broker has said connection.blocked (a resource alarm: it
 * reads no more publishes from this connection) and not yet unblocked, as
 * far as the frames read so far tell. A connection that only publishes can
 * read what has arrived with mq_next(m, &msg, 0). */
int mq_blocked(const struct mq *m);

/* How many nodes of a cluster the queues and streams declared after this
 * call are replicated on (services set it once at start, MQ_REPLICAS):
 * 1, the default, declares them as ever — classic queues, streams on one
 * node. With n > 1 a classic kind (MQ_CLASSIC, MQ_SINGLE_ACTIVE) becomes
 * a quorum queue (x-queue-type=quorum, x-quorum-initial-group-size n; the
 * single active consumer stays), and a stream gets x-initial-cluster-size
 * n. Every process declaring the same queues must use the same value: the
 * broker refuses a declare whose arguments differ from the queue's (a
 * channel error that fails the connection). Quorum queues keep what the
 * services rely on — durable, persistent messages, manual acks, redelivery
 * of what was not acked, publisher confirms, single active consumer — and
 * refuse only what they do not use (exclusive, auto-delete, priorities,
 * global qos). The RPC reply queue stays exclusive and classic: it lives
 * and dies with its connection anyway. */
void mq_set_replicas(int n);
int mq_replicas(void);

int mq_declare(struct mq *m, const char *queue, enum mq_queue_kind kind);

/* Declares a durable stream with a retention: max_bytes
 * (x-max-length-bytes: the broker drops the oldest segments beyond it) and
 * segment_bytes (x-stream-max-segment-size-bytes: the unit it drops); 0
 * leaves either unset. A stream's arguments are fixed by its first
 * declaration, so one that exists is used as it is: a passive check comes
 * first, and a stream declared earlier with other arguments never costs the
 * connection (change a live stream's retention with a broker policy). */
int mq_declare_stream(struct mq *m, const char *queue, int64_t max_bytes, int64_t segment_bytes);

/* Deletes a queue (a stream too) with whatever it holds; consumers of it are
 * cancelled by the broker. A queue that does not exist counts as deleted.
 * 0 or -1. */
int mq_delete_queue(struct mq *m, const char *queue);

/* Declares an exclusive, auto-delete, server-named queue for RPC replies;
 * writes its name into name (size n). */
int mq_declare_reply_queue(struct mq *m, char *name, size_t n);

/* basic.qos: at most prefetch unacked deliveries to this channel. */
int mq_qos(struct mq *m, int prefetch);

/* Starts a consumer. stream_offset is used for streams only: NULL for the
 * broker's default ("next"), "first", "last", "next", or a decimal offset.
 * no_ack: deliveries need no ack (reply queues). */
int mq_consume(struct mq *m, const char *queue, const char *stream_offset, int no_ack);

/* Waits up to timeout_ms (0: do not wait) for the next delivery.
 * Returns 1 with *msg filled (free with mq_message_free), 0 on timeout,
 * -1 when the connection failed. */
int mq_next(struct mq *m, struct mq_message *msg, int timeout_ms);
void mq_message_free(struct mq_message *msg);

int mq_ack(struct mq *m, uint64_t delivery_tag, int multiple);

/* Publishes to a queue through the default exchange. */
int mq_publish(struct mq *m, const char *queue, const struct mq_props *props,
               const void *body, size_t len);

/* Puts the channel in confirm mode; later publishes are numbered 1, 2, ...
 * and mq_published() returns the number of the last one. */
int mq_confirm_select(struct mq *m);
uint64_t mq_published(const struct mq *m);

/* Waits until every publish up to and including seqno has been confirmed,
 * or timeout_ms passes. 0: all confirmed; -1: a nack, a timeout or a failed
 * connection (the caller cannot know whether the messages are stored). */
int mq_wait_confirms(struct mq *m, uint64_t seqno, int timeout_ms);

/* How long (ms) publishes have waited for confirms without any coming:
 * since the oldest unconfirmed publish was sent or the last confirm
 * arrived, whichever is later; 0 when none waits (or not in confirm mode).
 * Confirms are read by any call that reads the connection (mq_next,
 * mq_poll, mq_wait_confirms). What it is for: a quorum queue whose leader
 * was on a node that died can swallow the publishes of a channel that
 * looked the leader up just before the new one was elected — they are
 * never enqueued and never confirmed, and the ones after them wait behind
 * them — until the channel is closed; a stall is the sign to reconnect. */
int64_t mq_confirm_stalled_ms(const struct mq *m);

/* Whether the broker has nacked a publish on m (since confirm.select): it
 * did not take the message. A quorum queue without a live leader nacks. */
int mq_nacked(const struct mq *m);

/* Messages ready in a queue and its consumers (passive declare); -1 on error. */
int mq_queue_depth(struct mq *m, const char *queue, uint32_t *messages, uint32_t *consumers);

#endif
