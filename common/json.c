/* json.c — see json.h. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

cJSON *json_parse(const char *text, size_t len)
{
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
