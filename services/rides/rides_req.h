/*
 * rides_req.h — what valid rides requests are (docs/api.md, "Rides"), as pure functions
 * over parsed bodies and path text, for the handlers and the unit tests.
 *
 *   create  {"created_by": non-empty string,
 *            "timestamp": "DD-MM-YYYY:SS-MM-HH" (timestamp.h),
 *            "source": area, "destination": area (areas.h)}
 *           source may equal destination (the spec does not forbid it);
 *           past timestamps are accepted; other keys are ignored.
 *   join    {"username": non-empty string}; other keys are ignored.
 *   rideId  in the path: plain decimal digits, at most 15 ("0" is a number
 *           no ride has; "007", "-1", "1.0", "abc" are not ride ids).
 */
#ifndef RS_RIDES_REQ_H
#define RS_RIDES_REQ_H

#include <stdint.h>

#include "areas.h"
#include "json.h"

struct rides_new {
    const char *created_by;   /* points into the parsed body */
    int64_t ts;               /* Unix seconds, UTC */
    int source, destination;
};

/* 0, or -1 with *why (a static message). */
int rides_parse_create(const cJSON *body, const struct rides_areas *areas, struct rides_new *out,
                       const char **why);
int rides_parse_join(const cJSON *body, const char **username, const char **why);
int rides_parse_ride_id(const char *s, int64_t *id);

#endif
