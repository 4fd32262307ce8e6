#!/usr/bin/env bash
#
# backup.sh — `make backup` and `make restore FILE=...` against a running stack
# (`make up` or `make run`), through the orchestrator's admin API.
#
#   backup.sh backup          GET /api/v1/backup into backups/backup-<UTC>-seq<N>.db (BACKUPS_DIR
#                             moves it),
#                             with a sidecar .json (seq, epoch, crc, size) from its headers
#   backup.sh restore FILE    put FILE (and FILE.json, if there is one) into the
#                             orchestrator's backup directory, then POST /api/v1/restore
#
# ORCH_URL (default http://127.0.0.1:${ORCH_PORT:-8083}) names the orchestrator. Where the
# backup directory is comes from GET /api/v1/backups: a container's (make up: the
# orchestrator container of RIDESHARE_STACK, found by its compose labels, gets the file
# with docker cp) or a directory on this host (make run). The file is checked here first
# (sqlite3's integrity_check); the orchestrator checks it again, and refuses a corrupt or
# foreign file with its reason, changing nothing.
#
# The admin token: ADMIN_TOKEN if set (empty: none), else the first line of ADMIN_TOKEN_FILE
# (default secrets/admin_token, the one make run and make up use) if it exists.

set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
orch=${ORCH_URL:-http://127.0.0.1:${ORCH_PORT:-8083}}
stack=${RIDESHARE_STACK:-rideshare}
timeout=${BACKUP_TIMEOUT_S:-600}

die() { echo "backup: $*" >&2; exit 1; }

# Temporary files, removed at exit however it comes.
tmp='' hdr='' out=''
trap 'rm -f ${tmp:+"$tmp"} ${hdr:+"$hdr"} ${out:+"$out"}' EXIT

token=${ADMIN_TOKEN-}
if [ "${ADMIN_TOKEN+set}" != set ]; then
    token_file=${ADMIN_TOKEN_FILE:-$root/secrets/admin_token}
    [ -r "$token_file" ] && token=$(head -n1 "$token_file")
fi
# curl with the token's header, read from a pipe so that it never shows in a process list.
ocurl() {
    if [ -n "$token" ]; then
        curl -H @<(printf 'Authorization: Bearer %s\n' "$token") "$@"
    else
        curl "$@"
    fi
}

json_field() { # json_field FIELD < json
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

backup() {
    local dir=${BACKUPS_DIR:-$root/backups} name seq code
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.backup.XXXXXX")
    hdr=$(mktemp)
    code=$(ocurl -sS --max-time "$timeout" -D "$hdr" -o "$tmp" -w '%{http_code}' "$orch/api/v1/backup") ||
        die "cannot reach the orchestrator at $orch"
    [ "$code" = 200 ] || die "the orchestrator answered $code: $(cat "$tmp")"
    header() { grep -i "^$1:" "$hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
    seq=$(header X-Rideshare-Seq)
    name=backup-$(date -u +%Y%m%dT%H%M%SZ)-seq$seq.db
    [ "$(sqlite3 "$tmp" 'PRAGMA integrity_check' 2>&1)" = ok ] || die "the backup received does not check out"
    mv "$tmp" "$dir/$name"
    tmp=''
    printf '{"seq":%s,"epoch":%s,"crc":"%s","size":%s}\n' "$seq" "$(header X-Rideshare-Epoch)" \
        "$(header X-Rideshare-Checksum | sed 's/^crc32c://')" "$(stat -c %s "$dir/$name")" >"$dir/$name.json"
    echo "$dir/$name (seq $seq, $(stat -c %s "$dir/$name") bytes)"
}

restore() {
    local file=${1:-} name dir cid
    [ -n "$file" ] || die "usage: make restore FILE=<backup file>"
    [ -f "$file" ] || die "no such file: $file"
    name=$(basename "$file")
    [[ $name =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ ]] || die "rename the file: a backup's name is [A-Za-z0-9._-] only"
    dir=$(ocurl -fsS --max-time 10 "$orch/api/v1/backups" | json_field dir) ||
        die "cannot reach the orchestrator at $orch"
    cid=$(docker ps -q --filter "label=com.docker.compose.project=$stack" \
        --filter "label=com.docker.compose.service=orchestrator" 2>/dev/null | head -1 || true)
    if [ -n "$cid" ]; then
        docker cp "$file" "$cid:$dir/$name"
        [ ! -f "$file.json" ] || docker cp "$file.json" "$cid:$dir/$name.json"
    else
        [ -d "$dir" ] || die "the orchestrator's backup directory $dir is not on this host"
        [ "$(cd "$(dirname "$file")" && pwd)/$name" = "$dir/$name" ] || cp "$file" "$dir/$name"
        [ ! -f "$file.json" ] || [ "$file.json" -ef "$dir/$name.json" ] || cp "$file.json" "$dir/$name.json"
    fi
    local code
    out=$(mktemp)
    code=$(ocurl -sS --max-time "$timeout" -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "{\"name\": \"$name\"}" "$orch/api/v1/restore") || die "cannot reach the orchestrator at $orch"
    cat "$out"
    echo
    [ "$code" = 200 ] || die "restore refused ($code)"
}

case ${1:-} in
    backup) backup ;;
    restore) restore "${2:-}" ;;
    *) echo "usage: services/infra/backup.sh backup | restore FILE" >&2; exit 2 ;;
esac
