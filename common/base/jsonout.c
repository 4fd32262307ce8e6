/* jsonout.c — see jsonout.h. Out of memory aborts, as everywhere else. */
#include "jsonout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct jsonout *o, size_t n)
{
    if (o->len + n + 1 <= o->cap) return;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n + 1) cap *= 2;
    char *p = realloc(o->buf, cap);
    if (!p) abort();
    o->buf = p;
    o->cap = cap;
}

void jo_raw(struct jsonout *o, const char *s, size_t n)
{
    reserve(o, n);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

void jo_str(struct jsonout *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    reserve(o, n + 2);
    o->buf[o->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            reserve(o, 2);
            o->buf[o->len++] = (char)c;
            continue;
        }
        char esc[6] = { '\\', 0 };
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            k = 6;
        }
        jo_raw(o, esc, k);
    }
    reserve(o, 2);
    o->buf[o->len++] = '"';
    o->buf[o->len] = '\0';
}

void jo_int(struct jsonout *o, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    jo_raw(o, num, (size_t)n);
}
