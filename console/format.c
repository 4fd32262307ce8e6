/*
 * format.c — see format.h. Column widths are fixed so that rows line up
 * under their header; long ids and data are cut by the caller's width.
 */
#include "format.h"

#include <stdio.h>
#include <string.h>

static void num(char *out, size_t n, int64_t v)
{
    if (v < 0) snprintf(out, n, "-");
    else snprintf(out, n, "%lld", (long long)v);
}

void fmt_worker_header(char *out, size_t n)
{
    snprintf(out, n, "%-18s %-6s %8s %-11s %8s %6s %8s", "ID", "ROLE", "PID", "STATE", "SEQ", "LAG", "READS");
}

void fmt_worker(char *out, size_t n, const struct c_worker *w)
{
    char seq[24], lag[24], reads[24];
    num(seq, sizeof seq, w->seq);
    num(lag, sizeof lag, w->lag);
    num(reads, sizeof reads, w->reads);
    snprintf(out, n, "%-18s %-6s %8d %-11s %8s %6s %8s", w->id, w->role[0] ? w->role : "-", w->pid,
             w->state[0] ? w->state : "-", seq, lag, reads);
}

void fmt_queue_header(char *out, size_t n)
{
    snprintf(out, n, "%-8s %9s %9s %9s", "QUEUE", "MESSAGES", "CONSUMERS", "RATE/s");
}

void fmt_queue(char *out, size_t n, const struct c_queue *q)
{
    if (!q->ok) {
        snprintf(out, n, "%-8s %9s %9s %9s", q->name, "-", "-", "-");
        return;
    }
    char rate[24] = "-";
    if (q->has_rate) snprintf(rate, sizeof rate, "%+.1f", q->rate);
    snprintf(out, n, "%-8s %9lld %9lld %9s", q->name, (long long)q->messages, (long long)q->consumers, rate);
}

/* "target 8 (rule 663, capped at 8)" and its kin: the applied target
 * against the rule's, and what held it down. */
static void fmt_limits(char *out, size_t n, const struct c_orch *o)
{
    char step[32];
    snprintf(step, sizeof step, "+%d/window", o->scale_up_step);
    if (o->max_slaves < 1)
        snprintf(out, n, "scaling limits not reported");
    else if (strcmp(o->set_by, "operator") == 0)
        snprintf(out, n, "target %d set by hand (max %d, %s)", o->target_slaves, o->max_slaves, step);
    else if (o->rule_target < 0)
        snprintf(out, n, "no window closed yet (max %d, %s)", o->max_slaves, step);
    else if (o->capped)
        snprintf(out, n, "target %d (rule %d, capped at %d%s%s)", o->target_slaves, o->rule_target, o->max_slaves,
                 o->stepped ? ", " : "", o->stepped ? step : "");
    else if (o->stepped)
        snprintf(out, n, "target %d (rule %d, stepped %s; max %d)", o->target_slaves, o->rule_target, step,
                 o->max_slaves);
    else
        snprintf(out, n, "target %d = rule (max %d, %s)", o->target_slaves, o->max_slaves, step);
}

/* "worker starts ok", or how they fail and when the next is allowed. */
static void fmt_starts(char *out, size_t n, const struct c_orch *o)
{
    if (!o->start_failures) {
        snprintf(out, n, "worker starts ok");
        return;
    }
    snprintf(out, n, "starts failing (%d in a row), next in %.1f s: %s", o->start_failures,
             (double)o->start_next_in_ms / 1000.0, o->start_last);
}

int fmt_orch_warns(const struct c_orch *o, int i)
{
    return (i == FMT_ORCH_LIMITS && (o->capped || o->stepped) && strcmp(o->set_by, "window") == 0) ||
           (i == FMT_ORCH_STARTS && o->start_failures > 0);
}

int fmt_orch(char out[][FMT_LINE], int max, const struct c_orch *o, const struct c_worker *w, int nw)
{
    char mseq[24], left[32];
    num(mseq, sizeof mseq, o->master_seq);
    if (o->seconds_to_decision >= 0) snprintf(left, sizeof left, "%.0f s", o->seconds_to_decision);
    else snprintf(left, sizeof left, "- (no read yet)");
    char lines[FMT_ORCH_LINES][FMT_LINE];
    snprintf(lines[0], FMT_LINE, "epoch %lld   master %s", (long long)o->epoch, o->master[0] ? o->master : "(none)");
    char wr[32] = "", rr[32] = "";
    if (o->has_write_rate) snprintf(wr, sizeof wr, " (%.1f/s)", o->write_rate);
    if (o->has_read_rate) snprintf(rr, sizeof rr, "%.1f/s, ", o->read_rate);
    snprintf(lines[1], FMT_LINE, "master seq %s%s   slaves %d, target %d", mseq, wr, model_slave_count(w, nw),
             o->target_slaves);
    snprintf(lines[2], FMT_LINE, "reads in window %lld (%s%d per slave)", (long long)o->reads_in_window, rr,
             o->reads_per_slave);
    snprintf(lines[3], FMT_LINE, "next scaling decision in %s (window %d s)", left, o->window_s);
    fmt_limits(lines[FMT_ORCH_LIMITS], FMT_LINE, o);
    fmt_starts(lines[FMT_ORCH_STARTS], FMT_LINE, o);
    int k = max < FMT_ORCH_LINES ? max : FMT_ORCH_LINES;
    for (int i = 0; i < k; i++) memcpy(out[i], lines[i], FMT_LINE);
    return k;
}

void fmt_znode(char *out, size_t n, const struct c_znode *z)
{
    const char *name = z->path;
    if (z->depth > 0) {
        const char *slash = strrchr(z->path, '/');
        if (slash) name = slash + 1;
    }
    int indent = 2 * z->depth;
    int pad = 22 - indent - (int)strlen(name);
    if (pad < 1) pad = 1;
    snprintf(out, n, "%*s%s%*s%s", indent, "", name, z->data[0] ? pad : 0, "", z->data);
}

void fmt_event(char *out, size_t n, const struct c_event *e)
{
    /* "2026-11-25T04:10:00.123Z": the time of day is chars 11..18. */
    char t[16] = "--:--:--";
    if (strlen(e->at) >= 19) snprintf(t, sizeof t, "%.8s", e->at + 11);
    snprintf(out, n, "%s %-10s %s", t, e->kind, e->text);
}

int fmt_status(char *out, size_t n, const struct snapshot *s, int64_t now_ms)
{
    size_t k = 0;
    int down = 0;
    out[0] = 0;
    for (int b = 0; b < B_N; b++) {
        const struct c_backend *x = &s->be[b];
        if (!x->tried || x->up) continue;
        char age[24];
        model_fmt_age(now_ms - x->since_ms, age, sizeof age);
        int w = snprintf(out + k, k < n ? n - k : 0, "%s%s unreachable for %s (%s)", down ? "; " : "",
                         BACKEND_NAMES[b], age, x->error);
        if (w > 0) k += (size_t)w;
        if (k >= n) k = n - 1;
        down++;
    }
    if (!down) {
        int waiting = 0;
        for (int b = 0; b < B_N; b++) waiting += !s->be[b].tried;
        snprintf(out, n, waiting ? "connecting..." : "ZooKeeper, RabbitMQ and the orchestrator are reachable");
    }
    return down;
}
