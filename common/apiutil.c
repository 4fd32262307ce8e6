/*
 * apiutil.c — see apiutil.h.
 *
 * The UTF-8 check follows the table of well-formed byte sequences in the
 * Unicode standard (ch. 3, table 3-7): the allowed range of the second byte
 * depends on the first (E0 needs A0..BF to rule out overlongs, ED 80..9F to
 * rule out surrogates, F0 90..BF, F4 80..8F to stop at U+10FFFF).

 */
#include "apiutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

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

static int has_duplicate_key(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0) return 1;
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
