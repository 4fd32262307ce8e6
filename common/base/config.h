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

#endif
