/*
 * rideshare-console — a live terminal view of the Rideshare DB service,
 * with controls, in the tradition of htop and k9s.
 *
 * It reads ZooKeeper (the znodes under ZK_ROOT, by watches), RabbitMQ (queue
 * depths) and the orchestrator's admin API (GET /api/v1/status), each on a
 * collector thread of its own (collect.c), and acts only through the admin
 * API (actions.c). The main thread draws the latest snapshot and reads keys;
 * it never waits on the network, so a slow or dead backend freezes nothing.
 *
 * Modes: interactive (the default; needs a terminal), --once (a plain-text
 * snapshot of every panel) and --json (the same as JSON); --sample SECS lets
 * a batch mode watch that long first, so that the rates' series (series.h)
 * hold SECS worth of samples. Batch modes exit 0
 * when every backend answered, 1 otherwise, 2 on a usage error.
 *
 * The terminal is restored on every way out: q, SIGINT/SIGTERM/SIGHUP (a
 * flag the main loop checks), and crash signals (SIGSEGV, SIGABRT, SIGBUS,
 * SIGFPE, SIGILL), whose handler ends curses and re-raises the signal with
 * its default action so the exit status and core dump stay what they were.
 * While curses runs, the log (stderr) goes to CONSOLE_LOG, or nowhere, so
 * that no log line lands on the screen.
 *
 * Addresses. ORCH_URL is all it needs: what the environment does not set of
 * ZK_HOSTS, ZK_ROOT and RABBITMQ_URL it asks the orchestrator for before it
 * starts (GET /api/v1/config, discover.h), logging in to a learned broker
 * with RABBITMQ_USER/RABBITMQ_PASSWORD. The screen waits for that answer,
 * retrying every second (it has nothing right to show before); batch modes
 * ask once and fall back to the defaults, and then report the orchestrator
 * unreachable anyway (exit 1).
 */
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "batch.h"
#include "clock.h"
#include "collect.h"
#include "config.h"
#include "discover.h"
#include "http_client.h"
#include "keys.h"
#include "log.h"
#include "view.h"
#include "zk_acl.h"

static const struct config_var vars[] = {
    { "ORCH_URL", "http://127.0.0.1:8083", "the orchestrator's base URL (admin API); it says where the rest is. "
                                           "Several, separated by commas: the active one is used" },
    { "ADMIN_TOKEN", "", "the orchestrator's admin token (empty: none)" },
    { "ADMIN_TOKEN_FILE", "", "a file whose first line is the admin token (instead of ADMIN_TOKEN)" },
    { "ZK_HOSTS", "127.0.0.1:2181", "ZooKeeper hosts (unset: asked of the orchestrator)" },
    { "ZK_ROOT", "/rideshare", "root of the service's znodes (unset: asked of the orchestrator)" },
    { "ZK_SESSION_MS", "4000", "the console's ZooKeeper session timeout in ms" },
    { "ZK_AUTH", "", "the console's ZooKeeper identity user:password, where the znodes have ACLs (empty: none)" },
    { "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/",
      "RabbitMQ broker, with its vhost (unset: its address asked of the orchestrator)" },
    { "RABBITMQ_USER", "guest", "the console's broker user, with an address from the orchestrator" },
    { "RABBITMQ_PASSWORD", "guest", "that user's password" },
    { "CONSOLE_TIMEOUT_MS", "2000", "timeout of each call to a backend" },
    { "CONSOLE_LOG", "", "file for the log while the screen is up (default: discarded)" },
    { "NO_COLOR", "", "set (non-empty): no colours, monochrome attributes only" },
    { "LOG_LEVEL", "warn", "debug, info, warn or error" },
    { 0 },
};

static const char SUMMARY[] =
    "A live terminal view of the Rideshare DB service, with controls.\n"
    "\n"
    "Options:\n"
    "  --once          print a plain-text snapshot of every panel and exit\n"
    "  --json          print the same snapshot as JSON and exit\n"
    "  --sample SECS   batch modes: watch SECS first, so the rates' series have samples\n"
    "  --read-only     show everything, allow no action\n"
    "  -d SECONDS      refresh period (default 1; 0.1 to 3600)\n"
    "  --help          this text\n"
    "Batch modes exit 0 when every backend answered, 1 otherwise.\n"
    "\n"
    "Keys: Up/Down or j/k select a worker; m crash the master; s crash a slave (highest PID);\n"
    "p promote the selected slave; +/- scale slaves; b take a backup (kept in the orchestrator's\n"
    "backup directory); r refresh; / filter events; ? help; q quit.\n"
    "Every action asks y/n first.";

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Not async-signal-safe in theory (endwin writes through stdio); in
 * practice the one chance to give the terminal back before dying. */
static void on_crash(int sig)
{
    view_close();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_crash;
    const int crash[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) sigaction(crash[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

struct options {
    int once, json, read_only;
    double delay_s;
    double sample_s;        /* batch modes: how long to collect before printing */
};

static void usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "rideshare-console: %s '%s' (try --help)\n", msg, arg);
    exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    o->delay_s = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            char *help[] = { argv[0], "--help", NULL };
            config_args(2, help, "rideshare-console", SUMMARY, vars); /* prints and exits */
        } else if (strcmp(a, "--once") == 0) {
            o->once = 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--sample") == 0) {
            if (i + 1 >= argc) usage_error("missing seconds after", a);
            char *end;
            o->sample_s = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(o->sample_s >= 0 && o->sample_s <= 3600))
                usage_error("--sample takes seconds within 0..3600, not", argv[i]);
        } else if (strcmp(a, "--read-only") == 0) {
            o->read_only = 1;
        } else if (strcmp(a, "-d") == 0 || strcmp(a, "--delay") == 0) {
            if (i + 1 >= argc) usage_error("missing seconds after", a);
            char *end;
            o->delay_s = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(o->delay_s >= 0.1 && o->delay_s <= 3600))
                usage_error("the delay must be seconds within 0.1..3600, not", argv[i]);
        } else {
            usage_error("unknown argument", a);
        }
    }
}

struct addresses {
    const char *zk_hosts, *zk_root, *amqp_url;
    struct discovered d;        /* what the orchestrator said */
    char learned_amqp[700];
};

static int set_here(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

/* Fills a: the environment's settings, the orchestrator's answer for what
 * they leave out, the defaults when a batch run gets no answer. 0, or -1
 * when the user gave up waiting (Ctrl-C). */
static int learn_addresses(const char *orch_url, const char *const *headers, int timeout_ms, int batch,
                           struct addresses *a)
{
    a->zk_hosts = config_str(vars, "ZK_HOSTS");
    a->zk_root = config_str(vars, "ZK_ROOT");
    a->amqp_url = config_str(vars, "RABBITMQ_URL");
    if (set_here("ZK_HOSTS") && set_here("ZK_ROOT") && set_here("RABBITMQ_URL")) return 0;
    char why[300];
    for (int tries = 0; discover_fetch(orch_url, headers, timeout_ms, &a->d, why, sizeof why) != 0; tries++) {
        if (batch) {
            fprintf(stderr, "rideshare-console: %s did not say where ZooKeeper and RabbitMQ are (%s); "
                    "using the defaults\n", orch_url, why);
            return 0;
        }
        if (tries == 0)
            fprintf(stderr, "rideshare-console: waiting for %s to say where ZooKeeper and RabbitMQ are (%s); "
                    "Ctrl-C gives up (or set ZK_HOSTS, ZK_ROOT and RABBITMQ_URL)\n", orch_url, why);
        struct timespec t = { 1, 0 };
        if (!stop_flag) nanosleep(&t, NULL);
        if (stop_flag) return -1;
    }
    if (!set_here("ZK_HOSTS")) a->zk_hosts = a->d.zk_hosts;
    if (!set_here("ZK_ROOT")) a->zk_root = a->d.zk_root;
    if (!set_here("RABBITMQ_URL")) {
        discover_amqp_url(&a->d, config_str(vars, "RABBITMQ_USER"), config_str(vars, "RABBITMQ_PASSWORD"),
                          a->learned_amqp, sizeof a->learned_amqp);
        a->amqp_url = a->learned_amqp;
    }
    return 0;
}

static int run_batch(struct collector *c, const struct options *o, const struct batch_info *info, int timeout_ms)
{
    collector_wait_first(c, 2 * timeout_ms + 1000);
    /* --sample: the collectors go on polling meanwhile, a sample a period. */
    int64_t until = clock_ms() + (int64_t)(o->sample_s * 1000);
    while (!stop_flag && clock_ms() < until) {
        struct timespec t = { 0, 50 * 1000000L };
        nanosleep(&t, NULL);
    }
    static struct snapshot s;
    collector_snapshot(c, &s);
    if (o->json) batch_json(stdout, &s, info);
    else batch_text(stdout, &s, info);
    fflush(stdout);
    int all = 1;
    for (int b = 0; b < B_N; b++) all &= s.be[b].up;
    return all ? 0 : 1;
}

/* Sends the log to CONSOLE_LOG (or /dev/null) while the screen is up. */
static void redirect_log(void)
{
    const char *path = config_str(vars, "CONSOLE_LOG");
    int fd = open(*path ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
}

static int run_screen(struct collector *c, struct actions *a, const struct options *o,
                      const struct view_info *vi, const char *zk_root)
{
    static struct snapshot s;
    static struct c_worker w[CW_MAX];
    struct ui u;
    memset(&u, 0, sizeof u);
    u.read_only = o->read_only;
    while (!stop_flag && !u.quit) {
        collector_snapshot(c, &s);
        int nw = model_workers(&s, zk_root, w, CW_MAX);
        keys_sync_selection(&u, w, nw);
        view_draw(&s, w, nw, &u, vi);
        int key = view_key(200);
        if (key < 0) continue;
        struct action act;
        switch (keys_handle(&u, key, w, nw, &s.orch, s.be[B_ORCH].up, &act)) {
        case KR_REFRESH: collector_refresh(c); break;
        case KR_SUBMIT:
            if (!a || actions_submit(a, &act) != 0)
                snprintf(u.note, sizeof u.note, "another action is still running; try again");
            break;
        default: break;
        }
    }
    view_close();
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof o);
    parse_options(argc, argv, &o);
    setenv("LOG_LEVEL", config_str(vars, "LOG_LEVEL"), 0); /* the console's default is quieter */
    log_init("console");
    install_signals();
    int batch = o.once || o.json;
    if (!batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fprintf(stderr, "rideshare-console: not a terminal; use --once or --json for a snapshot\n");
        return 2;
    }
    const char *no_color = getenv("NO_COLOR");
    int color = !(no_color && *no_color);
    int timeout_ms = (int)config_long(vars, "CONSOLE_TIMEOUT_MS", 100, 60000);
    char orch_url[600], amqp_shown[400];
    http_client_global_init();
    char token[256];
    static char auth[300];
    config_secret(vars, "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", token, sizeof token);
    if (strcspn(token, "\r\n") != strlen(token)) {
        fprintf(stderr, "rideshare-console: ADMIN_TOKEN holds a line break\n");
        return 2;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    static const char *orch_headers[2];
    orch_headers[0] = token[0] ? auth : NULL;
    if (discover_active(config_str(vars, "ORCH_URL"), orch_headers, timeout_ms, orch_url, sizeof orch_url)) {
        fprintf(stderr, "rideshare-console: ORCH_URL is empty or too long\n");
        return 2;
    }
    static struct addresses ad;
    if (learn_addresses(orch_url, orch_headers, timeout_ms, batch, &ad) != 0) return 1;
    model_redact_url(ad.amqp_url, amqp_shown, sizeof amqp_shown);
    /* A reader: it makes no znode, it only authenticates to read them. */
    struct zk_access za = { .role = ZK_ROLE_READER, .root = ad.zk_root, .auth = config_str(vars, "ZK_AUTH") };
    if (zk_access_init(&za)) return 2;
    struct collect_config cc = {
        .zk_hosts = ad.zk_hosts,
        .zk_root = ad.zk_root,
        .zk_session_ms = (int)config_long(vars, "ZK_SESSION_MS", 1000, 60000),
        .amqp_url = ad.amqp_url,
        .orch_url = orch_url,
        .orch_headers = orch_headers,
        .period_ms = (int64_t)(o.delay_s * 1000),
        .timeout_ms = timeout_ms,
    };
    /* UTF-8 line drawing and sparklines where the locale has it; batch modes
     * take only the character set (numbers keep their '.'). */
    setlocale(batch ? LC_CTYPE : LC_ALL, "");
    int utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (!batch) {
        if (view_open(color) != 0) {
            fprintf(stderr, "rideshare-console: cannot start the screen (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
            return 2;
        }
        redirect_log(); /* after newterm: its own complaints still reach the user */
    }
    struct collector *c = collector_start(&cc);
    if (!c) {
        view_close();
        fprintf(stderr, "rideshare-console: cannot start the collector threads\n");
        return 1;
    }
    int rc;
    if (batch) {
        struct batch_info bi = { cc.zk_hosts, cc.zk_root, cc.amqp_url, orch_url, utf8 };
        rc = run_batch(c, &o, &bi, timeout_ms);
    } else {
        struct actions *a = o.read_only ? NULL : actions_start(c, orch_url, orch_headers, timeout_ms);
        struct view_info vi = { cc.zk_hosts, cc.zk_root, amqp_shown, orch_url, o.delay_s, utf8 };
        rc = run_screen(c, a, &o, &vi, cc.zk_root);
        actions_stop(a);
    }
    collector_stop(c);
    return rc;
}
