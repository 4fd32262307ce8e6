/* test_events.c — the status API's ring of recent events (events.c). */
#include <stdio.h>

#include "events.h"
#include "test.h"

TEST(keeps_the_last_ones_oldest_first)
{
    static struct event ev[EVENTS_MAX + 5];
    CHECK_INT(events_list(ev, EVENTS_MAX), 0);
    events_add("spawn", "started slave w%d pid=%d", 1, 100);
    CHECK_INT(events_list(ev, EVENTS_MAX), 1);
    CHECK_STR(ev[0].kind, "spawn");
    CHECK_STR(ev[0].text, "started slave w1 pid=100");
    CHECK(ev[0].at_ms > 1600000000000LL);
    for (int i = 2; i <= EVENTS_MAX + 7; i++) events_add("crash", "n=%d", i);
    int n = events_list(ev, EVENTS_MAX + 5);
    CHECK_INT(n, EVENTS_MAX);
    CHECK_STR(ev[0].text, "n=8"); /* 57 added, the last 50 kept: 8..57 */
    char last[32];
    snprintf(last, sizeof last, "n=%d", EVENTS_MAX + 7);
    CHECK_STR(ev[n - 1].text, last);
    CHECK_INT(events_list(ev, 3), 3); /* a short buffer gets the oldest of those held */
    CHECK_STR(ev[0].text, "n=8");
}

TEST(long_text_is_cut_not_overflowed)
{
    static char big[600];
    static struct event ev[EVENTS_MAX];
    for (int i = 0; i < (int)sizeof big - 1; i++) big[i] = 'x';
    events_add("a-kind-name-longer-than-the-field", "%s", big);
    int n = events_list(ev, EVENTS_MAX);
    CHECK_INT(strlen(ev[n - 1].text), EVENT_TEXT - 1);
    CHECK_INT(strlen(ev[n - 1].kind), sizeof ev[0].kind - 1);
}

int main(void)
{
    RUN(keeps_the_last_ones_oldest_first);
    RUN(long_text_is_cut_not_overflowed);
    return test_done();
}
