/* test_worker_links.c — a worker's links to the broker and worker_busy (worker.c): what the znode's
 * broker_down_ms is made of, and long work beside held connections. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "test.h"
#include "worker.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

TEST(down_from_the_earliest_loss_until_every_link_is_back)
{
    static struct worker w;
    memset(&w, 0, sizeof w);
    CHECK_INT(worker_broker_down_ms(&w), 0);
    worker_link_down(&w, WORKER_LINK_FOLLOWER, 0);
    CHECK(worker_broker_down_ms(&w) > 0); /* non-zero at once: the znode says "cut off" */
    sleep_ms(200);
    worker_link_down(&w, WORKER_LINK_FOLLOWER, 0); /* lost again: the first loss still counts */
    worker_link_down(&w, WORKER_LINK_READER + 3, 0);
    CHECK(worker_broker_down_ms(&w) >= 200);
    worker_link_up(&w, WORKER_LINK_FOLLOWER); /* the reader is still without its connection */
    int64_t left = worker_broker_down_ms(&w);
    CHECK(left > 0 && left < 200); /* counted from the reader's later loss */
    worker_link_up(&w, WORKER_LINK_READER + 3);
    CHECK_INT(worker_broker_down_ms(&w), 0);
    worker_link_up(&w, WORKER_LINK_MASTER); /* up when never down: nothing changes */
    CHECK_INT(worker_broker_down_ms(&w), 0);
    /* Lost since the broker was last heard from, when that is known. */
    worker_link_down(&w, WORKER_LINK_MASTER, clock_ms() - 4000);
    CHECK(worker_broker_down_ms(&w) >= 4000);
    worker_link_up(&w, WORKER_LINK_MASTER);
    CHECK_INT(worker_lost_at(NULL, NULL), 0); /* no failed connection: now */
}

static int slow_double(void *arg)
{
    int *x = arg;
    sleep_ms(120);
    return *x * 2;
}

TEST(busy_work_runs_beside_and_returns_its_result)
{
    int x = 21;
    struct mq *none[2] = { NULL, NULL }; /* no connection held: skipped, not touched */
    CHECK_INT(worker_busy(slow_double, &x, none, 2), 42);
    CHECK_INT(worker_busy(slow_double, &x, NULL, 0), 42);
}

int main(void)
{
    RUN(down_from_the_earliest_loss_until_every_link_is_back);
    RUN(busy_work_runs_beside_and_returns_its_result);
    return test_done();
}
