#!/usr/bin/env bash
#
# render.sh — turns services/gateway/nginx.conf.template into a runnable nginx config.
#
#   render.sh LISTEN USERS_ADDR RIDES_ADDR OUTDIR
#
#     LISTEN      what the gateway listens on: PORT or HOST:PORT (127.0.0.1:8080, 80, [::1]:8080)
#     USERS_ADDR  the users service, HOST:PORT (127.0.0.1:8081, users:80)
#     RIDES_ADDR  the rides service, HOST:PORT (127.0.0.1:8082, rides:80)
#     OUTDIR      created if need be; receives nginx.conf, logs/ and tmp/
#
#   Environment:
#     GATEWAY_WORKERS     worker_processes (default 1; "auto" = one per core)
#     GATEWAY_ACCESS_LOG  buffered (default: logs/access.log, flushed every second),
#                         sync (written per request; tests read it), off
#     GATEWAY_CONN_PER_CLIENT  connections with a request in progress per client address (limit_conn,
#                         default 256; 429 beyond)
#     GATEWAY_CHECK       1 (default): run `nginx -t` on the result when nginx is installed; 0: don't
#                         (e.g. in a container whose upstream names do not resolve yet)
#
# Then run:  nginx -p OUTDIR -c nginx.conf -e stderr -g 'daemon off;'
#
# How it works: each argument is checked against a strict pattern (so nothing but an address
# can reach the config), then sed replaces the @@NAME@@ placeholders; the result is written to a
# temporary file and moved into place, so a half-written config is never seen.

set -euo pipefail

die() { echo "render.sh: $*" >&2; exit 2; }

[ $# -eq 4 ] || die "usage: render.sh LISTEN USERS_ADDR RIDES_ADDR OUTDIR"
listen=$1 users=$2 rides=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
template=$here/nginx.conf.template

host_re='([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])'
port_re='([1-9][0-9]{0,4})'
[[ $listen =~ ^($host_re:)?$port_re$ ]] || die "LISTEN '$listen' is not PORT or HOST:PORT"
[[ $users =~ ^$host_re:$port_re$ ]] || die "USERS_ADDR '$users' is not HOST:PORT"
[[ $rides =~ ^$host_re:$port_re$ ]] || die "RIDES_ADDR '$rides' is not HOST:PORT"

workers=${GATEWAY_WORKERS:-1}
[[ $workers =~ ^([1-9][0-9]?|auto)$ ]] || die "GATEWAY_WORKERS '$workers' is not a number or auto"
per_client=${GATEWAY_CONN_PER_CLIENT:-256}
[[ $per_client =~ ^[1-9][0-9]{0,5}$ ]] || die "GATEWAY_CONN_PER_CLIENT '$per_client' is not a number from 1"
case ${GATEWAY_ACCESS_LOG:-buffered} in
    buffered) access_log='logs/access.log gateway buffer=64k flush=1s' ;;
    sync)     access_log='logs/access.log gateway' ;;
    off)      access_log='off' ;;
    *) die "GATEWAY_ACCESS_LOG '${GATEWAY_ACCESS_LOG}' is not buffered, sync or off" ;;
esac

mkdir -p "$out/logs" "$out/tmp"
sed -e "s|@@LISTEN@@|$listen|g" \
    -e "s|@@USERS_ADDR@@|$users|g" \
    -e "s|@@RIDES_ADDR@@|$rides|g" \
    -e "s|@@WORKERS@@|$workers|g" \
    -e "s|@@ACCESS_LOG@@|$access_log|g" \
    -e "s|@@CONN_PER_CLIENT@@|$per_client|g" \
    "$template" >"$out/nginx.conf.tmp"
if grep -v '^[[:space:]]*#' "$out/nginx.conf.tmp" | grep -q '@@[A-Z_]*@@'; then
    rm -f "$out/nginx.conf.tmp"
    die "a placeholder of $template was left unreplaced"
fi
mv "$out/nginx.conf.tmp" "$out/nginx.conf"

if [ "${GATEWAY_CHECK:-1}" = 1 ] && command -v nginx >/dev/null 2>&1; then
    out_abs=$(cd "$out" && pwd)
    if ! msg=$(nginx -t -q -p "$out_abs/" -c nginx.conf -e stderr 2>&1); then
        echo "$msg" >&2
        die "nginx -t rejected $out_abs/nginx.conf"
    fi
fi
