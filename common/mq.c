/*
 * mq.c — see mq.h. How it works:
 *
 * One rabbitmq-c connection carries channel 1, on which everything the
 * caller asks for happens (declares, qos, consumers, publishes, confirms),
 * and, opened only when needed, channel 2 for mq_queue_depth: a passive
 * declare of a missing queue makes the broker close the channel it was sent
 * on, and losing channel 1 would lose its consumers and confirm mode, whereas
 * channel 2 holds nothing and is simply reopened next time.
 *
 * Frames that are not the one a call is waiting for (a confirm while waiting
 * for a delivery, a channel.close, a basic.return) all go through
 * handle_frame(). A broker-side close of channel 1 or of the connection is
 * answered with close-ok (the protocol asks for it) and marks the connection
 * failed; from then on every call returns -1 at once.
 *
 * Heartbeats are off: rabbitmq-c only sends them from inside its calls, so an
 * idle publisher connection would be dropped by the broker for silence.
 * Dead peers are found by TCP keepalive instead (kernel-driven, ~25 s), and by
 * the RPC timeout on synchronous calls.
 *
 * Publisher confirms: with confirm mode on, publish n gets sequence number n.
 * Acks may come singly, for many at once (multiple), and in principle out of
 * order, so settled numbers are kept in a ring bitmap covering
 * [base, published]; base, the lowest unsettled number, moves up as the bits
 * fill in. A nack is remembered (first_nack): any later wait that covers it
 * fails, so after a nack the owner should reconnect.
 */
#include "mq.h"

#include "clock.h"
#include "log.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

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

static struct timeval tv_ms(int64_t ms)
{
    if (ms < 0) ms = 0;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

static void fail(struct mq *m, const char *what, const char *err)
{
    if (!m->failed) log_warn("amqp connection failed broker=%s op=%s err=\"%s\"", m->where, what, err);
    m->failed = 1;
}

/* Answers a broker-side close with close-ok. A close of channel 2 (the
 * probe channel) only marks it closed; any other fails the connection. */
static void handle_close(struct mq *m, amqp_channel_t ch, const amqp_method_t *method, const char *what)
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
    if (!conn && ch == PROBE_CH) {
        m->probe_open = 0;
        log_debug("amqp probe channel %s", err);
        return;
    }
    fail(m, what, err);
}

/* 0 if r is a normal reply; otherwise handles it and returns -1. */
static int check(struct mq *m, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return 0;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) handle_close(m, ch, &r.reply, what);
    else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) fail(m, what, amqp_error_string2(r.library_error));
    else fail(m, what, "no reply");
    return -1;
}

/* ------------------------------------------------------------ confirms */

/* The ring slot of a sequence number (cap is a power of two). */
#define SLOT(m, seq) ((m)->settled[(size_t)(seq) & ((m)->cap - 1)])

/* Room in the ring for sequence number published + 1. */
static int ring_reserve(struct mq *m)
{
    if (m->published + 1 - m->base < m->cap) return 0;
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    uint8_t *n = calloc(ncap, 1);
    if (!n) return -1;
    for (uint64_t s = m->base; s <= m->published; s++) n[s & (ncap - 1)] = SLOT(m, s);
    free(m->settled);
    m->settled = n;
    m->cap = ncap;
    return 0;
}

static void settle(struct mq *m, uint64_t tag, int multiple, int nack)
{
    if (!m->confirm || tag > m->published) return;
    uint64_t from = multiple ? m->base : tag;
    if (from < m->base) from = m->base;
    for (uint64_t s = from; s <= tag; s++) SLOT(m, s) = 1;
    if (nack && (m->first_nack == 0 || from < m->first_nack)) {
        m->first_nack = from;
        log_warn("amqp publish nacked broker=%s seq=%llu multiple=%d", m->where,
                 (unsigned long long)tag, multiple);
    }
    while (m->base <= m->published && SLOT(m, m->base)) SLOT(m, m->base++) = 0;
}

/* ---------------------------------------------------------------- frames */

static void handle_frame(struct mq *m, amqp_frame_t *f, const char *what)
{
    if (f->frame_type != AMQP_FRAME_METHOD) return; /* stray header/body: nothing to do */
    amqp_method_t *method = &f->payload.method;
    switch (method->id) {
    case AMQP_BASIC_ACK_METHOD:
        settle(m, ((amqp_basic_ack_t *)method->decoded)->delivery_tag,
               ((amqp_basic_ack_t *)method->decoded)->multiple, 0);
        break;
    case AMQP_BASIC_NACK_METHOD:
        settle(m, ((amqp_basic_nack_t *)method->decoded)->delivery_tag,
               ((amqp_basic_nack_t *)method->decoded)->multiple, 1);
        break;
    case AMQP_BASIC_RETURN_METHOD: {
        /* Not expected (we never publish mandatory); its content frames
         * follow and must be read off the wire. */
        amqp_message_t msg;
        amqp_rpc_reply_t r = amqp_read_message(m->conn, f->channel, &msg, 0);
        if (check(m, r, f->channel, what) == 0) amqp_destroy_message(&msg);
        log_warn("amqp message returned by broker=%s", m->where);
        break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        handle_close(m, f->channel, method, what);
        break;
    case AMQP_BASIC_CANCEL_METHOD:
        /* The broker cancelled our consumer (its queue was deleted). The
         * owner must declare and consume again, as after any failure. */
        fail(m, what, "consumer cancelled by broker");
        break;
    default:
        log_debug("amqp ignored method=%s channel=%u", amqp_method_name(method->id), f->channel);
    }
}

/* ------------------------------------------------------------ connection */

static struct mq *connect_once(const char *url, int timeout_ms, int quiet)
{
    int64_t deadline = clock_ms() + timeout_ms;
    char *copy = strdup(url ? url : "");
    struct mq *m = calloc(1, sizeof *m);
    struct amqp_connection_info ci;
    const char *err = NULL;
    char why[300];
    if (!copy || !m) { err = "out of memory"; goto out; }
    if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) { err = "bad url"; goto out; }
    if (ci.ssl) { err = "amqps is not supported"; goto out; }
    snprintf(m->where, sizeof m->where, "%s:%d", ci.host, ci.port);
    /* "amqp://host:port/" parses to the vhost "", which no broker has; take
     * it, like most clients do, as the default vhost "/". */
    if (!ci.vhost || !*ci.vhost) ci.vhost = "/";
    m->conn = amqp_new_connection();
    amqp_socket_t *sock = m->conn ? amqp_tcp_socket_new(m->conn) : NULL;
    if (!sock) { err = "out of memory"; goto out; }
    struct timeval tv = tv_ms(timeout_ms);
    int rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        /* The library does not keep the socket's errno (it reads as
         * EINPROGRESS); refused and unreachable both read "socket error". */
        snprintf(why, sizeof why, "tcp connect: %s", amqp_error_string2(rc));
        err = why;
        goto out;
    }
    /* Keepalive finds a broker host that vanished without a FIN. */
    static const int ka[4][3] = { { SOL_SOCKET, SO_KEEPALIVE, 1 }, { IPPROTO_TCP, TCP_KEEPIDLE, 10 },
                                  { IPPROTO_TCP, TCP_KEEPINTVL, 5 }, { IPPROTO_TCP, TCP_KEEPCNT, 3 } };
    for (int i = 0; i < 4; i++)
        setsockopt(amqp_socket_get_sockfd(sock), ka[i][0], ka[i][1], &ka[i][2], sizeof(int));
    tv = tv_ms(deadline - clock_ms() > 1 ? deadline - clock_ms() : 1);
    amqp_set_handshake_timeout(m->conn, &tv);
    tv = tv_ms(RPC_TIMEOUT_MS);
    amqp_set_rpc_timeout(m->conn, &tv);
    amqp_rpc_reply_t r = amqp_login(m->conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                    ci.user, ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        err = "login refused";
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
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
    amqp_channel_open(m->conn, CH);
    r = amqp_get_rpc_reply(m->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) { err = "channel.open failed"; goto out; }
out:
    if (err) {
        if (!quiet) log_warn("amqp connect failed broker=%s err=\"%s\"", m && m->where[0] ? m->where : "?", err);
        if (m && m->conn) amqp_destroy_connection(m->conn);
        free(m);
        m = NULL;
    } else {
        log_info("amqp connected broker=%s", m->where);
    }
    free(copy);
    return m;
}

struct mq *mq_connect(const char *url, int timeout_ms) { return connect_once(url, timeout_ms, 0); }

struct mq *mq_connect_retry(const char *url, volatile int *stop)
{
    int delay = 100, attempt = 0;
    int64_t last_log = 0;
    while (!*stop) {
        /* One failure line per outage and then one per 30 s, not one per try. */
        int quiet = attempt > 0 && clock_ms() - last_log < 30000;
        if (!quiet) last_log = clock_ms();
        struct mq *m = connect_once(url, 2000, quiet);
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

void mq_close(struct mq *m)
{
    if (!m) return;
    /* connection.close (it closes the channels too), also after a channel
     * failure, so the broker logs a clean close; bounded, so a broker that
     * stopped answering cannot hold up shutdown. On a dead socket it fails
     * at once. */
    struct timeval tv = tv_ms(1000);
    amqp_set_rpc_timeout(m->conn, &tv);
    amqp_connection_close(m->conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(m->conn);
    free(m->settled);
    free(m);
}

int mq_ok(const struct mq *m) { return m && !m->failed; }

/* ---------------------------------------------------------------- topology */

int mq_declare(struct mq *m, const char *queue, enum mq_queue_kind kind)
{
    if (!mq_ok(m)) return -1;
    amqp_table_entry_t e = { .key = amqp_cstring_bytes("x-queue-type") };
    amqp_table_t args = { kind != MQ_CLASSIC, &e };
    if (kind == MQ_SINGLE_ACTIVE) {
        e.key = amqp_cstring_bytes("x-single-active-consumer");
        e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
        e.value.value.boolean = 1;
    } else if (kind == MQ_STREAM) {
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = amqp_cstring_bytes("stream");
    }
    amqp_queue_declare(m->conn, CH, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    return check(m, amqp_get_rpc_reply(m->conn), CH, "queue.declare");
}

int mq_declare_reply_queue(struct mq *m, char *name, size_t n)
{
    if (!mq_ok(m)) return -1;
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(m->conn, CH, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (check(m, amqp_get_rpc_reply(m->conn), CH, "queue.declare") != 0) return -1;
    if (!ok || ok->queue.len + 1 > n) return -1;
    memcpy(name, ok->queue.bytes, ok->queue.len);
    name[ok->queue.len] = '\0';
    return 0;
}

int mq_qos(struct mq *m, int prefetch)
{
    if (!mq_ok(m)) return -1;
    amqp_basic_qos(m->conn, CH, 0, (uint16_t)(prefetch < 0 ? 0 : prefetch > 65535 ? 65535 : prefetch), 0);
    return check(m, amqp_get_rpc_reply(m->conn), CH, "basic.qos");
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
    amqp_basic_consume(m->conn, CH, amqp_cstring_bytes(queue), amqp_empty_bytes, 0,
                       no_ack ? 1 : 0, 0, args);
    return check(m, amqp_get_rpc_reply(m->conn), CH, "basic.consume");
}

int mq_queue_depth(struct mq *m, const char *queue, uint32_t *messages, uint32_t *consumers)
{
    if (!mq_ok(m)) return -1;
    if (!m->probe_open) {
        amqp_channel_open(m->conn, PROBE_CH);
        if (check(m, amqp_get_rpc_reply(m->conn), PROBE_CH, "channel.open") != 0) return -1;
        m->probe_open = 1;
    }
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(m->conn, PROBE_CH, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    /* A missing queue closes channel 2 only: -1, the connection stays usable. */
    if (check(m, amqp_get_rpc_reply(m->conn), PROBE_CH, "queue.declare passive") != 0 || !ok)
        return -1;
    if (messages) *messages = ok->message_count;
    if (consumers) *consumers = ok->consumer_count;
    return 0;
}

/* ---------------------------------------------------------------- consume */

static void copy_str(char *dst, size_t n, amqp_bytes_t b)
{
    size_t len = b.len < n - 1 ? b.len : n - 1;
    if (len) memcpy(dst, b.bytes, len);
    dst[len] = '\0';
}

/* An integer field's value; 0 if the field is not an integer. */
static int int_field(const amqp_field_value_t *v, int64_t *out)
{
    switch (v->kind) { /* the broker sends a long; take any integer */
    case AMQP_FIELD_KIND_I64: *out = v->value.i64; return 1;
    case AMQP_FIELD_KIND_U64: *out = (int64_t)v->value.u64; return 1;
    case AMQP_FIELD_KIND_I32: *out = v->value.i32; return 1;
    case AMQP_FIELD_KIND_U32: *out = v->value.u32; return 1;
    case AMQP_FIELD_KIND_I16: *out = v->value.i16; return 1;
    case AMQP_FIELD_KIND_U16: *out = v->value.u16; return 1;
    case AMQP_FIELD_KIND_I8: *out = v->value.i8; return 1;
    case AMQP_FIELD_KIND_U8: *out = v->value.u8; return 1;
    default: return 0;
    }
}

/* Keeps the stream offset and the other integer headers of a delivery. */
static void take_headers(struct mq_message *msg, const amqp_basic_properties_t *p)
{
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG)) return;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        int64_t v;
        if (!int_field(&e->value, &v)) continue;
        if (e->key.len == 15 && memcmp(e->key.bytes, "x-stream-offset", 15) == 0) {
            msg->stream_offset = v;
        } else if (msg->nheaders < MQ_MAX_HEADERS && e->key.len < MQ_HEADER_NAME) {
            copy_str(msg->header_names[msg->nheaders], MQ_HEADER_NAME, e->key);
            msg->header_values[msg->nheaders++] = v;
        }
    }
}

int mq_header(const struct mq_message *msg, const char *name, int64_t *value)
{
    for (int i = 0; i < msg->nheaders; i++)
        if (strcmp(msg->header_names[i], name) == 0) {
            *value = msg->header_values[i];
            return 1;
        }
    return 0;
}

/* Copies a delivery out of the library's envelope. */
static int fill(struct mq_message *msg, const amqp_envelope_t *env)
{
    msg->body = malloc(env->message.body.len + 1);
    if (!msg->body) return -1;
    if (env->message.body.len) memcpy(msg->body, env->message.body.bytes, env->message.body.len);
    msg->body[env->message.body.len] = '\0';
    msg->len = env->message.body.len;
    msg->delivery_tag = env->delivery_tag;
    msg->redelivered = env->redelivered != 0;
    const amqp_basic_properties_t *p = &env->message.properties;
#define COPY(field, flag) \
    if (p->_flags & flag) copy_str(msg->field, sizeof msg->field, p->field);
    COPY(message_id, AMQP_BASIC_MESSAGE_ID_FLAG)
    COPY(correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG)
    COPY(reply_to, AMQP_BASIC_REPLY_TO_FLAG)
#undef COPY
    take_headers(msg, p);
    return 0;
}

int mq_next(struct mq *m, struct mq_message *msg, int timeout_ms)
{
    memset(msg, 0, sizeof *msg);
    msg->stream_offset = -1;
    if (!mq_ok(m)) return -1;
    int64_t deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        amqp_maybe_release_buffers(m->conn);
        /* Never a NULL timeval: that would block for ever. {0,0} polls. */
        struct timeval tv = tv_ms(deadline - clock_ms());
        amqp_envelope_t env;
        amqp_rpc_reply_t r = amqp_consume_message(m->conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            int ok = fill(msg, &env);
            amqp_destroy_envelope(&env);
            if (ok == 0) return 1;
            fail(m, "basic.deliver", "out of memory");
            return -1;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
            return 0;
        if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION || r.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
            fail(m, "basic.consume", r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                         ? amqp_error_string2(r.library_error) : "unexpected reply");
            return -1;
        }
        /* Something other than a delivery is next: it is already read, so
         * this returns at once. */
        amqp_frame_t f;
        struct timeval zero = { 0, 0 };
        int rc = amqp_simple_wait_frame_noblock(m->conn, &f, &zero);
        if (rc != AMQP_STATUS_OK) {
            fail(m, "basic.consume", amqp_error_string2(rc));
            return -1;
        }
        handle_frame(m, &f, "basic.consume");
        if (m->failed) return -1;
    }
}

void mq_message_free(struct mq_message *msg)
{
    if (!msg) return;
    free(msg->body);
    msg->body = NULL;
    msg->len = 0;
}

int mq_ack(struct mq *m, uint64_t delivery_tag, int multiple)
{
    if (!mq_ok(m)) return -1;
    int rc = amqp_basic_ack(m->conn, CH, delivery_tag, multiple ? 1 : 0);
    if (rc != AMQP_STATUS_OK) { fail(m, "basic.ack", amqp_error_string2(rc)); return -1; }
    return 0;
}

/* ---------------------------------------------------------------- publish */

int mq_publish(struct mq *m, const char *queue, const struct mq_props *props,
               const void *body, size_t len)
{
    if (!mq_ok(m)) return -1;
    if (m->confirm && ring_reserve(m) != 0) { fail(m, "basic.publish", "out of memory"); return -1; }
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    /* Only the flags of fields that are set: unset ones go as absent. */
#define PROP(field, flag) \
    if (props && props->field) { p._flags |= flag; p.field = amqp_cstring_bytes(props->field); }
    PROP(message_id, AMQP_BASIC_MESSAGE_ID_FLAG)
    PROP(correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG)
    PROP(reply_to, AMQP_BASIC_REPLY_TO_FLAG)
#undef PROP
    if (props && props->persistent) {
        p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
        p.delivery_mode = 2;
    }
    amqp_table_entry_t hdr[MQ_MAX_HEADERS];
    if (props && props->nheaders > 0) {
        int n = props->nheaders < MQ_MAX_HEADERS ? props->nheaders : MQ_MAX_HEADERS;
        for (int i = 0; i < n; i++) {
            hdr[i].key = amqp_cstring_bytes(props->headers[i].name);
            hdr[i].value.kind = AMQP_FIELD_KIND_I64;
            hdr[i].value.value.i64 = props->headers[i].value;
        }
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers.num_entries = n;
        p.headers.entries = hdr;
    }
    amqp_bytes_t b = { len, (void *)body };
    int rc = amqp_basic_publish(m->conn, CH, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
                                p._flags ? &p : NULL, b);
    if (rc != AMQP_STATUS_OK) { fail(m, "basic.publish", amqp_error_string2(rc)); return -1; }
    if (m->confirm) {
        m->published++;
        SLOT(m, m->published) = 0;
    }
    return 0;
}

int mq_confirm_select(struct mq *m)
{
    if (!mq_ok(m)) return -1;
    if (m->confirm) return 0;
    amqp_confirm_select(m->conn, CH);
    if (check(m, amqp_get_rpc_reply(m->conn), CH, "confirm.select") != 0) return -1;
    m->confirm = 1;
    m->published = 0;
    m->base = 1;
    return 0;
}

uint64_t mq_published(const struct mq *m) { return m ? m->published : 0; }

int mq_wait_confirms(struct mq *m, uint64_t seqno, int timeout_ms)
{
    if (!mq_ok(m)) return -1;
    if (!m->confirm || seqno > m->published) {
        log_warn("amqp wait_confirms misuse confirm=%d seq=%llu published=%llu", m->confirm,
                 (unsigned long long)seqno, (unsigned long long)m->published);
        return -1;
    }
    int64_t deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    while (m->base <= seqno) {
        if (m->first_nack && m->first_nack <= seqno) return -1;
        amqp_maybe_release_buffers(m->conn);
        struct timeval tv = tv_ms(deadline - clock_ms());
        amqp_frame_t f;
        int rc = amqp_simple_wait_frame_noblock(m->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) {
            log_warn("amqp confirms timed out broker=%s seq=%llu confirmed_below=%llu timeout_ms=%d",
                     m->where, (unsigned long long)seqno, (unsigned long long)m->base, timeout_ms);
            return -1;
        }
        if (rc != AMQP_STATUS_OK) { fail(m, "confirm wait", amqp_error_string2(rc)); return -1; }
        handle_frame(m, &f, "confirm wait");
        if (m->failed) return -1;
    }
    return m->first_nack && m->first_nack <= seqno ? -1 : 0;
}
