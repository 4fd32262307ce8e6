#!/usr/bin/env bash
#
# entrypoint.sh — the rideshare-rabbitmq container's start: the stack's users into
# /etc/rabbitmq/definitions.json (rabbitmq-roles.sh; readable by root and the rabbitmq group
# only), then the broker (the package's wrapper, which drops to the rabbitmq user). The users come
# from ORCHESTRATOR_AUTH, WORKER_AUTH and CONSOLE_AUTH, user:password each, which docker/stack.sh
# (make up) sets from secrets/broker_*; without them the broker does not start.
set -euo pipefail
for v in ORCHESTRATOR_AUTH WORKER_AUTH CONSOLE_AUTH; do
    [ -n "${!v:-}" ] || { echo "rabbitmq: $v is not set: start the stack with make up (docker/stack.sh)" >&2; exit 1; }
done
umask 027
rabbitmq-roles.sh / >/etc/rabbitmq/definitions.json.tmp
chgrp rabbitmq /etc/rabbitmq/definitions.json.tmp
mv /etc/rabbitmq/definitions.json.tmp /etc/rabbitmq/definitions.json
# The passwords stay out of the broker's environment.
exec env -u ORCHESTRATOR_AUTH -u WORKER_AUTH -u CONSOLE_AUTH /usr/sbin/rabbitmq-server "$@"
