#!/usr/bin/env bash
#
# rabbitmq-roles.sh VHOST — prints a RabbitMQ definitions document (JSON, for load_definitions
# at boot or `rabbitmqctl import_definitions`): the virtual host VHOST, one user per role of the
# stack with its password, and each role's permissions in VHOST, as narrow as the design allows
# (docs/security.md, "The brokers' users"). The one place those permissions are written down:
# services/infra/localinfra.sh (make run, tests) and docker/rabbitmq (make up) both use it.
#
# The users come from the environment, each as user:password (never on a command line):
#   ORCHESTRATOR_AUTH  WORKER_AUTH  CONSOLE_AUTH   the three roles (each optional)
#   ADMIN_AUTH         a user with every permission in VHOST (tools, tests), optional
#   ADMIN_ONLY_PERMISSIONS=1  ADMIN_AUTH's user exists already: only its permissions
# Users are [A-Za-z0-9._-]+ and passwords [A-Za-z0-9._~-]+ (safe in an amqp:// URL as they
# are); anything else is refused.
#
# The permissions are regular expressions over names in VHOST, for configure (declare, delete),
# write (publish: the exchange, always the default one, amq.default) and read (consume) — the
# queue names are those of common/mq/protocol.h; amq.gen-* are the server-named reply queues.
#   orchestrator  declares writeQ, readQ and its reply queue; publishes requests; reads its
#                 replies and the backups workers make; makes and deletes the restore streams
#   worker        declares and consumes writeQ (a master), readQ and backupQ (slaves), the log
#                 and the checkpoint streams; publishes the log, checkpoints, backups and replies;
#                 reads restore streams; never touches a reply queue but through amq.default
#   console       nothing: it reads queue depths with passive declares, which need no permission
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: rabbitmq-roles.sh VHOST (users in ORCHESTRATOR_AUTH, WORKER_AUTH, CONSOLE_AUTH, ADMIN_AUTH)" >&2; exit 2; }
vhost=$1
[[ $vhost =~ ^[A-Za-z0-9/._-]+$ ]] || { echo "rabbitmq-roles: bad vhost name '$vhost'" >&2; exit 2; }

ORCH_CONFIGURE='^(writeQ|readQ|amq\\.gen-.*|replog\\.backup\\..*|replog\\.restore\\..*)$'
ORCH_WRITE='^amq\\.default$'
ORCH_READ='^(amq\\.gen-.*|replog\\.backup\\..*)$'
WORKER_CONFIGURE='^(writeQ|readQ|backupQ|replog|replog\\.ckpt\\..*|replog\\.backup\\..*)$'
WORKER_WRITE='^amq\\.default$'
WORKER_READ='^(writeQ|readQ|backupQ|replog|replog\\.ckpt\\..*|replog\\.restore\\..*)$'
NOTHING='^$'
ALL='.*'

users=() perms=()
# role VAR CONFIGURE WRITE READ: the user in $VAR (if set) with those permissions.
role() {
    local auth=${!1:-} user pass
    [ -n "$auth" ] || return 0
    user=${auth%%:*} pass=${auth#*:}
    if [[ $auth != *:* || ! $user =~ ^[A-Za-z0-9._-]+$ || ! $pass =~ ^[A-Za-z0-9._~-]+$ ]]; then
        echo "rabbitmq-roles: $1 is not user:password with [A-Za-z0-9._-] and [A-Za-z0-9._~-]" >&2
        exit 2
    fi
    [ "$1" = ADMIN_AUTH ] && [ "${ADMIN_ONLY_PERMISSIONS:-}" = 1 ] ||
        users+=("{\"name\": \"$user\", \"password\": \"$pass\", \"tags\": \"\"}")
    perms+=("{\"user\": \"$user\", \"vhost\": \"$vhost\", \"configure\": \"$2\", \"write\": \"$3\", \"read\": \"$4\"}")
}
role ORCHESTRATOR_AUTH "$ORCH_CONFIGURE" "$ORCH_WRITE" "$ORCH_READ"
role WORKER_AUTH "$WORKER_CONFIGURE" "$WORKER_WRITE" "$WORKER_READ"
role CONSOLE_AUTH "$NOTHING" "$NOTHING" "$NOTHING"
role ADMIN_AUTH "$ALL" "$ALL" "$ALL"

join() { local IFS=,; echo "$*"; }
printf '{"vhosts": [{"name": "%s"}],\n "users": [%s],\n "permissions": [%s]}\n' \
    "$vhost" "$(join ${users[@]+"${users[@]}"})" "$(join ${perms[@]+"${perms[@]}"})"
