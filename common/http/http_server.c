/*
 * http_server.c — the server half of the HTTP server (see http_server.h;
 * routing is http_route.c): the MHD daemon, the request life cycle,
 * responses.
 *
 * How it works. libmicrohttpd runs one thread per connection. For every
 * request MHD first calls our URI-log callback with the raw request target;
 * there we allocate the per-request state (MHD hands it back as *con_cls and
 * we free it in the "request completed" callback) and split the raw path into
 * percent-decoded segments. We split the raw target rather than MHD's url
 * argument because MHD has already unescaped that one, and "%2F" inside a
 * ride id would then look like a segment separator.
 *
 * The access handler is then called several times per request:
 *   1. headers read: route the path (most specific pattern wins) and look at
 *      Content-Length;
 *   2. zero or more times with body bytes: copy them into a buffer that grows
 *      up to max_body, or count and drop them once the body is over the limit;
 *   3. once more with no data: the body is complete; run the handler (or make
 *      the 404/405/413 error) and queue the response.
 * Queuing only in step 3 is what keeps the connection alive: a response
 * queued before the body is read makes MHD close the connection afterwards.
 * The one exception is a body declared so large that reading it just to
 * throw it away is not worth it: that request gets its 413 (or 404/405) at
 * step 1 and the connection closes. A chunked body that turns out that large is dropped
 * with the connection (MHD accepts no response in the middle of an upload).
 *
 * Which route a path and method take (precedence, the Allow list of a 405)
 * is http_route.c's.
 *
 * The observer runs right after the response is queued, before the handler
 * returns to MHD, hence before the client can see the response: a client
 * that reads a counter kept by the observer sees its own earlier requests.
 */
#include "http_server.h"

#include "clock.h"
#include "digest.h"
#include "http_metrics.h"
#include "http_route.h"
#include "json.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTION_TIMEOUT_S 30  /* an idle client frees its thread after this */
#define CONNECTION_LIMIT 512     /* one thread each */
#define DISCARD_MAX (1024 * 1024) /* over-limit body bytes we read to keep the connection */

struct http_server {
    size_t max_body;
    struct route_table table;
    http_observer observer;
    void *observer_ctx;
    char *token;                 /* http_server_require_token; NULL: none */
    size_t token_len;
    http_gate gate;              /* http_server_gate; NULL: none */
    void *gate_ctx;
    struct MHD_Daemon *daemon;
};

/* One HTTP request, from the URI callback to the completed callback. */
struct request {
    struct http_request pub;
    char *raw_path;              /* request target up to '?', undecoded */
    char *decoded;               /* the decoded segments, NUL-separated */
    struct route_match m;        /* the path's segments and its route */
    int started;
    int64_t started_us;          /* when the request line arrived (clock_us) */
    int too_large;
    int unauthorized;
    char *body;
    size_t len, cap;
    uint64_t discarded;
};

/* A response was queued: count it, then tell the observer. */
static void answered(struct http_server *s, struct request *r, int status)
{
    const char *pattern = r->m.best ? r->m.best->pattern : NULL;
    http_metrics_record(r->pub.method, pattern, status, r->started_us);
    if (s->observer) s->observer(&r->pub, pattern, status, s->observer_ctx);
}

/* A handler's response whose body is a file (http_reply_file). */
static enum MHD_Result respond_file(struct http_server *s, struct request *r, struct http_response *res)
{
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)res->file_size, res->file_fd);
    if (!resp) {
        close(res->file_fd);
        log_error("http: cannot build a file response status=%d", res->status);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            res->content_type ? res->content_type : "application/octet-stream");
    for (int i = 0; i < res->nheaders; i++) MHD_add_response_header(resp, res->headers[i][0], res->headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(r->pub.conn, (unsigned int)res->status, resp);
    MHD_destroy_response(resp);
    answered(s, r, res->status);
    return ret;
}

/* Queues the response (taking over body), then counts it (answered). */
static enum MHD_Result respond(struct http_server *s, struct request *r, int status,
                               char *body, const char *content_type, const char *allow,
                               const struct http_response *extra)
{
    struct MHD_Response *resp;

    if (status == 204 || status == 304 || (body && body[0] == '\0')) {
        free(body);   /* no body allowed, or nothing to send */
        body = NULL;
    }
    if (body) {
        resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (!resp) free(body);   /* MHD frees it only once the response exists */
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        log_error("http: out of memory building a response status=%d", status);
        return MHD_NO;
    }
    if (body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type ? content_type : "application/json");
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    for (int i = 0; extra && i < extra->nheaders; i++)
        MHD_add_response_header(resp, extra->headers[i][0], extra->headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(r->pub.conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES) log_warn("http: could not queue response status=%d", status);
    answered(s, r, status);
    return ret;
}

static enum MHD_Result respond_error(struct http_server *s, struct request *r, int status,
                                     const char *msg, const char *allow)
{
    return respond(s, r, status, json_error_text(msg), NULL, allow, NULL);
}

/* Step 1, with a token required: 1 when the request may go on. */
static int authorized(const struct http_server *s, const struct request *r)
{
    static const char scheme[] = "Bearer ";
    const char *h = MHD_lookup_connection_value(r->pub.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, scheme, sizeof scheme - 1) != 0) return 0;
    h += sizeof scheme - 1;
    while (*h == ' ') h++;
    return digest_equal(s->token, s->token_len, h, strlen(h));
}

static enum MHD_Result respond_unauthorized(struct http_server *s, struct request *r)
{
    struct http_response extra = { 0 };
    http_reply_header(&extra, "WWW-Authenticate", "Bearer");
    const char *h = MHD_lookup_connection_value(r->pub.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return respond(s, r, 401,
                   json_error_text(h ? "the bearer token is not the admin token"
                                     : "this route needs Authorization: Bearer <admin token>"),
                   NULL, NULL, &extra);
}

/* Answers 404, 405 or 413, in the header's order, when one applies. */
static int reject(struct http_server *s, struct request *r, enum MHD_Result *ret)
{
    if (!r->m.best) {
        *ret = respond_error(s, r, 404, "not found", NULL);
    } else if (!r->m.route) {
        char allow[MAX_ROUTES * (MAX_METHOD + 2)];
        route_allow_list(&s->table, &r->m, allow, sizeof allow);
        *ret = respond_error(s, r, 405, "method not allowed", allow);
    } else if (r->too_large) {
        *ret = respond_error(s, r, 413, "request body too large", NULL);
    } else {
        return 0;
    }
    return 1;
}

/* A response set by a handler or the gate: checked, then queued. */
static enum MHD_Result respond_set(struct http_server *s, struct request *r, struct http_response *res,
                                   const char *who)
{
    if (res->status < 200 || res->status > 599) {
        /* A handler that forgot to answer is a bug; say so rather than
         * sending MHD something it would refuse. */
        log_error("http: handler set no valid status pattern=%s status=%d", who, res->status);
        free(res->body);
        if (res->has_file) close(res->file_fd);
        return respond_error(s, r, 500, "handler produced no response", NULL);
    }
    if (res->has_file) return respond_file(s, r, res);
    return respond(s, r, res->status, res->body, res->content_type, NULL, res);
}

/* Step 3: the whole request is in. */
static enum MHD_Result finish(struct http_server *s, struct request *r)
{
    enum MHD_Result ret;
    r->pub.body = r->body ? r->body : "";
    r->pub.body_len = r->len;
    if (s->gate) {
        struct http_response res = { 0 };
        if (s->gate(&r->pub, r->m.best ? r->m.best->pattern : NULL, &res, s->gate_ctx))
            return respond_set(s, r, &res, "(gate)");
    }
    if (reject(s, r, &ret)) return ret;

    const struct route *rt = r->m.route;
    for (int i = 0; i < rt->nseg; i++)
        if (!rt->seg[i]) r->pub.captures[r->pub.ncaptures++] = r->m.seg[i];

    struct http_response res = { 0 };
    rt->fn(&r->pub, &res, rt->ctx);
    return respond_set(s, r, &res, rt->pattern);
}

/* Step 2: takes n body bytes. Returns 0 to drop the connection. */
static int absorb(struct http_server *s, struct request *r, const char *data, size_t n)
{
    if (!r->too_large && n > s->max_body - r->len) {
        r->too_large = 1;   /* keep what we have; the handler will not run */
    }
    if (r->too_large) {
        /* Read and drop up to DISCARD_MAX bytes past the limit, counting
         * from the start of the body (too_large may be set before any byte). */
        r->discarded += n;
        return r->len + r->discarded <= s->max_body + DISCARD_MAX;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n + 1) cap *= 2;
        if (cap > s->max_body + 1) cap = s->max_body + 1;
        char *p = realloc(r->body, cap);
        if (!p) {
            log_error("http: out of memory reading a body len=%zu", r->len + n);
            return 0;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *s = cls;
    struct request *r = *con_cls;
    (void)url;
    (void)version;

    if (!r) return MHD_NO;   /* the URI callback ran out of memory */
    if (!r->started) {       /* step 1 */
        r->started = 1;
        r->pub.method = method;
        r->pub.conn = conn;
        route_find(&s->table, &r->m, method);
        if (s->token && !authorized(s, r)) {
            r->unauthorized = 1;   /* answered once MHD lets us (below), body unread */
            return respond_unauthorized(s, r);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long declared = strtoull(cl, &end, 10);
            if (end != cl && declared > s->max_body) {
                enum MHD_Result ret;
                r->too_large = 1;
                if ((errno == ERANGE || declared - s->max_body > DISCARD_MAX) && reject(s, r, &ret))
                    return ret;   /* not worth reading: answer now, MHD then closes */
            }
        }
        return MHD_YES;
    }
    if (r->unauthorized) {       /* answered at step 1: what follows is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) { /* step 2 */
        int ok = absorb(s, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (!ok && r->too_large)
            log_warn("http: dropping connection, body far over the limit max_body=%zu", s->max_body);
        return ok ? MHD_YES : MHD_NO;
    }
    return finish(s, r);         /* step 3 */
}

static void free_request(struct request *r)
{
    if (!r) return;
    free(r->raw_path);
    free(r->decoded);
    free(r->body);
    free(r);
}

/* Called by MHD once per request, before the headers are parsed, with the
 * raw request target (uri may be NULL for a request line with none). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (!uri) uri = "";
    size_t len = strcspn(uri, "?#");
    r->raw_path = malloc(len + 1);
    r->decoded = malloc(len + 1);
    if (!r->raw_path || !r->decoded) {
        free_request(r);
        return NULL;
    }
    memcpy(r->raw_path, uri, len);
    r->raw_path[len] = '\0';
    route_split_path(&r->m, r->raw_path, r->decoded);
    r->pub.path = r->raw_path;
    r->pub.body = "";
    r->started_us = clock_us();
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free_request(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    log_warn("http: mhd: %s", buf);
}

struct http_server *http_server_new(size_t max_body)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    /* max_body + 1 (the NUL) must not wrap */
    s->max_body = max_body < SIZE_MAX / 2 ? max_body : SIZE_MAX / 2;
    return s;
}

int http_server_route(struct http_server *s, const char *method, const char *pattern,
                      http_handler fn, void *ctx)
{
    if (!s || !method || !pattern || !fn || s->daemon) return -1;
    return route_add(&s->table, method, pattern, fn, ctx);
}

void http_server_gate(struct http_server *s, http_gate fn, void *ctx)
{
    s->gate = fn;
    s->gate_ctx = ctx;
}

int http_server_require_token(struct http_server *s, const char *token)
{
    if (!s || s->daemon) return -1;
    free(s->token);
    s->token = NULL;
    s->token_len = 0;
    if (!token || !*token) return 0;
    if (!(s->token = strdup(token))) return -1;
    s->token_len = strlen(token);
    return 0;
}

void http_server_observe(struct http_server *s, http_observer fn, void *ctx)
{
    if (!s || s->daemon) return;   /* read without a lock once serving */
    s->observer = fn;
    s->observer_ctx = ctx;
}

int http_server_start(struct http_server *s, const char *host, int port)
{
    if (!s || s->daemon) return -1;
    if (port < 0 || port > 65535) {
        log_error("http: bad port port=%d", port);
        return -1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!host || !*host) {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc != 0 || !res) {
            log_error("http: cannot resolve host=%s error=%s", host, gai_strerror(rc));
            if (res) freeaddrinfo(res);
            return -1;
        }
        memcpy(&sa.sin_addr, &((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr,
               sizeof sa.sin_addr);
        freeaddrinfo(res);
    }

    /* MHD_USE_POLL: per-connection threads wait with poll(), so a socket
     * numbered above FD_SETSIZE (busy process) still works. */
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, (MHD_LogCallback)on_mhd_log, (void *)s,   /* first: MHD asks */
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)s,
        MHD_OPTION_NOTIFY_COMPLETED, (MHD_RequestCompletedCallback)on_completed, (void *)s,
        MHD_OPTION_END);
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof addr);
    if (!s->daemon) {
        log_error("http: cannot listen host=%s port=%d", addr, port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    int bound = info ? (int)info->port : port;
    if (bound <= 0) {
        log_error("http: cannot learn the bound port host=%s", addr);
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return -1;
    }
    log_info("http: listening host=%s port=%d", addr, bound);
    return bound;
}

void http_server_free(struct http_server *s)
{
    if (!s) return;
    if (s->daemon) MHD_stop_daemon(s->daemon);   /* joins every connection thread */
    route_table_free(&s->table);
    free(s->token);
    free(s);
}

const char *http_query(const struct http_request *req, const char *key)
{
    if (!req || !req->conn || !key) return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_query_len(const struct http_request *req, const char *key, size_t *len)
{
    const char *v = NULL;
    *len = 0;
    if (!req || !req->conn || !key ||
        MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v, len) != MHD_YES)
        return NULL;
    return v;
}

const char *http_header(const struct http_request *req, const char *name)
{
    if (!req || !req->conn || !name) return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* A handler may reply twice; the last reply wins and the first body goes. */
static void set_reply(struct http_response *res, int status, char *body)
{
    if (res->body != body) free(res->body);
    res->status = status;
    res->body = body;
    res->content_type = NULL;
}

void http_reply_json(struct http_response *res, int status, const struct cJSON *body)
{
    set_reply(res, status, body ? json_print(body) : NULL);
}

void http_reply_error(struct http_response *res, int status, const char *msg)
{
    set_reply(res, status, json_error_text(msg ? msg : "error"));
}

void http_reply_raw(struct http_response *res, int status, char *json_text)
{
    set_reply(res, status, json_text);
}

void http_reply_file(struct http_response *res, int status, int fd, long long size, const char *content_type)
{
    set_reply(res, status, NULL);
    res->has_file = 1;
    res->file_fd = fd;
    res->file_size = size;
    res->content_type = content_type;
}

void http_reply_header(struct http_response *res, const char *name, const char *value)
{
    if (res->nheaders >= HTTP_MAX_RESPONSE_HEADERS) return;
    snprintf(res->headers[res->nheaders][0], sizeof res->headers[0][0], "%s", name);
    snprintf(res->headers[res->nheaders][1], sizeof res->headers[0][1], "%s", value);
    res->nheaders++;
}
