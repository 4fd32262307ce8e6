/*
 * batch.h — --once and --json: one snapshot of every panel, printed, for
 * scripts and tests. The same data the screen shows, in the same order:
 * status, workers, orchestrator, rates (the series' sparklines), queues,
 * ZooKeeper tree, events.
 */
#ifndef RS_CONSOLE_BATCH_H
#define RS_CONSOLE_BATCH_H

#include <stdio.h>

#include "model.h"

struct batch_info {
    const char *zk_hosts, *zk_root, *amqp_url, *orch_url;
    int utf8;               /* the text's sparklines in block characters */
};

/* Plain text. */
void batch_text(FILE *f, const struct snapshot *s, const struct batch_info *info);
/* One JSON object (see docs/console.md for its shape). */
void batch_json(FILE *f, const struct snapshot *s, const struct batch_info *info);

#endif
