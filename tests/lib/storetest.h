/*
 * storetest.h — what the tests of a worker's store (services/worker/store.h)
 * share: an operation, given as JSON text, applied inside the open batch as
 * the master applies one; and a table's rows counted through a reader
 * connection, which sees what a slave would answer from (committed rows
 * only).
 *
 * Static functions in a header, like test.h: each test program is one file.
 */
#ifndef RS_STORETEST_H
#define RS_STORETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbop.h"
#include "json.h"
#include "store.h"

/* Parses text with dbop_parse's flags and applies it with store_apply:
 * its status (200, 409 or -1), or -2 when the text is no valid operation
 * (then err says why). The result, if any, goes to *result when result is
 * not NULL (the caller frees it), else is dropped. */
static inline int storetest_apply(struct store *st, const char *text, unsigned flags, cJSON **result, char *err,
                                  size_t errlen)
{
    cJSON *j = json_parse(text, strlen(text)), *res = NULL;
    struct dbop op;
    int status = -2;
    if (!j)
        snprintf(err, errlen, "not JSON");
    else if (dbop_parse(j, flags, &op, err, errlen) == 0)
        status = store_apply(st, &op, j, &res, err, errlen);
    if (result)
        *result = res;
    else
        cJSON_Delete(res);
    cJSON_Delete(j);
    return status;
}

/* The rows of table in the committed state of the store at path; -1 on error. */
static inline int64_t storetest_count(const char *path, const char *table)
{
    char text[100], err[160], *out = NULL;
    snprintf(text, sizeof text, "{\"op\":\"count\",\"table\":\"%s\"}", table);
    struct store_reader *r = store_reader_open(path);
    cJSON *j = json_parse(text, strlen(text));
    struct dbop op;
    int64_t n = -1;
    if (r && j && dbop_parse(j, 0, &op, err, sizeof err) == 0 && store_read(r, &op, &out, err, sizeof err) == 0) {
        cJSON *res = json_parse(out, strlen(out));
        json_get_int(res, "count", &n);
        cJSON_Delete(res);
    }
    free(out);
    cJSON_Delete(j);
    store_reader_close(r);
    return n;
}

#endif
