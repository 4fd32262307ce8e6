/*
 * backup.h — backups (backupfile.h) made by a ready slave on request
 * (backup.c says how); restoring one goes through the log (restore.h).
 */
#ifndef RS_BACKUP_H
#define RS_BACKUP_H

struct worker;
struct backup_server;

/* A thread of slave_run that serves backupQ once the replica has caught up,
 * until stopped (or w->stop). NULL without ZooKeeper or if it cannot start. */
struct backup_server *backup_server_start(struct worker *w);
void backup_server_stop(struct backup_server *b);

#endif
