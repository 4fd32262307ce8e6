/*
 * mq_file.c — see mq_file.h. Publishing waits for confirms every
 * CONFIRM_EVERY parts (so at most that many MiB are unconfirmed) and at the
 * end; fetching acks every part (flow control on a stream, nothing more).
 */
#include "mq_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checksum.h"
#include "clock.h"
#include "log.h"
#include "mq.h"

#define CONFIRM_EVERY 8
#define CONFIRM_TIMEOUT_MS 10000
#define PART_WAIT_MS 5000
#define PREFETCH 4

int mq_file_measure(const char *path, struct mq_file_info *fi)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(MQ_FILE_PART);
    int rc = -1;
    if (f && buf) {
        size_t n;
        fi->size = 0;
        fi->crc = 0;
        while ((n = fread(buf, 1, MQ_FILE_PART, f)) > 0) {
            fi->crc = crc32c(fi->crc, buf, n);
            fi->size += (int64_t)n;
        }
        fi->parts = (fi->size + MQ_FILE_PART - 1) / MQ_FILE_PART;
        rc = ferror(f) || fi->size == 0 ? -1 : 0;
    }
    if (f) fclose(f);
    free(buf);
    return rc;
}

int mq_file_publish(struct mq *m, const char *queue, const char *path, const struct mq_file_info *fi,
                    volatile int *stop)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(MQ_FILE_PART);
    int rc = f && buf && mq_declare_stream(m, queue, 0, 0) == 0 && mq_confirm_select(m) == 0 ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < fi->parts; i++) {
        size_t n = fread(buf, 1, MQ_FILE_PART, f);
        struct mq_props props = {
            .persistent = 1,
            .nheaders = 4,
            .headers = { { "part", i }, { "parts", fi->parts }, { "size", fi->size }, { "crc", fi->crc } },
        };
        if (n == 0 || *stop || mq_publish(m, queue, &props, buf, n) ||
            ((i + 1) % CONFIRM_EVERY == 0 && mq_wait_confirms(m, mq_published(m), CONFIRM_TIMEOUT_MS)))
            rc = -1;
    }
    if (rc == 0 && fi->parts > 0) rc = mq_wait_confirms(m, mq_published(m), CONFIRM_TIMEOUT_MS);
    if (f) fclose(f);
    free(buf);
    return rc;
}

/* Whether a part's headers are those of the file *fi (fi->parts == 0: not known yet, taken). */
static int part_matches(const struct mq_message *msg, int64_t next, struct mq_file_info *fi)
{
    int64_t part = -1, parts = -1, size = -1, crc = -1;
    if (!mq_header(msg, "part", &part) || !mq_header(msg, "parts", &parts) || !mq_header(msg, "size", &size) ||
        !mq_header(msg, "crc", &crc) || part != next || parts <= 0 || size <= 0)
        return 0;
    if (fi->parts == 0) {
        fi->parts = parts;
        fi->size = size;
        fi->crc = (uint32_t)crc;
    }
    return parts == fi->parts && size == fi->size && (uint32_t)crc == fi->crc;
}

int mq_file_fetch(struct mq *m, const char *queue, int fd, struct mq_file_info *fi, int64_t deadline,
                  volatile int *stop)
{
    if (mq_qos(m, PREFETCH) || mq_consume(m, queue, "first", 0)) return -1;
    int64_t next = 0, written = 0;
    uint32_t crc = 0;
    while (fi->parts == 0 || next < fi->parts) {
        int64_t part_deadline = clock_ms() + PART_WAIT_MS;
        if (part_deadline > deadline) part_deadline = deadline;
        struct mq_message msg;
        int got = 0;
        while (got == 0 && !*stop && clock_ms() < part_deadline) got = mq_next(m, &msg, 100);
        if (got <= 0) {
            if (!*stop) log_warn("file stream: no part in time queue=%s part=%lld", queue, (long long)next);
            return -1;
        }
        int ok = part_matches(&msg, next, fi) && written + (int64_t)msg.len <= fi->size &&
                 write(fd, msg.body, msg.len) == (ssize_t)msg.len;
        if (ok) {
            crc = crc32c(crc, msg.body, msg.len);
            written += (int64_t)msg.len;
            next++;
            mq_ack(m, msg.delivery_tag, 0);
        } else {
            log_warn("file stream: bad part queue=%s expected=%lld", queue, (long long)next);
        }
        mq_message_free(&msg);
        if (!ok) return -1;
    }
    if (written != fi->size || crc != fi->crc) {
        log_warn("file stream: the file does not match its checksum queue=%s size=%lld/%lld crc=%08x/%08x", queue,
                 (long long)written, (long long)fi->size, crc, fi->crc);
        return -1;
    }
    return 0;
}
