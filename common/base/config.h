/*
 * config.h — configuration from the environment.
 *
 * Each binary lists its variables once, with defaults and a line of help,
 * in a table ending with a zeroed entry. That one table answers --help and
 * supplies the defaults, so the two cannot drift apart:
 *
 *     static const struct config_var vars[] = {
 *         { "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", "broker to use" },
 *         { 0 }
 *     };
 *     config_args(argc, argv, "worker", "one database replica", vars);
 *     const char *url = config_str(vars, "RABBITMQ_URL");
 *
 * A value that does not parse is a fatal start-up error with a clear
 * message: a service never runs on a setting it misread.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stddef.h>

struct config_var {
    const char *name;
    const char *def;   /* NULL: no default, empty unless set */
    const char *help;
};

/* Handles the command line: --help prints usage and the variables with
 * their defaults and exits 0; any other argument is an error (exit 2). */
void config_args(int argc, char **argv, const char *prog, const char *summary,
                 const struct config_var *vars);

/* The variable's value from the environment, else its default ("" if none).
 * The name must be in the table. */
const char *config_str(const struct config_var *vars, const char *name);

/* The value as an integer in [min, max]; exits with a message otherwise. */
long config_long(const struct config_var *vars, const char *name, long min, long max);

/* A secret (the admin token): the first line of the file that file_name
 * names when that is set (a Docker secret, a file only its owner reads),
 * else the value of name itself. Written into out (cap bytes); "" when
 * neither is set. A file that cannot be read, or a secret longer than out,
 * is a fatal start-up error, like any setting that does not parse. */
void config_secret(const struct config_var *vars, const char *name, const char *file_name, char *out,
                   size_t cap);

#endif
