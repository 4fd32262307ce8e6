#!/usr/bin/env bash
#
# broker-secrets.sh — the brokers' credentials of make run and make up (docs/security.md,
# "The brokers' users"): one identity per role, user:password, the same for RabbitMQ (its user)
# and ZooKeeper (its digest identity).
#
#   broker-secrets.sh env      prints, one KEY=value a line, for a shell to read:
#                              ORCHESTRATOR_AUTH WORKER_AUTH CONSOLE_AUTH   user:password each
#                              CONSOLE_ZK_ID   the console's ZooKeeper digest id (ZK_READERS)
#                              ORCHESTRATOR_AUTH_PREVIOUS   the orchestrator's former identity,
#                                              empty unless rotate kept one (ZK_AUTH_PREVIOUS)
#                              RABBITMQ_COOKIE  the Erlang cookie the nodes of a RabbitMQ cluster
#                                              share (HA=1 make up; docker/rabbitmq/entrypoint.sh)
#                              making any missing file first
#   broker-secrets.sh rotate   new passwords for all three; the orchestrator's former identity is
#                              kept as broker_orchestrator.previous, so that the orchestrator can
#                              take over the znodes made under it (delete that file once the stack
#                              has been started once with the new ones)
#
# Files, in BROKER_SECRETS_DIR (default secrets/ in the checkout, git-ignored; the directory
# 0700, the files 0600, like the admin token's): broker_orchestrator, broker_worker,
# broker_console, each one line "<role>:<64 hex digits>" (32 random bytes from /dev/urandom);
# broker_erlang_cookie, one line of 40 capital letters (Erlang's own cookies are such; drawn with
# Python's secrets module, about 188 bits). rotate leaves the cookie alone: a new one takes every node of the
# cluster restarted at once (make down, make up), and it is no user's password.
# Nothing here goes on a command line: the callers read the env output from a pipe.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${BROKER_SECRETS_DIR:-$root/secrets}
ROLES=(orchestrator worker console)

make_missing() {
    local role f tmp
    mkdir -p "$dir"
    [ "$dir" = "$root/secrets" ] && chmod 700 "$dir"
    for role in "${ROLES[@]}"; do
        f=$dir/broker_$role
        [ -s "$f" ] && continue
        tmp=$(umask 077; mktemp "$dir/.broker_$role.XXXXXX")
        echo "$role:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$tmp"
        mv "$tmp" "$f"
        echo "broker-secrets: made a new $role identity in $f" >&2
    done
    f=$dir/broker_erlang_cookie
    if [ ! -s "$f" ]; then
        tmp=$(umask 077; mktemp "$dir/.broker_erlang_cookie.XXXXXX")
        python3 -c 'import secrets, string
print("".join(secrets.choice(string.ascii_uppercase) for _ in range(40)))' >"$tmp"
        mv "$tmp" "$f"
        echo "broker-secrets: made a new Erlang cookie in $f" >&2
    fi
}

# The ZooKeeper digest id of user:password read on stdin: user:base64(sha1(user:password)).
digest_id() {
    python3 -c 'import base64, hashlib, sys
a = sys.stdin.readline().rstrip("\n")
print(a.split(":", 1)[0] + ":" + base64.b64encode(hashlib.sha1(a.encode()).digest()).decode())'
}

case ${1:-} in
env)
    make_missing
    echo "ORCHESTRATOR_AUTH=$(head -n1 "$dir/broker_orchestrator")"
    echo "WORKER_AUTH=$(head -n1 "$dir/broker_worker")"
    echo "CONSOLE_AUTH=$(head -n1 "$dir/broker_console")"
    echo "CONSOLE_ZK_ID=$(head -n1 "$dir/broker_console" | digest_id)"
    prev=''
    [ -s "$dir/broker_orchestrator.previous" ] && prev=$(head -n1 "$dir/broker_orchestrator.previous")
    echo "ORCHESTRATOR_AUTH_PREVIOUS=$prev"
    echo "RABBITMQ_COOKIE=$(head -n1 "$dir/broker_erlang_cookie")"
    ;;
rotate)
    if [ -s "$dir/broker_orchestrator" ]; then
        (umask 077; cp "$dir/broker_orchestrator" "$dir/broker_orchestrator.previous")
    fi
    for role in "${ROLES[@]}"; do rm -f "$dir/broker_$role"; done
    make_missing
    echo "broker-secrets: restart the stack to use them (docs/security.md, \"Rotating\")" >&2
    ;;
*)
    echo "usage: broker-secrets.sh env|rotate" >&2
    exit 2
    ;;
esac
