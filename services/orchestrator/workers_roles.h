/*
 * workers_roles.h — who is master, in the worker table (workers.h):
 * election after a crash, planned switchover, adoption after an
 * orchestrator restart. Each raises the epoch in ZooKeeper (epoch.h) where
 * a new master is named. Called by start-up and the supervisor's thread.
 */
#ifndef RS_WORKERS_ROLES_H
#define RS_WORKERS_ROLES_H

#include <stdint.h>

struct workers;

/* Names live slave id master: bumps the epoch in ZK_ROOT/master naming it
 * (the slave learns it by its watch and takes over). */
int workers_elect(struct workers *ws, const char *id);

/* Orchestrator restart (startup.c): the epoch ZK_ROOT/master holds, and the
 * workers the runtime finds running (runtime_list: the process runtime
 * adopts them from its PID files), entered in the table as they are —
 * master_id as the master ("" for none). The number adopted, or -1. */
void workers_set_epoch(struct workers *ws, int64_t epoch);
int workers_adopt(struct workers *ws, const char *master_id);

/* Planned switchover (supervisor thread): workers_stepdown writes the
 * step-down request into ZK_ROOT/master (epoch_stepdown: the master stops
 * taking writes and goes on as a slave); once its znode says role "slave",
 * workers_switch makes old_id a slave and new_id the master in the table
 * and bumps the epoch naming new_id. workers_demote takes id for a slave
 * (a switchover given up: the supervisor then fails over as for a crash). */
int workers_stepdown(struct workers *ws, const char *master_id, const char *next_id);
int workers_switch(struct workers *ws, const char *old_id, const char *new_id);
void workers_demote(struct workers *ws, const char *id);

#endif
