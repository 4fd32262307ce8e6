/* test_scaler.c — the spec's autoscaling arithmetic (scaler.c). */
#include "../../services/orchestrator/scaler.h"
#include "test.h"

TEST(target_edges_follow_the_spec)
{
    CHECK_INT(scaler_target(0, 20), 1);
    CHECK_INT(scaler_target(1, 20), 1);
    CHECK_INT(scaler_target(20, 20), 1);
    CHECK_INT(scaler_target(21, 20), 2);
    CHECK_INT(scaler_target(40, 20), 2);
    CHECK_INT(scaler_target(41, 20), 3);
    CHECK_INT(scaler_target(61, 20), 4);
    CHECK_INT(scaler_target(5, 1), 5);
    CHECK_INT(scaler_target(-3, 20), 1);
}

TEST(no_window_before_the_first_read)
{
    struct scaler *s = scaler_new(1000, 20);
    int64_t reads;
    int target;
    CHECK_INT(scaler_remaining(s, 5000), -1);
    CHECK_INT(scaler_tick(s, 1000000, &reads, &target), 0);
    scaler_free(s);
}

TEST(window_starts_at_the_first_read_and_resets)
{
    struct scaler *s = scaler_new(1000, 20);
    int64_t reads = -1;
    int target = -1;
    for (int i = 0; i < 21; i++) scaler_count(s, 500 + i);
    CHECK_INT(scaler_reads(s), 21);
    CHECK_INT(scaler_remaining(s, 600), 900);
    CHECK_INT(scaler_tick(s, 1499, &reads, &target), 0);
    CHECK_INT(scaler_tick(s, 1500, &reads, &target), 1);
    CHECK_INT(reads, 21);
    CHECK_INT(target, 2);
    CHECK_INT(scaler_reads(s), 0);
    /* The next window runs from 1500 to 2500, with or without reads. */
    CHECK_INT(scaler_remaining(s, 1600), 900);
    for (int i = 0; i < 61; i++) scaler_count(s, 2000);
    CHECK_INT(scaler_tick(s, 2499, &reads, &target), 0);
    CHECK_INT(scaler_tick(s, 2510, &reads, &target), 1);
    CHECK_INT(reads, 61);
    CHECK_INT(target, 4);
    /* An idle window brings it back to one slave. */
    CHECK_INT(scaler_tick(s, 3500, &reads, &target), 1);
    CHECK_INT(reads, 0);
    CHECK_INT(target, 1);
    scaler_free(s);
}

TEST(a_late_tick_keeps_the_cadence)
{
    struct scaler *s = scaler_new(1000, 20);
    int64_t reads;
    int target, closed = 0;
    scaler_count(s, 0);
    /* Three windows closed while nobody ticked: each is handed out once. */
    while (scaler_tick(s, 3200, &reads, &target)) closed++;
    CHECK_INT(closed, 3);
    CHECK_INT(target, 1);
    CHECK_INT(scaler_remaining(s, 3200), 800);
    scaler_free(s);
}

int main(void)
{
    RUN(target_edges_follow_the_spec);
    RUN(no_window_before_the_first_read);
    RUN(window_starts_at_the_first_read_and_resets);
    RUN(a_late_tick_keeps_the_cadence);
    return test_done();
}
