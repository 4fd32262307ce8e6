/*
 * zk_resolve.h — the ZooKeeper servers' names, looked up off the client
 * library's threads and never for longer than the caller allows.
 *
 * The library looks its host names up on its own I/O thread, at every
 * reconnect attempt. A name whose lookup hangs (Docker's DNS forwards the
 * name of a server whose node is gone to servers it cannot reach) then
 * stops that thread for the resolver's whole timeout, attempt after
 * attempt, and sessions expire while a majority of the ensemble is up. So
 * zk.c gives the library addresses only, and looks the names up here:
 * each name in a thread of its own, waited for up to a deadline. A name
 * whose lookup fails or is not done in time keeps the addresses it had
 * (the library then finds its server down, as with any dead address); a
 * name that resolves anew replaces them (a server started again elsewhere).
 */
#ifndef RS_ZK_RESOLVE_H
#define RS_ZK_RESOLVE_H

#include <stdatomic.h>
#include <stddef.h>

/* Looks name up for port: writes "a.b.c.d:port[,...]" into out (n bytes).
 * 0, or -1 when it does not resolve. May block; runs on a thread of its own. */
typedef int (*zk_lookup_fn)(const char *name, const char *port, char *out, size_t n);

struct zk_names;

/* Parses "host:port[,host:port...]" (no chroot suffix). lookup NULL: the
 * system's resolver (IPv4). NULL if malformed or out of memory. */
struct zk_names *zk_names_new(const char *hosts, zk_lookup_fn lookup);
/* Lookups still running finish on their own and free what they hold. */
void zk_names_free(struct zk_names *n);

/* Looks every name up again, all at once, and returns once all are done, or
 * once min_ms have passed and some address is known, or at max_ms, or as
 * soon as *stop is set (checked every 50 ms). 1 if the address list changed,
 * 0 if not. */
int zk_names_refresh(struct zk_names *n, int min_ms, int max_ms, const atomic_int *stop);

/* Every known address, "ip:port,ip:port..." ("" when none is known yet):
 * valid until the next refresh or free. */
const char *zk_names_list(const struct zk_names *n);

#endif
