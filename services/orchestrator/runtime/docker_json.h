/*
 * docker_json.h — the pure parts of the docker runtime (docker_json.c): the
 * JSON it sends to the Docker Engine API and the JSON it reads back.
 * Separate so that unit tests can check them without an engine.
 */
#ifndef RS_DOCKER_JSON_H
#define RS_DOCKER_JSON_H

#include "runtime.h"

#include <stddef.h>

#define DOCKER_API_MAX "1.41" /* the newest API version this code was written against */
#define DOCKER_API_MIN "1.25" /* label filters, HostConfig.NetworkMode, kill?signal= */

/* The name of a worker's container: "<stack>-worker-<id>". */
void docker_container_name(const char *stack, const char *id, char *out, size_t cap);

/* The body of POST /containers/create for a worker (malloc'd, or NULL). */
char *docker_create_body(const char *image, const char *network, const char *stack,
                         const struct docker_limits *limits, const struct runtime_spec *spec);

/* The filters query value (not URL-encoded) selecting the workers of stack. */
char *docker_worker_filters(const char *stack, int running_only);

/* From GET /containers/{id}/json: State.Running, State.Pid, State.ExitCode.
 * 0, or -1 when the JSON is not an inspect answer. */
int docker_parse_inspect(const char *json, int *running, int *pid, int *exit_code);

/* One entry of GET /containers/json that carries the worker-id label. */
struct docker_entry {
    char cid[72];              /* the full container id */
    char id[RUNTIME_ID_MAX];   /* the rideshare.worker-id label */
    int running;               /* State == "running" */
};
/* Parses a container list; fills up to max entries, returns the count, or -1
 * when the JSON is not a list. Entries without a valid worker-id are skipped. */
int docker_parse_list(const char *json, struct docker_entry *out, int max);

/* The API version to use: the server's Api-Version capped at DOCKER_API_MAX;
 * writes "1.xx" to out. -1 if the server's is older than DOCKER_API_MIN or
 * does not parse. */
int docker_negotiate_version(const char *server, char *out, size_t cap);

/* A wait(2)-style status from a container's exit code: 128+N is death by
 * signal N (the shell and Docker's convention), anything else exit(code). */
int docker_wait_status(int exit_code);

#endif
