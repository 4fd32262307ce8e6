/*
 * serve.c — see serve.h: the main() that users and rides share; each passes
 * its settings table and its route registration.
 */
#include "serve.h"

#include <unistd.h>

#include "apicount.h"
#include "config.h"
#include "http_server.h"
#include "log.h"
#include "service.h"

static void stop_server(void *srv) { http_server_free(srv); }

int service_serve(const struct service_http *svc)
{
    long shutdown_ms = config_long(svc->vars, "SHUTDOWN_MS", 0, 60000);
    struct http_server *srv = http_server_new((size_t)config_long(svc->vars, "MAX_BODY", 1024, 64L << 20));
    struct api_counter *counter = srv ? api_count_register(srv) : NULL;
    if (!counter || svc->routes(srv, svc->ctx) != 0 || http_server_serve_metrics(srv, svc->metrics_token) != 0) {
        log_error("cannot set up the routes");
        return 1;
    }
    const char *host = config_str(svc->vars, svc->host_var);
    int port = http_server_start(srv, host, (int)config_long(svc->vars, svc->port_var, 0, 65535));
    if (port < 0) {
        http_server_free(srv);
        return 1;
    }
    log_info("%s listening url=http://%s:%d/ %s pid=%d", svc->name, host, port, svc->details,
             (int)getpid());
    service_wait_stop();
    service_finish(stop_server, srv, (int)shutdown_ms);
    api_count_free(counter);
    log_info("%s stopped", svc->name);
    return 0;
}
