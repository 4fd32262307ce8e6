/*
 * docker_api.h — the Docker Engine API calls the docker runtime makes, over
 * the engine's Unix socket (docker_api.c). Internal to runtime_docker.c; the
 * JSON it sends and reads is built and parsed by the pure helpers declared in
 * docker_json.h, which docker_api.c implements too.
 *
 * Every call has a timeout and logs its own failures (with the engine's
 * "message" where it sent one), so callers only look at the return value.
 */
#ifndef RS_DOCKER_API_H
#define RS_DOCKER_API_H

#include "docker_json.h"

#include <stddef.h>

#define DOCKER_CALL_TIMEOUT_MS 15000

/* An engine: its socket and the API version negotiated with it. */
struct docker_api {
    char *sock;
    char version[16];
};

/* Asks GET /_ping (5 s timeout) for the engine's Api-Version and settles on
 * the version to use (docker_negotiate_version). 0, or -1 (logged) when the
 * engine does not answer or is too old; a->sock is strdup'd either way and
 * freed by docker_api_close. */
int docker_api_open(struct docker_api *a, const char *socket);
void docker_api_close(struct docker_api *a);

/* An answer: HTTP status and body (NUL-terminated, malloc'd, may be NULL). */
struct docker_resp {
    long status;
    char *body;
    size_t len, cap;
    char api_version[16]; /* the Api-Version header, "" if none */
};

/* One call. path starts with '/' and is already URL-encoded; it is prefixed
 * with /v<version> unless it is /_ping. 0 when an answer arrived (any
 * status; the caller frees r->body), -1 otherwise (logged, nothing to free). */
int docker_call(const struct docker_api *a, const char *method, const char *path, const char *body,
                long timeout_ms, struct docker_resp *r);

/* Logs a failed call: what, the worker or container it was about, the
 * status and the engine's "message". */
void docker_log_error(const char *what, const char *id, const struct docker_resp *r);

/* GET /containers/{ref}/json. 0 (fields filled), 1 no such container, -1 error. */
int docker_inspect(const struct docker_api *a, const char *ref, int *running, int *pid, int *code);

/* DELETE /containers/{ref}?force=1&v=1 (anonymous volumes go too). 0 when
 * removed or already gone, -1 otherwise. */
int docker_remove(const struct docker_api *a, const char *ref);

/* POST /containers/create?name=<name> with body; the new container's id into
 * cid. 0, 1 when the name is taken, -1 error. */
int docker_create(const struct docker_api *a, const char *name, const char *body, char *cid,
                  size_t cap);

/* POST /containers/{ref}/start. 0 (started, or running already) or -1. */
int docker_start(const struct docker_api *a, const char *ref, const char *id);

/* The workers of stack (every state, or running only): a count of entries
 * filled, or -1. */
int docker_list_workers(const struct docker_api *a, const char *stack, int running_only,
                        struct docker_entry *out, int max);

#endif
