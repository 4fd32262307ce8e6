#!/usr/bin/env bash
#
# admin-token.sh [FILE] — prints the path of the admin token file, making the token first if the
# file does not exist yet: 32 random bytes as 64 hex digits, in a file only its owner can read (the
# directory too). FILE defaults to ADMIN_TOKEN_FILE, else secrets/admin_token in the checkout
# (git-ignored). `make run`, `make up`, `make backup`/`restore` and `make console` all use it, so
# one token, made on first use, serves them all; docs/security.md says how to rotate it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
file=${1:-${ADMIN_TOKEN_FILE:-$root/secrets/admin_token}}
if [ ! -s "$file" ]; then
    dir=$(dirname "$file")
    mkdir -p "$dir"
    [ "$dir" = "$root/secrets" ] && chmod 700 "$dir"
    umask 077
    tmp=$(mktemp "$dir/.admin_token.XXXXXX")
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
    echo >>"$tmp"
    mv "$tmp" "$file"
    echo "admin-token: made a new admin token in $file" >&2
fi
echo "$file"
