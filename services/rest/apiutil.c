/*
 * apiutil.c — see apiutil.h.
 *
 * The UTF-8 check follows the table of well-formed byte sequences in the
 * Unicode standard (ch. 3, table 3-7): the allowed range of the second byte
 * depends on the first (E0 needs A0..BF to rule out overlongs, ED 80..9F to
 * rule out surrogates, F0 90..BF, F4 80..8F to stop at U+10FFFF).

 */
#include "apiutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "jsonout.h"
#include "log.h"

int api_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        if (c == 0) return 0;
        if (c < 0x80) continue;
        int more;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;   /* 80..C1 (continuation or overlong lead), F5..FF */
        }
        if (end - p < more) return 0;
        if (*p < lo || *p > hi) return 0;
        p++;
        for (int i = 1; i < more; i++, p++)
            if (*p < 0x80 || *p > 0xBF) return 0;
    }
    return 1;
}

size_t api_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;   /* every byte but continuations */
    return n;
}

int api_username_fits(const char *s)
{
    if (!s || !*s) return 0;
    size_t n = 0;
    for (; *s && n <= API_USERNAME_MAX; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n <= API_USERNAME_MAX;
}

int api_parse_limit(const char *text, int64_t *out)
{
    int64_t n = 0;
    if (!text || !*text) return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || (p == text && *p == '0')) return -1;
        n = n * 10 + (*p - '0');
        if (n > API_LIMIT_MAX) return -1;
    }
    *out = n;
    return 0;
}

/* One pass over the text counting what cJSON would build: every value is
 * the first of its container or follows a comma, so commas + containers + 1
 * bounds the values; the top-level object's members are the commas at depth
 * 1, plus one. Text inside strings does not count (escapes skipped). */
static const char *shape_problem(const char *text, size_t len)
{
    size_t values = 1, keys = 1, i = 0;
    int depth = 0, in_string = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) i++;
    int object = i < len && text[i] == '{';
    for (; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
            continue;
        }
        switch (c) {
        case '"': in_string = 1; break;
        case '{': case '[': depth++; values++; break;
        case '}': case ']': depth--; break;
        case ',': values++; keys += object && depth == 1; break;
        default: break;
        }
        if (keys > API_MAX_KEYS) return "request body has too many keys (at most 16)";
        if (values > API_MAX_VALUES) return "request body has too many values (at most 64)";
    }
    return NULL;
}

/* A key's hash (FNV-1a) and length: two keys are compared byte for byte
 * only when both agree, so the check reads each key about once. */
static uint64_t key_hash(const char *s, size_t *len)
{
    uint64_t h = 14695981039346656037u;
    const char *p = s;
    for (; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
    *len = (size_t)(p - s);
    return h;
}

static int has_duplicate_key(const cJSON *obj)
{
    struct { uint64_t h; size_t len; const char *s; } seen[API_MAX_KEYS];
    int n = 0;
    for (const cJSON *a = obj->child; a; a = a->next) {
        if (!a->string) continue;
        if (n == API_MAX_KEYS) return 1;   /* cannot happen after shape_problem */
        size_t len;
        uint64_t h = key_hash(a->string, &len);
        for (int i = 0; i < n; i++)
            if (seen[i].h == h && seen[i].len == len && memcmp(seen[i].s, a->string, len) == 0) return 1;
        seen[n].h = h;
        seen[n].len = len;
        seen[n++].s = a->string;
    }
    return 0;
}

cJSON *api_parse_object_text(const char *text, size_t len, const char **why)
{
    if (len == 0) {
        *why = "request body must be a JSON object";
        return NULL;
    }
    if (!api_utf8_valid(text, len)) {
        *why = "request body is not valid UTF-8";
        return NULL;
    }
    if (json_has_nul_escape(text, len)) {
        *why = "strings must not contain \\u0000";
        return NULL;
    }
    if ((*why = shape_problem(text, len)) != NULL) return NULL;
    cJSON *j = json_parse(text, len);
    if (!j) {
        *why = "request body is not valid JSON";
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        *why = "request body must be a JSON object";
    } else if (has_duplicate_key(j)) {
        *why = "request body has a key more than once";
    } else {
        return j;
    }
    cJSON_Delete(j);
    return NULL;
}

cJSON *api_parse_object(const struct http_request *req, struct http_response *res)
{
    const char *why = NULL;
    cJSON *j = api_parse_object_text(req->body, req->body_len, &why);
    if (!j) http_reply_error(res, 400, why);
    return j;
}

int api_body_empty_or_object(const struct http_request *req, struct http_response *res)
{
    /* Empty means no bytes at all: whitespace alone is not a JSON text
     * (the orchestrator's db/clear refuses it too). */
    if (req->body_len == 0) return 0;
    const char *why = NULL;
    cJSON *j = api_parse_object_text(req->body, req->body_len, &why);
    if (!j) {
        http_reply_error(res, 400, "request body must be empty or a JSON object");
        return -1;
    }
    cJSON_Delete(j);
    return 0;
}

void api_reply_empty(struct http_response *res, int status)
{
    http_reply_raw(res, status, strdup("{}"));
}

void api_reply_list(struct http_response *res, struct jsonout *o, int64_t n, const char *too_large)
{
    if (n == -2) {
        log_warn("list too large to answer at once bytes=%zu", o->len);
        http_reply_error(res, 503, too_large);
    }
    if (n <= 0) {
        if (n == 0) res->status = 204;   /* nothing to list: no body */
        free(o->buf);
        o->buf = NULL;
        return;
    }
    jo_raw(o, "]", 1);
    http_reply_raw(res, 200, o->buf);
    o->buf = NULL;
}

void api_quote(char *buf, size_t size, const char *s)
{
    size_t used = 0;
    if (size == 0) return;
    buf[0] = '\0';
    if (!s) s = "";
    size_t i = 0;
    for (; s[i] && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        int n = (c >= 0x20 && c < 0x7F && c != '\\') ? snprintf(tmp, sizeof tmp, "%c", c)
                                                      : snprintf(tmp, sizeof tmp, "\\x%02X", c);
        if (used + (size_t)n + 4 > size) break;
        memcpy(buf + used, tmp, (size_t)n);
        used += (size_t)n;
    }
    if (s[i] && used + 4 <= size) {
        memcpy(buf + used, "...", 3);
        used += 3;
    }
    buf[used] = '\0';
}
