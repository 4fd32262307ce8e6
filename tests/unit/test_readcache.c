/* test_readcache.c — the read cache (readcache.c): an answer is served only
 * while its seq covers the read's min_seq, a newer answer is never replaced
 * by an older one, and the bounds on entries and bytes hold. */
#include <stdlib.h>
#include <string.h>

#include "readcache.h"
#include "test.h"

static int get(struct readcache *c, const char *key, int64_t min_seq, char **body)
{
    size_t len;
    int status;
    return readcache_get(c, key, strlen(key), min_seq, body, &len, &status);
}

static void put(struct readcache *c, const char *key, int64_t seq, const char *body)
{
    readcache_put(c, key, strlen(key), seq, 200, body, strlen(body));
}

TEST(answer_served_only_while_its_seq_covers_min_seq)
{
    struct readcache *c = readcache_new(16, 1 << 20);
    char *body = NULL;
    size_t len = 0;
    int status = 0;
    CHECK(!get(c, "q", 0, &body));
    readcache_put(c, "q", 1, 7, 200, "[1]", 3);
    CHECK(readcache_get(c, "q", 1, 7, &body, &len, &status));
    CHECK(strcmp(body, "[1]") == 0);
    CHECK_INT(len, 3);
    CHECK_INT(status, 200);
    free(body);
    CHECK(get(c, "q", 3, &body));            /* written before seq 7 was applied */
    free(body);
    CHECK(!get(c, "q", 8, &body));           /* a write acknowledged at 8 may change it */
    CHECK(body == NULL);
    CHECK(!get(c, "qq", 0, &body));          /* keys are whole texts */
    struct readcache_stats st;
    readcache_stats(c, &st);
    CHECK_INT(st.hits, 2);
    CHECK_INT(st.misses, 3);
    readcache_free(c);
}

TEST(newer_answer_replaces_older_never_the_reverse)
{
    struct readcache *c = readcache_new(16, 1 << 20);
    char *body;
    put(c, "q", 5, "old");
    put(c, "q", 9, "new");
    put(c, "q", 6, "late");                  /* a slower replica's answer arriving after */
    CHECK(get(c, "q", 9, &body));
    CHECK(strcmp(body, "new") == 0);
    free(body);
    struct readcache_stats st;
    readcache_stats(c, &st);
    CHECK_INT(st.entries, 1);
    CHECK_INT(st.bytes, 1 + 3);
    readcache_free(c);
}

TEST(least_recently_used_goes_first_at_the_entry_bound)
{
    struct readcache *c = readcache_new(3, 1 << 20);
    char *body;
    put(c, "a", 1, "A");
    put(c, "b", 1, "B");
    put(c, "c", 1, "C");
    CHECK(get(c, "a", 0, &body));            /* a is now the most recent */
    free(body);
    put(c, "d", 1, "D");                     /* b goes */
    CHECK(!get(c, "b", 0, &body));
    CHECK(get(c, "a", 0, &body));
    free(body);
    CHECK(get(c, "c", 0, &body));
    free(body);
    CHECK(get(c, "d", 0, &body));
    free(body);
    struct readcache_stats st;
    readcache_stats(c, &st);
    CHECK_INT(st.entries, 3);
    readcache_free(c);
}

TEST(byte_bound_holds_and_large_answers_are_not_kept)
{
    struct readcache *c = readcache_new(1000, 8000);
    char big[1200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *body;
    put(c, "huge", 1, big);                  /* over an eighth of 8000 */
    CHECK(!get(c, "huge", 0, &body));
    char mid[900];
    memset(mid, 'y', sizeof mid - 1);
    mid[sizeof mid - 1] = '\0';
    char key[16];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put(c, key, 1, mid);
        struct readcache_stats st;
        readcache_stats(c, &st);
        CHECK(st.bytes <= 8000);
    }
    CHECK(get(c, "k39", 0, &body));
    free(body);
    CHECK(!get(c, "k0", 0, &body));
    readcache_free(c);
}

TEST(many_keys_in_a_small_table)
{
    struct readcache *c = readcache_new(64, 1 << 20);
    char key[32], val[32], *body;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "{\"k\":%d}", i);
        snprintf(val, sizeof val, "[%d]", i);
        put(c, key, i, val);
    }
    for (int i = 5000 - 64; i < 5000; i++) {
        snprintf(key, sizeof key, "{\"k\":%d}", i);
        snprintf(val, sizeof val, "[%d]", i);
        CHECK(get(c, key, i, &body));
        CHECK(strcmp(body, val) == 0);
        free(body);
    }
    struct readcache_stats st;
    readcache_stats(c, &st);
    CHECK_INT(st.entries, 64);
    readcache_free(c);
}

TEST(no_cache_when_sized_zero)
{
    CHECK(readcache_new(0, 1 << 20) == NULL);
    CHECK(readcache_new(16, 0) == NULL);
    char *body = (char *)"unchanged";
    put(NULL, "q", 1, "x");
    CHECK(!get(NULL, "q", 0, &body));
    CHECK(body == NULL);
}

int main(void)
{
    RUN(answer_served_only_while_its_seq_covers_min_seq);
    RUN(newer_answer_replaces_older_never_the_reverse);
    RUN(least_recently_used_goes_first_at_the_entry_bound);
    RUN(byte_bound_holds_and_large_answers_are_not_kept);
    RUN(many_keys_in_a_small_table);
    RUN(no_cache_when_sized_zero);
    return test_done();
}
