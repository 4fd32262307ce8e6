/*
 * http_client.h — blocking HTTP calls on libcurl, with keep-alive.
 *
 * Each thread gets its own curl handle (created on first use, freed when the
 * thread exits), so connections to the same host are reused across calls
 * without any locking. Every call has a timeout; there is no way to wait
 * forever.
 */
#ifndef RS_HTTP_CLIENT_H
#define RS_HTTP_CLIENT_H

#include <stddef.h>

struct http_result {
    long status;       /* HTTP status; 0 when the call failed before a response */
    char *body;        /* malloc'd, NUL-terminated, "" when empty; NULL on failure */
    size_t body_len;
    char error[128];   /* why the call failed, when status == 0 */
    int unsent;        /* the call failed before it sent anything (refused, name unknown, no
                          connection or no byte sent in time): the server got nothing, so
                          asking another one is safe */
};

/* method "GET"/"POST"/...; body may be NULL; headers a NULL-terminated list
 * of "Name: value" strings or NULL. Sends Content-Type: application/json
 * with a body. Returns 0 when a response arrived (any status), -1 otherwise. */
int http_call(const char *method, const char *url, const char *body,
              const char *const *headers, long timeout_ms, struct http_result *out);

void http_result_free(struct http_result *r);

/* Call once in main before threads start (curl_global_init). */
void http_client_global_init(void);

#endif
