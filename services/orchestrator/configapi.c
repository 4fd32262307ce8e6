/*
 * configapi.c — see configapi.h.
 *
 * The settings are fixed for the life of the process, so the route keeps
 * one copy of them in static storage (there is one orchestrator a process)
 * and builds the small answer on each request. The broker's address comes
 * from RABBITMQ_URL through rabbitmq-c's own parser, the one mq.c connects
 * with, so the host, port and vhost given out are exactly those used; the
 * parser's empty vhost of "amqp://host:port/" is the default "/", as there.
 */
#include "configapi.h"

#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "json.h"
#include "log.h"

static struct {
    char zk_hosts[512], zk_root[256];
    int amqp_ok;
    char host[256], vhost[256];
    int port;
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
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

void configapi_register(struct http_server *srv, const char *zk_hosts, const char *zk_root,
                        const char *amqp_url)
{
    snprintf(conf.zk_hosts, sizeof conf.zk_hosts, "%s", zk_hosts);
    snprintf(conf.zk_root, sizeof conf.zk_root, "%s", zk_root);
    char *copy = strdup(amqp_url);
    struct amqp_connection_info ci;
    conf.amqp_ok = copy && amqp_parse_url(copy, &ci) == AMQP_STATUS_OK;
    if (conf.amqp_ok) {
        snprintf(conf.host, sizeof conf.host, "%s", ci.host);
        snprintf(conf.vhost, sizeof conf.vhost, "%s", ci.vhost && *ci.vhost ? ci.vhost : "/");
        conf.port = ci.port;
    } else {
        log_warn("RABBITMQ_URL does not parse; GET /api/v1/config will answer 500");
    }
    free(copy);
    http_server_route(srv, "GET", "/api/v1/config", on_config, NULL);
}
