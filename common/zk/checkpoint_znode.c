/*
 * checkpoint_znode.c — see checkpoint_znode.h.
 */
#include "checkpoint_znode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "zk.h"

static void node_path(const char *zk_root, char *path, size_t n)
{
    snprintf(path, n, "%s/checkpoint", zk_root);
}

static int parse_info(const cJSON *j, struct checkpoint_info *c)
{
    const char *q = json_get_str(j, "queue"), *by = json_get_str(j, "by");
    int64_t crc = 0;
    if (!q || json_get_int(j, "seq", &c->seq) || json_get_int(j, "offset", &c->offset) ||
        json_get_int(j, "log_bytes", &c->log_bytes) || json_get_int(j, "epoch", &c->epoch) ||
        json_get_int(j, "size", &c->size) || json_get_int(j, "parts", &c->parts) ||
        json_get_int(j, "crc", &crc) || json_get_int(j, "at_ms", &c->at_ms))
        return -1;
    snprintf(c->queue, sizeof c->queue, "%s", q);
    snprintf(c->by, sizeof c->by, "%s", by ? by : "");
    c->crc = (uint32_t)crc;
    return 0;
}

int checkpoint_read(struct zk *zk, const char *zk_root, struct checkpoint_znode *z, int *version)
{
    char path[300], data[8192];
    memset(z, 0, sizeof *z);
    node_path(zk_root, path, sizeof path);
    int n = zk_get_versioned(zk, path, data, sizeof data, version);
    if (n == -2) {
        *version = -1;
        return 0;
    }
    if (n < 0) return -1;
    if (n == 0) return 0; /* made empty by the orchestrator (zk_acl.h): no checkpoint yet */
    cJSON *j = json_parse(data, (size_t)n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        log_error("checkpoint znode unreadable path=%s", path);
        return -1;
    }
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(j, "current");
    int rc = 0;
    if (cJSON_IsObject(cur)) {
        rc = parse_info(cur, &z->current);
        z->present = rc == 0;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "garbage"))
        if (cJSON_IsString(g) && z->ngarbage < CHECKPOINT_GARBAGE_MAX)
            snprintf(z->garbage[z->ngarbage++], sizeof z->garbage[0], "%s", g->valuestring);
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "retire")) {
        const char *q = json_get_str(g, "queue");
        int64_t after = CHECKPOINT_AFTER_UNKNOWN;
        json_get_int(g, "after", &after); /* absent: not known yet */
        if (q && z->nretire < CHECKPOINT_RETIRE_MAX) {
            snprintf(z->retire[z->nretire].queue, sizeof z->retire[0].queue, "%s", q);
            z->retire[z->nretire++].after = after;
        }
    }
    json_get_int(j, "wanted", &z->wanted);
    cJSON_Delete(j);
    if (rc) log_error("checkpoint znode unreadable path=%s", path);
    return rc;
}

int checkpoint_write(struct zk *zk, const char *zk_root, const struct checkpoint_znode *z, int version)
{
    char path[300];
    node_path(zk_root, path, sizeof path);
    cJSON *j = cJSON_CreateObject();
    if (z->present) {
        const struct checkpoint_info *c = &z->current;
        cJSON *o = cJSON_AddObjectToObject(j, "current");
        cJSON_AddStringToObject(o, "queue", c->queue);
        json_add_int(o, "seq", c->seq);
        json_add_int(o, "offset", c->offset);
        json_add_int(o, "log_bytes", c->log_bytes);
        json_add_int(o, "epoch", c->epoch);
        json_add_int(o, "size", c->size);
        json_add_int(o, "parts", c->parts);
        json_add_int(o, "crc", c->crc);
        cJSON_AddStringToObject(o, "by", c->by);
        json_add_int(o, "at_ms", c->at_ms);
    } else {
        cJSON_AddNullToObject(j, "current");
    }
    cJSON *g = cJSON_AddArrayToObject(j, "garbage");
    for (int i = 0; i < z->ngarbage; i++) cJSON_AddItemToArray(g, cJSON_CreateString(z->garbage[i]));
    cJSON *r = cJSON_AddArrayToObject(j, "retire");
    for (int i = 0; i < z->nretire; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "queue", z->retire[i].queue);
        if (z->retire[i].after != CHECKPOINT_AFTER_UNKNOWN) json_add_int(o, "after", z->retire[i].after);
        cJSON_AddItemToArray(r, o);
    }
    if (z->wanted > 0) json_add_int(j, "wanted", z->wanted);
    char *text = json_print(j);
    cJSON_Delete(j);
    int rc = zk_set_versioned(zk, path, text, strlen(text), version);
    free(text);
    return rc;
}

void checkpoint_garbage_add(struct checkpoint_znode *z, const char *queue)
{
    if (z->ngarbage == CHECKPOINT_GARBAGE_MAX) {
        log_error("checkpoint garbage list full; forgetting a stream queue=%s", z->garbage[0]);
        memmove(z->garbage[0], z->garbage[1], sizeof z->garbage[0] * (CHECKPOINT_GARBAGE_MAX - 1));
        z->ngarbage--;
    }
    snprintf(z->garbage[z->ngarbage++], sizeof z->garbage[0], "%s", queue);
}

void checkpoint_garbage_drop(struct checkpoint_znode *z, const char *queue)
{
    for (int i = 0; i < z->ngarbage; i++)
        if (strcmp(z->garbage[i], queue) == 0) {
            memmove(z->garbage[i], z->garbage[i + 1], sizeof z->garbage[0] * (size_t)(z->ngarbage - i - 1));
            z->ngarbage--;
            return;
        }
}

int checkpoint_update(struct zk *zk, const char *zk_root, int (*change)(struct checkpoint_znode *z, void *ctx),
                      void *ctx)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct checkpoint_znode z;
        int version;
        if (checkpoint_read(zk, zk_root, &z, &version)) return -1;
        if (change(&z, ctx)) return 0;
        int rc = checkpoint_write(zk, zk_root, &z, version);
        if (rc <= 0) return rc;
    }
    log_warn("checkpoint znode kept changing under us; not updated");
    return -1;
}

static int add_garbage(struct checkpoint_znode *z, void *queue)
{
    checkpoint_garbage_add(z, queue);
    return 0;
}

int checkpoint_list_garbage(struct zk *zk, const char *zk_root, const char *queue)
{
    return checkpoint_update(zk, zk_root, add_garbage, (void *)queue);
}
