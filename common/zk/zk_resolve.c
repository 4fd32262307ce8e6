/*
 * zk_resolve.c — see zk_resolve.h. How it works:
 *
 * A refresh starts one detached thread per name and waits on a condition
 * variable shared with them (a "batch"), in slices of 50 ms so that a stop
 * request is seen. The batch is reference-counted: the caller and each
 * thread still running hold a reference, and the last one out frees it, so
 * the caller may stop waiting (deadline, stop) while a lookup still hangs
 * in the resolver: that thread finishes later, into a batch nobody reads.
 * Results are copied out under the batch's lock, only for lookups done and
 * successful; every other name keeps the addresses it had.
 */
#include "zk_resolve.h"

#include "clock.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_NAMES 16
#define HOST_MAX 256
#define PORT_MAX 8
#define ADDRS_MAX 256     /* one name's addresses, "ip:port,..." */
#define SLICE_MS 50

struct entry {
    char host[HOST_MAX], port[PORT_MAX];
    char addrs[ADDRS_MAX];    /* "" until the name has resolved once */
};

struct zk_names {
    int count;
    zk_lookup_fn lookup;
    struct entry e[MAX_NAMES];
    char list[MAX_NAMES * (ADDRS_MAX + 1)];
};

struct batch;
struct job {
    struct batch *b;
    zk_lookup_fn fn;
    char host[HOST_MAX], port[PORT_MAX];
    int done, ok;             /* under b->mu */
    char out[ADDRS_MAX];      /* written before done is set */
};

struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int refs, pending;
    struct job jobs[MAX_NAMES];
};

/* Whether the comma-separated list holds the entry one (k bytes) whole: a
 * substring test would take 10.0.0.1:2181 for listed in 110.0.0.1:2181. */
static int listed(const char *list, const char *one, size_t k)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == k && memcmp(p, one, k) == 0) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* The system's resolver, IPv4 only: the library is given "ip:port", and
 * an IPv6 literal would need brackets it does not parse. */
static int system_lookup(const char *name, const char *port, char *out, size_t n)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    if (getaddrinfo(name, port, &hints, &res) != 0) return -1;
    size_t len = 0;
    out[0] = '\0';
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char ip[INET_ADDRSTRLEN], one[INET_ADDRSTRLEN + PORT_MAX + 1];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)a->ai_addr;
        if (!inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip)) continue;
        snprintf(one, sizeof one, "%s:%s", ip, port);
        size_t k = strlen(one);
        if (listed(out, one, k)) continue; /* getaddrinfo repeats an address per protocol */
        if (len + k + 2 > n) break;
        if (len) out[len++] = ',';
        memcpy(out + len, one, k + 1);
        len += k;
    }
    freeaddrinfo(res);
    return len ? 0 : -1;
}

static void batch_release(struct batch *b)
{
    pthread_mutex_lock(&b->mu);
    int last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last) return;
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void *lookup_main(void *arg)
{
    struct job *j = arg;
    int ok = j->fn(j->host, j->port, j->out, sizeof j->out) == 0;
    struct batch *b = j->b;
    pthread_mutex_lock(&b->mu);
    j->ok = ok;
    j->done = 1;
    b->pending--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
    batch_release(b);
    return NULL;
}

static int parse(struct zk_names *n, const char *hosts)
{
    const char *p = hosts;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        while (p < end && *p == ' ') p++;
        const char *colon = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':') colon = q;
        if (!colon || colon == p || n->count == MAX_NAMES) return -1;
        size_t hl = (size_t)(colon - p), pl = (size_t)(end - colon - 1);
        if (hl >= HOST_MAX || pl == 0 || pl >= PORT_MAX) return -1;
        long port = 0;
        for (const char *q = colon + 1; q < end; q++) {
            if (*q < '0' || *q > '9') return -1;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) return -1;
        struct entry *e = &n->e[n->count++];
        memcpy(e->host, p, hl);
        memcpy(e->port, colon + 1, pl);
        if (!*end) break;
        p = end + 1;
    }
    return n->count ? 0 : -1;
}

struct zk_names *zk_names_new(const char *hosts, zk_lookup_fn lookup)
{
    if (!hosts) return NULL;
    struct zk_names *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->lookup = lookup ? lookup : system_lookup;
    if (parse(n, hosts)) {
        free(n);
        return NULL;
    }
    return n;
}

void zk_names_free(struct zk_names *n)
{
    free(n);
}

static void build_list(struct zk_names *n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n->count; i++) {
        size_t k = strlen(n->e[i].addrs);
        if (!k || len + k + 2 > cap) continue;
        if (len) out[len++] = ',';
        memcpy(out + len, n->e[i].addrs, k + 1);
        len += k;
    }
}

/* Under b->mu: is some address known, old or just found? */
static int any_known(const struct zk_names *n, const struct batch *b)
{
    for (int i = 0; i < n->count; i++)
        if (n->e[i].addrs[0] || (b->jobs[i].done && b->jobs[i].ok)) return 1;
    return 0;
}

static void start_jobs(struct zk_names *n, struct batch *b)
{
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0 &&
                  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0;
    for (int i = 0; i < n->count; i++) {
        struct job *j = &b->jobs[i];
        j->b = b;
        j->fn = n->lookup;
        memcpy(j->host, n->e[i].host, HOST_MAX);
        memcpy(j->port, n->e[i].port, PORT_MAX);
        pthread_mutex_lock(&b->mu);
        b->refs++;
        b->pending++;
        pthread_mutex_unlock(&b->mu);
        pthread_t t;
        if (!attr_ok || pthread_create(&t, &attr, lookup_main, j) != 0) {
            pthread_mutex_lock(&b->mu);
            b->refs--;
            b->pending--;
            j->done = 1; /* failed: the name keeps its addresses */
            pthread_mutex_unlock(&b->mu);
        }
    }
    if (attr_ok) pthread_attr_destroy(&attr);
}

int zk_names_refresh(struct zk_names *n, int min_ms, int max_ms, const atomic_int *stop)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b) return 0;
    pthread_mutex_init(&b->mu, NULL);
    clock_cond_init(&b->cond);
    b->refs = 1; /* ours */
    start_jobs(n, b);

    int64_t start = clock_ms();
    pthread_mutex_lock(&b->mu);
    for (;;) {
        int64_t waited = clock_ms() - start;
        if (b->pending == 0 || waited >= max_ms || (stop && atomic_load(stop))) break;
        if (waited >= min_ms && any_known(n, b)) break;
        struct timespec slice = clock_deadline(SLICE_MS);
        pthread_cond_timedwait(&b->cond, &b->mu, &slice);
    }
    for (int i = 0; i < n->count; i++)
        if (b->jobs[i].done && b->jobs[i].ok)
            memcpy(n->e[i].addrs, b->jobs[i].out, ADDRS_MAX);
    pthread_mutex_unlock(&b->mu);
    batch_release(b);

    char fresh[sizeof n->list];
    build_list(n, fresh, sizeof fresh);
    int changed = strcmp(fresh, n->list) != 0;
    if (changed) memcpy(n->list, fresh, sizeof fresh);
    return changed;
}

const char *zk_names_list(const struct zk_names *n)
{
    return n->list;
}
