/*
 * http_metrics.c — see http_metrics.h; and the GET /metrics route.
 */
#include "http_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "digest.h"
#include "http_server.h"
#include "metrics.h"

static struct metric *requests, *duration;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_families(void)
{
    requests = metric_family("rideshare_http_requests_total", "HTTP requests answered, by route, method and status",
                             METRIC_COUNTER);
    duration = metric_family("rideshare_http_request_duration_seconds",
                             "time from a request's first byte to its answer, by route", METRIC_HISTOGRAM);
}

static const char *method_label(const char *m)
{
    static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH" };
    for (size_t i = 0; m && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0) return known[i];
    return "other";
}

void http_metrics_record(const char *method, const char *pattern, int status, int64_t started_us)
{
    pthread_once(&once, init_families);
    /* Patterns are the service's own text: no escaping needed beyond what
     * a route may hold, and a route with a quote would not parse anyway. */
    const char *route = pattern ? pattern : "unmatched";
    char labels[METRICS_LABELS_MAX];
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", route, method_label(method), status);
    metric_add(metric_series(requests, labels), 1);
    snprintf(labels, sizeof labels, "route=\"%s\"", route);
    metric_observe(metric_series(duration, labels), (double)(clock_us() - started_us) / 1e6);
}

/* The token a scrape must carry (http_server_serve_metrics); one per process. */
static char scrape_token[256];
static size_t scrape_token_len;

static int scrape_allowed(const struct http_request *req)
{
    if (!scrape_token_len) return 1;
    static const char scheme[] = "Bearer ";
    const char *h = http_header(req, "Authorization");
    if (!h || strncasecmp(h, scheme, sizeof scheme - 1) != 0) return 0;
    h += sizeof scheme - 1;
    while (*h == ' ') h++;
    return digest_equal(scrape_token, scrape_token_len, h, strlen(h));
}

static void on_metrics(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)ctx;
    if (!scrape_allowed(req)) {
        http_reply_error(res, 401, "GET /metrics needs Authorization: Bearer <admin token>");
        http_reply_header(res, "WWW-Authenticate", "Bearer");
        return;
    }
    pthread_once(&once, init_families);
    size_t len;
    res->status = 200;
    res->body = metrics_render(&len);
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

int http_server_serve_metrics(struct http_server *s, const char *token)
{
    size_t n = token ? strlen(token) : 0;
    if (n >= sizeof scrape_token) return -1;
    memcpy(scrape_token, token ? token : "", n + 1);
    scrape_token_len = n;
    return http_server_route(s, "GET", "/metrics", on_metrics, NULL);
}
