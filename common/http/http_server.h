/*
 * http_server.h — the HTTP server every service runs, on libmicrohttpd.
 *
 * Routes are (method, pattern) pairs. A pattern is a path whose segments are
 * literals or "{name}" captures: "/api/v1/rides/{rideId}". A literal segment
 * beats a capture, so "/api/v1/rides/count" is never taken for a ride id.
 * Dispatch rules, in order:
 *   - a gate, if one is set (http_server_gate), may answer first
 *   - no pattern matches the path          -> 404 {"error": "..."}
 *   - a pattern matches, not the method    -> 405 {"error": "..."} with Allow
 *   - the body is over the limit           -> 413 {"error": "..."} (body is not read further)
 *   - otherwise the route's handler runs.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a
 * handler may block on a downstream call (an RPC, an HTTP request) without
 * stalling other clients. Handlers therefore run concurrently and must be
 * thread-safe. Keep-alive is kept: the response is queued only once the whole
 * body has been read.
 */
#ifndef RS_HTTP_SERVER_H
#define RS_HTTP_SERVER_H

#include <stddef.h>

struct cJSON;

#define HTTP_MAX_CAPTURES 4

struct http_request {
    const char *method;            /* "GET", "POST", ... */
    const char *path;              /* without the query string */
    const char *body;              /* NUL-terminated copy; "" when empty */
    size_t body_len;
    const char *captures[HTTP_MAX_CAPTURES]; /* values of the {name} segments, in order, percent-decoded */
    int ncaptures;
    void *conn;                    /* private: the MHD connection */
};

#define HTTP_MAX_RESPONSE_HEADERS 4

struct http_response {
    int status;
    char *body;                    /* malloc'd, owned by the server after return; NULL: no body */
    const char *content_type;      /* default "application/json" */
    /* Set by http_reply_file: the body is this file instead (a backup): */
    int has_file, file_fd;         /* taken over: the server closes it */
    long long file_size;
    int nheaders;                  /* added by http_reply_header */
    char headers[HTTP_MAX_RESPONSE_HEADERS][2][128];
};

typedef void (*http_handler)(const struct http_request *req, struct http_response *res, void *ctx);

/* Called after each request is answered (routed or not): the matched pattern
 * (NULL when none matched) and the status sent. Runs on the connection's
 * thread. For counters such as the spec's _count. */
typedef void (*http_observer)(const struct http_request *req, const char *pattern, int status, void *ctx);

struct http_server;

struct http_server *http_server_new(size_t max_body);
/* Registers a route; returns 0, or -1 if the table is full or the pattern is malformed. */
int http_server_route(struct http_server *s, const char *method, const char *pattern,
                      http_handler fn, void *ctx);
void http_server_observe(struct http_server *s, http_observer fn, void *ctx);

/* A gate in front of every route: once a request is in (its token
 * checked), fn(req, pattern, res, ctx) either answers it itself — sets res
 * and returns 1 — or returns 0 to let it take its route (or its 404, 405,
 * 413) as usual. pattern is the route's pattern, NULL when none matched.
 * Runs on the connection's thread, for every request: it must be quick. For
 * a server that answers only some routes for a while (an orchestrator that
 * stands by). Call before http_server_start. */
typedef int (*http_gate)(const struct http_request *req, const char *pattern, struct http_response *res,
                         void *ctx);
void http_server_gate(struct http_server *s, http_gate fn, void *ctx);
/* Serves GET /metrics: the process's metrics (metrics.h) in Prometheus's
 * text format, among them this server's requests by route, method and
 * status and their latency (http_metrics.h). With token (not NULL or ""),
 * a scrape must carry "Authorization: Bearer <token>" (else 401), so a
 * service whose other routes are public keeps its metrics to the
 * monitoring side; behind http_server_require_token every route needs it
 * anyway. One per process (the token is the process's). 0 or -1. */
int http_server_serve_metrics(struct http_server *s, const char *token);

/* From now on every request must carry "Authorization: Bearer <token>":
 * any other is answered 401 {"error": ...} with "WWW-Authenticate: Bearer"
 * as soon as its headers are in — before its body is read or any route
 * runs, whatever the path. The comparison takes the same time whichever
 * bytes of the token a client got right. token NULL or "": no check.
 * 0, or -1 (out of memory). Call before http_server_start. */
int http_server_require_token(struct http_server *s, const char *token);

/* Listens on host:port (port 0: any free port) and serves in background
 * threads. Returns the bound port, or -1 with the reason logged. */
int http_server_start(struct http_server *s, const char *host, int port);
/* Stops listening, finishes the requests in flight, frees everything. */
void http_server_free(struct http_server *s);

/* The value of a query-string argument, or NULL. */
const char *http_query(const struct http_request *req, const char *key);
/* The same with its length in bytes, which is more than strlen(value) when
 * the argument held an encoded NUL ("%00"): for values that must not be
 * read cut short (a name looked up as given). */
const char *http_query_len(const struct http_request *req, const char *key, size_t *len);
/* The value of a request header, or NULL. */
const char *http_header(const struct http_request *req, const char *name);

/* Sets the response: status and the JSON text of body (NULL: no body). */
void http_reply_json(struct http_response *res, int status, const struct cJSON *body);
/* Sets the response to status with {"error": msg}. */
void http_reply_error(struct http_response *res, int status, const char *msg);
/* Sets the response to status with a body already in JSON text (taken over). */
void http_reply_raw(struct http_response *res, int status, char *json_text);
/* Sets the response to status with the size bytes of the open file fd as
 * its body (fd taken over; streamed from the file, never held in memory). */
void http_reply_file(struct http_response *res, int status, int fd, long long size, const char *content_type);
/* Adds a header to the response (at most HTTP_MAX_RESPONSE_HEADERS; name and
 * value are the handler's own text, up to 127 bytes each). */
void http_reply_header(struct http_response *res, const char *name, const char *value);

#endif
