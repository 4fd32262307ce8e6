/*
 * runtime.h — where workers run: start one, kill one, list them.
 *
 * The orchestrator manages workers only through this interface, so the
 * lifecycle, failover and scaling logic is the same whether a worker is a
 * local process (runtime_process.c), a Docker container (runtime_docker.c)
 * or a Swarm service (runtime_swarm.c).
 * A worker has a stable id chosen by the caller ("w7"), and a PID:
 * the OS PID of the process, or the container's State.Pid — the PID of the
 * spec.
 *
 * Exit notices: the runtime calls on_exit (from a thread of its own) once for
 * every worker it has seen running that stops, whoever stopped it. Workers
 * started by an earlier orchestrator are adopted by runtime_list, and their
 * exits are reported too.
 */
#ifndef RS_RUNTIME_H
#define RS_RUNTIME_H

#define RUNTIME_ID_MAX 48
#define RUNTIME_MAX_ENV 24

struct runtime_worker {
    char id[RUNTIME_ID_MAX];
    int pid;
};

struct runtime_spec {
    const char *id;                       /* worker id, [A-Za-z0-9_-]+ */
    const char *env[RUNTIME_MAX_ENV + 1]; /* "NAME=value" strings, NULL-terminated */
    /* Names of the orchestrator's own environment no worker may inherit (its
     * secrets), NULL-terminated, or NULL; env may still set them. */
    const char *const *withhold;
};

typedef void (*runtime_exit_fn)(const char *id, int pid, int status, void *ctx);

struct runtime {
    const struct runtime_ops *ops;
};

struct runtime_ops {
    /* Starts a worker; fills *out. 0, or -1 with the reason logged. */
    int (*spawn)(struct runtime *rt, const struct runtime_spec *spec, struct runtime_worker *out);
    /* Sends SIGKILL (crash) or SIGTERM (graceful stop) to a worker. 0 or -1. */
    int (*kill)(struct runtime *rt, const char *id, int sig);
    /* Running workers of this deployment, up to max; returns the count or -1. */
    int (*list)(struct runtime *rt, struct runtime_worker *out, int max);
    void (*destroy)(struct runtime *rt);
};

/* The process runtime: fork+exec of worker_bin on this host. Each worker's
 * PID is recorded in state_dir (so a restarted orchestrator can adopt it);
 * every worker gets the env of the spec on top of the orchestrator's own,
 * less the names the spec withholds. */
struct runtime *runtime_process_new(const char *worker_bin, const char *state_dir,
                                    runtime_exit_fn on_exit, void *ctx);

/* What a worker container may use, and how it is confined (docs/security.md,
 * "Worker containers"): a read-only root filesystem with its database on a
 * tmpfs of data_mb at /data (a crashed worker is never reused, so its file
 * need not outlive it; the tmpfs counts against memory_mb), /tmp a small
 * tmpfs, every capability dropped, no-new-privileges, the image's non-root
 * user. Zero in a field: its default. */
struct docker_limits {
    long memory_mb;      /* WORKER_MEMORY_MB, default 3072 (the database's tmpfs included) */
    long cpus_milli;     /* WORKER_CPUS in thousandths of a CPU, default 1000 */
    long pids;           /* WORKER_PIDS, default 256 */
    long data_mb;        /* WORKER_DATA_MB, default 2048 */
};
#define DOCKER_DEFAULT_MEMORY_MB 3072
#define DOCKER_DEFAULT_CPUS_MILLI 1000
#define DOCKER_DEFAULT_PIDS 256
#define DOCKER_DEFAULT_DATA_MB 2048
#define DOCKER_WORKER_USER "990:990"   /* rideshare in docker/Dockerfile */

/* The docker runtime: each worker is a container of `image`, named
 * "<stack>-worker-<id>", labelled rideshare.stack=<stack>, rideshare.role=worker
 * and rideshare.worker-id=<id>, on the Docker network `network`, created
 * through the Engine API on the Unix socket `socket` (e.g. /var/run/docker.sock).
 * The PID is the container's State.Pid. Only the spec's env reaches a worker.
 * NULL (reason logged) when the engine does not answer or is too old. */
struct runtime *runtime_docker_new(const char *socket, const char *image, const char *network,
                                   const char *stack, const struct docker_limits *limits,
                                   runtime_exit_fn on_exit, void *ctx);

/* The swarm runtime: each worker is a Swarm service "<stack>-worker-<id>" of
 * one replica with restart policy none (the orchestrator decides what
 * replaces it), labelled as docker workers are (service and container), on
 * the overlay network `network`, created through the Engine API of a
 * manager on the Unix socket `socket`. Confinement: what docker_limits says
 * where Swarm (API 1.41) can express it (runtime_swarm.c lists what it
 * cannot). Placement: the constraints (comma-separated, e.g.
 * "node.labels.db==yes,node.role==worker"), else the ready node that runs
 * the fewest of this stack's workers. The PID is the task's container PID,
 * which is a PID on the node that runs it. NULL (reason logged) when the
 * engine does not answer, is older than API 1.41 or is not a swarm manager. */
struct swarm_settings {
    const char *socket, *image, *network, *stack;
    const char *constraints; /* SWARM_CONSTRAINTS; NULL or "" for none */
    struct docker_limits limits;
};
struct runtime *runtime_swarm_new(const struct swarm_settings *s, runtime_exit_fn on_exit, void *ctx);

static inline int runtime_spawn(struct runtime *rt, const struct runtime_spec *s, struct runtime_worker *out)
{ return rt->ops->spawn(rt, s, out); }
static inline int runtime_kill(struct runtime *rt, const char *id, int sig)
{ return rt->ops->kill(rt, id, sig); }
static inline int runtime_list(struct runtime *rt, struct runtime_worker *out, int max)
{ return rt->ops->list(rt, out, max); }
static inline void runtime_destroy(struct runtime *rt) { rt->ops->destroy(rt); }

#endif
