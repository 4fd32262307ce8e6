/*
 * rideshare-users — the users microservice (docs/api.md, "Users"): add, remove
 * and list users, clear the data, and the _count request counter. It keeps
 * no data: every read and write is a call to the orchestrator's DB API
 * (ORCH_URL), which answers within its own timeouts; ours (ORCH_TIMEOUT_MS)
 * is a little longer so that its 503 arrives rather than our give-up.
 *
 * Start-up: configuration from the environment (--help lists it), then
 * services/rest/serve.c serves the routes. SIGTERM/SIGINT: stop listening, let
 * requests in flight finish for at most SHUTDOWN_MS, exit.
 */
#include <stdio.h>

#include "config.h"
#include "dbclient.h"
#include "log.h"
#include "serve.h"
#include "service.h"
#include "users_api.h"

static const struct config_var vars[] = {
    { "USERS_HOST", "127.0.0.1", "address to listen on" },
    { "USERS_PORT", "8081", "port to listen on (0: any free port, logged at start)" },
    { "ORCH_URL", "http://127.0.0.1:8083", "the orchestrator (DB API) base URL" },
    { "ADMIN_TOKEN", "", "the orchestrator's admin token, sent with every DB API call and required of "
                          "GET /metrics (empty: none)" },
    { "ADMIN_TOKEN_FILE", "", "a file whose first line is the admin token (instead of ADMIN_TOKEN)" },
    { "ORCH_TIMEOUT_MS", "12000", "longest wait for one DB API call (then 503)" },
    { "MAX_BODY", "1048576", "largest request body in bytes (413 beyond)" },
    { "SHUTDOWN_MS", "800", "on SIGTERM, how long requests in flight may still run" },
    { "LOG_LEVEL", "info", "debug, info, warn or error" },
    { 0 },
};

static int routes(struct http_server *srv, void *db) { return users_api_register(srv, db); }

int main(int argc, char **argv)
{
    service_start(argc, argv, "rideshare-users",
                  "The Rideshare users service: users API and request counter, data in the DB service.",
                  vars, "users");

    static struct dbclient db;
    if (dbc_init(&db, config_str(vars, "ORCH_URL"), config_long(vars, "ORCH_TIMEOUT_MS", 100, 600000))) {
        log_error("invalid setting name=ORCH_URL value=%s", config_str(vars, "ORCH_URL"));
        return 2;
    }
    char token[256];
    config_secret(vars, "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", token, sizeof token);
    if (dbc_set_token(&db, token)) {
        log_error("invalid setting name=ADMIN_TOKEN (a control character)");
        return 2;
    }
    char details[700];
    snprintf(details, sizeof details, "orch=%s", db.base);
    struct service_http svc = {
        .name = "users", .vars = vars, .host_var = "USERS_HOST", .port_var = "USERS_PORT",
        .routes = routes, .ctx = &db, .details = details, .metrics_token = token,
    };
    return service_serve(&svc);
}
