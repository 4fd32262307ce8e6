/*
 * keys.c — see keys.h.
 *
 * Every action goes through a question: the key fills u->pending and a
 * prompt naming exactly what will happen (which worker, which PID, which
 * count), and only a following 'y' submits it. The crash-slave question
 * names the slave the orchestrator will pick (the highest PID, the spec's
 * rule) as the console sees it; the orchestrator picks again itself.
 */
#include "keys.h"

#include <stdio.h>
#include <string.h>

const char *const KEYS_HELP[] = {
    "Up/Down, j/k   select a worker",
    "m              crash the master (asks y/n)",
    "s              crash a slave: the highest PID (asks y/n)",
    "p              promote the selected slave (asks y/n)",
    "+ / -          one slave more / fewer (asks y/n)",
    "b              take a backup, kept by the orchestrator (asks y/n)",
    "r              refresh every panel now",
    "/              filter the event log (Enter keeps, Esc clears)",
    "?              this help (any key closes it)",
    "q              quit",
    NULL,
};

static enum key_result ask(struct ui *u, const struct action *act, const char *extra)
{
    char what[160];
    actions_describe(act, what, sizeof what);
    u->pending = *act;
    u->confirm = 1;
    snprintf(u->prompt, sizeof u->prompt, "%s%s? [y/n]", what, extra);
    u->note[0] = 0;
    return KR_REDRAW;
}

static enum key_result filter_key(struct ui *u, int key)
{
    size_t n = strlen(u->filter);
    if (key == K_ENTER) u->filtering = 0;
    else if (key == K_ESC) { u->filtering = 0; u->filter[0] = 0; }
    else if (key == K_BACKSPACE) { if (n) u->filter[n - 1] = 0; }
    else if (key >= 32 && key < 127 && n + 1 < sizeof u->filter) { u->filter[n] = (char)key; u->filter[n + 1] = 0; }
    return KR_REDRAW;
}

static enum key_result action_key(struct ui *u, int key, const struct c_worker *w, int nw,
                                  const struct c_orch *orch, int orch_up)
{
    if (u->read_only) {
        snprintf(u->note, sizeof u->note, "read-only: actions are disabled");
        return KR_REDRAW;
    }
    struct action act;
    memset(&act, 0, sizeof act);
    char extra[64] = "";
    int i;
    switch (key) {
    case 'm':
        if ((i = model_master(w, nw)) < 0) break;
        act.kind = ACT_CRASH_MASTER;
        snprintf(act.id, sizeof act.id, "%s", w[i].id);
        snprintf(extra, sizeof extra, " (pid %d)", w[i].pid);
        return ask(u, &act, extra);
    case 's':
        if ((i = model_crash_slave_pick(w, nw)) < 0) break;
        act.kind = ACT_CRASH_SLAVE;
        snprintf(act.id, sizeof act.id, "%s", w[i].id);
        snprintf(extra, sizeof extra, " (pid %d)", w[i].pid);
        return ask(u, &act, extra);
    case 'p':
        if (u->sel < 0 || u->sel >= nw || strcmp(w[u->sel].role, "slave") != 0) {
            snprintf(u->note, sizeof u->note, "select a slave to promote first (Up/Down)");
            return KR_REDRAW;
        }
        act.kind = ACT_PROMOTE;
        snprintf(act.id, sizeof act.id, "%s", w[u->sel].id);
        snprintf(extra, sizeof extra, " (pid %d)", w[u->sel].pid);
        return ask(u, &act, extra);
    case 'b':
        act.kind = ACT_BACKUP;
        return ask(u, &act, "");
    case '+':
    case '-': {
        if (!orch_up || orch->target_slaves < 1) {
            snprintf(u->note, sizeof u->note, "the orchestrator's slave target is not known yet");
            return KR_REDRAW;
        }
        int to = orch->target_slaves + (key == '+' ? 1 : -1);
        int max = orch->max_slaves > 0 ? orch->max_slaves : SCALE_MAX;
        if (to < 1 || to > max) {
            snprintf(u->note, sizeof u->note, "slaves stay within 1..%d (MAX_SLAVES)", max);
            return KR_REDRAW;
        }
        act.kind = ACT_SCALE;
        act.slaves = to;
        snprintf(extra, sizeof extra, " (now %d)", orch->target_slaves);
        return ask(u, &act, extra);
    }
    }
    snprintf(u->note, sizeof u->note, "no %s to act on", key == 'm' ? "master" : "slave");
    return KR_REDRAW;
}

enum key_result keys_handle(struct ui *u, int key, const struct c_worker *w, int nw,
                            const struct c_orch *orch, int orch_up, struct action *out)
{
    if (key == K_RESIZE) return KR_REDRAW;
    if (u->help) {
        u->help = 0;
        return KR_REDRAW;
    }
    if (u->confirm) {
        u->confirm = 0;
        if (key == 'y' || key == 'Y') {
            *out = u->pending;
            return KR_SUBMIT;
        }
        snprintf(u->note, sizeof u->note, "cancelled");
        return KR_REDRAW;
    }
    if (u->filtering) return filter_key(u, key);
    u->note[0] = 0;
    switch (key) {
    case 'q':
    case 'Q':
        u->quit = 1;
        return KR_QUIT;
    case '?':
        u->help = 1;
        return KR_REDRAW;
    case 'j':
    case K_DOWN:
        if (u->sel + 1 < nw) u->sel++;
        break;
    case 'k':
    case K_UP:
        if (u->sel > 0) u->sel--;
        break;
    case K_HOME: u->sel = 0; break;
    case K_END: u->sel = nw > 0 ? nw - 1 : 0; break;
    case 'r':
        snprintf(u->note, sizeof u->note, "refreshing");
        return KR_REFRESH;
    case '/':
        u->filtering = 1;
        return KR_REDRAW;
    case 'm': case 's': case 'p': case '+': case '-': case 'b':
        return action_key(u, key, w, nw, orch, orch_up);
    default:
        return KR_NONE;
    }
    if (u->sel >= 0 && u->sel < nw) snprintf(u->sel_id, sizeof u->sel_id, "%s", w[u->sel].id);
    return KR_REDRAW;
}

void keys_sync_selection(struct ui *u, const struct c_worker *w, int nw)
{
    for (int i = 0; i < nw; i++)
        if (u->sel_id[0] && strcmp(w[i].id, u->sel_id) == 0) {
            u->sel = i;
            return;
        }
    if (u->sel >= nw) u->sel = nw - 1;
    if (u->sel < 0) u->sel = 0;
    if (u->sel < nw) snprintf(u->sel_id, sizeof u->sel_id, "%s", w[u->sel].id);
}
