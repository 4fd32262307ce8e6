/*
 * service.h — start-up and shutdown shared by the services: users, rides
 * and the orchestrator (service_start, the stop flag, service_finish).
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

#endif
