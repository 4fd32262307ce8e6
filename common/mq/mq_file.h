/*
 * mq_file.h — a file as a RabbitMQ stream of its own: how checkpoints,
 * backups and restores travel between workers and the orchestrator.
 *
 * One stream per file, declared without retention and deleted as a whole
 * when the file is no longer needed (mq_delete_queue). The file goes in
 * parts of MQ_FILE_PART bytes, in order, each a persistent message with the
 * integer headers part (from 0), parts, size and crc (the whole file's
 * CRC-32C), published with confirms. A reader consumes the stream from its
 * first message (prefetch 4: a few MiB in flight, whatever the file's size),
 * checks every part's headers against what it expects and the CRC over
 * everything it wrote, and never takes a file that does not match.
 *
 * Streams rather than one message, or a queue: a stream keeps what it holds
 * while readers come and go (a checkpoint is read by every new replica), it
 * is replicated wherever the log is, and its readers pull at their own pace.
 */
#ifndef RS_MQ_FILE_H
#define RS_MQ_FILE_H

#include <stdint.h>

#define MQ_FILE_PART (1024 * 1024)

struct mq;

struct mq_file_info {
    int64_t size;
    int64_t parts;
    uint32_t crc;                /* CRC-32C (checksum.h) */
};

/* The size, part count and CRC of the file at path. 0 or -1. */
int mq_file_measure(const char *path, struct mq_file_info *fi);

/* Publishes the file at path (as measured in *fi) as the stream queue,
 * declared here, every part confirmed. Gives up when *stop is set. 0 or -1
 * (the stream may then hold a part of the file: delete it). */
int mq_file_publish(struct mq *m, const char *queue, const char *path, const struct mq_file_info *fi,
                    volatile int *stop);

/* Reads the stream queue into the file descriptor fd. With fi->parts > 0
 * the file must be exactly *fi; with fi->parts == 0 *fi is taken from the
 * first part's headers (and filled in). A missing part is waited for at most
 * 5 s, the whole until deadline (clock_ms()); gives up when *stop is set.
 * 0 when every part came and the size and CRC match, -1 otherwise. */
int mq_file_fetch(struct mq *m, const char *queue, int fd, struct mq_file_info *fi, int64_t deadline,
                  volatile int *stop);

#endif
