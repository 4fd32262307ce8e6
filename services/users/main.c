/*
 * rideshare-users — the users microservice (spec §3 and §6): add, remove
 * and list users, clear the data, and the _count request counter. It keeps
 * no data: every read and write is a call to the orchestrator's DB API
 * (ORCH_URL), which answers within its own timeouts; ours (ORCH_TIMEOUT_MS)
 * is a little longer so that its 503 arrives rather than our give-up.
 *
 * Start-up: configuration from the environment (--help lists it), routes,
 * listen. SIGTERM/SIGINT: stop listening, let requests in flight finish for
 * at most SHUTDOWN_MS, exit.
 */
#include <stdlib.h>
#include <unistd.h>

#include "apicount.h"
#include "config.h"
#include "dbclient.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "service.h"
#include "users_api.h"

static const struct config_var vars[] = {
    { "USERS_HOST", "127.0.0.1", "address to listen on" },
    { "USERS_PORT", "8081", "port to listen on (0: any free port, logged at start)" },
    { "ORCH_URL", "http://127.0.0.1:8083", "the orchestrator (DB API) base URL" },
    { "ORCH_TIMEOUT_MS", "12000", "longest wait for one DB API call (then 503)" },
    { "MAX_BODY", "1048576", "largest request body in bytes (413 beyond)" },
    { "SHUTDOWN_MS", "800", "on SIGTERM, how long requests in flight may still run" },
    { "LOG_LEVEL", "info", "debug, info, warn or error" },
    { 0 },
};

static void stop_server(void *srv) { http_server_free(srv); }

int main(int argc, char **argv)
{
    config_args(argc, argv, "rideshare-users",
                "The Rideshare users service: users API and request counter, data in the DB service.",
                vars);
    log_init("users");
    service_signals_init();
    http_client_global_init();

    static struct dbclient db;
    if (dbc_init(&db, config_str(vars, "ORCH_URL"), config_long(vars, "ORCH_TIMEOUT_MS", 100, 600000))) {
        log_error("invalid setting name=ORCH_URL value=%s", config_str(vars, "ORCH_URL"));
        return 2;
    }
    long shutdown_ms = config_long(vars, "SHUTDOWN_MS", 0, 60000);
    struct http_server *srv = http_server_new((size_t)config_long(vars, "MAX_BODY", 1024, 64L << 20));
    struct api_counter *counter = srv ? api_count_register(srv) : NULL;
    if (!counter || users_api_register(srv, &db) != 0) {
        log_error("cannot set up the routes");
        return 1;
    }
    int port = http_server_start(srv, config_str(vars, "USERS_HOST"),
                                 (int)config_long(vars, "USERS_PORT", 0, 65535));
    if (port < 0) {
        http_server_free(srv);
        return 1;
    }
    log_info("users listening url=http://%s:%d/ orch=%s pid=%d", config_str(vars, "USERS_HOST"), port,
             db.base, (int)getpid());
    service_wait_stop();
    service_finish(stop_server, srv, (int)shutdown_ms);
    api_count_free(counter);
    log_info("users stopped");
    return 0;
}
