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
 */
#ifndef RS_APIUTIL_H
#define RS_APIUTIL_H

#include <stddef.h>

#include "json.h"

struct http_request;
struct http_response;

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are not allowed either. */
int api_utf8_valid(const char *s, size_t len);

/* Parses a request body that must be a JSON object, as described above.
 * NULL with the reason in why (a static string) when it is not. */
cJSON *api_parse_object_text(const char *text, size_t len, const char **why);

/* The same for a request; on failure answers 400 {"error": why}. */
cJSON *api_parse_object(const struct http_request *req, struct http_response *res);

/* For routes whose body carries nothing (db/clear): no body at all, or any
 * JSON object, is fine. Otherwise (whitespace alone included) answers 400
 * and returns -1. */
int api_body_empty_or_object(const struct http_request *req, struct http_response *res);

/* A log-safe rendering of client text: at most 64 bytes, printable ASCII
 * kept, anything else as \xHH, "..." when cut. buf should hold 4*64+4. */
#define API_QUOTE_SIZE 264
void api_quote(char *buf, size_t size, const char *s);

#endif
