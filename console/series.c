/*
 * series.c — see series.h.
 *
 * The ring is three arrays indexed alike: next is where the next sample
 * goes, so the oldest held sample is at next - n (mod SERIES_MAX). The
 * sparkline's levels: with max the largest visible value, 0 maps to level 0
 * and v > 0 to 1 + floor(6.999 * v / max), so activity, however small next
 * to the peak, never looks like nothing.
 */
#include "series.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

const char *const SERIES_LABELS[SER_N] = { "reads/s", "writes/s", "max lag" };
const char *const SERIES_KEYS[SER_N] = { "reads_per_s", "writes_per_s", "max_lag" };

static const char *const BLOCKS[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588" };
static const char ASCII_RAMP[8] = { '_', '.', '-', ':', '=', '+', '*', '#' };

void series_push(struct series *s, const double sample[SER_N])
{
    for (int k = 0; k < SER_N; k++) s->v[k][s->next] = sample[k] >= 0 ? sample[k] : -1;
    s->next = (s->next + 1) % SERIES_MAX;
    if (s->n < SERIES_MAX) s->n++;
}

int series_values(const struct series *s, enum series_kind k, double *out, int max)
{
    int n = s->n < max ? s->n : max;
    int first = (s->next - n + SERIES_MAX) % SERIES_MAX; /* the last n, oldest first */
    for (int i = 0; i < n; i++) out[i] = s->v[k][(first + i) % SERIES_MAX];
    return n;
}

void series_sample(const struct c_orch *o, const struct c_worker *w, int nw, double sample[SER_N])
{
    sample[SER_READS] = o->has_read_rate ? o->read_rate : -1;
    sample[SER_WRITES] = o->has_write_rate ? o->write_rate : -1;
    double lag = -1;
    for (int i = 0; i < nw; i++)
        if (strcmp(w[i].role, "slave") == 0 && strcmp(w[i].state, "retiring") != 0 && w[i].lag > lag)
            lag = (double)w[i].lag;
    sample[SER_LAG] = lag;
}

int series_spark(const double *v, int nv, int cols, int utf8, char *out, size_t n)
{
    if (!n) return 0;
    int shown = nv < cols ? nv : cols;
    const double *from = v + (nv - shown);
    double max = 0;
    for (int i = 0; i < shown; i++)
        if (from[i] > max) max = from[i];
    size_t k = 0;
    int drawn = 0;
    for (int c = 0; c < cols; c++) {
        int i = c - (cols - shown); /* < 0: left padding */
        const char *mark = " ";
        char ascii[2] = { ' ', 0 };
        if (i >= 0 && from[i] >= 0) {
            int level = from[i] > 0 && max > 0 ? 1 + (int)(6.999 * from[i] / max) : 0;
            if (level > 7) level = 7;
            ascii[0] = ASCII_RAMP[level];
            mark = utf8 ? BLOCKS[level] : ascii;
        }
        size_t len = strlen(mark);
        if (k + len + 1 > n) break;
        memcpy(out + k, mark, len);
        k += len;
        drawn++;
    }
    out[k] = 0;
    return drawn;
}

/* A figure in at most 6 characters: 0.5, 12.5, 840, 12k, 3.4M. */
static void figure(double v, char *out, size_t n)
{
    if (v < 0) snprintf(out, n, "-");
    else if (v < 100) snprintf(out, n, "%.1f", v);
    else if (v < 10000) snprintf(out, n, "%.0f", v);
    else if (v < 1e6) snprintf(out, n, "%.0fk", v / 1e3);
    else snprintf(out, n, "%.1fM", v / 1e6);
}

int series_line(const struct series *s, enum series_kind k, int cols, int utf8, char *out, size_t n)
{
    double v[SERIES_MAX];
    int nv = series_values(s, k, v, SERIES_MAX);
    double max = -1;
    for (int i = 0; i < nv; i++)
        if (v[i] > max) max = v[i];
    char now[16], top[16], tail[48];
    figure(nv ? v[nv - 1] : -1, now, sizeof now);
    figure(max, top, sizeof top);
    snprintf(tail, sizeof tail, " now %-6s max %-6s", now, top);
    char label[16];
    snprintf(label, sizeof label, "%-9s", SERIES_LABELS[k]);
    int spark = cols - (int)strlen(label) - (int)strlen(tail);
    if (spark > SERIES_MAX) spark = SERIES_MAX;
    if (spark < 4) { /* no room for a line: the figures alone */
        snprintf(out, n, "%s%s", label, tail);
        if ((int)strlen(out) > cols && cols >= 0) out[cols] = 0;
        return (int)strlen(out);
    }
    char line[SERIES_MAX * 3 + 1];
    int drawn = series_spark(v, nv, spark, utf8, line, sizeof line);
    snprintf(out, n, "%s%s%s", label, line, tail);
    return (int)strlen(label) + drawn + (int)strlen(tail);
}

void series_title(const struct series *s, char *out, size_t n)
{
    if (!s->n || s->interval_ms <= 0) {
        snprintf(out, n, "rates (no sample yet)");
        return;
    }
    char span[16];
    model_fmt_age((int64_t)s->n * s->interval_ms, span, sizeof span);
    snprintf(out, n, "rates, last %s (a sample every %g s)", span, (double)s->interval_ms / 1000.0);
}
