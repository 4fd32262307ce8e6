/*
 * readcache.c — see readcache.h.
 *
 * A chained hash table over the operation text, with the entries also on a
 * doubly linked list in order of use (head: most recent), which is what
 * eviction takes from the tail. The bucket count is a power of two at least
 * twice max_entries, fixed at creation, so a lookup costs one hash of the
 * key and a short chain walk whatever the number of users or rides. The
 * hash is FNV-1a seeded per process: keys come from clients, and a seed they
 * cannot know keeps them from aiming every key at one chain (which could
 * only ever be max_entries long anyway).
 */
#include "readcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
    struct entry *chain;         /* next in the bucket */
    struct entry *prev, *next;   /* use order */
    uint64_t hash;
    int64_t seq;
    int status;
    size_t klen, len;
    char *key, *body;            /* body NUL-terminated */
};

struct readcache {
    pthread_mutex_t mu;
    struct entry **buckets;
    size_t nbuckets, max_entries, max_bytes, entries, bytes;
    struct entry *head, *tail;
    uint64_t seed, hits, misses;
};

static uint64_t hash_key(uint64_t seed, const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&s, sizeof s, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec * 2654435761ULL ^ (uint64_t)ts.tv_sec;
    }
    if (f) fclose(f);
    return s;
}

struct readcache *readcache_new(size_t max_entries, size_t max_bytes)
{
    if (!max_entries || !max_bytes) return NULL;
    struct readcache *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->nbuckets = 16;
    while (c->nbuckets < 2 * max_entries) c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) abort();
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->seed = random_seed();
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->body);
    free(e);
}

void readcache_free(struct readcache *c)
{
    if (!c) return;
    for (struct entry *e = c->head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static struct entry **slot_of(struct readcache *c, uint64_t h, const char *key, size_t klen)
{
    struct entry **p = &c->buckets[h & (c->nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->key, key, klen) == 0)) p = &(*p)->chain;
    return p;
}

static void unlink_use(struct readcache *c, struct entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void link_front(struct readcache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

/* Takes e out of the table and frees it. */
static void drop(struct readcache *c, struct entry *e)
{
    struct entry **p = slot_of(c, e->hash, e->key, e->klen);
    *p = e->chain;
    unlink_use(c, e);
    c->entries--;
    c->bytes -= e->klen + e->len;
    entry_free(e);
}

int readcache_get(struct readcache *c, const char *key, size_t klen, int64_t min_seq, char **body, size_t *len,
                  int *status)
{
    *body = NULL;
    if (!c) return 0;
    uint64_t h = hash_key(c->seed, key, klen);
    char *copy = NULL;
    pthread_mutex_lock(&c->mu);
    struct entry *e = *slot_of(c, h, key, klen);
    if (e && e->seq >= min_seq) {
        copy = malloc(e->len + 1);
        if (!copy) abort();
        memcpy(copy, e->body, e->len + 1);
        *len = e->len;
        *status = e->status;
        unlink_use(c, e);
        link_front(c, e);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    *body = copy;
    return copy != NULL;
}

void readcache_put(struct readcache *c, const char *key, size_t klen, int64_t seq, int status, const char *body,
                   size_t len)
{
    if (!c || klen + len > c->max_bytes / 8) return;
    uint64_t h = hash_key(c->seed, key, klen);
    /* Copies made before the lock: the critical section stays a few pointer moves. */
    struct entry *n = calloc(1, sizeof *n);
    char *k = malloc(klen ? klen : 1), *b = malloc(len + 1);
    if (!n || !k || !b) abort();
    memcpy(k, key, klen);
    memcpy(b, body, len);
    b[len] = '\0';
    *n = (struct entry){ .hash = h, .seq = seq, .status = status, .klen = klen, .len = len, .key = k, .body = b };
    pthread_mutex_lock(&c->mu);
    struct entry **p = slot_of(c, h, key, klen);
    if (*p && (*p)->seq >= seq) {
        /* A newer answer is kept already (a slower replica answered later). */
        pthread_mutex_unlock(&c->mu);
        entry_free(n);
        return;
    }
    if (*p) drop(c, *p);
    while (c->tail && (c->entries + 1 > c->max_entries || c->bytes + klen + len > c->max_bytes)) drop(c, c->tail);
    p = slot_of(c, h, key, klen);   /* the chain may have changed */
    *p = n;
    link_front(c, n);
    c->entries++;
    c->bytes += klen + len;
    pthread_mutex_unlock(&c->mu);
}

void readcache_stats(struct readcache *c, struct readcache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    out->hits = c->hits;
    out->misses = c->misses;
    out->entries = c->entries;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
