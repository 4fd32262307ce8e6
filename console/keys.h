/*
 * keys.h — what each key does, as a state machine over plain data.
 *
 * The screen (view.c) maps curses' key codes to the K_* codes below (plain
 * characters are themselves) and hands them here with the workers as shown;
 * the answer says whether to redraw, refresh, quit or submit an action.
 * Modes: the help overlay (any key closes it), a pending y/n question
 * (only y confirms), and editing the event filter after '/'. No curses and
 * no I/O here, so the unit tests drive it key by key.
 */
#ifndef RS_CONSOLE_KEYS_H
#define RS_CONSOLE_KEYS_H

#include "actions.h"
#include "model.h"

enum { K_UP = 0x10000, K_DOWN, K_ENTER, K_ESC, K_BACKSPACE, K_RESIZE, K_HOME, K_END };

/* The limit for POST /api/v1/scale when the status does not give the
 * orchestrator's MAX_SLAVES (an older orchestrator: 16). */
#define SCALE_MAX 16

struct ui {
    int read_only;
    int sel;                     /* selected worker */
    char sel_id[MODEL_ID_MAX];            /* kept across refreshes */
    int help;                    /* the help overlay is shown */
    int confirm;                 /* pending waits for y/n */
    struct action pending;
    char prompt[MODEL_EVENT_TEXT];
    int filtering;               /* editing the filter */
    char filter[64];
    char note[MODEL_EVENT_TEXT];          /* a short message for the footer */
    int quit;
};

enum key_result { KR_NONE, KR_REDRAW, KR_REFRESH, KR_SUBMIT, KR_QUIT };

/* Handles one key. On KR_SUBMIT, *out is the confirmed action. */
enum key_result keys_handle(struct ui *u, int key, const struct c_worker *w, int nw,
                            const struct c_orch *orch, int orch_up, struct action *out);

/* Keeps the selection on the same worker (by id) after the list changed. */
void keys_sync_selection(struct ui *u, const struct c_worker *w, int nw);

/* The help text: lines of "key  what it does", NULL-terminated. */
extern const char *const KEYS_HELP[];

#endif
