/*
 * service.h — start-up and shutdown shared by the services: users and rides
 * (service_start, service_serve: their main.c is then only settings and
 * routes) and the orchestrator (service_start, the stop flag).
 *
 * service_signals_init blocks SIGTERM and SIGINT in the calling thread (and
 * so in every thread started after it) and hands them to one thread that
 * waits for them with sigwait: no library call is ever interrupted, and
 * shutdown runs in ordinary code. It also ignores SIGPIPE (a client that
 * hangs up must not kill the process). service_wait_stop then sleeps in
 * 50 ms steps until a signal came, so SIGTERM ends a service well within a
 * second.
 * A request in flight may be waiting on a downstream call with a timeout of
 * several seconds; service_finish gives the shutdown work a deadline and
 * ends the process regardless once it has passed.
 */
#ifndef RS_SERVICE_H
#define RS_SERVICE_H

#include <signal.h>

struct config_var;
struct http_server;

/* Call first thing in main, before any thread is started. */
void service_signals_init(void);

/* The start every service makes, before any thread: the command line and
 * --help (config_args), log_init(log_name), service_signals_init and
 * libcurl's global init. */
void service_start(int argc, char **argv, const char *prog, const char *summary,
                   const struct config_var *vars, const char *log_name);

/* Returns once SIGTERM or SIGINT has arrived. */
void service_wait_stop(void);

/* Becomes non-zero when SIGTERM or SIGINT has arrived: for waits of the
 * caller's own that must give up then (they poll it). */
volatile sig_atomic_t *service_stop_flag(void);

/* Runs fn(arg) (e.g. stopping the HTTP server, which waits for requests in
 * flight) on a thread of its own and waits at most deadline_ms for it. If
 * it is not done by then, logs that and ends the process at once with
 * status 0 (_exit: threads still in a call are cut off). Returns otherwise. */
void service_finish(void (*fn)(void *), void *arg, int deadline_ms);

/* An HTTP service of the users/rides kind, once its own settings are read. */
struct service_http {
    const char *name;                  /* "users": its log lines */
    const struct config_var *vars;     /* with MAX_BODY, SHUTDOWN_MS, host_var, port_var */
    const char *host_var, *port_var;   /* "USERS_HOST", "USERS_PORT" */
    int (*routes)(struct http_server *srv, void *ctx); /* registers its routes: 0 or -1 */
    void *ctx;
    const char *details;               /* for the "listening" line, e.g. "orch=URL" */
};

/* The rest of such a service's life: an HTTP server (MAX_BODY) with the
 * _count counter (apicount.h) and the service's routes listens on host:port,
 * logs "<name> listening url=http://HOST:PORT/ <details> pid=N", and on
 * SIGTERM/SIGINT stops, letting requests in flight run for at most
 * SHUTDOWN_MS (service_finish). Returns main's exit status: 0, or 1 when the
 * routes or the listening socket cannot be set up. */
int service_serve(const struct service_http *svc);

#endif
