/*
 * view.h — the screen: ncurses, drawn from a snapshot and the UI state.
 *
 * Only the main thread calls these. view_draw never waits on anything; it
 * lays the panels out for the terminal's current size on every call, so a
 * resize is just the next draw.
 */
#ifndef RS_CONSOLE_VIEW_H
#define RS_CONSOLE_VIEW_H

#include "keys.h"
#include "model.h"

struct view_info {
    const char *zk_hosts, *zk_root, *amqp_url, *orch_url; /* amqp_url without credentials */
    double delay_s;
    int utf8;               /* the terminal speaks UTF-8: sparklines in blocks */
};

/* Starts curses on the terminal; color 0 forces monochrome. -1 if there is
 * no usable terminal. */
int view_open(int color);
/* Ends curses, restoring the terminal. Safe to call twice. */
void view_close(void);

void view_draw(const struct snapshot *s, const struct c_worker *w, int nw, const struct ui *u,
               const struct view_info *info);

/* The next key within timeout_ms as a keys.h code (plain characters as
 * themselves), or -1. */
int view_key(int timeout_ms);

#endif
