#!/usr/bin/env bash
#
# render.sh — turns services/prometheus/prometheus.yml.template into a runnable config.
#
#   render.sh USERS_ADDR RIDES_ADDR ORCH_ADDRS OUTDIR
#
#     USERS_ADDR  the users service, HOST:PORT (127.0.0.1:8081, users:80)
#     RIDES_ADDR  the rides service, HOST:PORT
#     ORCH_ADDRS  the orchestrator(s), HOST:PORT, comma-separated (a standby answers 503: down)
#     OUTDIR      created if need be; receives prometheus.yml and alerts.yml
#
#   Environment:
#     ADMIN_TOKEN_FILE     the admin token, as Prometheus will read it (credentials_file; empty: no
#                          token is sent): every service's /metrics needs it when the stack has one
#     PROMETHEUS_INTERVAL  scrape and rule evaluation interval (default 5s)
#     PROMETHEUS_CHECK     1 (default): run `promtool check config` on the result when promtool
#                          is installed; 0: don't
#
# Then run:  prometheus --config.file=OUTDIR/prometheus.yml --storage.tsdb.path=DIR
#            --web.listen-address=127.0.0.1:9090 --storage.tsdb.retention.size=256MB
#
# Each argument is checked against a strict pattern, so nothing but an address or a path
# reaches the config; the result is written to a temporary file and moved into place.
set -euo pipefail

die() { echo "render.sh: $*" >&2; exit 2; }
[ $# -eq 4 ] || die "usage: render.sh USERS_ADDR RIDES_ADDR ORCH_ADDRS OUTDIR"
users=$1 rides=$2 orchs=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)

addr_re='([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([1-9][0-9]{0,4})'
[[ $users =~ ^$addr_re$ ]] || die "USERS_ADDR '$users' is not HOST:PORT"
[[ $rides =~ ^$addr_re$ ]] || die "RIDES_ADDR '$rides' is not HOST:PORT"
[[ $orchs =~ ^$addr_re(,$addr_re)*$ ]] || die "ORCH_ADDRS '$orchs' is not HOST:PORT[,HOST:PORT...]"
interval=${PROMETHEUS_INTERVAL:-5s}
[[ $interval =~ ^[1-9][0-9]*(ms|s|m)$ ]] || die "PROMETHEUS_INTERVAL '$interval' is not a duration"
token_file=${ADMIN_TOKEN_FILE:-}
[[ -z $token_file || $token_file =~ ^/[A-Za-z0-9._/-]+$ ]] || die "ADMIN_TOKEN_FILE '$token_file' is not a plain path"

auth=
[ -n "$token_file" ] && auth="authorization: {type: Bearer, credentials_file: $token_file}"
orch_list=$(sed 's/[^,]*/"&"/g; s/,/, /g' <<<"$orchs")
mkdir -p "$out"
tmp=$(mktemp "$out/.prometheus.yml.XXXXXX")
sed -e "s|@@INTERVAL@@|$interval|g" -e "s|@@RULES@@|alerts.yml|" -e "s|@@USERS@@|$users|" \
    -e "s|@@RIDES@@|$rides|" -e "s|@@ORCH@@|$orch_list|" -e "s|@@AUTH@@|$auth|g" \
    "$here/prometheus.yml.template" >"$tmp"
cp "$here/alerts.yml" "$out/alerts.yml"
chmod 644 "$tmp"
mv "$tmp" "$out/prometheus.yml"
if [ "${PROMETHEUS_CHECK:-1}" = 1 ] && command -v promtool >/dev/null 2>&1; then
    promtool check config --syntax-only "$out/prometheus.yml" >/dev/null ||
        die "promtool check config failed on $out/prometheus.yml"
fi
