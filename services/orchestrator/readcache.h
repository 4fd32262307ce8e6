/*
 * readcache.h — answers to db/read operations, kept with the seq they were
 * computed at, so that a repeated read can be answered without a replica.
 *
 * A slave answers a read with the seq it had applied (the reply's "seq"
 * header); its answer reflects every write up to that seq. A read arriving
 * with min_seq (the highest seq acknowledged so far) may be answered by any
 * cached answer computed at a seq >= min_seq: every write acknowledged
 * before the read began is in it, which is all a read is promised. A write
 * acknowledged later raises min_seq above the entry's seq and the entry is
 * no longer used (and is replaced by the next answer to the same read).
 * So the cache needs no invalidation messages and cannot serve what a
 * replica would not.
 *
 * Bounded: at most max_entries answers and max_bytes of keys and bodies in
 * all (least recently used first out); an answer larger than an eighth of
 * max_bytes is not kept. Thread-safe: one mutex, held only to look up and
 * copy, never across I/O.
 */
#ifndef RS_READCACHE_H
#define RS_READCACHE_H

#include <stddef.h>
#include <stdint.h>

struct readcache;

/* NULL (no cache: every call below is then a miss or a no-op) when
 * max_entries or max_bytes is 0. */
struct readcache *readcache_new(size_t max_entries, size_t max_bytes);
void readcache_free(struct readcache *c);

/* The answer cached for the operation text key computed at a seq >=
 * min_seq: 1 with *body (malloc'd, NUL-terminated, the caller's), *len and
 * *status; 0 if there is none. */
int readcache_get(struct readcache *c, const char *key, size_t klen, int64_t min_seq, char **body, size_t *len,
                  int *status);

/* Keeps body as the answer to key computed at seq, unless a newer one (a
 * higher seq) is already kept. */
void readcache_put(struct readcache *c, const char *key, size_t klen, int64_t seq, int status, const char *body,
                   size_t len);

struct readcache_stats {
    uint64_t hits, misses;
    size_t entries, bytes;
};
void readcache_stats(struct readcache *c, struct readcache_stats *out);

#endif
