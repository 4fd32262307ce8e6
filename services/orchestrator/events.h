/*
 * events.h — the orchestrator's recent events, for GET /api/v1/status.
 *
 * A ring of the last EVENTS_MAX notable things (crashes, exits, elections,
 * spawns, retirements, scaling decisions, switchovers), each with its wall
 * clock time. Process-wide, thread-safe; adding never blocks on anything but
 * a short mutex. Nothing here is state the service needs: it is only what an
 * operator wants to see (a restarted orchestrator starts with an empty ring).
 */
#ifndef RS_EVENTS_H
#define RS_EVENTS_H

#include <stdint.h>

#define EVENTS_MAX 50
#define EVENT_TEXT 160

struct event {
    int64_t at_ms;           /* wall clock, ms since the epoch */
    char kind[24];           /* "crash", "exit", "election", "spawn", "retire", "scale", ... */
    char text[EVENT_TEXT];
};

/* Records an event; text is printf-formatted. */
void events_add(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies the recorded events, oldest first, into out (at most max); the count. */
int events_list(struct event *out, int max);

#endif
