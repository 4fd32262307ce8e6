/*
 * timestamp.h — the spec's ride timestamps, "DD-MM-YYYY:SS-MM-HH" (day,
 * month, year, then seconds, minutes, hours: the time part is reversed),
 * always in UTC, to and from Unix seconds.
 *
 * Accepted: exactly that shape — two digits, two, four, two, two, two, with
 * '-' and ':' where shown, nothing before or after — naming a real calendar
 * date and time: year 0001–9999 (the range of Python's datetime, the
 * spec's reference format), month 01–12, day within the month (29 February
 * only in leap years), hours 00–23, minutes and seconds 00–59 (no leap
 * second). Everything else is refused.
 */
#ifndef RS_RIDES_TIMESTAMP_H
#define RS_RIDES_TIMESTAMP_H

#include <stdint.h>

#define RIDES_TS_LEN 19          /* strlen("21-08-2021:00-00-00") */

enum rides_ts_error { RIDES_TS_OK = 0, RIDES_TS_FORMAT = -1, RIDES_TS_DATE = -2 };

/* Parses s into Unix seconds. RIDES_TS_FORMAT: not the shape above;
 * RIDES_TS_DATE: the shape, but no such date or time. */
int rides_ts_parse(const char *s, int64_t *out);

/* Formats Unix seconds back into the spec's shape; buf holds at least
 * RIDES_TS_LEN + 1 bytes. Returns 0, or -1 when the time is outside years
 * 0001–9999 (buf then holds ""). */
int rides_ts_format(int64_t t, char *buf, unsigned size);

/* Whether year y is a leap year, and how many days month m (1–12) has. */
int rides_ts_leap(int y);
int rides_ts_days_in_month(int y, int m);

#endif
