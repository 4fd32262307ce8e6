/*
 * http_route.h — the route table of http_server.c: patterns parsed into
 * segments, a request path split into percent-decoded segments, and the
 * choice of the route for a path and method (see http_server.h for the
 * rules). Internal to http_server.c.
 */
#ifndef RS_HTTP_ROUTE_H
#define RS_HTTP_ROUTE_H

#include "http_server.h"

#include <stdint.h>

#define MAX_ROUTES 64
#define MAX_SEGMENTS 16          /* a longer path matches nothing: 404 */
#define MAX_METHOD 16

struct route {
    char method[MAX_METHOD];
    char *pattern;               /* as registered, for the observer */
    char *segbuf;                /* the pattern's segments, NUL-separated */
    const char *seg[MAX_SEGMENTS]; /* literal text, or NULL for a capture */
    int nseg;
    uint32_t rank;
    http_handler fn;
    void *ctx;
};

struct route_table {
    struct route routes[MAX_ROUTES];
    int nroutes;
};

/* A request path against the table. */
struct route_match {
    const char *seg[MAX_SEGMENTS]; /* the path's decoded segments */
    int nseg;                      /* -1: the path can match no pattern */
    const struct route *best;      /* first route of the winning pattern, or NULL */
    const struct route *route;     /* the route for the method, or NULL */
};

/* Splits raw_path (undecoded, up to '?') into m->seg, decoding into out,
 * which must hold strlen(raw_path) + 1 bytes; sets m->nseg. */
void route_split_path(struct route_match *m, const char *raw_path, char *out);

/* Finds the winning pattern for the path (m->best) and its route for
 * method (m->route); either may stay NULL. */
void route_find(const struct route_table *t, struct route_match *m, const char *method);

/* The Allow header for a 405: every method of m->best's pattern, once. */
void route_allow_list(const struct route_table *t, const struct route_match *m, char *buf,
                      size_t size);

/* Adds a route; 0, or -1 (logged) when the table is full or the pattern or
 * method is malformed. */
int route_add(struct route_table *t, const char *method, const char *pattern, http_handler fn,
              void *ctx);

void route_table_free(struct route_table *t);

#endif
