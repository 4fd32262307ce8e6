/* clock.h — monotonic time for timeouts and deadlines; wall time only for
 * what one process tells another (a request's deadline, a log entry's time),
 * since no other clock is shared. */
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t clock_ms(void);
/* Microseconds on CLOCK_MONOTONIC: for measuring, not for deadlines. */
int64_t clock_us(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait
 * on a condition variable created with clock_cond_init. */
struct timespec clock_deadline(int64_t ms);

#include <pthread.h>
/* A condition variable that measures timeouts on CLOCK_MONOTONIC. */
int clock_cond_init(pthread_cond_t *cond);

#endif
