/*
 * configapi.c — see configapi.h.
 *
 * The settings are fixed for the life of the process, so the route keeps
 * one copy of them in static storage (there is one orchestrator a process)
 * and builds the small answer on each request. The broker's address comes
 * from RABBITMQ_URL through rabbitmq-c's own parser, the one mq.c connects
 * with, so the host, port and vhost given out are exactly those used; the
 * parser's empty vhost of "amqp://host:port/" is the default "/", as there.
 *
 * RABBITMQ_URL may name the nodes of a cluster (common/mq/mq_nodes.h):
 * "amqp" is then the first node, as before (a client that knows only that
 * field still finds a node), and "amqp_nodes" lists every node's host and
 * port; the vhost is the first URL's (the nodes of one cluster share their
 * vhosts). Any URL of the list that does not parse makes the route answer
 * 500, as a single bad one does.
 */
#include "configapi.h"

#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "json.h"
#include "log.h"
#include "mq_nodes.h"

static struct {
    char zk_hosts[512], zk_root[256];
    int amqp_ok;
    char host[256], vhost[256];
    int port;
    int nodes;                       /* how many URLs RABBITMQ_URL names */
    char node_host[MQ_MAX_NODES][256];
    int node_port[MQ_MAX_NODES];
} conf;

static void on_config(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    if (!conf.amqp_ok) {
        http_reply_error(res, 500, "RABBITMQ_URL does not parse");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "zk_hosts", conf.zk_hosts);
    cJSON_AddStringToObject(o, "zk_root", conf.zk_root);
    cJSON *a = cJSON_AddObjectToObject(o, "amqp");
    cJSON_AddStringToObject(a, "host", conf.host);
    json_add_int(a, "port", conf.port);
    cJSON_AddStringToObject(a, "vhost", conf.vhost);
    cJSON *nodes = cJSON_AddArrayToObject(o, "amqp_nodes");
    for (int i = 0; i < conf.nodes; i++) {
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "host", conf.node_host[i]);
        json_add_int(n, "port", conf.node_port[i]);
        cJSON_AddItemToArray(nodes, n);
    }
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

void configapi_register(struct http_server *srv, const char *zk_hosts, const char *zk_root,
                        const char *amqp_url)
{
    snprintf(conf.zk_hosts, sizeof conf.zk_hosts, "%s", zk_hosts);
    snprintf(conf.zk_root, sizeof conf.zk_root, "%s", zk_root);
    conf.nodes = mq_node_count(amqp_url);
    conf.amqp_ok = conf.nodes > 0;
    for (int i = 0; i < conf.nodes && conf.amqp_ok; i++) {
        char url[1024];
        struct amqp_connection_info ci;
        conf.amqp_ok = mq_node_url(amqp_url, i, url, sizeof url) == 0 && amqp_parse_url(url, &ci) == AMQP_STATUS_OK;
        if (!conf.amqp_ok) break;
        snprintf(conf.node_host[i], sizeof conf.node_host[i], "%s", ci.host);
        conf.node_port[i] = ci.port;
        if (i == 0) {
            snprintf(conf.host, sizeof conf.host, "%s", ci.host);
            snprintf(conf.vhost, sizeof conf.vhost, "%s", ci.vhost && *ci.vhost ? ci.vhost : "/");
            conf.port = ci.port;
        }
    }
    if (!conf.amqp_ok) log_warn("RABBITMQ_URL does not parse; GET /api/v1/config will answer 500");
    http_server_route(srv, "GET", "/api/v1/config", on_config, NULL);
}
