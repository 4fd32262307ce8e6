/*
 * configapi.h — GET /api/v1/config: where this orchestrator finds ZooKeeper
 * and RabbitMQ (docs/api.md, "Admin API"), so that a client given only the
 * orchestrator's URL can find the rest — the console does (docs/console.md).
 *
 *   200 {"zk_hosts": "127.0.0.1:2181", "zk_root": "/rideshare",
 *        "amqp": {"host": "127.0.0.1", "port": 5672, "vhost": "/"},
 *        "amqp_nodes": [{"host": "127.0.0.1", "port": 5672}]}
 *
 * With a RABBITMQ_URL that names several nodes (a cluster), "amqp" is the
 * first and "amqp_nodes" every one, in the list's order.
 *
 * No secrets: the broker's user and password stay out; a client logs in
 * with its own. The addresses are the orchestrator's own settings
 * (ZK_HOSTS, ZK_ROOT, RABBITMQ_URL), as it reaches them: a client on
 * another network may have to be told otherwise.
 */
#ifndef RS_CONFIGAPI_H
#define RS_CONFIGAPI_H

struct http_server;

/* Registers the route with the orchestrator's settings (copied). A
 * RABBITMQ_URL that does not parse makes the route answer 500. */
void configapi_register(struct http_server *srv, const char *zk_hosts, const char *zk_root,
                        const char *amqp_url);

#endif
