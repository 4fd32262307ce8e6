/*
 * timestamp.c — see timestamp.h.
 *
 * Parsing is by position, not by sscanf: "%d" would skip spaces and take a
 * sign, so " 1-08-2021..." or "+1-..." would slip through. Each numeric
 * field is exactly its width of ASCII digits. The calendar check is done
 * here, before timegm, because timegm normalises silently (31 April becomes
 * 1 May). timegm then counts the seconds in UTC whatever the process's TZ.
 */
#include "timestamp.h"

#include <string.h>
#include <time.h>

int rides_ts_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int rides_ts_days_in_month(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m < 1 || m > 12) return 0;
    return m == 2 && rides_ts_leap(y) ? 29 : days[m - 1];
}

/* n digits at s as a number, or -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int rides_ts_parse(const char *s, int64_t *out)
{
    /* DD-MM-YYYY:SS-MM-HH
     * 0123456789012345678 */
    if (!s || strlen(s) != RIDES_TS_LEN) return RIDES_TS_FORMAT;
    if (s[2] != '-' || s[5] != '-' || s[10] != ':' || s[13] != '-' || s[16] != '-')
        return RIDES_TS_FORMAT;
    int day = digits(s, 2), mon = digits(s + 3, 2), year = digits(s + 6, 4);
    int sec = digits(s + 11, 2), min = digits(s + 14, 2), hour = digits(s + 17, 2);
    if (day < 0 || mon < 0 || year < 0 || sec < 0 || min < 0 || hour < 0) return RIDES_TS_FORMAT;

    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > rides_ts_days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 59)
        return RIDES_TS_DATE;

    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm);
    return RIDES_TS_OK;
}

int rides_ts_format(int64_t t, char *buf, unsigned size)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (size == 0) return -1;
    buf[0] = '\0';
    if (!gmtime_r(&tt, &tm)) return -1;
    long year = (long)tm.tm_year + 1900;
    if (year < 1 || year > 9999 || size < RIDES_TS_LEN + 1) return -1;
    /* By hand, not snprintf: every ride of every list goes through here. */
    const int fields[6][2] = { { tm.tm_mday, 2 }, { tm.tm_mon + 1, 2 }, { (int)year, 4 },
                               { tm.tm_sec, 2 }, { tm.tm_min, 2 }, { tm.tm_hour, 2 } };
    static const char seps[6] = { '-', '-', ':', '-', '-', '\0' };
    char *p = buf;
    for (int f = 0; f < 6; f++) {
        for (int d = fields[f][1] - 1, v = fields[f][0]; d >= 0; d--, v /= 10) p[d] = (char)('0' + v % 10);
        p += fields[f][1];
        *p++ = seps[f];
    }
    return 0;
}
