/* json.c — see json.h. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One bit of state is enough: inside a string or not. Inside a string a
 * backslash always starts a two-character escape or a six-character \uXXXX
 * one, so skipping escapes pairwise never mistakes "\\u0000" (an escaped
 * backslash, then text) for an escaped NUL. */
int json_has_nul_escape(const char *s, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            if (s[i] == '"') in_string = 1;
            continue;
        }
        if (s[i] == '"') {
            in_string = 0;
        } else if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0) return 1;
            i++;   /* skip the escaped character; \uXXXX's digits are plain text */
        }
    }
    return 0;
}

cJSON *json_parse(const char *text, size_t len)
{
    /* cJSON would keep a \u0000 as the end of the C string and silently cut
     * the value there: a stored name would not be the name sent. */
    if (json_has_nul_escape(text, len)) return NULL;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!v) return NULL;
    /* cJSON stops after the first value; only whitespace may follow it. */
    for (const char *p = end; p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

int json_as_int(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > (double)JSON_MAX_SAFE_INT) return 0;
    *out = (int64_t)d;
    return 1;
}

const char *json_get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int json_get_int(const cJSON *obj, const char *key, int64_t *out)
{
    return json_as_int(cJSON_GetObjectItemCaseSensitive(obj, key), out) ? 0 : -1;
}

char *json_print(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    if (!s) abort();
    return s;
}

char *json_error_text(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *s = json_print(o);
    cJSON_Delete(o);
    return s;
}

cJSON *json_add_int(cJSON *obj, const char *key, int64_t v)
{
    return cJSON_AddNumberToObject(obj, key, (double)v);
}
