/*
 * rides_req.c — see rides_req.h. Fields are checked in the order of the
 * spec's table, and the first problem found is the one reported.
 */
#include "rides_req.h"

#include "timestamp.h"

/* A required non-empty string member. */
static int need_string(const cJSON *body, const char *key, const char **out, const char **why,
                       const char *missing, const char *wrong)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!v) { *why = missing; return -1; }
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0]) { *why = wrong; return -1; }
    *out = v->valuestring;
    return 0;
}

static int need_area(const cJSON *body, const char *key, const struct rides_areas *areas, int *out,
                     const char **why, const char *missing, const char *wrong)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!v) { *why = missing; return -1; }
    if ((*out = rides_area_from_json(areas, v)) < 0) { *why = wrong; return -1; }
    return 0;
}

int rides_parse_create(const cJSON *body, const struct rides_areas *areas, struct rides_new *out,
                       const char **why)
{
    const char *ts;
    if (need_string(body, "created_by", &out->created_by, why, "missing field 'created_by'",
                    "'created_by' must be a non-empty string"))
        return -1;
    if (need_string(body, "timestamp", &ts, why, "missing field 'timestamp'",
                    "'timestamp' must be a string DD-MM-YYYY:SS-MM-HH"))
        return -1;
    switch (rides_ts_parse(ts, &out->ts)) {
    case RIDES_TS_OK:
        break;
    case RIDES_TS_DATE:
        *why = "'timestamp' is not a real date and time (DD-MM-YYYY:SS-MM-HH)";
        return -1;
    default:
        *why = "'timestamp' must be in the form DD-MM-YYYY:SS-MM-HH";
        return -1;
    }
    if (need_area(body, "source", areas, &out->source, why, "missing field 'source'",
                  "'source' must be an area number of AreaNameEnum.csv"))
        return -1;
    if (need_area(body, "destination", areas, &out->destination, why, "missing field 'destination'",
                  "'destination' must be an area number of AreaNameEnum.csv"))
        return -1;
    return 0;
}

int rides_parse_join(const cJSON *body, const char **username, const char **why)
{
    return need_string(body, "username", username, why, "missing field 'username'",
                       "'username' must be a non-empty string");
}

int rides_parse_ride_id(const char *s, int64_t *id) { return rides_parse_decimal(s, 15, id); }
