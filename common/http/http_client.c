/*
 * http_client.c — see http_client.h.
 *
 * How it works. Each thread owns one curl easy handle, kept in a pthread key
 * whose destructor cleans it up when the thread exits. An easy handle keeps
 * its own connection cache, so consecutive calls from one thread to the same
 * host reuse the TCP connection (keep-alive) with no locking and no shared
 * state between threads. The options that never change are set once, when
 * the handle is made; each call sets its own (URL, method, body, headers,
 * timeouts) and clears, when it ends, every option pointing into its memory
 * (header list, error buffer, body, response buffer). curl_easy_reset is not
 * used: it frees the handle's transfer buffers, and allocating them again
 * on every call (one is 64 KB) made malloc the biggest cost of a call.
 *
 * Every call has a total timeout (CURLOPT_TIMEOUT_MS) and a connect timeout of
 * at most CONNECT_TIMEOUT_MS: a peer that has not answered a SYN by then is
 * gone, and a caller with another address to try should go on to it.
 * NOSIGNAL keeps curl from using SIGALRM for them, which is not thread-safe.
 * Names are looked up again after DNS_CACHE_S: a peer replaced under the same
 * name (a container started again, a Swarm task on another node) has a new
 * address, and curl's default would keep connecting to the old one for 60 s.
 * Requests with a body drop curl's "Expect: 100-continue", which would
 * otherwise add a round trip (or a one-second wait) before bodies over 1 KB.
 * Proxies from the environment are ignored: these calls go between our own
 * services, and an inherited http_proxy must not reroute them.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 10000L       /* used when the caller passes <= 0 */
#define CONNECT_TIMEOUT_MS 3000L
#define DNS_CACHE_S 2L
#define MAX_RESPONSE (64u * 1024 * 1024) /* a bigger answer is an error, not a crash */

static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static int handle_key_ok;

static void destroy_handle(void *h) { curl_easy_cleanup(h); }

static void make_key(void) { handle_key_ok = pthread_key_create(&handle_key, destroy_handle) == 0; }

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata);

static CURL *thread_handle(void)
{
    pthread_once(&handle_once, make_key);
    if (!handle_key_ok) return NULL;
    CURL *h = pthread_getspecific(handle_key);
    if (h) return h;
    h = curl_easy_init();
    if (h && pthread_setspecific(handle_key, h) != 0) {
        curl_easy_cleanup(h);
        return NULL;
    }
    if (h) {
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, DNS_CACHE_S);
    }
    return h;
}

void http_client_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct buffer {
    char *data;
    size_t len, cap;
    int overflow;   /* 1: over MAX_RESPONSE, 2: out of memory */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;   /* curl documents size as always 1 */
    if (n > MAX_RESPONSE - b->len) {
        b->overflow = 1;
        return 0;   /* a short count makes curl abort the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->overflow = 2;
            return 0;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (; headers && *headers; headers++)
        if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':') return 1;
    return 0;
}

/* Appends to *list; 0 on success. On failure the list built so far stays
 * in *list for the caller to free. */
static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *l = curl_slist_append(*list, h);
    if (!l) return -1;
    *list = l;
    return 0;
}

static int fail(struct http_result *out, const char *what, const char *detail)
{
    snprintf(out->error, sizeof out->error, "%s%s%s", what, detail && *detail ? ": " : "",
             detail ? detail : "");
    return -1;
}

int http_call(const char *method, const char *url, const char *body,
              const char *const *headers, long timeout_ms, struct http_result *out)
{
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!method || !*method || !url) return fail(out, "bad arguments", NULL);

    CURL *h = thread_handle();
    if (!h) return fail(out, "cannot create a curl handle", NULL);
    if (timeout_ms <= 0) timeout_ms = DEFAULT_TIMEOUT_MS;

    struct curl_slist *list = NULL;
    int ok = 1;
    if (body) {
        ok = add_header(&list, "Expect:") == 0;
        if (ok && !has_header(headers, "Content-Type"))
            ok = add_header(&list, "Content-Type: application/json") == 0;
    }
    for (const char *const *p = headers; ok && p && *p; p++)
        ok = add_header(&list, *p) == 0;
    if (!ok) {
        curl_slist_free_all(list);
        return fail(out, "out of memory", NULL);
    }

    struct buffer buf = { NULL, 0, 0, 0 };
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    /* The method options of the previous call must not leak into this one. */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);

    int is_get = strcmp(method, "GET") == 0;
    int is_head = strcmp(method, "HEAD") == 0;
    int needs_length = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                       strcmp(method, "PATCH") == 0;
    if (body || needs_length) {
        /* A POST/PUT/PATCH without a body still says Content-Length: 0, which
         * some servers (nginx) insist on. */
        const char *data = body ? body : "";
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        /* HTTPGET first: it undoes a previous call's POST, so that a bodiless
         * custom method is not sent as a POST reading its body from stdin. */
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (is_head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (!is_get) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

    int ret = 0;
    if (rc != CURLE_OK) {
        if (buf.overflow == 1) ret = fail(out, "response too large", NULL);
        else if (buf.overflow == 2) ret = fail(out, "out of memory", NULL);
        else ret = fail(out, curl_easy_strerror(rc), errbuf);
        /* Refused is not enough: a request sent on a reused keep-alive
         * connection that then dies unanswered is retried by libcurl on a
         * fresh one, whose refusal is what we see — yet the server got the
         * request. REQUEST_SIZE counts what this call sent, retries included. */
        long sent = 0;
        curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
        out->unsent = (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                       rc == CURLE_OPERATION_TIMEDOUT) && sent == 0;
    } else if (status == 0) {
        ret = fail(out, "no HTTP status in the response", NULL);
    }

    /* Forget list, errbuf, buf and the body before they go away. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(list);

    if (ret != 0) {
        free(buf.data);
        return ret;
    }
    if (!buf.data && !(buf.data = calloc(1, 1))) return fail(out, "out of memory", NULL);
    out->status = status;
    out->body = buf.data;
    out->body_len = buf.len;
    return 0;
}

void http_result_free(struct http_result *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
