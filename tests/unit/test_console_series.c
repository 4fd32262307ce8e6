/* test_console_series.c — the console's rates history: the ring keeps the
 * last SERIES_MAX samples in order with gaps in place, a sample is taken
 * from the status as the console sees it, and the sparklines scale, pad and
 * cut as series.h says, in UTF-8 blocks and in ASCII. */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "series.h"
#include "test.h"

static void push3(struct series *s, double r, double w, double l)
{
    double v[SER_N] = { r, w, l };
    series_push(s, v);
}

TEST(the_ring_keeps_the_last_samples_in_order)
{
    static struct series s;
    memset(&s, 0, sizeof s);
    double v[SERIES_MAX];
    CHECK_INT(series_values(&s, SER_READS, v, SERIES_MAX), 0);
    push3(&s, 1, 10, 0);
    push3(&s, -1, 20, -1);   /* a gap in reads and lag */
    push3(&s, 3, 30, 7);
    CHECK_INT(series_values(&s, SER_READS, v, SERIES_MAX), 3);
    CHECK(v[0] == 1 && v[1] < 0 && v[2] == 3);
    CHECK_INT(series_values(&s, SER_WRITES, v, 2), 2); /* the newest two */
    CHECK(v[0] == 20 && v[1] == 30);
    for (int i = 0; i < 2 * SERIES_MAX + 5; i++) push3(&s, i, 0, 0);
    CHECK_INT(s.n, SERIES_MAX);
    CHECK_INT(series_values(&s, SER_READS, v, SERIES_MAX), SERIES_MAX);
    for (int i = 0; i < SERIES_MAX; i++) CHECK(v[i] == (double)(SERIES_MAX + 5 + i)); /* oldest dropped */
}

TEST(a_sample_from_the_status)
{
    struct c_orch o;
    memset(&o, 0, sizeof o);
    struct c_worker w[4] = {
        { "m", "master", 1, "ready", 50, 0, -1 },
        { "a", "slave", 2, "ready", 48, 2, 10 },
        { "b", "slave", 3, "catching-up", 20, 30, 0 },
        { "c", "slave", 4, "retiring", 1, 49, 0 }, /* leaving: not counted */
    };
    double v[SER_N];
    series_sample(&o, w, 4, v);
    CHECK(v[SER_READS] < 0 && v[SER_WRITES] < 0); /* no rates yet: gaps */
    CHECK(v[SER_LAG] == 30);
    o.has_read_rate = o.has_write_rate = 1;
    o.read_rate = 12.5;
    o.write_rate = 0;
    series_sample(&o, w, 1, v); /* the master alone: no slave lag to tell */
    CHECK(v[SER_READS] == 12.5 && v[SER_WRITES] == 0 && v[SER_LAG] < 0);
}

TEST(sparklines_scale_pad_and_cut)
{
    char out[256];
    const double v[] = { 0, 1, 2, 4, 8, -1, 8 };
    /* ASCII: 0 is the lowest mark, any non-zero value at least the second, the peak the top; a gap blank. */
    CHECK_INT(series_spark(v, 7, 7, 0, out, sizeof out), 7);
    CHECK_STR(out, "_.-=# #");
    /* Fewer samples than columns: blanks on the left, the newest at the right edge. */
    CHECK_INT(series_spark(v, 3, 6, 0, out, sizeof out), 6);
    CHECK_STR(out, "   _=#");
    /* More samples than columns: the newest only, scaled to what is shown. */
    const double w[] = { 100, 1, 2 };
    series_spark(w, 3, 2, 0, out, sizeof out);
    CHECK_STR(out, "=#"); /* 100 is out of sight: 1 is half the peak */
    /* All zero: the lowest mark throughout, not a division by zero. */
    const double z[] = { 0, 0, 0 };
    series_spark(z, 3, 3, 0, out, sizeof out);
    CHECK_STR(out, "___");
    /* UTF-8: the eight blocks, three bytes each. */
    const double r[] = { 0, 7, 1, 2, 3, 4, 5, 6, 7 };
    CHECK_INT(series_spark(r, 9, 9, 1, out, sizeof out), 9);
    CHECK_STR(out, "\u2581\u2588\u2582\u2583\u2584\u2585\u2586\u2587\u2588");
    CHECK_INT((int)strlen(out), 27);
    /* A small buffer: whole characters only, never overflowed. */
    char tiny[8];
    CHECK_INT(series_spark(r, 9, 9, 1, tiny, sizeof tiny), 2);
    CHECK_INT((int)strlen(tiny), 6);
}

TEST(panel_lines_fit_their_width)
{
    static struct series s;
    memset(&s, 0, sizeof s);
    s.interval_ms = 1000;
    char out[512];
    CHECK_INT(series_line(&s, SER_READS, 90, 1, out, sizeof out), 90 - 60 + SERIES_MAX);
    CHECK(strncmp(out, "reads/s  ", 9) == 0 && strstr(out, "now -") && strstr(out, "max -"));
    for (int i = 0; i < 80; i++) push3(&s, i % 10, 1500, i == 79 ? 12345 : 3);
    char title[80];
    series_title(&s, title, sizeof title);
    CHECK_STR(title, "rates, last 1m00s (a sample every 1 s)");
    for (int cols = 30; cols <= 120; cols += 7) {
        int k = series_line(&s, SER_LAG, cols, 1, out, sizeof out);
        CHECK(k <= cols);
        CHECK(strstr(out, "now 12k") && strstr(out, "max 12k"));
    }
    CHECK(series_line(&s, SER_WRITES, 100, 0, out, sizeof out) <= 100);
    CHECK(strstr(out, "writes/s ") == out && strstr(out, "now 1500") && strstr(out, "################"));
    /* Too narrow for a line: the label and the figures, cut at the width. */
    CHECK(series_line(&s, SER_READS, 20, 1, out, sizeof out) <= 20);
    CHECK((int)strlen(out) <= 20 && strncmp(out, "reads/s", 7) == 0);
}

int main(void)
{
    RUN(the_ring_keeps_the_last_samples_in_order);
    RUN(a_sample_from_the_status);
    RUN(sparklines_scale_pad_and_cut);
    RUN(panel_lines_fit_their_width);
    return test_done();
}
