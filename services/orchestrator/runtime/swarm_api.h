/*
 * swarm_api.h — the Engine API calls the swarm runtime makes (swarm_api.c),
 * over docker_api.h's transport (a Unix socket, a timeout on every call,
 * failures logged with the engine's message). Internal to runtime_swarm.c.
 */
#ifndef RS_SWARM_API_H
#define RS_SWARM_API_H

#include "docker_api.h"
#include "swarm_json.h"

/* GET /info: this node's id and whether it is an active manager. 0 or -1. */
int swarm_info(const struct docker_api *a, char *node, size_t cap, int *manager);

/* POST /services/create; the new service's id into sid. 0, 1 when the name
 * is taken, -1 error. */
int swarm_create(const struct docker_api *a, const char *name, const char *body, char *sid, size_t cap);

/* DELETE /services/{ref}. 0 removed, 1 no such service, -1 error. */
int swarm_remove(const struct docker_api *a, const char *ref);

/* The worker services of stack: a count of entries filled, or -1. */
int swarm_list_services(const struct docker_api *a, const char *stack, struct swarm_service *out, int max);

/* The tasks of the n services sids: a count of entries filled, or -1 when
 * they could not be listed (a service removed meanwhile makes the engine
 * refuse the call). */
int swarm_list_tasks(const struct docker_api *a, const char *const *sids, int n, struct swarm_task *out, int max);

/* The ready, active nodes' ids: a count, or -1. */
int swarm_list_nodes(const struct docker_api *a, char (*ids)[SWARM_SID_MAX], int max);

/* Whether node is among the ready, active nodes: 1, 0, or -1 when the list
 * cannot be had. */
int swarm_node_ready(const struct docker_api *a, const char *node);

/* POST /containers/{cid}/kill?signal=sig on this engine (a task of this
 * node). 0 or -1. */
int swarm_kill_local(const struct docker_api *a, const char *cid, int sig);

#endif
