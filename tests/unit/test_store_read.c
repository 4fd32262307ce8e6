/*
 * test_store_read.c — a slave's answer to a select (store_read in
 * services/worker/store.c): the rows as JSON text, and with "max_bytes" a
 * page cut after the row that passes the bound, with "more" saying whether
 * rows were left out. Paging by "after" with a small max_bytes must give
 * every row exactly once, in order, and the same rows as one big select.
 */
#include "dbop.h"
#include "json.h"
#include "test.h"
#include "store.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/rs-store-read.XXXXXX";
static char path[300];
static struct store_reader *rd;

/* Runs a select given as JSON text; the answer parsed (NULL on error). */
static cJSON *query(const char *text)
{
    char err[160], *out = NULL;
    cJSON *j = json_parse(text, strlen(text)), *res = NULL;
    struct dbop op;
    if (j && dbop_parse(j, 0, &op, err, sizeof err) == 0 && store_read(rd, &op, &out, err, sizeof err) == 0)
        res = json_parse(out, strlen(out));
    else
        printf("# %s: %s\n", text, err);
    free(out);
    cJSON_Delete(j);
    return res;
}

static int fill(int n)
{
    struct store *st = store_open(path);
    if (!st || store_begin(st)) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char text[200], err[160];
        /* names of growing length: a page's size depends on where it starts */
        snprintf(text, sizeof text, "{\"op\":\"insert\",\"table\":\"users\",\"values\":"
                 "{\"username\":\"u%04d%.*s\",\"password\":\"p\"}}", i, i % 37, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        cJSON *j = json_parse(text, strlen(text)), *result = NULL;
        struct dbop op;
        if (!j || dbop_parse(j, 0, &op, err, sizeof err) || store_apply(st, &op, j, &result, err, sizeof err) != 200)
            rc = -1;
        cJSON_Delete(result);
        cJSON_Delete(j);
    }
    struct store_pos pos = { .applied_seq = 1 };
    if (!rc) rc = store_commit(st, &pos);
    store_close(st);
    return rc;
}

TEST(max_bytes_cuts_after_the_row_that_passes_it)
{
    cJSON *r = query("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                     "\"order\":[{\"column\":\"username\"}],\"max_bytes\":1}");
    CHECK(r != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "rows")), 1);   /* never an empty page */
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "more")));
    cJSON_Delete(r);
    r = query("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],\"max_bytes\":16777216}");
    CHECK(r != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "rows")), 500);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(r, "more")));
    cJSON_Delete(r);
    /* without max_bytes the answer is as it always was */
    r = query("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],\"limit\":3}");
    CHECK(r != NULL);
    CHECK(cJSON_GetObjectItem(r, "more") == NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "rows")), 3);
    cJSON_Delete(r);
}

TEST(pages_give_every_row_once)
{
    cJSON *all = query("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                       "\"order\":[{\"column\":\"username\"}]}");
    CHECK(all != NULL);
    const cJSON *want = cJSON_GetObjectItem(all, "rows");
    CHECK_INT(cJSON_GetArraySize(want), 500);
    const cJSON *next = want->child;
    char last[64] = "";
    int pages = 0, cut = 0;
    for (;;) {
        char text[300];
        if (last[0])
            snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                     "\"order\":[{\"column\":\"username\"}],\"after\":{\"username\":\"%s\"},\"limit\":40,"
                     "\"max_bytes\":600}", last);
        else
            snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                     "\"order\":[{\"column\":\"username\"}],\"limit\":40,\"max_bytes\":600}");
        cJSON *page = query(text);
        CHECK(page != NULL);
        const cJSON *rows = cJSON_GetObjectItem(page, "rows"), *row;
        int n = cJSON_GetArraySize(rows), more = cJSON_IsTrue(cJSON_GetObjectItem(page, "more"));
        cJSON_ArrayForEach(row, rows) {
            const char *name = json_get_str(row, "username");
            if (!next || !name || strcmp(name, json_get_str(next, "username")) != 0) {
                cJSON_Delete(page);
                cJSON_Delete(all);
                CHECK(!"a page's row is not the next row of the whole list");
            }
            snprintf(last, sizeof last, "%s", name);
            next = next->next;
        }
        pages++;
        cut += more;
        cJSON_Delete(page);
        if (!more && n < 40) break;
    }
    CHECK(next == NULL);
    printf("# %d pages, %d of them cut by max_bytes\n", pages, cut);
    CHECK(cut > 0 && cut < pages);
    cJSON_Delete(all);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/r.db", dir);
    if (fill(500) != 0 || !(rd = store_reader_open(path))) {
        printf("not ok test_store_read: set-up\n");
        return 1;
    }
    RUN(max_bytes_cuts_after_the_row_that_passes_it);
    RUN(pages_give_every_row_once);
    store_reader_close(rd);
    static const char *const files[] = { "r.db", "r.db-wal", "r.db-shm" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_done();
}
