/*
 * mq_flow.c — the message half of the AMQP wrapper (see mq.h; the
 * connection, its failures and the topology calls are mq.c): consuming,
 * acking, publishing and publisher confirms on channel 1.
 *
 * Frames that are not the one a call is waiting for (a confirm while waiting
 * for a delivery, a channel.close, a basic.return, connection.blocked) all
 * go through mq_handle_frame().
 *
 * Every call here that touches the socket runs inside a deadline window
 * (mq_busy ... mq_idle, see mq_watch.c): a publish or an ack within the
 * connection's send timeout, mq_next and mq_wait_confirms within their own
 * timeout plus that (they may have to send a close-ok, or read the rest of
 * a delivery, which the library waits for without a deadline).
 *
 * Idle connections (mq_poll, mq_keepalive): with heartbeats on, a
 * publisher's connection is polled between publishes, and one whose owner
 * is busy elsewhere is sent bare heartbeat frames, so the broker does not
 * take silence for death (mq.h, "Heartbeats").
 *
 * Deliveries are copied out of rabbitmq-c's envelope (body, ids, integer
 * headers; a stream's x-stream-offset apart) so the caller owns them and the
 * library's buffers can be released before the next wait.
 *
 * Publisher confirms: with confirm mode on, publish n gets sequence number n.
 * Acks may come singly, for many at once (multiple), and in principle out of
 * order, so settled numbers are kept in a ring bitmap covering
 * [base, published]; base, the lowest unsettled number, moves up as the bits
 * fill in. A nack is remembered (first_nack): any later wait that covers it
 * fails, so after a nack the owner should reconnect.
 */
#include "mq_internal.h"

#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    uint64_t was = m->base;
    while (m->base <= m->published && SLOT(m, m->base)) SLOT(m, m->base++) = 0;
    /* Progress: the stall clock (mq_confirm_stalled_ms) starts again. */
    if (m->base != was) m->confirm_moved_at = m->base <= m->published ? clock_ms() : 0;
}

/* ---------------------------------------------------------------- frames */

void mq_handle_frame(struct mq *m, amqp_frame_t *f, const char *what)
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
        if (r.reply_type == AMQP_RESPONSE_NORMAL) amqp_destroy_message(&msg);
        else mq_fail(m, what, "reading a returned message failed");
        log_warn("amqp message returned by broker=%s", m->where);
        break;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
        amqp_bytes_t why = ((amqp_connection_blocked_t *)method->decoded)->reason;
        if (!m->blocked)
            log_warn("amqp broker blocks publishing broker=%s reason=\"%.*s\"", m->where, (int)why.len,
                     (const char *)why.bytes);
        m->blocked = 1;
        break;
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        if (m->blocked) log_info("amqp broker unblocked publishing broker=%s", m->where);
        m->blocked = 0;
        break;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        mq_handle_close(m, f->channel, method, what);
        break;
    case AMQP_BASIC_CANCEL_METHOD:
        /* The broker cancelled our consumer (its queue was deleted). The
         * owner must declare and consume again, as after any failure. */
        mq_fail(m, what, "consumer cancelled by broker");
        break;
    default:
        log_debug("amqp ignored method=%s channel=%u", amqp_method_name(method->id), f->channel);
    }
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

static int next_delivery(struct mq *m, struct mq_message *msg, int64_t deadline)
{
    for (;;) {
        amqp_maybe_release_buffers(m->conn);
        /* Never a NULL timeval: that would block for ever. {0,0} polls. */
        struct timeval tv = mq_tv_ms(deadline - clock_ms());
        amqp_envelope_t env;
        amqp_rpc_reply_t r = amqp_consume_message(m->conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            int ok = fill(msg, &env);
            amqp_destroy_envelope(&env);
            if (ok == 0) return 1;
            mq_fail(m, "basic.deliver", "out of memory");
            return -1;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
            return 0;
        if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION || r.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
            mq_fail(m, "basic.consume", r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                         ? amqp_error_string2(r.library_error) : "unexpected reply");
            return -1;
        }
        /* Something other than a delivery is next: it is already read, so
         * this returns at once. */
        amqp_frame_t f;
        struct timeval zero = { 0, 0 };
        int rc = amqp_simple_wait_frame_noblock(m->conn, &f, &zero);
        if (rc != AMQP_STATUS_OK) {
            mq_fail(m, "basic.consume", amqp_error_string2(rc));
            return -1;
        }
        mq_handle_frame(m, &f, "basic.consume");
        if (m->failed) return -1;
    }
}

int mq_next(struct mq *m, struct mq_message *msg, int timeout_ms)
{
    memset(msg, 0, sizeof *msg);
    msg->stream_offset = -1;
    if (!mq_ok(m)) return -1;
    if (timeout_ms < 0) timeout_ms = 0;
    mq_busy(m, timeout_ms + m->send_timeout_ms);
    int rc = next_delivery(m, msg, clock_ms() + timeout_ms);
    mq_idle(m);
    return rc;
}

void mq_message_free(struct mq_message *msg)
{
    if (!msg) return;
    free(msg->body);
    msg->body = NULL;
    msg->len = 0;
}

/* ---------------------------------------------------------------- idle */

int mq_poll(struct mq *m)
{
    if (!mq_ok(m)) return -1;
    mq_busy(m, m->send_timeout_ms);
    for (;;) {
        /* A zero wait: the library sends a heartbeat if one is due, then
         * reads what has arrived; with nothing read for two intervals it
         * reports a heartbeat timeout (and closes the socket). */
        amqp_maybe_release_buffers(m->conn);
        amqp_frame_t f;
        struct timeval zero = { 0, 0 };
        int rc = amqp_simple_wait_frame_noblock(m->conn, &f, &zero);
        if (rc == AMQP_STATUS_TIMEOUT) break;
        if (rc != AMQP_STATUS_OK) {
            mq_fail(m, "poll", amqp_error_string2(rc));
            break;
        }
        mq_handle_frame(m, &f, "poll");
        if (m->failed) break;
    }
    mq_idle(m);
    return mq_ok(m) ? 0 : -1;
}

int mq_keepalive(struct mq *m)
{
    if (!mq_ok(m)) return -1;
    int64_t now = clock_ms();
    if (!m->heartbeat_s || now - m->beat_at < (int64_t)m->heartbeat_s * 500) return 0;
    m->beat_at = now;
    amqp_frame_t hb;
    memset(&hb, 0, sizeof hb);
    hb.frame_type = AMQP_FRAME_HEARTBEAT;
    hb.channel = 0;
    mq_busy(m, m->send_timeout_ms);
    int rc = amqp_send_frame(m->conn, &hb);
    mq_idle(m);
    if (rc != AMQP_STATUS_OK) {
        mq_fail(m, "heartbeat", amqp_error_string2(rc));
        return -1;
    }
    return 0;
}

int mq_ack(struct mq *m, uint64_t delivery_tag, int multiple)
{
    if (!mq_ok(m)) return -1;
    mq_busy(m, m->send_timeout_ms);
    int rc = amqp_basic_ack(m->conn, WORK_CHANNEL, delivery_tag, multiple ? 1 : 0);
    mq_idle(m);
    if (rc != AMQP_STATUS_OK) { mq_fail(m, "basic.ack", amqp_error_string2(rc)); return -1; }
    return 0;
}

/* ---------------------------------------------------------------- publish */

int mq_publish(struct mq *m, const char *queue, const struct mq_props *props,
               const void *body, size_t len)
{
    if (!mq_ok(m)) return -1;
    if (m->confirm && ring_reserve(m) != 0) { mq_fail(m, "basic.publish", "out of memory"); return -1; }
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
    mq_busy(m, m->send_timeout_ms);
    int rc = amqp_basic_publish(m->conn, WORK_CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
                                p._flags ? &p : NULL, b);
    mq_idle(m);
    if (rc != AMQP_STATUS_OK) { mq_fail(m, "basic.publish", amqp_error_string2(rc)); return -1; }
    if (m->confirm) {
        m->published++;
        SLOT(m, m->published) = 0;
        if (m->base == m->published) m->confirm_moved_at = clock_ms(); /* the only one waiting */
    }
    return 0;
}

int mq_nacked(const struct mq *m) { return m && m->first_nack != 0; }

int64_t mq_confirm_stalled_ms(const struct mq *m)
{
    if (!m || !m->confirm || m->base > m->published || !m->confirm_moved_at) return 0;
    return clock_ms() - m->confirm_moved_at;
}

int mq_confirm_select(struct mq *m)
{
    if (!mq_ok(m)) return -1;
    if (m->confirm) return 0;
    mq_busy(m, MQ_SYNC_MS(m));
    amqp_confirm_select(m->conn, WORK_CHANNEL);
    if (mq_check(m, amqp_get_rpc_reply(m->conn), WORK_CHANNEL, "confirm.select") != 0) return -1;
    m->confirm = 1;
    m->published = 0;
    m->base = 1;
    return 0;
}

uint64_t mq_published(const struct mq *m) { return m ? m->published : 0; }

/* Waits for the confirms up to seqno until deadline. */
static int confirms(struct mq *m, uint64_t seqno, int64_t deadline, int timeout_ms)
{
    while (m->base <= seqno) {
        if (m->first_nack && m->first_nack <= seqno) return -1;
        amqp_maybe_release_buffers(m->conn);
        struct timeval tv = mq_tv_ms(deadline - clock_ms());
        amqp_frame_t f;
        int rc = amqp_simple_wait_frame_noblock(m->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) {
            log_warn("amqp confirms timed out broker=%s seq=%llu confirmed_below=%llu timeout_ms=%d",
                     m->where, (unsigned long long)seqno, (unsigned long long)m->base, timeout_ms);
            return -1;
        }
        if (rc != AMQP_STATUS_OK) { mq_fail(m, "confirm wait", amqp_error_string2(rc)); return -1; }
        mq_handle_frame(m, &f, "confirm wait");
        if (m->failed) return -1;
    }
    return m->first_nack && m->first_nack <= seqno ? -1 : 0;
}

int mq_wait_confirms(struct mq *m, uint64_t seqno, int timeout_ms)
{
    if (!mq_ok(m)) return -1;
    if (!m->confirm || seqno > m->published) {
        log_warn("amqp wait_confirms misuse confirm=%d seq=%llu published=%llu", m->confirm,
                 (unsigned long long)seqno, (unsigned long long)m->published);
        return -1;
    }
    if (timeout_ms < 0) timeout_ms = 0;
    mq_busy(m, timeout_ms + m->send_timeout_ms);
    int rc = confirms(m, seqno, clock_ms() + timeout_ms, timeout_ms);
    mq_idle(m);
    return rc;
}
