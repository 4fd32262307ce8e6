/*
 * rideshare-rides — the rides microservice (docs/api.md, "Rides"): create, search,
 * show, join and delete rides, count them, clear them, and the _count
 * request counter. It keeps no data: rides live behind the orchestrator's
 * DB API (ORCH_URL); users are checked through the gateway (GATEWAY_URL)
 * with an Origin header (ORIGIN, by default this host's name). The area
 * list (AREAS_CSV) is read once at start; the service does not start
 * without a valid one.
 *
 * SIGTERM/SIGINT: stop listening, let requests in flight finish for at most
 * SHUTDOWN_MS, exit.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rides_api.h"
#include "serve.h"
#include "service.h"

/* Not const: ORIGIN's default, the host name, is filled in at start so that
 * --help shows it. */
static struct config_var vars[] = {
    { "RIDES_HOST", "127.0.0.1", "address to listen on" },
    { "RIDES_PORT", "8082", "port to listen on (0: any free port, logged at start)" },
    { "ORCH_URL", "http://127.0.0.1:8083", "the orchestrator (DB API) base URL" },
    { "ADMIN_TOKEN", "", "the orchestrator's admin token, sent with every DB API call and required of "
                          "GET /metrics (empty: none)" },
    { "ADMIN_TOKEN_FILE", "", "a file whose first line is the admin token (instead of ADMIN_TOKEN)" },
    { "ORCH_TIMEOUT_MS", "12000", "longest wait for one DB API call (then 503)" },
    { "GATEWAY_URL", "http://127.0.0.1:8080", "the gateway; users are checked with GET {GATEWAY_URL}/api/v1/users" },
    { "USERS_TIMEOUT_MS", "14000", "longest wait for that users check (then 503)" },
    { "ORIGIN", NULL, "value of the Origin header on the users check (default: this host's name)" },
    { "AREAS_CSV", "services/rides/AreaNameEnum.csv", "the area list (number,name per line)" },
    { "MAX_BODY", "1048576", "largest request body in bytes (413 beyond)" },
    { "SHUTDOWN_MS", "800", "on SIGTERM, how long requests in flight may still run" },
    { "LOG_LEVEL", "info", "debug, info, warn or error" },
    { 0 },
};

static int routes(struct http_server *srv, void *ctx) { return rides_api_register(srv, ctx); }

int main(int argc, char **argv)
{
    static char host[HOST_NAME_MAX + 1];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (struct config_var *v = vars; v->name; v++)
        if (strcmp(v->name, "ORIGIN") == 0) v->def = host;
    service_start(argc, argv, "rideshare-rides",
                  "The Rideshare rides service: rides API and request counter, data in the DB service.",
                  vars, "rides");

    static struct rides_ctx ctx;
    char err[300];
    const char *csv = config_str(vars, "AREAS_CSV");
    if (rides_areas_load(&ctx.areas, csv, err, sizeof err) != 0) {
        log_error("cannot load the area list error=%s", err);
        return 2;
    }
    log_info("area list loaded path=%s areas=%d min=%d max=%d", csv, ctx.areas.count, ctx.areas.min,
             ctx.areas.max);

    const char *origin = config_str(vars, "ORIGIN");
    if (dbc_init(&ctx.db, config_str(vars, "ORCH_URL"), config_long(vars, "ORCH_TIMEOUT_MS", 100, 600000))) {
        log_error("invalid setting name=ORCH_URL value=%s", config_str(vars, "ORCH_URL"));
        return 2;
    }
    char token[256];
    config_secret(vars, "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", token, sizeof token);
    if (dbc_set_token(&ctx.db, token)) {
        log_error("invalid setting name=ADMIN_TOKEN (a control character)");
        return 2;
    }
    if (rides_users_init(&ctx.users, config_str(vars, "GATEWAY_URL"), origin,
                         config_long(vars, "USERS_TIMEOUT_MS", 100, 600000))) {
        log_error("invalid setting: GATEWAY_URL or ORIGIN gateway=%s origin=%s",
                  config_str(vars, "GATEWAY_URL"), origin);
        return 2;
    }
    char details[2000];
    snprintf(details, sizeof details, "orch=%s users=%s origin=%s", ctx.db.base, ctx.users.url, origin);
    struct service_http svc = {
        .name = "rides", .vars = vars, .host_var = "RIDES_HOST", .port_var = "RIDES_PORT",
        .routes = routes, .ctx = &ctx, .details = details, .metrics_token = token,
    };
    return service_serve(&svc);
}
