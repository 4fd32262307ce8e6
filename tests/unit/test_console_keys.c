/* test_console_keys.c — the console's keys (keys.c) and the requests its
 * actions make (actions.c): every action asks y/n, only y submits, the
 * read-only mode submits nothing, and each action's path and body. */
#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "keys.h"
#include "test.h"

static struct c_worker W[3] = {
    { "wm", "master", 100, "ready", 5, 0, -1 },
    { "ws1", "slave", 300, "ready", 5, 0, -1 },
    { "ws2", "slave", 200, "ready", 5, 0, -1 },
};
static struct c_orch O = { .epoch = 2, .master = "wm", .master_seq = 5, .seconds_to_decision = -1,
                          .target_slaves = 2, .window_s = 120, .reads_per_slave = 20 };

static enum key_result key(struct ui *u, int k, struct action *out)
{
    return keys_handle(u, k, W, 3, &O, 1, out);
}

TEST(crash_slave_asks_then_submits_on_y)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    CHECK_INT(key(&u, 's', &a), KR_REDRAW);
    CHECK(u.confirm);
    CHECK(strstr(u.prompt, "ws1") && strstr(u.prompt, "pid 300") && strstr(u.prompt, "[y/n]"));
    CHECK_INT(key(&u, 'y', &a), KR_SUBMIT);
    CHECK_INT(a.kind, ACT_CRASH_SLAVE);
    CHECK(!u.confirm);
}

TEST(anything_but_y_cancels)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    key(&u, 'm', &a);
    CHECK(strstr(u.prompt, "master wm") && strstr(u.prompt, "pid 100"));
    CHECK_INT(key(&u, 'q', &a), KR_REDRAW); /* q answers the question, it does not quit */
    CHECK(!u.quit);
    CHECK_STR(u.note, "cancelled");
    CHECK_INT(a.kind, ACT_NONE);
}

TEST(promote_needs_a_selected_slave)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    key(&u, 'p', &a); /* the master is selected */
    CHECK(!u.confirm);
    CHECK(strstr(u.note, "select a slave") != NULL);
    CHECK_INT(key(&u, 'j', &a), KR_REDRAW);
    CHECK_INT(key(&u, K_DOWN, &a), KR_REDRAW);
    CHECK_INT(key(&u, 'j', &a), KR_REDRAW); /* stays on the last */
    CHECK_INT(u.sel, 2);
    CHECK_STR(u.sel_id, "ws2");
    key(&u, 'p', &a);
    CHECK_INT(key(&u, 'y', &a), KR_SUBMIT);
    CHECK_INT(a.kind, ACT_PROMOTE);
    CHECK_STR(a.id, "ws2");
}

TEST(scale_steps_within_bounds)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    key(&u, '+', &a);
    CHECK_INT(key(&u, 'y', &a), KR_SUBMIT);
    CHECK_INT(a.slaves, 3);
    key(&u, '-', &a);
    CHECK_INT(key(&u, 'Y', &a), KR_SUBMIT);
    CHECK_INT(a.slaves, 1);
    struct c_orch one = O;
    one.target_slaves = 1;
    CHECK_INT(keys_handle(&u, '-', W, 3, &one, 1, &a), KR_REDRAW);
    CHECK(!u.confirm);
    CHECK_INT(keys_handle(&u, '+', W, 3, &O, 0, &a), KR_REDRAW); /* orchestrator down: target unknown */
    CHECK(!u.confirm);
    struct c_orch top = O; /* at the orchestrator's MAX_SLAVES: no '+' */
    top.max_slaves = 2;
    CHECK_INT(keys_handle(&u, '+', W, 3, &top, 1, &a), KR_REDRAW);
    CHECK(!u.confirm);
    CHECK(strstr(u.note, "1..2") != NULL);
}

TEST(read_only_submits_nothing)
{
    struct ui u = { .read_only = 1 };
    struct action a = { 0 };
    const int ks[] = { 'm', 's', 'p', '+', '-' };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        CHECK_INT(key(&u, ks[i], &a), KR_REDRAW);
        CHECK(!u.confirm);
        CHECK(strstr(u.note, "read-only") != NULL);
        CHECK(key(&u, 'y', &a) != KR_SUBMIT);
    }
}

TEST(help_filter_refresh_quit)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    key(&u, '?', &a);
    CHECK(u.help);
    CHECK_INT(key(&u, 'q', &a), KR_REDRAW); /* closes the help only */
    CHECK(!u.help && !u.quit);
    key(&u, '/', &a);
    CHECK(u.filtering);
    key(&u, 's', &a);
    key(&u, 'x', &a);
    key(&u, K_BACKSPACE, &a);
    key(&u, 'p', &a);
    CHECK_STR(u.filter, "sp");
    CHECK(!u.confirm); /* typed into the filter, not taken as keys */
    key(&u, K_ENTER, &a);
    CHECK(!u.filtering);
    CHECK_STR(u.filter, "sp");
    key(&u, '/', &a);
    key(&u, K_ESC, &a);
    CHECK_STR(u.filter, "");
    CHECK_INT(key(&u, 'r', &a), KR_REFRESH);
    CHECK_INT(key(&u, K_RESIZE, &a), KR_REDRAW);
    CHECK_INT(key(&u, 'q', &a), KR_QUIT);
}

TEST(selection_follows_the_worker)
{
    struct ui u = { 0 };
    u.sel = 1;
    snprintf(u.sel_id, sizeof u.sel_id, "ws2");
    keys_sync_selection(&u, W, 3);
    CHECK_INT(u.sel, 2);
    snprintf(u.sel_id, sizeof u.sel_id, "gone");
    keys_sync_selection(&u, W, 1);
    CHECK_INT(u.sel, 0);
    CHECK_STR(u.sel_id, "wm");
}

TEST(action_requests)
{
    char path[64], body[200];
    struct action a = { ACT_SCALE, "", 4 };
    actions_request(&a, path, sizeof path, body, sizeof body);
    CHECK_STR(path, "/api/v1/scale");
    CHECK_STR(body, "{\"slaves\":4}");
    a = (struct action){ ACT_PROMOTE, "w\"1", 0 };
    actions_request(&a, path, sizeof path, body, sizeof body);
    CHECK_STR(path, "/api/v1/promote");
    CHECK_STR(body, "{\"id\":\"w\\\"1\"}");
    a = (struct action){ ACT_CRASH_SLAVE, "ws1", 0 };
    actions_request(&a, path, sizeof path, body, sizeof body);
    CHECK_STR(path, "/api/v1/crash/slave");
    CHECK_STR(body, "");
    a.kind = ACT_CRASH_MASTER;
    actions_request(&a, path, sizeof path, body, sizeof body);
    CHECK_STR(path, "/api/v1/crash/master");
    a.kind = ACT_BACKUP;
    actions_request(&a, path, sizeof path, body, sizeof body);
    CHECK_STR(path, "/api/v1/backups");
    CHECK_STR(body, "");
}

TEST(backup_asks_then_submits)
{
    struct ui u = { 0 };
    struct action a = { 0 };
    CHECK_INT(key(&u, 'b', &a), KR_REDRAW);
    CHECK(u.confirm);
    CHECK_INT(key(&u, 'y', &a), KR_SUBMIT);
    CHECK_INT(a.kind, ACT_BACKUP);
}

int main(void)
{
    RUN(crash_slave_asks_then_submits_on_y);
    RUN(anything_but_y_cancels);
    RUN(promote_needs_a_selected_slave);
    RUN(scale_steps_within_bounds);
    RUN(read_only_submits_nothing);
    RUN(help_filter_refresh_quit);
    RUN(selection_follows_the_worker);
    RUN(action_requests);
    RUN(backup_asks_then_submits);
    return test_done();
}
