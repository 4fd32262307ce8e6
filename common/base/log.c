/*
 * log.c — see log.h. The component name and threshold are set once at start
 * and only read afterwards, so logging needs no lock.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char component[32] = "rideshare";
static enum log_level threshold = LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

void log_init(const char *name)
{
    snprintf(component, sizeof component, "%s", name);
    const char *lvl = getenv("LOG_LEVEL");
    if (!lvl) return;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcasecmp(lvl, level_names[i]) == 0) threshold = (enum log_level)i;
}

int log_enabled(enum log_level level) { return level >= threshold; }

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < threshold) return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %-5s %s ",
                  ts.tv_nsec / 1000000, level_names[level], component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2; /* truncated */
    /* One event, one line: a message with a newline in it must not split. */
    for (int i = 0; i < n; i++) if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
