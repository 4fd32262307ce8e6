/*
 * apiutil.h — request-body and logging helpers that the users and rides
 * services share.
 *
 * Bodies. The public API takes JSON objects, and every string in them is
 * stored verbatim. cJSON would silently cut a string at an escaped NUL
 * ("a\u0000b" becomes "a") and passes bytes that are not UTF-8 through
 * unchanged, so a body is checked as text before it is parsed: it must be
 * UTF-8 (RFC 8259) and contain no \u0000. An object with the same key twice
 * is refused too, rather than silently taking one of the values.
 *
 * Cost. Every check is one pass over the text, and the size of the parsed
 * tree is bounded before it is built: no route takes more than a handful of
 * fields, so a body whose object has more than API_MAX_KEYS members, or
 * that holds more than API_MAX_VALUES JSON values at any depth, is refused
 * from a count made in the same pass as the other text checks, before
 * cJSON allocates anything. Any body up to the services' size limit (1 MiB)
 * thus costs about a millisecond, whatever its shape.
 *
 * Usernames are at most API_USERNAME_MAX characters (Unicode code points,
 * so up to four times as many bytes): long enough for any name, short
 * enough that a name always fits in a URL (20,000 bytes at most with its
 * ASCII percent-encoded and the rest raw UTF-8, as the rides service sends
 * it) and a list of them stays cheap.
 */
#ifndef RS_APIUTIL_H
#define RS_APIUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct http_request;
struct http_response;

#define API_MAX_KEYS 16        /* members of a request body's object */
#define API_MAX_VALUES 64      /* JSON values in a request body, at any depth */
#define API_USERNAME_MAX 5000  /* characters */

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are not allowed either. */
int api_utf8_valid(const char *s, size_t len);

/* The number of characters (code points) of a well-formed UTF-8 string. */
size_t api_utf8_chars(const char *s);

/* Whether s can be a username: not empty, at most API_USERNAME_MAX
 * characters (s is well-formed UTF-8: it came through the checks above or
 * a URL whose decoding was checked). */
int api_username_fits(const char *s);

/* The lists' optional "limit" query parameter: plain decimal digits, 1 to
 * API_LIMIT_MAX. 0, or -1 when text is not that. */
#define API_LIMIT_MAX 100000
int api_parse_limit(const char *text, int64_t *out);

/* Parses a request body that must be a JSON object, as described above.
 * NULL with the reason in why (a static string) when it is not. */
cJSON *api_parse_object_text(const char *text, size_t len, const char **why);

/* The same for a request; on failure answers 400 {"error": why}. */
cJSON *api_parse_object(const struct http_request *req, struct http_response *res);

/* For routes whose body carries nothing (db/clear): no body at all, or any
 * JSON object, is fine. Otherwise (whitespace alone included) answers 400
 * and returns -1. */
int api_body_empty_or_object(const struct http_request *req, struct http_response *res);

/* The answer of a list read with dbc_read_pages into o (its text so far,
 * "[" and the items): n > 0 items, closed and sent as 200; 0, a 204 with no
 * body; -1, already answered (the database failed); -2, the list grew past
 * its bound: 503 with too_large (which names the paged form). o's buffer is
 * taken over in every case. */
struct jsonout;
void api_reply_list(struct http_response *res, struct jsonout *o, int64_t n, const char *too_large);

/* The empty object {} with status: what a write answers on success. */
void api_reply_empty(struct http_response *res, int status);

/* A log-safe rendering of client text: at most 64 bytes, printable ASCII
 * kept, anything else as \xHH, "..." when cut. buf should hold 4*64+4. */
#define API_QUOTE_SIZE 264
void api_quote(char *buf, size_t size, const char *s);

#endif
