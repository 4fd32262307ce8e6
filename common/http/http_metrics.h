/*
 * http_metrics.h — what the HTTP server records of each request for
 * GET /metrics (internal to common/http; services call
 * http_server_serve_metrics in http_server.h).
 *
 * Two families, shared by every server of the process:
 *   rideshare_http_requests_total{route,method,status}  counter
 *   rideshare_http_request_duration_seconds{route}      histogram
 * route is the matched pattern ("/api/v1/rides/{rideId}", not the ride id:
 * one series per route, however many rides) or "unmatched"; method is one
 * of the methods the services know or "other". So the series are bounded
 * by the route table, whatever clients send.
 */
#ifndef RS_HTTP_METRICS_H
#define RS_HTTP_METRICS_H

#include <stdint.h>

/* One answered request: its method, matched pattern (NULL: none), status
 * and start (clock_us). */
void http_metrics_record(const char *method, const char *pattern, int status, int64_t started_us);

#endif
