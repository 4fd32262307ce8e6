/*
 * jsonout.h — writing JSON text straight into a growing buffer.
 *
 * Hot paths (a slave turning SQLite rows into JSON for every read, the rides
 * service listing rides) write JSON on every request. Building a cJSON tree
 * only to print it costs more than the query: cJSON prints each number with
 * printf and reads it back to check it. This writes the text directly:
 * integers with their exact decimal digits, strings with JSON escaping.
 */
#ifndef RS_JSONOUT_H
#define RS_JSONOUT_H

#include <stddef.h>
#include <stdint.h>

struct jsonout {
    char *buf;     /* NUL-terminated; malloc'd; take it over when done */
    size_t len, cap;
};

void jo_raw(struct jsonout *o, const char *s, size_t n);
/* A JSON string of the n bytes at s (valid UTF-8 is passed through). */
void jo_str(struct jsonout *o, const char *s, size_t n);
void jo_int(struct jsonout *o, int64_t v);

#endif
