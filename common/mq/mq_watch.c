/*
 * mq_watch.c — the deadline on every call of the AMQP wrapper that can wait
 * on the socket (see mq.h, "Deadlines").
 *
 * Why a watchdog: rabbitmq-c 0.11 makes its socket non-blocking and waits
 * in poll() for it to become writable with an infinite deadline in every
 * send (basic.publish, basic.ack, the request half of every synchronous
 * method); only the wait for a synchronous reply has a timeout. A broker
 * under a memory or disk alarm stops reading from publishing connections,
 * so a publish can wait for ever once the socket buffers are full, and
 * SO_SNDTIMEO does not apply to a non-blocking socket. The library's socket
 * layer is not ours to replace, so the wait is ended from outside.
 *
 * How: around every call that can wait, the owner stores a deadline in the
 * connection (mq_busy / mq_idle: one atomic store each, no lock, so the
 * fast path costs nothing). One thread per process, started with the first
 * connection, looks at every registered connection every TICK_MS and shuts
 * down (shutdown(2), SHUT_RDWR) the socket of a connection whose call has
 * passed its deadline: the poll() wakes up, the send fails, the wrapper
 * marks the connection failed, and its owner reconnects as after any
 * failure. The same happens to a connection still in a call STOP_GRACE_MS
 * after its owner's stop flag was set (mq_set_stop, mq_connect_retry) or
 * the process's (mq_set_process_stop: the services' SIGTERM flag), so a
 * shutdown never waits on a broker that does not read.
 *
 * The file-descriptor race: the watchdog must never shut down a descriptor
 * number that has meanwhile been closed and reused for another file. It
 * therefore shuts down a dup of the socket that it owns itself (shutdown
 * acts on the socket, whichever descriptor names it), and that dup is
 * closed only in mq_watch_remove, under the watchdog's mutex, which the
 * watchdog holds while it shuts sockets down. A connection that was cut is
 * closed with SO_LINGER 0 (a reset), so what still sat in our send buffer
 * is dropped rather than delivered to the broker after its alarm clears.
 */
#include "mq_internal.h"

#include "clock.h"
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 50
#define STOP_GRACE_MS 300

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mq *watched;          /* doubly linked through watch_prev/next */
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static volatile int *process_stop;  /* mq_set_process_stop */
static int64_t process_stop_seen;

void mq_busy(struct mq *m, int64_t ms)
{
    m->busy_for = ms;
    atomic_store_explicit(&m->busy_until, clock_ms() + (ms > 0 ? ms : 1), memory_order_relaxed);
}

void mq_idle(struct mq *m) { atomic_store_explicit(&m->busy_until, 0, memory_order_relaxed); }

void mq_set_stop(struct mq *m, volatile int *stop)
{
    if (!m) return;
    pthread_mutex_lock(&watch_lock); /* the watchdog reads it */
    m->stop = stop;
    m->stop_seen = 0;
    pthread_mutex_unlock(&watch_lock);
}

void mq_set_process_stop(volatile int *stop)
{
    pthread_mutex_lock(&watch_lock);
    process_stop = stop;
    process_stop_seen = 0;
    pthread_mutex_unlock(&watch_lock);
}

/* When the flag was first seen set (now if just now), 0 while it is not. */
static int64_t seen_since(volatile int *stop, int64_t *seen, int64_t now)
{
    if (!stop || !*stop) return *seen = 0;
    if (!*seen) *seen = now;
    return *seen;
}

/* Whether m must be cut now, and why (MQ_CUT_*). Under watch_lock. */
static int overdue(struct mq *m, int64_t now, int64_t process_since)
{
    int64_t since = seen_since(m->stop, &m->stop_seen, now);
    if (!since || (process_since && process_since < since)) since = process_since;
    int64_t until = atomic_load_explicit(&m->busy_until, memory_order_relaxed);
    if (!until || atomic_load(&m->cut)) return MQ_CUT_NONE;
    if (now > until) return MQ_CUT_DEADLINE;
    if (since && now - since >= STOP_GRACE_MS) return MQ_CUT_STOP;
    return MQ_CUT_NONE;
}

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec tick = { 0, TICK_MS * 1000000L };
        nanosleep(&tick, NULL);
        int64_t now = clock_ms();
        pthread_mutex_lock(&watch_lock);
        int64_t process_since = seen_since(process_stop, &process_stop_seen, now);
        for (struct mq *m = watched; m; m = m->watch_next) {
            int why = overdue(m, now, process_since);
            if (why == MQ_CUT_NONE) continue;
            /* The flag first: the owner's failing call reads it for its log line. */
            atomic_store(&m->cut, why);
            shutdown(m->watch_fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&watch_lock);
    }
    return NULL;
}

static void watch_start(void)
{
    /* No signal is ever delivered to this thread: services take theirs in
     * a thread of their own, or in whichever thread they left unblocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_main, NULL) == 0) pthread_detach(t);
    else log_error("amqp deadline watchdog could not start; sends have no deadline");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int mq_watch_add(struct mq *m, int fd)
{
    pthread_once(&watch_once, watch_start);
    /* Close-on-exec like the library's own: the orchestrator forks workers. */
    int own = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (own < 0) {
        m->watch_fd = -1;
        return -1;
    }
    pthread_mutex_lock(&watch_lock);
    m->watch_fd = own;
    m->stop_seen = 0;
    m->watch_prev = NULL;
    m->watch_next = watched;
    if (watched) watched->watch_prev = m;
    watched = m;
    pthread_mutex_unlock(&watch_lock);
    return 0;
}

void mq_watch_remove(struct mq *m)
{
    if (m->watch_fd < 0) return;
    pthread_mutex_lock(&watch_lock);
    if (m->watch_prev) m->watch_prev->watch_next = m->watch_next;
    else watched = m->watch_next;
    if (m->watch_next) m->watch_next->watch_prev = m->watch_prev;
    if (atomic_load(&m->cut)) {
        struct linger reset = { 1, 0 };
        setsockopt(m->watch_fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    close(m->watch_fd);
    m->watch_fd = -1;
    pthread_mutex_unlock(&watch_lock);
}
