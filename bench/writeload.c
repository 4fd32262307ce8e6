/*
 * writeload — a write load for the DB service: COUNT acknowledged writes
 * through POST /api/v1/db/write, from CONNS keep-alive connections.
 *
 *   writeload URL COUNT CONNS MODE PREFIX [MARK...]
 *
 * MODE grow: every write inserts a new user (the data grows with the
 * history). MODE churn: each connection inserts users and deletes the one
 * it inserted WINDOW writes earlier, so the data stays at about
 * CONNS x WINDOW/2 users while the history grows; it deletes what is left at
 * the end. Names start with PREFIX (unique per run). Only 200s count as
 * acknowledged; any other answer is counted apart and the write is not
 * retried (its outcome is unknown). Prints "MARK acked=N" (flushed) as the
 * acknowledged count passes each MARK, so a caller can measure the system at
 * those points while the load goes on, then one line,
 *   RESULT acked=N failed=N secs=S rate=R p50_ms=X p99_ms=Y
 * (the churn's final deletes included) and exits 0 if every write was
 * acknowledged. With WRITELOAD_TICKS set it also prints, every 100 ms,
 * "TICK ms=<since start> acked=<so far>", for rates over a window.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_client.h"

#define WINDOW 2000
#define SAMPLES (1 << 20)

static const char *url, *mode, *prefix;
static int64_t total;
static atomic_llong next_ticket, acked, failed;
static float *lat_ms;        /* one sample per acknowledged write, up to SAMPLES */
static atomic_llong nlat;
static int64_t marks[16];
static int nmarks;
static pthread_mutex_t mark_mu = PTHREAD_MUTEX_INITIALIZER;
static int next_mark;

static void passed(long long n)
{
    pthread_mutex_lock(&mark_mu);
    while (next_mark < nmarks && n >= marks[next_mark]) {
        printf("MARK acked=%lld\n", n);
        fflush(stdout);
        next_mark++;
    }
    pthread_mutex_unlock(&mark_mu);
}

static int post(const char *endpoint, const char *body)
{
    struct http_result r;
    int64_t t0 = clock_ms();
    int ok = http_call("POST", endpoint, body, NULL, 30000, &r) == 0 && r.status == 200;
    http_result_free(&r);
    if (ok) {
        passed(atomic_fetch_add(&acked, 1) + 1);
        long long k = atomic_fetch_add(&nlat, 1);
        if (k < SAMPLES) lat_ms[k] = (float)(clock_ms() - t0);
    } else {
        atomic_fetch_add(&failed, 1);
    }
    return ok;
}

static void user_op(char *buf, size_t n, const char *op, int conn, int64_t j)
{
    if (op[0] == 'i')
        snprintf(buf, n, "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s-%d-%lld\","
                         "\"password\":\"3d725109c7e7c0bfb9d709836735b56d943d263f\"}}",
                 prefix, conn, (long long)j);
    else
        snprintf(buf, n, "{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"%s-%d-%lld\"}}",
                 prefix, conn, (long long)j);
}

static atomic_int done;

static void *ticker(void *arg)
{
    int64_t t0 = *(int64_t *)arg;
    while (!atomic_load(&done)) {
        struct timespec d = { 0, 100 * 1000000L };
        nanosleep(&d, NULL);
        printf("TICK ms=%lld acked=%lld\n", (long long)(clock_ms() - t0), (long long)atomic_load(&acked));
        fflush(stdout);
    }
    return NULL;
}

static void *run(void *arg)
{
    int conn = (int)(intptr_t)arg;
    char endpoint[512], body[512];
    snprintf(endpoint, sizeof endpoint, "%s/api/v1/db/write", url);
    int churn = strcmp(mode, "churn") == 0;
    int64_t inserted = 0, deleted = 0; /* this connection's users: [deleted, inserted) are live */
    while (atomic_fetch_add(&next_ticket, 1) < total) {
        /* churn: a delete whenever WINDOW users are live, else an insert */
        if (churn && inserted - deleted >= WINDOW) user_op(body, sizeof body, "delete", conn, deleted++);
        else user_op(body, sizeof body, "insert", conn, inserted++);
        post(endpoint, body);
    }
    while (churn && deleted < inserted) { /* leave no data behind */
        user_op(body, sizeof body, "delete", conn, deleted++);
        post(endpoint, body);
    }
    return NULL;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 6 + 16 || (strcmp(argv[4], "grow") && strcmp(argv[4], "churn"))) {
        fprintf(stderr, "usage: writeload URL COUNT CONNS grow|churn PREFIX [MARK...]\n");
        return 2;
    }
    for (int i = 6; i < argc; i++) marks[nmarks++] = atoll(argv[i]);
    url = argv[1];
    total = atoll(argv[2]);
    int conns = atoi(argv[3]);
    mode = argv[4];
    prefix = argv[5];
    if (total <= 0 || conns <= 0 || conns > 1024) return 2;
    http_client_global_init();
    lat_ms = calloc(SAMPLES, sizeof *lat_ms);
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    if (!lat_ms || !t) return 1;
    int64_t t0 = clock_ms();
    pthread_t tick;
    int ticking = getenv("WRITELOAD_TICKS") && pthread_create(&tick, NULL, ticker, &t0) == 0;
    for (int i = 0; i < conns; i++) pthread_create(&t[i], NULL, run, (void *)(intptr_t)i);
    for (int i = 0; i < conns; i++) pthread_join(t[i], NULL);
    atomic_store(&done, 1);
    if (ticking) pthread_join(tick, NULL);
    double secs = (double)(clock_ms() - t0) / 1000.0;
    long long n = atomic_load(&nlat) < SAMPLES ? atomic_load(&nlat) : SAMPLES;
    qsort(lat_ms, (size_t)n, sizeof *lat_ms, cmp_float);
    printf("RESULT acked=%lld failed=%lld secs=%.1f rate=%.0f p50_ms=%.1f p99_ms=%.1f\n",
           (long long)atomic_load(&acked), (long long)atomic_load(&failed), secs,
           (double)atomic_load(&acked) / (secs > 0 ? secs : 1), n ? lat_ms[n / 2] : 0.0,
           n ? lat_ms[n * 99 / 100] : 0.0);
    free(lat_ms);
    free(t);
    return atomic_load(&failed) ? 1 : 0;
}
