/*
 * log.h — one line per event on stderr.
 *
 * Every line reads
 *     2026-11-25T01:40:00.123Z INFO  worker  applied batch seq=42 n=8
 * time (UTC, milliseconds), level, component, then the message and its
 * key=value fields, written by the caller as one printf format:
 *     log_info("applied batch seq=%lld n=%d", seq, n);
 * A line is formatted in full and written with one write(2), so lines from
 * different threads never interleave. LOG_LEVEL (debug|info|warn|error)
 * sets the threshold; the default is info.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Names the component on every line; reads LOG_LEVEL. Call once in main. */
void log_init(const char *component);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int log_enabled(enum log_level level);

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
