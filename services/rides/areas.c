/*
 * areas.c — see areas.h.
 *
 * The loader walks the text line by line without copying it: each line is
 * [start, end) with a trailing '\r' dropped, so CRLF and LF files read the
 * same, and the last line needs no terminator. The set of valid numbers is
 * a byte per possible number: membership is one index, and the table is
 * filled once before the server starts, then only read.
 */
#include "areas.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rides_parse_decimal(const char *s, int max_digits, int64_t *out)
{
    if (!s || !*s || max_digits < 1 || max_digits > 18) return -1;
    if (s[0] == '0' && s[1] != '\0') return -1;
    int64_t v = 0;
    int n = 0;
    for (; s[n]; n++) {
        if (n >= max_digits || s[n] < '0' || s[n] > '9') return -1;
        v = v * 10 + (s[n] - '0');
    }
    *out = v;
    return 0;
}

int rides_areas_has(const struct rides_areas *a, int64_t n)
{
    return n >= 1 && n <= RIDES_AREA_MAX && a->valid[n];
}

int rides_area_from_text(const struct rides_areas *a, const char *s)
{
    int64_t n;
    if (rides_parse_decimal(s, 9, &n) != 0 || !rides_areas_has(a, n)) return -1;
    return (int)n;
}

int rides_area_from_json(const struct rides_areas *a, const cJSON *v)
{
    int64_t n;
    if (cJSON_IsString(v)) return rides_area_from_text(a, v->valuestring);
    if (json_as_int(v, &n) && rides_areas_has(a, n)) return (int)n;
    return -1;
}

/* One data line "number,name" (no line end). 0 or -1 with err set. */
static int parse_row(struct rides_areas *a, const char *p, size_t len, int lineno, char *err, size_t errsize)
{
    const char *comma = memchr(p, ',', len);
    char num[16];
    size_t nlen = comma ? (size_t)(comma - p) : len;
    int64_t n = -1;
    if (nlen > 0 && nlen < sizeof num) {
        memcpy(num, p, nlen);
        num[nlen] = '\0';
        if (rides_parse_decimal(num, 9, &n) != 0) n = -1;
    }
    if (n < 1 || n > RIDES_AREA_MAX) {
        snprintf(err, errsize, "line %d: the first field must be an area number from 1 to %d", lineno,
                 RIDES_AREA_MAX);
        return -1;
    }
    if (!comma || comma + 1 == p + len) {
        snprintf(err, errsize, "line %d: area %lld has no name", lineno, (long long)n);
        return -1;
    }
    if (a->valid[n]) {
        snprintf(err, errsize, "line %d: area %lld listed twice", lineno, (long long)n);
        return -1;
    }
    a->valid[n] = 1;
    if (a->count == 0 || n < a->min) a->min = (int)n;
    if (a->count == 0 || n > a->max) a->max = (int)n;
    a->count++;
    return 0;
}

int rides_areas_parse(struct rides_areas *a, const char *text, size_t len, char *err, size_t errsize)
{
    memset(a, 0, sizeof *a);
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    int lineno = 0, seen_line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        if (n > 0 && p[n - 1] == '\r') n--;
        lineno++;
        if (n > 0) {
            int first = !seen_line;
            seen_line = 1;
            /* A first line that does not start with a digit is the header. */
            if (!(first && (p[0] < '0' || p[0] > '9')) && parse_row(a, p, n, lineno, err, errsize) != 0) {
                memset(a, 0, sizeof *a);
                return -1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (a->count == 0) {
        snprintf(err, errsize, "no areas listed");
        return -1;
    }
    return 0;
}

int rides_areas_load(struct rides_areas *a, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        if (cap >= (8u << 20)) { free(buf); buf = NULL; break; }   /* no sane list is this big */
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) { free(buf); buf = NULL; break; }
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errsize, "cannot read %s (too large or a read error)", path);
        return -1;
    }
    char msg[200];
    int rc = rides_areas_parse(a, buf, len, msg, sizeof msg);
    free(buf);
    if (rc != 0) snprintf(err, errsize, "%s: %s", path, msg);
    return rc;
}
