/*
 * discover.h — where ZooKeeper and RabbitMQ are, learned from the
 * orchestrator (GET /api/v1/config, docs/api.md), so that the console needs
 * only ORCH_URL.
 *
 * main.c asks only for what the environment does not set: ZK_HOSTS, ZK_ROOT
 * and RABBITMQ_URL each win over what would be learned. The orchestrator
 * gives out no credentials; a learned broker address gets the console's own
 * (discover_amqp_url).
 */
#ifndef RS_CONSOLE_DISCOVER_H
#define RS_CONSOLE_DISCOVER_H

#include <stddef.h>

struct discovered {
    char zk_hosts[512];
    char zk_root[256];
    char amqp_host[256];
    int amqp_port;
    char amqp_vhost[128];
};

/* ORCH_URL may list orchestrators, separated by commas (an active one and
 * its standbys): the one whose GET /api/v1/role says "active" goes into out
 * (n bytes), trailing slashes dropped; the first of the list when none says
 * so (it may still be starting). The console then stays with it (after a
 * takeover, start it again). 0, or -1 when the list is empty or an entry too
 * long. */
int discover_active(const char *list, const char *const *headers, int timeout_ms, char *out, size_t n);

/* Parses the route's answer into d: 0, or -1 with why (a field missing, of
 * the wrong type, too long, or with control characters). */
int discover_parse(const char *body, size_t len, struct discovered *d, char *why, size_t why_n);

/* GET orch_url/api/v1/config within timeout_ms: 0, or -1 with why. */
int discover_fetch(const char *orch_url, const char *const *headers, int timeout_ms, struct discovered *d,
                   char *why, size_t why_n);

/* amqp://user:password@host:port/vhost: user, password and vhost
 * percent-encoded, an IPv6 host in brackets, and the default vhost "/" as
 * an empty path ("amqp://host:port/"), which mq.c takes as "/". */
void discover_amqp_url(const struct discovered *d, const char *user, const char *password, char *out, size_t n);

#endif
