/*
 * mqsend — publish one request to a queue, as the orchestrator would, and
 * print the replies: a test's hands on RabbitMQ.
 *
 *   mqsend QUEUE MESSAGE_ID COPIES BODY
 *
 * Publishes BODY COPIES times with the same message_id (a redelivery, seen
 * from the worker), each with its own correlation id and this tool's reply
 * queue, then prints each reply on its own line, in arrival order, as
 * {"status": S, "seq": N, "epoch": E, "body": <the reply body>}. Exits 0
 * when all COPIES replies came within 10 s, 1 otherwise. RABBITMQ_URL says
 * where the broker is; MQSEND_DEADLINE_MS, if set, adds the "deadline"
 * header the orchestrator puts on writes: that many ms from now (negative:
 * already past).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: mqsend QUEUE MESSAGE_ID COPIES BODY\n");
        return 2;
    }
    log_init("mqsend");
    const char *url = getenv("RABBITMQ_URL");
    int copies = atoi(argv[3]);
    struct mq *m = mq_connect(url ? url : "amqp://guest:guest@127.0.0.1:5672/", 5000);
    char reply_q[256];
    if (!m || mq_declare_reply_queue(m, reply_q, sizeof reply_q) || mq_consume(m, reply_q, NULL, 1))
        return 1;
    for (int i = 0; i < copies; i++) {
        char corr[32];
        snprintf(corr, sizeof corr, "c%d", i);
        struct mq_props p = { .message_id = argv[2], .correlation_id = corr, .reply_to = reply_q,
                              .persistent = 1 };
        const char *rel = getenv("MQSEND_DEADLINE_MS");
        if (rel) {
            p.nheaders = 1;
            p.headers[0] = (struct mq_header){ "deadline", clock_wall_ms() + strtoll(rel, NULL, 10) };
        }
        if (mq_publish(m, argv[1], &p, argv[4], strlen(argv[4]))) return 1;
    }
    int got = 0;
    int64_t deadline = clock_ms() + 10000;
    while (got < copies && clock_ms() < deadline) {
        struct mq_message msg;
        int rc = mq_next(m, &msg, 100);
        if (rc < 0) break;
        if (rc == 0) continue;
        cJSON *line = cJSON_CreateObject();
        static const char *const keys[] = { "status", "seq", "epoch" };
        for (int k = 0; k < 3; k++) {
            int64_t v;
            if (mq_header(&msg, keys[k], &v)) json_add_int(line, keys[k], v);
        }
        cJSON *body = json_parse(msg.body, msg.len);
        cJSON_AddItemToObject(line, "body", body ? body : cJSON_CreateString(msg.body));
        char *text = json_print(line);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(line);
        mq_message_free(&msg);
        got++;
    }
    mq_close(m);
    return got == copies ? 0 : 1;
}
