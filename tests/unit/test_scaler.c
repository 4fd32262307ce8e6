/* test_scaler.c — the spec's autoscaling arithmetic (scaler.c): the rule,
 * the windows, and the cap and step the applied target obeys. */
#include "scaler.h"
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

TEST(the_cap_bounds_the_rule)
{
    /* rule, current, max, step */
    CHECK_INT(scaler_bounded(663, 8, 8, 2), 8);     /* a flood once measured: held at the cap */
    CHECK_INT(scaler_bounded(9, 8, 8, 2), 8);
    CHECK_INT(scaler_bounded(8, 7, 8, 2), 8);       /* the cap itself is reachable */
    CHECK_INT(scaler_bounded(5, 5, 8, 2), 5);       /* within the cap: the rule as it is */
    CHECK_INT(scaler_bounded(1, 1, 1, 2), 1);       /* MAX_SLAVES=1: always one */
    CHECK_INT(scaler_bounded(1000000, 1, 1, 5), 1);
}

TEST(each_decision_adds_at_most_the_step)
{
    CHECK_INT(scaler_bounded(663, 1, 8, 2), 3);
    CHECK_INT(scaler_bounded(663, 3, 8, 2), 5);
    CHECK_INT(scaler_bounded(663, 7, 8, 2), 8);     /* the step does not overshoot the cap */
    CHECK_INT(scaler_bounded(4, 2, 8, 2), 4);       /* exactly one step */
    CHECK_INT(scaler_bounded(5, 2, 8, 2), 4);
    CHECK_INT(scaler_bounded(2, 1, 8, 2), 2);       /* less than a step: the rule */
    CHECK_INT(scaler_bounded(40, 1, 48, 1), 2);
}

TEST(scale_in_is_not_stepped)
{
    CHECK_INT(scaler_bounded(1, 8, 8, 2), 1);       /* an idle window: back to one at once */
    CHECK_INT(scaler_bounded(3, 8, 8, 1), 3);
    CHECK_INT(scaler_bounded(2, 20, 8, 2), 2);      /* above a lowered cap (a restart): down at once */
    CHECK_INT(scaler_bounded(30, 20, 8, 2), 8);     /* ... and never above the cap */
}

TEST(bounded_edge_values)
{
    CHECK_INT(scaler_bounded(0, 1, 8, 2), 1);       /* never below one slave */
    CHECK_INT(scaler_bounded(-5, 3, 8, 2), 1);
    CHECK_INT(scaler_bounded(5, 0, 8, 2), 3);       /* no current target yet: counts as 1 */
    CHECK_INT(scaler_bounded(5, 1, 0, 2), 1);       /* a cap below one counts as one */
    CHECK_INT(scaler_bounded(5, 1, 8, 0), 2);       /* a step below one counts as one */
    CHECK_INT(scaler_bounded(1000000, 2147483647, 2147483647, 2147483647), 1000000);
    CHECK_INT(scaler_bounded(2147483647, 2147483640, 2147483647, 2147483647), 2147483647); /* no overflow */
}

/* The supervisor's use: each closed window's rule target, bounded from the
 * last applied target — the defaults keep the spec's 1 -> 2 -> 4 of
 * slaves_follow_the_read_windows, and a flood climbs two a window to 8. */
TEST(windows_climb_to_the_cap_in_steps)
{
    struct scaler *s = scaler_new(1000, 20);
    int64_t reads, t = 0;
    int rule, applied = 1;
    const int64_t plan[] = { 20, 21, 61, 13000, 13000, 13000, 13000, 0 };
    const int rules[] = { 1, 2, 4, 650, 650, 650, 650, 1 };
    const int want[] = { 1, 2, 4, 6, 8, 8, 8, 1 };
    for (int w = 0; w < 8; w++) {
        for (int64_t i = 0; i < plan[w]; i++) scaler_count(s, t);
        t += 1000;
        CHECK_INT(scaler_tick(s, t, &reads, &rule), 1);
        CHECK_INT(reads, plan[w]);
        CHECK_INT(rule, rules[w]);
        applied = scaler_bounded(rule, applied, 8, 2);
        CHECK_INT(applied, want[w]);
    }
    scaler_free(s);
}

int main(void)
{
    RUN(target_edges_follow_the_spec);
    RUN(no_window_before_the_first_read);
    RUN(window_starts_at_the_first_read_and_resets);
    RUN(a_late_tick_keeps_the_cadence);
    RUN(the_cap_bounds_the_rule);
    RUN(each_decision_adds_at_most_the_step);
    RUN(scale_in_is_not_stepped);
    RUN(bounded_edge_values);
    RUN(windows_climb_to_the_cap_in_steps);
    return test_done();
}
