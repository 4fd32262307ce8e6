/*
 * mq.c — the connection half of the AMQP wrapper (see mq.h; the message
 * flow, consume/publish/confirms, is mq_flow.c). How it works:
 *
 * One rabbitmq-c connection carries channel 1, on which everything the
 * caller asks for happens (declares, qos, consumers, publishes, confirms),
 * and, opened only when needed, channel 2 for mq_queue_depth: a passive
 * declare of a missing queue makes the broker close the channel it was sent
 * on, and losing channel 1 would lose its consumers and confirm mode, whereas
 * channel 2 holds nothing and is simply reopened next time.
 *
 * A broker-side close of channel 1 or of the connection is answered with
 * close-ok (the protocol asks for it) and marks the connection failed; from
 * then on every call returns -1 at once. Reconnecting is the owner's
 * business (mq_connect_retry: backoff, one log line per outage).
 *
 * Heartbeats are off unless the process sets an interval (mq_set_heartbeat,
 * see mq.h for what that asks of the owner): rabbitmq-c only sends them from
 * inside its calls, so an idle connection whose owner never calls in would
 * be dropped by the broker for silence. Either way dead peers are also
 * found by TCP keepalive (kernel-driven, ~25 s), by the RPC timeout on
 * synchronous calls, and by the watchdog (mq_watch.c), which ends any call
 * that outlives its bound: the library's sends have no timeout of their
 * own. Each call here opens its deadline window (mq_busy) before it
 * touches the socket; mq_check closes it.
 *
 * The login announces the capability connection.blocked, so a broker under
 * a resource alarm says so (mq_blocked) instead of only ceasing to read.
 *
 * A URL that lists a cluster's nodes (mq_nodes.h) is walked by
 * connect_list: one connect_once per node, from the process's preferred
 * node, which moves to the node that answered, and on to the next one when
 * a connection to it fails (mq_fail), so the dead or silent node is tried
 * last. A single URL goes straight to connect_once, as before.
 */
#include "mq_internal.h"

#include "clock.h"
#include "log.h"
#include "mq_nodes.h"

#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The interval new connections ask for (mq_set_heartbeat). */
static _Atomic int heartbeat_s;

void mq_set_heartbeat(int seconds) { atomic_store(&heartbeat_s, seconds > 0 ? seconds : 0); }

/* How many nodes a queue and a stream is declared on (mq_set_replicas). */
static _Atomic int replicas = 1;

void mq_set_replicas(int n) { atomic_store(&replicas, n > 1 ? n : 1); }

int mq_replicas(void) { return atomic_load(&replicas); }

/* The node of a list that a new connection tries first: the one the last
 * connect of this process reached, moved on to the next one when a
 * connection to it fails (mq_fail). One for the whole process: its
 * connections all name the same nodes, in the same order. */
static _Atomic int preferred_node;

struct timeval mq_tv_ms(int64_t ms)
{
    if (ms < 0) ms = 0;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

void mq_fail(struct mq *m, const char *what, const char *err)
{
    char why[160];
    int cut = atomic_load(&m->cut);
    /* A socket error that is only the watchdog's doing: say why. */
    if (cut == MQ_CUT_STOP) {
        err = "cut at shutdown (stop flag set)";
    } else if (cut) {
        snprintf(why, sizeof why, "no progress within %lld ms; cut by the deadline watchdog", (long long)m->busy_for);
        err = why;
    }
    if (m->failed) return;
    m->failed = 1;
    /* Silence is found two heartbeat intervals after the broker was last
     * heard from (the library's message for that code is a static string). */
    m->lost_at = clock_ms();
    if (!cut && m->heartbeat_s && err == amqp_error_string2(AMQP_STATUS_HEARTBEAT_TIMEOUT))
        m->lost_at -= 2000LL * m->heartbeat_s;
    if (cut == MQ_CUT_STOP) log_info("amqp connection failed broker=%s op=%s err=\"%s\"", m->where, what, err);
    else log_warn("amqp connection failed broker=%s op=%s err=\"%s\"", m->where, what, err);
    /* The next connect starts at the next node: this one may be gone, or
     * cut off behind a silent network, where each try would cost a whole
     * connect timeout before the list moves on. Only from this node: two
     * connections failing together move it once. */
    if (m->nodes > 1 && cut != MQ_CUT_STOP) {
        int expect = m->node;
        atomic_compare_exchange_strong(&preferred_node, &expect, (m->node + 1) % m->nodes);
    }
}

/* Answers a broker-side close with close-ok. A close of channel 2 (the
 * probe channel) only marks it closed; any other fails the connection. */
void mq_handle_close(struct mq *m, amqp_channel_t ch, const amqp_method_t *method,
                     const char *what)
{
    int conn = method->id == AMQP_CONNECTION_CLOSE_METHOD;
    uint16_t code = conn ? ((const amqp_connection_close_t *)method->decoded)->reply_code
                         : ((const amqp_channel_close_t *)method->decoded)->reply_code;
    amqp_bytes_t text = conn ? ((const amqp_connection_close_t *)method->decoded)->reply_text
                             : ((const amqp_channel_close_t *)method->decoded)->reply_text;
    amqp_channel_close_ok_t ok = { 0 }; /* both close-oks are empty */
    amqp_send_method(m->conn, conn ? 0 : ch,
                     conn ? AMQP_CONNECTION_CLOSE_OK_METHOD : AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    char err[320];
    snprintf(err, sizeof err, "%s closed by broker: %u %.*s", conn ? "connection" : "channel",
             code, (int)text.len, (const char *)text.bytes);
    if (!conn && ch == PROBE_CHANNEL) {
        m->probe_open = 0;
        log_debug("amqp probe channel %s", err);
        return;
    }
    mq_fail(m, what, err);
}

int mq_check(struct mq *m, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) mq_handle_close(m, ch, &r.reply, what);
    else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) mq_fail(m, what, amqp_error_string2(r.library_error));
    else if (r.reply_type != AMQP_RESPONSE_NORMAL) mq_fail(m, what, "no reply");
    mq_idle(m); /* after the close-ok above: that was a send, too */
    return r.reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
}

/* ------------------------------------------------------------ connection */

/* The client properties of every login: the default ones (the library
 * merges them in) plus the capability connection.blocked. */
static amqp_rpc_reply_t login(struct mq *m, const struct amqp_connection_info *ci)
{
    amqp_table_entry_t cap = { .key = amqp_cstring_bytes("connection.blocked"),
                               .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 } };
    amqp_table_entry_t caps = { .key = amqp_cstring_bytes("capabilities"),
                                .value = { .kind = AMQP_FIELD_KIND_TABLE, .value.table = { 1, &cap } } };
    amqp_table_t props = { 1, &caps };
    return amqp_login_with_properties(m->conn, ci->vhost, 0, 131072, atomic_load(&heartbeat_s), &props,
                                      AMQP_SASL_METHOD_PLAIN, ci->user, ci->password);
}

/* quiet: 1 logs no failure, 2 (a probe) nothing at all. */
static struct mq *connect_once(const char *url, int timeout_ms, int quiet, volatile int *stop)
{
    int64_t deadline = clock_ms() + timeout_ms;
    char *copy = strdup(url ? url : "");
    struct mq *m = calloc(1, sizeof *m);
    struct amqp_connection_info ci;
    const char *err = NULL;
    char why[300];
    if (!copy || !m) { err = "out of memory"; goto out; }
    m->watch_fd = -1;
    m->send_timeout_ms = MQ_SEND_TIMEOUT_MS;
    m->stop = stop;
    if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) { err = "bad url"; goto out; }
    if (ci.ssl) { err = "amqps is not supported"; goto out; }
    snprintf(m->where, sizeof m->where, "%s:%d", ci.host, ci.port);
    /* "amqp://host:port/" parses to the vhost "", which no broker has; take
     * it, like most clients do, as the default vhost "/". */
    if (!ci.vhost || !*ci.vhost) ci.vhost = "/";
    m->conn = amqp_new_connection();
    amqp_socket_t *sock = m->conn ? amqp_tcp_socket_new(m->conn) : NULL;
    if (!sock) { err = "out of memory"; goto out; }
    struct timeval tv = mq_tv_ms(timeout_ms);
    int rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        /* The library does not keep the socket's errno (it reads as
         * EINPROGRESS); refused and unreachable both read "socket error". */
        snprintf(why, sizeof why, "tcp connect: %s", amqp_error_string2(rc));
        err = why;
        goto out;
    }
    int fd = amqp_socket_get_sockfd(sock);
    if (mq_watch_add(m, fd) != 0) { err = "no file descriptor left"; goto out; }
    /* Keepalive finds a broker host that vanished without a FIN. */
    static const int ka[4][3] = { { SOL_SOCKET, SO_KEEPALIVE, 1 }, { IPPROTO_TCP, TCP_KEEPIDLE, 10 },
                                  { IPPROTO_TCP, TCP_KEEPINTVL, 5 }, { IPPROTO_TCP, TCP_KEEPCNT, 3 } };
    for (int i = 0; i < 4; i++) setsockopt(fd, ka[i][0], ka[i][1], &ka[i][2], sizeof(int));
    /* The handshake has the connect's deadline; channel.open's send has
     * none in the library, so the watchdog holds the whole rest to it. */
    mq_busy(m, deadline - clock_ms() > 1 ? deadline - clock_ms() : 1);
    tv = mq_tv_ms(deadline - clock_ms() > 1 ? deadline - clock_ms() : 1);
    amqp_set_handshake_timeout(m->conn, &tv);
    tv = mq_tv_ms(RPC_TIMEOUT_MS);
    amqp_set_rpc_timeout(m->conn, &tv);
    amqp_rpc_reply_t r = login(m, &ci);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        err = "login refused";
        if (atomic_load(&m->cut)) {
            err = "no answer in time";
        } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
            err = amqp_error_string2(r.library_error);
        } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                   r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *c = r.reply.decoded;
            snprintf(why, sizeof why, "login refused: %u %.*s", c->reply_code,
                     (int)c->reply_text.len, (const char *)c->reply_text.bytes);
            err = why;
        }
        goto out;
    }
    m->heartbeat_s = amqp_get_heartbeat(m->conn);
    m->beat_at = clock_ms();
    amqp_channel_open(m->conn, WORK_CHANNEL);
    r = amqp_get_rpc_reply(m->conn);
    mq_idle(m);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) { err = "channel.open failed"; goto out; }
out:
    if (err) {
        if (!quiet) log_warn("amqp connect failed broker=%s err=\"%s\"", m && m->where[0] ? m->where : "?", err);
        if (m) mq_watch_remove(m);
        if (m && m->conn) amqp_destroy_connection(m->conn);
        free(m);
        m = NULL;
    } else {
        if (quiet < 2) log_info("amqp connected broker=%s heartbeat_s=%d", m->where, m->heartbeat_s);
    }
    free(copy);
    return m;
}

/* One try at each node of list in turn, from the preferred one, each within
 * timeout_ms; the first that answers wins. A list of one is exactly one
 * connect_once. */
static struct mq *connect_list(const char *list, int timeout_ms, int quiet, volatile int *stop)
{
    int n = mq_node_count(list);
    char url[1024];
    if (n <= 1) {
        /* One URL, as ever (blanks or a stray comma around it dropped). */
        const char *one = n == 1 && strchr(list, ',') && mq_node_url(list, 0, url, sizeof url) == 0 ? url : list;
        return connect_once(one, timeout_ms, quiet, stop);
    }
    int first = atomic_load(&preferred_node);
    if (first < 0 || first >= n) first = 0;
    for (int k = 0; k < n && !(stop && *stop); k++) {
        int i = (first + k) % n;
        if (mq_node_url(list, i, url, sizeof url)) {
            if (!quiet) log_warn("amqp connect failed node=%d err=\"url too long\"", i);
            continue;
        }
        struct mq *m = connect_once(url, timeout_ms, quiet, stop);
        if (!m) continue;
        m->node = i;
        m->nodes = n;
        if (i != first) {
            log_info("amqp node failover broker=%s node=%d nodes=%d", m->where, i, n);
            int expect = first;
            atomic_compare_exchange_strong(&preferred_node, &expect, i);
        }
        return m;
    }
    return NULL;
}

struct mq *mq_connect(const char *url, int timeout_ms) { return connect_list(url, timeout_ms, 0, NULL); }

/* The cluster_name the broker announced in connection.start, "" if none. */
static void announced_cluster(struct mq *m, char *out, size_t n)
{
    out[0] = '\0';
    amqp_table_t *t = amqp_get_server_properties(m->conn);
    for (int i = 0; t && i < t->num_entries; i++) {
        amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len != 12 || memcmp(e->key.bytes, "cluster_name", 12) != 0) continue;
        if (e->value.kind != AMQP_FIELD_KIND_UTF8 && e->value.kind != AMQP_FIELD_KIND_BYTES) continue;
        amqp_bytes_t v = e->value.value.bytes;
        snprintf(out, n, "%.*s", (int)(v.len < n ? v.len : n - 1), (const char *)v.bytes);
    }
}

int mq_cluster_whole(const char *list, int timeout_ms, volatile int *stop, char *detail, size_t n)
{
    char url[1024], first[256] = "", name[256];
    detail[0] = '\0';
    for (int i = 0, count = mq_node_count(list); i < count; i++) {
        if (stop && *stop) {
            snprintf(detail, n, "stopped");
            return 0;
        }
        struct mq *m = mq_node_url(list, i, url, sizeof url) ? NULL : connect_once(url, timeout_ms, 2, stop);
        if (!m) {
            snprintf(detail, n, "node %d does not answer", i);
            return 0;
        }
        announced_cluster(m, name, sizeof name);
        mq_close(m);
        if (i == 0) memcpy(first, name, sizeof first);
        else if (strcmp(name, first) != 0) {
            snprintf(detail, n, "node %d is in cluster \"%s\", node 0 in \"%s\"", i, name, first);
            return 0;
        }
    }
    return 1;
}

struct mq *mq_connect_retry(const char *url, volatile int *stop)
{
    int delay = 100, attempt = 0;
    int64_t last_log = 0;
    while (!*stop) {
        /* One failure line per outage and then one per 30 s, not one per try. */
        int quiet = attempt > 0 && clock_ms() - last_log < 30000;
        if (!quiet) last_log = clock_ms();
        struct mq *m = connect_list(url, 2000, quiet, stop);
        if (m) return m;
        attempt++;
        for (int64_t until = clock_ms() + delay; !*stop && clock_ms() < until;) {
            struct timespec ts = { 0, 20 * 1000000L };
            nanosleep(&ts, NULL);
        }
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
    return NULL;
}

void mq_set_send_timeout(struct mq *m, int ms)
{
    if (m) m->send_timeout_ms = ms > 0 ? ms : MQ_SEND_TIMEOUT_MS;
}

void mq_close(struct mq *m)
{
    if (!m) return;
    /* connection.close (it closes the channels too), also after a channel
     * failure, so the broker logs a clean close; bounded, so a broker that
     * stopped answering cannot hold up shutdown: the library waits for
     * close-ok at most ms, the watchdog ends a send that does not go out
     * (a blocked broker), and a cut socket fails at once. */
    int ms = m->stop && *m->stop ? 200 : 1000;
    struct timeval tv = mq_tv_ms(ms);
    amqp_set_rpc_timeout(m->conn, &tv);
    mq_busy(m, ms + 100);
    amqp_connection_close(m->conn, AMQP_REPLY_SUCCESS);
    mq_idle(m);
    mq_watch_remove(m);
    amqp_destroy_connection(m->conn);
    free(m->settled);
    free(m);
}

int mq_ok(const struct mq *m) { return m && !m->failed; }

int64_t mq_lost_at(const struct mq *m) { return m && m->failed ? m->lost_at : 0; }

int mq_blocked(const struct mq *m) { return m && m->blocked; }

/* ---------------------------------------------------------------- topology */

/* The x-queue-type and replication arguments of a declare, into e (room
 * for 4); returns how many. One node: a classic queue (no type) or a
 * stream, as ever. Several (mq_set_replicas): a quorum queue instead of a
 * classic one — a classic queue lives on one node, and while that node is
 * down the queue cannot be used or declared anywhere — and the stream's
 * replicas; the broker places them on its nodes (at most as many as it
 * has). */
static int type_args(amqp_table_entry_t *e, enum mq_queue_kind kind)
{
    int n = 0, r = mq_replicas();
    if (kind == MQ_STREAM || r > 1) {
        e[n].key = amqp_cstring_bytes("x-queue-type");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n++].value.value.bytes = amqp_cstring_bytes(kind == MQ_STREAM ? "stream" : "quorum");
    }
    if (r > 1) {
        e[n].key = amqp_cstring_bytes(kind == MQ_STREAM ? "x-initial-cluster-size" : "x-quorum-initial-group-size");
        e[n].value.kind = AMQP_FIELD_KIND_I32;
        e[n++].value.value.i32 = r;
    }
    if (kind == MQ_SINGLE_ACTIVE) {
        e[n].key = amqp_cstring_bytes("x-single-active-consumer");
        e[n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        e[n++].value.value.boolean = 1;
    }
    return n;
}

int mq_declare(struct mq *m, const char *queue, enum mq_queue_kind kind)
{
    if (!mq_ok(m)) return -1;
    amqp_table_entry_t e[4];
    amqp_table_t args = { type_args(e, kind), e };
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_queue_declare(m->conn, WORK_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    return mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "queue.declare");
}

/* Opens channel 2 (passive declares, deletes) if it is not open. 0 or -1. */
static int open_probe(struct mq *m)
{
    if (!mq_ok(m)) return -1;
    if (m->probe_open) return 0;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_channel_open(m->conn, PROBE_CHANNEL);
    if (mq_check(m, amqp_get_rpc_reply(m->conn), PROBE_CHANNEL, "channel.open") != 0) return -1;
    m->probe_open = 1;
    return 0;
}

int mq_declare_stream(struct mq *m, const char *queue, int64_t max_bytes, int64_t segment_bytes)
{
    if (!mq_ok(m)) return -1;
    if (mq_queue_depth(m, queue, NULL, NULL) == 0) return 0; /* exists: as it was declared */
    if (!mq_ok(m)) return -1;
    amqp_table_entry_t e[6];
    int n = type_args(e, MQ_STREAM);
    if (max_bytes > 0) {
        e[n].key = amqp_cstring_bytes("x-max-length-bytes");
        e[n].value.kind = AMQP_FIELD_KIND_I64;
        e[n++].value.value.i64 = max_bytes;
    }
    if (segment_bytes > 0) {
        e[n].key = amqp_cstring_bytes("x-stream-max-segment-size-bytes");
        e[n].value.kind = AMQP_FIELD_KIND_I64;
        e[n++].value.value.i64 = segment_bytes;
    }
    amqp_table_t args = { n, e };
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_queue_declare(m->conn, WORK_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    return mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "queue.declare");
}

int mq_delete_queue(struct mq *m, const char *queue)
{
    /* On the probe channel: should the broker answer a missing queue with
     * a channel error, it is that channel that closes. */
    if (open_probe(m)) return -1;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_queue_delete(m->conn, PROBE_CHANNEL, amqp_cstring_bytes(queue), 0, 0);
    if (mq_check(m, amqp_get_rpc_reply(m->conn), PROBE_CHANNEL, "queue.delete") == 0) return 0;
    /* Failed: gone is as good as deleted. */
    return mq_ok(m) && mq_queue_depth(m, queue, NULL, NULL) != 0 && mq_ok(m) ? 0 : -1;
}

int mq_declare_reply_queue(struct mq *m, char *name, size_t n)
{
    if (!mq_ok(m)) return -1;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(m->conn, WORK_CHANNEL, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "queue.declare") != 0) return -1;
    if (!ok || ok->queue.len + 1 > n) return -1;
    memcpy(name, ok->queue.bytes, ok->queue.len);
    name[ok->queue.len] = '\0';
    return 0;
}

int mq_qos(struct mq *m, int prefetch)
{
    if (!mq_ok(m)) return -1;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_basic_qos(m->conn, WORK_CHANNEL, 0, (uint16_t)(prefetch < 0 ? 0 : prefetch > 65535 ? 65535 : prefetch), 0);
    return mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "basic.qos");
}

int mq_consume(struct mq *m, const char *queue, const char *stream_offset, int no_ack)
{
    if (!mq_ok(m)) return -1;
    amqp_table_entry_t e = { .key = amqp_cstring_bytes("x-stream-offset") };
    amqp_table_t args = { stream_offset != NULL, &e };
    if (stream_offset) {
        const char *p = stream_offset;
        while (isdigit((unsigned char)*p)) p++;
        if (*stream_offset && !*p) { /* a number goes as a long, as the broker wants */
            e.value.kind = AMQP_FIELD_KIND_I64;
            e.value.value.i64 = strtoll(stream_offset, NULL, 10);
        } else if (!strcmp(stream_offset, "first") || !strcmp(stream_offset, "last") ||
                   !strcmp(stream_offset, "next")) {
            e.value.kind = AMQP_FIELD_KIND_UTF8;
            e.value.value.bytes = amqp_cstring_bytes(stream_offset);
        } else {
            log_warn("amqp consume: bad stream offset queue=%s offset=%s", queue, stream_offset);
            return -1;
        }
    }
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_basic_consume(m->conn, WORK_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0,
                       no_ack ? 1 : 0, 0, args);
    return mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "basic.consume");
}

int mq_queue_depth(struct mq *m, const char *queue, uint32_t *messages, uint32_t *consumers)
{
    if (open_probe(m)) return -1;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(m->conn, PROBE_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    /* A missing queue closes channel 2 only: -1, the connection stays usable. */
    if (mq_check(m, amqp_get_rpc_reply(m->conn), PROBE_CHANNEL, "queue.declare passive") != 0 || !ok)
        return -1;
    if (messages) *messages = ok->message_count;
    if (consumers) *consumers = ok->consumer_count;
    return 0;
}

