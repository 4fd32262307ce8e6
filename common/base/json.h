/*
 * json.h — small helpers over cJSON for the shapes this project uses.
 *
 * Numbers: JSON has only doubles in cJSON, so an "integer" here is a number
 * with no fractional part within ±2^53, the range a double holds exactly.
 * Anything else (1.5, 1e300, "1") is not an integer.
 */
#ifndef RS_JSON_H
#define RS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>

#define JSON_MAX_SAFE_INT 9007199254740992LL /* 2^53 */

/* Parses exactly len bytes (no NUL needed) as one JSON value; NULL if the
 * text is not JSON, has trailing garbage, or has a \u0000 escape in a
 * string (a C string cannot hold it: cJSON would cut the value there). */
cJSON *json_parse(const char *text, size_t len);

/* Whether the JSON text has a \u0000 escape inside a string. */
int json_has_nul_escape(const char *s, size_t len);

/* Whether item is a number holding an exact integer; stores it in *out. */
int json_as_int(const cJSON *item, int64_t *out);

/* obj[key] as a string or integer; NULL / -1 if missing or of another type. */
const char *json_get_str(const cJSON *obj, const char *key);
int json_get_int(const cJSON *obj, const char *key, int64_t *out);

/* Compact text of item, malloc'd; aborts on out-of-memory. */
char *json_print(const cJSON *item);

/* {"error": msg} as compact text, malloc'd. */
char *json_error_text(const char *msg);

/* Adds an integer member. Printed exactly only for |v| < 10^15: cJSON prints
 * numbers with 15 significant digits when that reads back "close enough".
 * Seqs, ids and timestamps stay far below; DB values are bounded by the
 * validator (DBOP_MAX_INT) for this reason. */
cJSON *json_add_int(cJSON *obj, const char *key, int64_t v);

#endif
