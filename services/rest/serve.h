/*
 * serve.h — the life of an HTTP service of the users/rides kind once its
 * settings are read: their main.c is then only settings and routes. Built
 * on the lifecycle of common/service (signals, the stop flag, a shutdown
 * with a deadline) and the request counter of apicount.h.
 */
#ifndef RS_SERVE_H
#define RS_SERVE_H

struct config_var;
struct http_server;

/* An HTTP service of the users/rides kind, once its own settings are read. */
struct service_http {
    const char *name;                  /* "users": its log lines */
    const struct config_var *vars;     /* with MAX_BODY, SHUTDOWN_MS, host_var, port_var */
    const char *host_var, *port_var;   /* "USERS_HOST", "USERS_PORT" */
    int (*routes)(struct http_server *srv, void *ctx); /* registers its routes: 0 or -1 */
    void *ctx;
    const char *details;               /* for the "listening" line, e.g. "orch=URL" */
    const char *metrics_token;         /* GET /metrics needs it (the admin token); NULL or "": open */
};

/* The rest of such a service's life: an HTTP server (MAX_BODY) with the
 * _count counter (apicount.h), the service's routes and GET /metrics listens on host:port,
 * logs "<name> listening url=http://HOST:PORT/ <details> pid=N", and on
 * SIGTERM/SIGINT stops, letting requests in flight run for at most
 * SHUTDOWN_MS (service_finish). Returns main's exit status: 0, or 1 when the
 * routes or the listening socket cannot be set up. */
int service_serve(const struct service_http *svc);

#endif
