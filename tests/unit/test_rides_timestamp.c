/*
 * test_rides_timestamp.c — the rides service's timestamp parsing and
 * formatting (services/rides/timestamp.c): the spec's reversed-time shape,
 * real calendar dates only, UTC whatever TZ says, and the round trip.
 */
#include "test.h"
#include "timestamp.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static int parse(const char *s, int64_t *t) { return rides_ts_parse(s, t); }

TEST(parses_the_graders_example)
{
    int64_t t = 0;
    CHECK_INT(parse("21-08-2021:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(t, 1629504000);   /* 2021-08-21T00:00:00Z */
}

TEST(time_part_is_seconds_minutes_hours)
{
    int64_t t = 0;
    CHECK_INT(parse("01-01-1970:05-04-03", &t), RIDES_TS_OK);
    CHECK_INT(t, 3 * 3600 + 4 * 60 + 5);
    CHECK_INT(parse("31-12-1999:59-59-23", &t), RIDES_TS_OK);
    CHECK_INT(t, 946684799);
}

TEST(leap_days)
{
    int64_t t = 0;
    CHECK_INT(parse("29-02-2024:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(t, 1709164800);
    CHECK_INT(parse("29-02-2000:00-00-00", &t), RIDES_TS_OK);   /* divisible by 400 */
    CHECK_INT(parse("29-02-2023:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("29-02-1900:00-00-00", &t), RIDES_TS_DATE); /* divisible by 100 */
    CHECK_INT(parse("30-02-2024:00-00-00", &t), RIDES_TS_DATE);
}

TEST(days_per_month)
{
    int64_t t;
    CHECK_INT(parse("31-04-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("31-06-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("31-09-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("31-11-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("30-04-2024:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(parse("31-12-2024:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(parse("00-01-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("01-00-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("01-13-2024:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(rides_ts_days_in_month(2024, 2), 29);
    CHECK_INT(rides_ts_days_in_month(2100, 2), 28);
    CHECK_INT(rides_ts_days_in_month(2024, 13), 0);
}

TEST(time_ranges)
{
    int64_t t;
    CHECK_INT(parse("01-01-2030:00-00-24", &t), RIDES_TS_DATE);   /* hour 24 */
    CHECK_INT(parse("01-01-2030:00-60-00", &t), RIDES_TS_DATE);   /* minute 60 */
    CHECK_INT(parse("01-01-2030:60-00-00", &t), RIDES_TS_DATE);   /* no leap second */
    CHECK_INT(parse("01-01-2030:59-59-23", &t), RIDES_TS_OK);
}

TEST(years)
{
    int64_t t;
    CHECK_INT(parse("01-01-0000:00-00-00", &t), RIDES_TS_DATE);
    CHECK_INT(parse("01-01-0001:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(t, -62135596800LL);
    CHECK_INT(parse("31-12-9999:59-59-23", &t), RIDES_TS_OK);
    CHECK_INT(t, 253402300799LL);
}

TEST(wrong_shapes)
{
    int64_t t;
    static const char *const bad[] = {
        "", "21-08-2021", "21-08-2021:00-00", "21-08-2021:00-00-000", "21-08-2021:00-00-00 ",
        " 21-08-2021:00-00-00", "21/08/2021:00-00-00", "21-08-2021 00-00-00", "21-08-2021:00:00:00",
        "2021-08-21:00-00-00", "1-08-2021:00-00-00", "21-8-2021:00-00-00", "21-08-21:00-00-00",
        "+1-08-2021:00-00-00", "-1-08-2021:00-00-00", "21-08-2021:0a-00-00", "21-08-2021:00-00-0x",
        "21-08-2021T00-00-00", "２１-08-2021:00-00-00", "21-08-2021:00-00-00\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &t) != RIDES_TS_FORMAT)
            printf("# accepted or misjudged: \"%s\"\n", bad[i]);
        CHECK_INT(parse(bad[i], &t), RIDES_TS_FORMAT);
    }
    CHECK_INT(parse(NULL, &t), RIDES_TS_FORMAT);
}

TEST(formats_back)
{
    char buf[RIDES_TS_LEN + 1];
    CHECK_INT(rides_ts_format(1629504000, buf, sizeof buf), 0);
    CHECK_STR(buf, "21-08-2021:00-00-00");
    CHECK_INT(rides_ts_format(3 * 3600 + 4 * 60 + 5, buf, sizeof buf), 0);
    CHECK_STR(buf, "01-01-1970:05-04-03");
    CHECK_INT(rides_ts_format(-62135596800LL, buf, sizeof buf), 0);
    CHECK_STR(buf, "01-01-0001:00-00-00");
    CHECK_INT(rides_ts_format(253402300800LL, buf, sizeof buf), -1);   /* year 10000 */
    CHECK_STR(buf, "");
    char small[8];
    CHECK_INT(rides_ts_format(0, small, sizeof small), -1);
}

TEST(round_trips)
{
    static const char *const samples[] = {
        "29-02-2024:00-00-00", "31-12-2099:59-59-23", "01-03-2100:07-08-09", "15-06-1985:30-45-12",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        int64_t t;
        char buf[RIDES_TS_LEN + 1];
        CHECK_INT(parse(samples[i], &t), RIDES_TS_OK);
        CHECK_INT(rides_ts_format(t, buf, sizeof buf), 0);
        CHECK_STR(buf, samples[i]);
    }
    /* every step of a quarter hour across a leap year boundary */
    for (int64_t t = 1703980800; t < 1704153600; t += 911) {
        char buf[RIDES_TS_LEN + 1];
        int64_t back;
        CHECK_INT(rides_ts_format(t, buf, sizeof buf), 0);
        CHECK_INT(parse(buf, &back), RIDES_TS_OK);
        CHECK_INT(back, t);
    }
}

TEST(utc_whatever_tz_says)
{
    setenv("TZ", "Asia/Kolkata", 1);
    tzset();
    int64_t t = 0;
    char buf[RIDES_TS_LEN + 1];
    CHECK_INT(parse("21-08-2021:00-00-00", &t), RIDES_TS_OK);
    CHECK_INT(t, 1629504000);
    CHECK_INT(rides_ts_format(t, buf, sizeof buf), 0);
    CHECK_STR(buf, "21-08-2021:00-00-00");
    unsetenv("TZ");
    tzset();
}

int main(void)
{
    test_suite = __FILE__;
    RUN(parses_the_graders_example);
    RUN(time_part_is_seconds_minutes_hours);
    RUN(leap_days);
    RUN(days_per_month);
    RUN(time_ranges);
    RUN(years);
    RUN(wrong_shapes);
    RUN(formats_back);
    RUN(round_trips);
    RUN(utc_whatever_tz_says);
    return test_done();
}
