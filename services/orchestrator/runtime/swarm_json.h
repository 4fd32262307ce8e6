/*
 * swarm_json.h — the pure parts of the swarm runtime (swarm_json.c): the
 * service spec it sends to the Engine API's POST /services/create, the
 * filters it lists with, and the service, task, node and info answers it
 * reads back. No I/O, so that unit tests can check them without an engine.
 */
#ifndef RS_SWARM_JSON_H
#define RS_SWARM_JSON_H

#include "runtime.h"

#include <stddef.h>

#define SWARM_API_MIN_MINOR 41 /* CapabilityDrop and Resources.Limits.Pids: API 1.41 */
#define SWARM_SID_MAX 72       /* a service, task, node or container id */
#define SWARM_STOP_GRACE_S 5   /* SIGTERM, then SIGKILL after this long */
#define SWARM_MAX_NODES 256    /* nodes looked at when placing a worker */
#define SWARM_DATA_DIR "/srv/rideshare" /* a worker's database tmpfs, its DATA_DIR (swarm_json.c) */

/* The body of POST /services/create for a worker (malloc'd, or NULL): one
 * replica, restart policy none, the labels of a docker worker on the service
 * and its container, the confinement Swarm can express, placement by the
 * settings' constraints (comma-separated) plus node.id==node when node is
 * not NULL, spread over node.id. */
char *swarm_service_body(const struct swarm_settings *s, const struct runtime_spec *spec, const char *node);

/* The filters query value (not URL-encoded) selecting the worker services of
 * stack; and the one selecting the tasks of n services. malloc'd or NULL. */
char *swarm_service_filters(const char *stack);
char *swarm_task_filters(const char *const *sids, int n);

/* One worker service of GET /services. */
struct swarm_service {
    char sid[SWARM_SID_MAX];
    char id[RUNTIME_ID_MAX]; /* its rideshare.worker-id label */
};
/* Fills up to max entries (services without a valid worker-id are skipped);
 * the count, or -1 when the JSON is not a list. */
int swarm_parse_services(const char *json, struct swarm_service *out, int max);

/* What one service's task says of its worker. */
enum swarm_state {
    SWARM_NONE,     /* no task of it in the list */
    SWARM_STARTING, /* to run, not running yet */
    SWARM_RUNNING,
    SWARM_DONE,     /* finished, failed, refused, or being shut down */
};

/* One task of GET /tasks. */
struct swarm_task {
    char sid[SWARM_SID_MAX], node[SWARM_SID_MAX], cid[SWARM_SID_MAX];
    enum swarm_state state; /* of this task alone (SWARM_DONE when it is not meant to run) */
    int pid;                /* Status.ContainerStatus.PID, 0 if none */
    int exit_code;          /* Status.ContainerStatus.ExitCode, -1 if none */
    double index;           /* Version.Index: which task is newer */
    char err[160];          /* Status.Err, for logs */
};
/* Fills up to max entries; the count, or -1 when the JSON is not a list. */
int swarm_parse_tasks(const char *json, struct swarm_task *out, int max);

/* The task that speaks for service sid among t[0..n): the one meant to run,
 * else the newest. Its index in t, or -1 (SWARM_NONE). */
int swarm_task_of(const struct swarm_task *t, int n, const char *sid);

/* GET /info: this engine's swarm node id, and whether it is an active
 * manager. 0, or -1 when the answer does not parse. */
int swarm_parse_info(const char *json, char *node, size_t cap, int *manager);

/* The ids of the nodes of GET /nodes that are ready and active, up to max;
 * the count, or -1. */
int swarm_parse_nodes(const char *json, char (*ids)[SWARM_SID_MAX], int max);

/* The "ID" of a POST /services/create answer into sid. 0 or -1. */
int swarm_parse_created(const char *json, char *sid, size_t cap);

/* The API version is new enough ("1.41" or later). */
int swarm_version_ok(const char *version);

#endif
