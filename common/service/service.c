/*
 * service.c — see service.h. The signal thread sets two flags: an atomic
 * one that service_wait_stop reads, and a volatile sig_atomic_t one handed
 * out by service_stop_flag, the type that the orchestrator's waits (start-up,
 * barrier) take.
 */
#include "service.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http_client.h"
#include "log.h"
#include "mq.h"

static atomic_int stopping;
static volatile sig_atomic_t stop_flag;
static sigset_t stop_signals;

static void *signal_main(void *arg)
{
    (void)arg;
    int sig;
    if (sigwait(&stop_signals, &sig) == 0) {
        log_info("stopping signal=%d", sig);
        stop_flag = 1;
        atomic_store(&stopping, 1);
    }
    return NULL;
}

void service_signals_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* An AMQP call still waiting on a broker 300 ms after SIGTERM is cut. */
    mq_set_process_stop(&stop_flag);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_main, NULL) == 0) pthread_detach(t);
}

void service_start(int argc, char **argv, const char *prog, const char *summary,
                   const struct config_var *vars, const char *log_name)
{
    config_args(argc, argv, prog, summary, vars);
    log_init(log_name);
    service_signals_init();
    http_client_global_init();
}

volatile sig_atomic_t *service_stop_flag(void) { return &stop_flag; }

void service_wait_stop(void)
{
    while (!atomic_load(&stopping)) {
        struct timespec tick = { 0, 50 * 1000000L };
        nanosleep(&tick, NULL);
    }
}

struct finish_job {
    void (*fn)(void *);
    void *arg;
};

static void *finish_main(void *p)
{
    struct finish_job *job = p;
    job->fn(job->arg);
    return NULL;
}

void service_finish(void (*fn)(void *), void *arg, int deadline_ms)
{
    struct finish_job job = { fn, arg };
    pthread_t t;
    if (pthread_create(&t, NULL, finish_main, &job) != 0) {
        fn(arg);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);   /* pthread_timedjoin_np measures on this clock */
    until.tv_sec += deadline_ms / 1000;
    until.tv_nsec += (long)(deadline_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(t, NULL, &until) == 0) return;
    log_warn("requests still in flight after the shutdown deadline; exiting deadline_ms=%d", deadline_ms);
    _exit(0);
}
