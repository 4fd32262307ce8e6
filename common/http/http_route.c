/*
 * http_route.c — the routing half of the HTTP server (http_route.h; the
 * server and its connections are http_server.c).
 *
 * Patterns are parsed once, at registration, into segments: literal text,
 * or NULL for a "{name}" capture. A request path is split into
 * percent-decoded segments from the raw request target (http_server.c says
 * why not MHD's already-decoded url).
 *
 * Precedence: each route carries a rank, one bit per segment, set for a
 * literal, the first segment in the highest bit. Among the patterns that
 * match a path the highest rank wins, i.e. compared left to right, a literal
 * segment beats a capture. The table is filled before the server starts and
 * only read afterwards, so connection threads read it without a lock.
 */
#include "http_route.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits raw into decoded segments in out. Every segment consumes one '/'
 * from the input and writes one NUL, and decoding never lengthens text, so
 * the output fits in strlen(raw) + 1 bytes. Returns the segment count, or -1
 * for a path no pattern can match (too many segments, an encoded NUL, not
 * starting with '/'). */
static int split_path(struct route_match *r, const char *raw, char *out)
{
    const char *p = raw;
    int n = 0;

    if (p[0] != '/') return -1;
    if (p[1] == '\0') return 0;          /* "/" has no segments */
    while (*p == '/') {
        p++;
        if (n == MAX_SEGMENTS) return -1;
        r->seg[n++] = out;
        while (*p != '\0' && *p != '/') {
            int hi, lo;
            if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
                if (hi == 0 && lo == 0) return -1; /* would cut the C string */
                *out++ = (char)(hi * 16 + lo);
                p += 3;
            } else {
                *out++ = *p++;
            }
        }
        *out++ = '\0';
    }
    return n;
}

static int route_matches(const struct route *rt, const struct route_match *r)
{
    if (rt->nseg != r->nseg) return 0;
    for (int i = 0; i < rt->nseg; i++) {
        if (rt->seg[i] ? strcmp(rt->seg[i], r->seg[i]) != 0 : r->seg[i][0] == '\0')
            return 0;
    }
    return 1;
}

void route_split_path(struct route_match *m, const char *raw_path, char *out)
{
    m->nseg = split_path(m, raw_path, out);
}

void route_find(const struct route_table *t, struct route_match *r, const char *method)
{
    if (r->nseg < 0) return;
    for (int i = 0; i < t->nroutes; i++) {
        const struct route *rt = &t->routes[i];
        if (route_matches(rt, r) && (!r->best || rt->rank > r->best->rank)) r->best = rt;
    }
    if (!r->best) return;
    for (int i = 0; i < t->nroutes; i++) {
        const struct route *rt = &t->routes[i];
        if (rt->rank == r->best->rank && route_matches(rt, r) &&
            strcmp(rt->method, method) == 0) {
            r->route = rt;
            return;
        }
    }
}

void route_allow_list(const struct route_table *t, const struct route_match *r, char *buf,
                      size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->nroutes; i++) {
        const struct route *rt = &t->routes[i];
        if (rt->rank != r->best->rank || !route_matches(rt, r)) continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = t->routes[j].rank == rt->rank && route_matches(&t->routes[j], r) &&
                   strcmp(t->routes[j].method, rt->method) == 0;
        if (seen) continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", rt->method);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
}

/* Parses pattern into rt's segments; -1 when malformed. Segments must be
 * non-empty; a capture is exactly "{name}"; braces appear nowhere else. */
static int parse_pattern(struct route *rt, const char *pattern)
{
    if (pattern[0] != '/') return -1;
    rt->segbuf = strdup(pattern + 1);
    if (!rt->segbuf) return -1;
    rt->nseg = 0;
    rt->rank = 0;
    if (rt->segbuf[0] == '\0') return 0;   /* "/" */
    int ncap = 0;
    char *p = rt->segbuf;
    for (;;) {
        char *end = strchr(p, '/');
        if (end) *end = '\0';
        size_t n = strlen(p);
        if (n == 0 || rt->nseg == MAX_SEGMENTS) return -1;
        if (p[0] == '{') {
            if (n < 3 || p[n - 1] != '}' || strpbrk(p + 1, "{") || strchr(p + 1, '}') != p + n - 1)
                return -1;
            if (++ncap > HTTP_MAX_CAPTURES) return -1;
            rt->seg[rt->nseg] = NULL;
        } else {
            if (strpbrk(p, "{}")) return -1;
            rt->seg[rt->nseg] = p;
            rt->rank |= 1u << (MAX_SEGMENTS - 1 - rt->nseg);
        }
        rt->nseg++;
        if (!end) return 0;
        p = end + 1;
    }
}

int route_add(struct route_table *t, const char *method, const char *pattern, http_handler fn,
              void *ctx)
{
    if (t->nroutes == MAX_ROUTES) {
        log_error("http: route table full pattern=%s", pattern);
        return -1;
    }
    size_t mlen = strlen(method);
    if (mlen == 0 || mlen >= MAX_METHOD) return -1;

    struct route *rt = &t->routes[t->nroutes];
    memset(rt, 0, sizeof *rt);
    if (parse_pattern(rt, pattern) != 0 || !(rt->pattern = strdup(pattern))) {
        log_error("http: malformed route pattern=%s", pattern);
        free(rt->segbuf);
        memset(rt, 0, sizeof *rt);
        return -1;
    }
    memcpy(rt->method, method, mlen + 1);
    rt->fn = fn;
    rt->ctx = ctx;
    t->nroutes++;
    return 0;
}

void route_table_free(struct route_table *t)
{
    for (int i = 0; i < t->nroutes; i++) {
        free(t->routes[i].pattern);
        free(t->routes[i].segbuf);
    }
}
