/*
 * dbclient_pages.c — dbc_read_pages (see dbclient.h): a long select read
 * page by page, each page's rows read in place.
 *
 * The loop. Each page is a select with "after" (the caller's cursor),
 * "limit" and "max_bytes", written as text; a slave stops a page once its
 * text passes max_bytes and then says "more". A page is followed by another
 * while it says "more" or came back as full as asked, the caller still
 * wants rows, and it held any row at all. The previous page's text is freed
 * only once the next page's select is written, because the caller's cursor
 * points into it.
 *
 * The reader. A page is {"rows": [{name: value, ...}, ...], "more": bool}
 * (members in any order, any whitespace). Lists are the hot path and the
 * big answers (a million users), so no cJSON tree is built: one pass over
 * the text checks its syntax as far as it is read — strings well escaped,
 * no control byte in them, rows flat — and hands each row to the caller as
 * spans of the text. A string's span keeps its quotes and escapes: the
 * lists copy it into their own JSON as it is, with no decoding and
 * encoding again. Anything else in the answer (a nested value, a member
 * the DB API does not send) means it is not the DB API's: the caller
 * answers 503.
 */
#include "dbclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "jsonout.h"

/* A string literal into a jsonout, its length counted by the compiler. */
#define JO_LIT(o, lit) jo_raw((o), (lit), sizeof(lit) - 1)

struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

/* Takes the character c (after any whitespace): 1, or 0 when it is not next. */
static int eat(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A JSON string: its text, quotes included. 0, or -1 when there is none. */
static int string_tok(struct scan *s, const char **tok, size_t *len)
{
    skip_ws(s);
    const char *q = s->p;
    if (q >= s->end || *q != '"') return -1;
    for (q++; q < s->end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            *tok = s->p;
            *len = (size_t)(q + 1 - s->p);
            s->p = q + 1;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c != '\\') continue;
        if (++q >= s->end) return -1;
        if (*q == 'u') {
            if (s->end - q < 5 || !is_hex(q[1]) || !is_hex(q[2]) || !is_hex(q[3]) || !is_hex(q[4])) return -1;
            q += 4;
        } else if (!strchr("\"\\/bfnrt", *q)) {
            return -1;
        }
    }
    return -1;
}

/* A scalar: a string, or a number, true, false or null (a run of the
 * characters those are made of; dbc_row_int checks a number in full). */
static int value_tok(struct scan *s, const char **tok, size_t *len)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == '"') return string_tok(s, tok, len);
    const char *q = s->p;
    while (q < s->end && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || *q == '-' || *q == '+' ||
                          *q == '.' || *q == 'E'))
        q++;
    if (q == s->p) return -1;
    *tok = s->p;
    *len = (size_t)(q - s->p);
    s->p = q;
    return 0;
}

/* One row object into *row. */
static int read_row(struct scan *s, struct dbc_row *row)
{
    row->n = 0;
    if (!eat(s, '{')) return -1;
    if (eat(s, '}')) return 0;
    do {
        const char *name, *value;
        size_t name_len, value_len;
        if (row->n == DBC_ROW_MAX || string_tok(s, &name, &name_len) || !eat(s, ':') ||
            value_tok(s, &value, &value_len))
            return -1;
        row->m[row->n].name = name + 1;   /* without its quotes */
        row->m[row->n].name_len = name_len - 2;
        row->m[row->n].value = value;
        row->m[row->n].value_len = value_len;
        row->n++;
    } while (eat(s, ','));
    return eat(s, '}') ? 0 : -1;
}

/* A page's answer: each row to take_row. 0 with *taken and *more; -1 when
 * the text is not such an answer or take_row refused a row; 1 when
 * take_row stopped. */
static int read_page(const char *text, size_t len, int (*take_row)(void *, const struct dbc_row *), void *ctx,
                     int64_t *taken, int *more)
{
    struct scan s = { text, text + len };
    int rows_seen = 0;
    *taken = 0;
    *more = 0;
    if (!eat(&s, '{') || eat(&s, '}')) return -1;
    do {
        const char *key, *v;
        size_t key_len, v_len;
        if (string_tok(&s, &key, &key_len) || !eat(&s, ':')) return -1;
        if (key_len == 6 && memcmp(key, "\"rows\"", 6) == 0 && !rows_seen) {
            rows_seen = 1;
            if (!eat(&s, '[')) return -1;
            if (eat(&s, ']')) continue;
            do {
                struct dbc_row row;
                if (read_row(&s, &row)) return -1;
                int rc = take_row(ctx, &row);
                if (rc) return rc < 0 ? -1 : 1;
                (*taken)++;
            } while (eat(&s, ','));
            if (!eat(&s, ']')) return -1;
        } else if (key_len == 6 && memcmp(key, "\"more\"", 6) == 0) {
            if (value_tok(&s, &v, &v_len)) return -1;
            *more = v_len == 4 && memcmp(v, "true", 4) == 0;
        } else {
            return -1;
        }
    } while (eat(&s, ','));
    if (!eat(&s, '}')) return -1;
    skip_ws(&s);
    return rows_seen && s.p == s.end ? 0 : -1;
}

int64_t dbc_read_pages(const struct dbclient *db, int64_t limit, void (*next_page)(void *ctx, struct jsonout *op),
                       int (*take_row)(void *ctx, const struct dbc_row *row), void *ctx,
                       struct http_response *res)
{
    struct dbc_result prev = { 0 };
    int64_t n = 0;
    for (;;) {
        int64_t asked = limit < 0 || limit - n > DBC_PAGE_ROWS ? DBC_PAGE_ROWS : limit - n, taken = 0;
        struct jsonout op = { 0 };
        JO_LIT(&op, "{");
        next_page(ctx, &op);
        dbc_result_free(&prev);   /* the cursor is in the select now */
        JO_LIT(&op, ",\"limit\":");
        jo_int(&op, asked);
        JO_LIT(&op, ",\"max_bytes\":");
        jo_int(&op, DBC_PAGE_BYTES);
        JO_LIT(&op, "}");
        int rc = -1, more = 0;
        if (dbc_read_text(db, op.buf, &prev) == DBC_OK) {
            rc = read_page(prev.text, prev.text_len, take_row, ctx, &taken, &more);
            if (rc < 0) {
                prev.kind = DBC_UNAVAILABLE;
                snprintf(prev.error, sizeof prev.error, "select answer without the rows asked for");
            }
        }
        free(op.buf);
        n += taken;
        if (rc < 0) dbc_reply_failure(res, &prev);
        if (rc != 0 || !taken || !(more || taken >= asked) || (limit >= 0 && n >= limit)) {
            dbc_result_free(&prev);
            return rc < 0 ? -1 : rc > 0 ? -2 : n;
        }
    }
}

const char *dbc_row_str(const struct dbc_row *row, const char *name, size_t *len)
{
    size_t k = strlen(name);
    for (int i = 0; i < row->n; i++)
        if (row->m[i].name_len == k && memcmp(row->m[i].name, name, k) == 0) {
            if (row->m[i].value[0] != '"') return NULL;
            *len = row->m[i].value_len;
            return row->m[i].value;
        }
    return NULL;
}

int dbc_row_int(const struct dbc_row *row, const char *name, int64_t *out)
{
    size_t k = strlen(name);
    for (int i = 0; i < row->n; i++) {
        if (row->m[i].name_len != k || memcmp(row->m[i].name, name, k) != 0) continue;
        const char *p = row->m[i].value, *end = p + row->m[i].value_len;
        int neg = p < end && *p == '-';
        int64_t v = 0;
        p += neg;
        if (p == end || (*p == '0' && end - p > 1) || end - p > 18) return -1;   /* within int64 */
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') return -1;
            v = v * 10 + (*p - '0');
        }
        *out = neg ? -v : v;
        return 0;
    }
    return -1;
}
