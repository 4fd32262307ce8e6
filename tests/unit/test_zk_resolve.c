/*
 * test_zk_resolve.c — the ZooKeeper servers' names looked up off the
 * library's threads (common/zk/zk_resolve.h): host lists parsed or refused,
 * the system's resolver on literal addresses, and, with a lookup the test
 * controls, the two promises that matter when a server's node is gone: a
 * refresh returns while a lookup still hangs, and a name whose lookup fails
 * keeps the addresses it had. No timing is asserted: a hung lookup is one
 * the test has not released yet.
 */
#include "test.h"

#include "zk_resolve.h"

#include <pthread.h>
#include <stdatomic.h>

/* The fake resolver: a table of answers ("" = fails), and a name that
 * blocks until the test opens the gate. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int gate_open, returned; /* returned: lookups done since the last drain */
static const char *answer_a = "10.0.0.1:2181", *answer_b = "10.0.0.2:2182";

static int fake_lookup(const char *name, const char *port, char *out, size_t n)
{
    (void)port;
    pthread_mutex_lock(&mu);
    if (strcmp(name, "hang") == 0)
        while (!gate_open) pthread_cond_wait(&cond, &mu);
    const char *a = strcmp(name, "a") == 0 ? answer_a : strcmp(name, "b") == 0 ? answer_b : "";
    snprintf(out, n, "%s", a);
    returned++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return *a ? 0 : -1;
}

/* Opens the gate and waits until the test's lookups (started of them) have
 * all returned, so that no thread outlives the test (LeakSanitizer would
 * see its batch). */
static void drain(int started)
{
    pthread_mutex_lock(&mu);
    gate_open = 1;
    pthread_cond_broadcast(&cond);
    while (returned < started) pthread_cond_wait(&cond, &mu);
    gate_open = 0;
    returned = 0;
    pthread_mutex_unlock(&mu);
}

TEST(malformed_lists_are_refused)
{
    const char *bad[] = { "", "zookeeper", "zookeeper:", ":2181", "zk:21a1", "zk:2181,", "zk:1234567",
                          "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,l:12,m:13,n:14,o:15,p:16,q:17" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct zk_names *n = zk_names_new(bad[i], NULL);
        if (n) printf("# accepted: \"%s\"\n", bad[i]);
        CHECK(n == NULL);
    }
    CHECK(zk_names_new(NULL, NULL) == NULL);
}

TEST(literal_addresses_through_the_system_resolver)
{
    struct zk_names *n = zk_names_new("127.0.0.1:2181, 127.0.0.2:2182", NULL);
    CHECK(n);
    CHECK_STR(zk_names_list(n), "");
    CHECK_INT(zk_names_refresh(n, 5000, 5000, NULL), 1); /* waits for both */
    CHECK_STR(zk_names_list(n), "127.0.0.1:2181,127.0.0.2:2182");
    CHECK_INT(zk_names_refresh(n, 5000, 5000, NULL), 0); /* the same again: no change */
    zk_names_free(n);
}

TEST(a_hung_lookup_does_not_hold_the_refresh)
{
    struct zk_names *n = zk_names_new("a:2181,hang:2181", fake_lookup);
    CHECK(n);
    /* min 0: returns once a is known, while "hang" is still out. */
    CHECK_INT(zk_names_refresh(n, 0, 600000, NULL), 1);
    CHECK_STR(zk_names_list(n), "10.0.0.1:2181"); /* the gate is still shut */
    zk_names_free(n); /* the hung thread finishes later, into its own batch */
    drain(2);
}

TEST(a_stop_request_ends_the_wait)
{
    struct zk_names *n = zk_names_new("hang:2181", fake_lookup);
    CHECK(n);
    atomic_int stop = 1;
    CHECK_INT(zk_names_refresh(n, 600000, 600000, &stop), 0);
    CHECK_STR(zk_names_list(n), "");
    zk_names_free(n);
    drain(1);
}

TEST(a_failed_lookup_keeps_the_last_addresses)
{
    struct zk_names *n = zk_names_new("a:2181,b:2182", fake_lookup);
    CHECK(n);
    CHECK_INT(zk_names_refresh(n, 600000, 600000, NULL), 1); /* waits for both */
    answer_a = ""; /* a's server is gone and its name no longer resolves */
    CHECK_INT(zk_names_refresh(n, 600000, 600000, NULL), 0);
    CHECK_STR(zk_names_list(n), "10.0.0.1:2181,10.0.0.2:2182");
    answer_a = "10.0.0.9:2181"; /* started again elsewhere */
    CHECK_INT(zk_names_refresh(n, 600000, 600000, NULL), 1);
    CHECK_STR(zk_names_list(n), "10.0.0.9:2181,10.0.0.2:2182");
    answer_a = "10.0.0.1:2181";
    zk_names_free(n);
    drain(6);
}

int main(void)
{
    RUN(malformed_lists_are_refused);
    RUN(literal_addresses_through_the_system_resolver);
    RUN(a_hung_lookup_does_not_hold_the_refresh);
    RUN(a_stop_request_ends_the_wait);
    RUN(a_failed_lookup_keeps_the_last_addresses);
    return test_done();
}
