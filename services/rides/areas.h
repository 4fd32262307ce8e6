/*
 * areas.h — the area list (AreaNameEnum.csv): which numbers are valid
 * sources and destinations, and how a request spells one.
 *
 * The CSV is "number,name" per line, with an optional header line first
 * (any first line whose first field is not a number), CRLF or LF line ends,
 * with or without a final line end, blank lines ignored, an optional UTF-8
 * byte-order mark. A number is 1–RIDES_AREA_MAX, each at most once, and
 * every row needs a non-empty name. Anything else is an error naming the
 * line: the service refuses to start on a list it cannot trust.
 *
 * In requests an area is a JSON integer (1, or 1.0: JSON does not tell them
 * apart) or a string of decimal digits in its plain spelling — "7", not
 * "07", "+7", " 7", "7.0" or "0x7" — and it must be a number of the list.
 * The same spelling rule holds for the query parameters of the ride search.
 */
#ifndef RS_RIDES_AREAS_H
#define RS_RIDES_AREAS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define RIDES_AREA_MAX 9999

struct rides_areas {
    int count;
    int min, max;                              /* smallest and largest number listed */
    unsigned char valid[RIDES_AREA_MAX + 1];
};

/* Loads the list from CSV text / a file. 0, or -1 with a message in err. */
int rides_areas_parse(struct rides_areas *a, const char *text, size_t len, char *err, size_t errsize);
int rides_areas_load(struct rides_areas *a, const char *path, char *err, size_t errsize);

/* Whether n is a listed area. */
int rides_areas_has(const struct rides_areas *a, int64_t n);

/* The area a string or a JSON value names (rules above); -1 when none. */
int rides_area_from_text(const struct rides_areas *a, const char *s);
int rides_area_from_json(const struct rides_areas *a, const cJSON *v);

/* A number in plain decimal: only digits, no leading zero (except "0"
 * itself), at most max_digits of them. 0 with *out set, else -1. Shared by
 * area numbers and ride ids. */
int rides_parse_decimal(const char *s, int max_digits, int64_t *out);

#endif
