/*
 * view.c — see view.h.
 *
 * Layout, recomputed on every draw from LINES x COLS:
 *   row 0        title: what the console watches, the refresh period, the time
 *   row 1        status line: every unreachable backend (reverse/red), or "reachable"
 *   wide (>= 140 columns):
 *     workers              | ZooKeeper tree (every column
 *     orchestrator | queues | beyond the left 94)
 *     rates (sparklines)   |
 *     events (the rest of the height)
 *   narrower: workers, then orchestrator|queues side by side (stacked below
 *   90 columns), then the rates when at least 6 rows would be left, then the
 *   ZooKeeper tree and the events sharing what is left
 *   last row     footer: the y/n question, the filter being typed, the last
 *                action's outcome, or the key hints
 * Every text is cut at its box's edge (mvaddnstr with a width), so no
 * terminal size can make a line wrap into its neighbour.
 *
 * Colours: one attribute per meaning (title, bad, good, master, warn,
 * header), colour pairs when the terminal has colours and NO_COLOR is not
 * set, otherwise bold/reverse/underline, so the monochrome screen still
 * tells the same things apart.
 */
#include "view.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "format.h"
#include "series.h"

enum look { L_TITLE = 1, L_BAD, L_GOOD, L_MASTER, L_WARN, L_HEADER, L_N };

static int use_color, is_open;
static attr_t looks[L_N];

int view_open(int color)
{
    /* A terminal type this system has no terminfo for (a container's
     * minimal set, say) still gets a screen: xterm's is everywhere. */
    if (!newterm(NULL, stdout, stdin) && !newterm("xterm-256color", stdout, stdin) &&
        !newterm("xterm", stdout, stdin))
        return -1;
    is_open = 1;
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    use_color = color && has_colors();
    if (use_color) {
        start_color();
        use_default_colors();
        init_pair(L_TITLE, COLOR_BLACK, COLOR_CYAN);
        init_pair(L_BAD, COLOR_WHITE, COLOR_RED);
        init_pair(L_GOOD, COLOR_GREEN, -1);
        init_pair(L_MASTER, COLOR_GREEN, -1);
        init_pair(L_WARN, COLOR_YELLOW, -1);
        init_pair(L_HEADER, COLOR_CYAN, -1);
        for (int i = 1; i < L_N; i++) looks[i] = COLOR_PAIR(i);
        looks[L_BAD] |= A_BOLD;
        looks[L_MASTER] |= A_BOLD;
        looks[L_HEADER] |= A_BOLD;
    } else {
        looks[L_TITLE] = A_REVERSE;
        looks[L_BAD] = A_REVERSE | A_BOLD;
        looks[L_GOOD] = A_NORMAL;
        looks[L_MASTER] = A_BOLD;
        looks[L_WARN] = A_UNDERLINE;
        looks[L_HEADER] = A_UNDERLINE;
    }
    return 0;
}

void view_close(void)
{
    if (!is_open) return;
    is_open = 0;
    endwin();
}

/* Text at (y, x), at most w columns. */
static void put(int y, int x, int w, attr_t a, const char *text)
{
    if (w <= 0 || y < 0 || y >= LINES || x >= COLS) return;
    attron(a);
    mvaddnstr(y, x, text, w);
    attroff(a);
}

/* A whole row of w columns in attribute a, text on it. */
static void bar(int y, int x, int w, attr_t a, const char *text)
{
    if (w <= 0 || y < 0 || y >= LINES) return;
    attron(a);
    mvhline(y, x, ' ', w);
    mvaddnstr(y, x, text, w);
    attroff(a);
}

static void frame(int y, int x, int h, int w, const char *title)
{
    if (h < 2 || w < 4) return;
    mvhline(y, x + 1, ACS_HLINE, w - 2);
    mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
    mvvline(y + 1, x, ACS_VLINE, h - 2);
    mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
    mvaddch(y, x, ACS_ULCORNER);
    mvaddch(y, x + w - 1, ACS_URCORNER);
    mvaddch(y + h - 1, x, ACS_LLCORNER);
    mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
    char t[160];
    snprintf(t, sizeof t, " %s ", title);
    put(y, x + 2, w - 4, looks[L_HEADER], t);
}

static void draw_workers(int y, int x, int h, int w, const struct snapshot *s, const struct c_worker *wk,
                         int nw, const struct ui *u)
{
    char title[80], line[FMT_LINE];
    snprintf(title, sizeof title, "workers (%d)%s", nw, s->be[B_ORCH].up ? "" : " - from ZooKeeper");
    frame(y, x, h, w, title);
    fmt_worker_header(line, sizeof line);
    put(y + 1, x + 2, w - 4, looks[L_HEADER], line);
    int rows = h - 3, first = u->sel >= rows ? u->sel - rows + 1 : 0;
    if (nw == 0) put(y + 2, x + 2, w - 4, A_NORMAL, "(none)");
    for (int i = first, r = 0; i < nw && r < rows; i++, r++) {
        fmt_worker(line, sizeof line, &wk[i]);
        attr_t a = strcmp(wk[i].role, "master") == 0 ? looks[L_MASTER]
                 : strcmp(wk[i].state, "ready") != 0 ? looks[L_WARN] : A_NORMAL;
        if (i == u->sel) bar(y + 2 + r, x + 1, w - 2, A_REVERSE, "");
        put(y + 2 + r, x + 2, w - 4, i == u->sel ? (a | A_REVERSE) : a, line);
    }
}

static void draw_orch(int y, int x, int h, int w, const struct snapshot *s, const struct c_worker *wk, int nw)
{
    frame(y, x, h, w, s->be[B_ORCH].up ? "orchestrator" : "orchestrator - unreachable");
    char lines[FMT_ORCH_LINES][FMT_LINE];
    int n = s->be[B_ORCH].updated_ms ? fmt_orch(lines, FMT_ORCH_LINES, &s->orch, wk, nw) : 0;
    if (!n) put(y + 1, x + 2, w - 4, A_NORMAL, s->be[B_ORCH].tried ? "no answer yet" : "asking...");
    for (int i = 0; i < n && i < h - 2; i++) {
        attr_t a = !s->be[B_ORCH].up ? A_DIM : fmt_orch_warns(&s->orch, i) ? looks[L_WARN] : A_NORMAL;
        put(y + 1 + i, x + 2, w - 4, a, lines[i]);
    }
}

static void draw_queues(int y, int x, int h, int w, const struct snapshot *s)
{
    frame(y, x, h, w, s->be[B_MQ].up ? "queues" : "queues - unreachable");
    char line[FMT_LINE];
    fmt_queue_header(line, sizeof line);
    put(y + 1, x + 2, w - 4, looks[L_HEADER], line);
    for (int i = 0; i < MODEL_QUEUES && i < h - 3; i++) {
        struct c_queue q = s->queues[i];
        if (!s->be[B_MQ].up) q.ok = 0;
        fmt_queue(line, sizeof line, &q);
        put(y + 2 + i, x + 2, w - 4, A_NORMAL, line);
    }
}

/* The sparklines: one line per series, cut to the box by series_line
 * itself (its UTF-8 blocks are three bytes to a column). */
static void draw_rates(int y, int x, int h, int w, const struct snapshot *s, const struct view_info *info)
{
    char title[80], line[FMT_LINE];
    series_title(&s->series, title, sizeof title);
    frame(y, x, h, w, title);
    for (int k = 0; k < SER_N && k < h - 2; k++) {
        series_line(&s->series, (enum series_kind)k, w - 4, info->utf8, line, sizeof line);
        put(y + 1 + k, x + 2, (int)strlen(line), A_NORMAL, line);
    }
}

static void draw_zk(int y, int x, int h, int w, const struct snapshot *s, const struct view_info *info)
{
    char title[200], line[FMT_LINE];
    snprintf(title, sizeof title, "ZooKeeper %s%s", info->zk_root, s->be[B_ZK].up ? "" : " - unreachable");
    frame(y, x, h, w, title);
    int rows = h - 2;
    for (int i = 0; i < s->nznodes && i < rows; i++) {
        fmt_znode(line, sizeof line, &s->znodes[i]);
        put(y + 1 + i, x + 2, w - 4, s->be[B_ZK].up ? A_NORMAL : A_DIM, line);
    }
    if (s->nznodes > rows || s->zk_truncated) put(y + h - 1, x + w - 12, 10, A_NORMAL, " more... ");
}

static void draw_events(int y, int x, int h, int w, const struct snapshot *s, const struct ui *u)
{
    static struct c_event ev[2 * MODEL_EVENTS_MAX];
    int n = model_events(s, u->filter, ev, 2 * MODEL_EVENTS_MAX);
    char title[160], line[FMT_LINE];
    if (u->filter[0]) snprintf(title, sizeof title, "events (%d) - filter: %s", n, u->filter);
    else snprintf(title, sizeof title, "events (%d)", n);
    frame(y, x, h, w, title);
    for (int i = 0; i < n && i < h - 2; i++) {
        fmt_event(line, sizeof line, &ev[i]);
        const char *k = ev[i].kind;
        attr_t a = strcmp(k, "error") == 0 || strcmp(k, "crash") == 0 ? looks[L_WARN]
                 : strcmp(k, "recovered") == 0 || strcmp(k, "election") == 0 ? looks[L_GOOD] : A_NORMAL;
        put(y + 1 + i, x + 2, w - 4, a, line);
    }
}

static void draw_help(void)
{
    int n = 0, wid = 0;
    while (KEYS_HELP[n]) {
        int l = (int)strlen(KEYS_HELP[n]);
        if (l > wid) wid = l;
        n++;
    }
    int h = n + 4, w = wid + 6;
    if (w > COLS) w = COLS;
    if (h > LINES) h = LINES;
    int y = (LINES - h) / 2, x = (COLS - w) / 2;
    for (int r = 0; r < h; r++) mvhline(y + r, x, ' ', w);
    frame(y, x, h, w, "help - keys");
    for (int i = 0; i < n && i < h - 4; i++) put(y + 2 + i, x + 3, w - 6, A_NORMAL, KEYS_HELP[i]);
}

static void draw_footer(const struct snapshot *s, const struct ui *u)
{
    char line[FMT_LINE];
    int y = LINES - 1;
    if (u->confirm) {
        bar(y, 0, COLS, looks[L_BAD], u->prompt);
        return;
    }
    if (u->filtering) snprintf(line, sizeof line, "filter events: /%s_   (Enter keeps, Esc clears)", u->filter);
    else if (u->note[0]) snprintf(line, sizeof line, "%s", u->note);
    else if (s->message[0]) snprintf(line, sizeof line, "%s%s", s->action_busy ? "running: " : "", s->message);
    else snprintf(line, sizeof line, "q quit  ? help  j/k select  m crash master  s crash slave  p promote  "
                                     "+/- scale  b backup  r refresh  / filter%s", u->read_only ? "   [read-only]" : "");
    bar(y, 0, COLS, A_NORMAL, line);
}

void view_draw(const struct snapshot *s, const struct c_worker *wk, int nw, const struct ui *u,
               const struct view_info *info)
{
    erase();
    int H = LINES, W = COLS;
    if (H < 12 || W < 50) {
        char msg[80];
        snprintf(msg, sizeof msg, "terminal too small (%dx%d); need 50x12", W, H);
        put(0, 0, W, A_NORMAL, msg);
        refresh();
        return;
    }
    char line[FMT_LINE], now[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%H:%M:%SZ", &tm);
    snprintf(line, sizeof line, " rideshare-console%s   every %gs   zk %s%s   mq %s   orch %s",
             u->read_only ? "  READ-ONLY" : "", info->delay_s, info->zk_hosts, info->zk_root, info->amqp_url,
             info->orch_url);
    if ((int)strlen(line) > W - 11) line[W - 11] = 0; /* the clock keeps the right end */
    bar(0, 0, W, looks[L_TITLE], line);
    put(0, W - 10, 9, looks[L_TITLE], now);
    int down = fmt_status(line, sizeof line, s, clock_ms());
    bar(1, 0, W, down ? looks[L_BAD] : looks[L_GOOD], line);

    int top = 2, body = H - 3;
    int wh = (nw < 1 ? 1 : nw > 12 ? 12 : nw) + 3;
    int oh = FMT_ORCH_LINES + 2, qw = 42, rh = SER_N + 2;
    if (W >= 140) {
        int lw = 94, zw = W - lw; /* the workers' columns and orchestrator|queues fit in 94 */
        if (body - wh - oh - rh < 3) rh = 0; /* too short: the events first */
        draw_workers(top, 0, wh, lw, s, wk, nw, u);
        draw_orch(top + wh, 0, oh, lw - qw, s, wk, nw);
        draw_queues(top + wh, lw - qw, oh, qw, s);
        if (rh) draw_rates(top + wh + oh, 0, rh, lw, s, info);
        draw_zk(top, lw, wh + oh + rh, zw, s, info);
        int used = wh + oh + rh;
        if (body - used >= 3) draw_events(top + used, 0, body - used, W, s, u);
    } else {
        draw_workers(top, 0, wh, W, s, wk, nw, u);
        int y = top + wh;
        if (W >= 90) {
            draw_orch(y, 0, oh, W - qw, s, wk, nw);
            draw_queues(y, W - qw, oh, qw, s);
            y += oh;
        } else {
            draw_orch(y, 0, oh, W, s, wk, nw);
            draw_queues(y + oh, 0, oh, W, s);
            y += 2 * oh;
        }
        if (top + body - y - rh >= 6) {
            draw_rates(y, 0, rh, W, s, info);
            y += rh;
        }
        int rest = top + body - y;
        int zh = s->nznodes + 2;
        if (zh > rest / 2) zh = rest / 2;
        if (zh >= 3) draw_zk(y, 0, zh, W, s, info);
        else zh = 0;
        if (rest - zh >= 3) draw_events(y + zh, 0, rest - zh, W, s, u);
    }
    draw_footer(s, u);
    if (u->help) draw_help();
    refresh();
}

int view_key(int timeout_ms)
{
    timeout(timeout_ms);
    int ch = getch();
    switch (ch) {
    case ERR: return -1;
    case KEY_UP: return K_UP;
    case KEY_DOWN: return K_DOWN;
    case KEY_HOME: return K_HOME;
    case KEY_END: return K_END;
    case KEY_ENTER: case '\n': case '\r': return K_ENTER;
    case 27: return K_ESC;
    case KEY_BACKSPACE: case 127: case 8: return K_BACKSPACE;
    case KEY_RESIZE: return K_RESIZE;
    default: return ch >= 0 && ch < 256 ? ch : -1;
    }
}
