/*
 * actions.h — what the console can do to the service, always through the
 * orchestrator's admin API, on a thread of its own.
 *
 * The screen submits an action and goes on drawing; the action thread makes
 * the call (promote may take seconds: the orchestrator waits for the
 * switchover) and reports the outcome as a console event and in the footer,
 * then asks every collector to refresh so its effect shows at once. One
 * action at a time: a second one while the first runs is refused.
 */
#ifndef RS_CONSOLE_ACTIONS_H
#define RS_CONSOLE_ACTIONS_H

#include "model.h"

enum action_kind { ACT_NONE, ACT_CRASH_MASTER, ACT_CRASH_SLAVE, ACT_PROMOTE, ACT_SCALE, ACT_BACKUP };

struct action {
    enum action_kind kind;
    char id[MODEL_ID_MAX];            /* promote: the slave */
    int slaves;              /* scale: the new slave count */
};

struct collector;
struct actions;

/* headers (the admin token; may be NULL) go with every call and must
 * outlive a. */
struct actions *actions_start(struct collector *c, const char *orch_url, const char *const *headers,
                              int timeout_ms);
void actions_stop(struct actions *a);

/* Queues a; 0, or -1 when another action is still running. */
int actions_submit(struct actions *a, const struct action *act);

/* The method-less request line of an action: path and JSON body (body ""
 * for none). For the tests and the log. */
void actions_request(const struct action *act, char *path, size_t pn, char *body, size_t bn);

/* One line saying what an action will do, for its y/n question. */
void actions_describe(const struct action *act, char *out, size_t n);

#endif
