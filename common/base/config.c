/* config.c — see config.h. */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct config_var *find(const struct config_var *vars, const char *name)
{
    for (const struct config_var *v = vars; v->name; v++)
        if (strcmp(v->name, name) == 0) return v;
    log_error("config variable not declared name=%s", name);
    abort(); /* a programming error, not a user error */
}

void config_args(int argc, char **argv, const char *prog, const char *summary,
                 const struct config_var *vars)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: %s [--help]\n%s\n\nConfigured by environment variables:\n", prog, summary);
            for (const struct config_var *v = vars; v->name; v++)
                printf("  %-26s %s\n  %-26s default: %s\n", v->name, v->help, "",
                       v->def && *v->def ? v->def : "(empty)");
            exit(0);
        }
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", prog, argv[i]);
        exit(2);
    }
}

const char *config_str(const struct config_var *vars, const char *name)
{
    const struct config_var *v = find(vars, name);
    const char *env = getenv(name);
    if (env && *env) return env;
    return v->def ? v->def : "";
}

long config_long(const struct config_var *vars, const char *name, long min, long max)
{
    const char *s = config_str(vars, name);
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < min || n > max) {
        log_error("invalid setting name=%s value=%s min=%ld max=%ld", name, s, min, max);
        exit(2);
    }
    return n;
}

void config_secret(const struct config_var *vars, const char *name, const char *file_name, char *out,
                   size_t cap)
{
    const char *path = config_str(vars, file_name);
    const char *value = config_str(vars, name);
    char line[1024];
    if (*path) {
        FILE *f = fopen(path, "r");
        if (!f || !fgets(line, sizeof line, f)) {
            log_error("cannot read a secret name=%s path=%s err=\"%s\"", file_name, path,
                      f ? "empty file" : strerror(errno));
            exit(2);
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        value = line;
    }
    if (strlen(value) >= cap) {
        log_error("secret too long name=%s max=%zu", *path ? file_name : name, cap - 1);
        exit(2);
    }
    snprintf(out, cap, "%s", value);
}
