/*
 * seed — fills the DB service fast for the scale benchmark (bench/scale.py):
 * inserts through POST /api/v1/db/write from CONNS keep-alive connections,
 * which keeps the master's batches full (the DB service acknowledges about
 * 3,500–4,000 writes/s here, so a million users take about five minutes —
 * the API would need a users check and a gateway hop more per write).
 *
 *   seed URL users PREFIX FROM TO CONNS
 *       users PREFIX0000001 ... : names PREFIX%07d for FROM <= i < TO
 *   seed URL rides CREATOR COUNT CONNS TS [SRC DST]
 *       COUNT rides by CREATOR at TS, TS+1, ...; from SRC to DST, or when
 *       not given over the area pairs 3..198 x 3..198 in turn (so the
 *       benches' 1 -> 2 list keeps only what they put there)
 *
 * Only a 200 counts; anything else is counted apart (not retried). Prints
 *   RESULT ok=N failed=N secs=S rate=R
 * and exits 0 if every insert was acknowledged.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"

static char endpoint[512];
static const char *kind, *name;
static long long from, to, ts0;
static int src, dst;
static atomic_llong next, ok, failed;

static void body_of(long long i, char *buf, size_t n)
{
    if (kind[0] == 'u') {
        snprintf(buf, n, "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s%07lld\","
                         "\"password\":\"3d725109c7e7c0bfb9d709836735b56d943d263f\"}}", name, i);
        return;
    }
    long long k = i - from;
    int s = src ? src : 3 + (int)(k % 196), d = dst ? dst : 3 + (int)(k / 196 % 196);
    snprintf(buf, n, "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"%s\",\"ts\":%lld,"
                     "\"source\":%d,\"destination\":%d}}", name, ts0 + k, s, d);
}

static void *run(void *arg)
{
    (void)arg;
    char body[512];
    long long i;
    while ((i = atomic_fetch_add(&next, 1)) < to) {
        struct http_result r;
        body_of(i, body, sizeof body);
        int good = http_call("POST", endpoint, body, NULL, 30000, &r) == 0 && r.status == 200;
        http_result_free(&r);
        atomic_fetch_add(good ? &ok : &failed, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int conns;
    if (argc == 7 && strcmp(argv[2], "users") == 0) {
        from = atoll(argv[4]);
        to = atoll(argv[5]);
        conns = atoi(argv[6]);
    } else if ((argc == 7 || argc == 9) && strcmp(argv[2], "rides") == 0) {
        from = 0;
        to = atoll(argv[4]);
        conns = atoi(argv[5]);
        ts0 = atoll(argv[6]);
        if (argc == 9) {
            src = atoi(argv[7]);
            dst = atoi(argv[8]);
        }
    } else {
        fprintf(stderr, "usage: seed URL users PREFIX FROM TO CONNS\n"
                        "       seed URL rides CREATOR COUNT CONNS TS [SRC DST]\n");
        return 2;
    }
    kind = argv[2];
    name = argv[3];
    if (from < 0 || to < from || conns < 1 || conns > 1024) return 2;
    snprintf(endpoint, sizeof endpoint, "%s/api/v1/db/write", argv[1]);
    atomic_store(&next, from);
    http_client_global_init();
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    if (!t) return 1;
    int64_t t0 = clock_ms();
    for (int i = 0; i < conns; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < conns; i++) pthread_join(t[i], NULL);
    double secs = (double)(clock_ms() - t0) / 1000.0;
    printf("RESULT ok=%lld failed=%lld secs=%.1f rate=%.0f\n", (long long)atomic_load(&ok),
           (long long)atomic_load(&failed), secs, (double)atomic_load(&ok) / (secs > 0 ? secs : 1));
    free(t);
    return atomic_load(&failed) ? 1 : 0;
}
