/*
 * mq_nodes.c — see mq_nodes.h. The list is walked afresh on every call (a
 * connect happens seconds apart at most; a list is a few hundred bytes), so
 * nothing is allocated or kept, and the callers need no parsed form.
 */
#include "mq_nodes.h"

#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The i-th non-empty entry's bounds, blanks trimmed: 0, or -1 if none. */
static int entry(const char *list, int i, const char **start, size_t *len)
{
    if (!list || i < 0 || i >= MQ_MAX_NODES) return -1;
    const char *p = list;
    for (int k = 0;;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\n')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n')) b--;
        if (b > a) {
            if (k == i) {
                *start = a;
                *len = (size_t)(b - a);
                return 0;
            }
            if (++k >= MQ_MAX_NODES) return -1;
        }
        if (!*end) return -1;
        p = end + 1;
    }
}

int mq_node_count(const char *list)
{
    int n = 0;
    const char *s;
    size_t len;
    while (n < MQ_MAX_NODES && entry(list, n, &s, &len) == 0) n++;
    return n;
}

int mq_node_url(const char *list, int i, char *out, size_t n)
{
    const char *s;
    size_t len;
    if (entry(list, i, &s, &len) || len + 1 > n) return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

int mq_node_where(const char *list, int i, char *out, size_t n)
{
    const char *s;
    size_t len;
    if (entry(list, i, &s, &len)) return -1;
    char *copy = strndup(s, len);
    struct amqp_connection_info ci;
    int rc = copy && amqp_parse_url(copy, &ci) == AMQP_STATUS_OK ? 0 : -1;
    if (rc == 0 && snprintf(out, n, "%s:%d", ci.host, ci.port) >= (int)n) rc = -1;
    free(copy);
    return rc;
}
