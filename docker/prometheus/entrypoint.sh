#!/usr/bin/env bash
# entrypoint.sh — renders the scrape config for the compose network (users, rides and the
# orchestrator on port 80 of the back network; ORCH_ADDRS lists both of the HA pair), puts
# ADMIN_TOKEN in a file only Prometheus reads (mode 0600), and runs Prometheus with bounded
# storage. /run/prometheus is a tmpfs (docker-compose.yml).
set -euo pipefail
conf=/run/prometheus
umask 077
token_file=
if [ -n "${ADMIN_TOKEN:-}" ]; then
    token_file=$conf/admin-token
    printf '%s\n' "$ADMIN_TOKEN" >"$token_file"
fi
unset ADMIN_TOKEN
ADMIN_TOKEN_FILE=$token_file PROMETHEUS_CHECK=0 \
    /opt/rideshare/prometheus/render.sh users:80 rides:80 "${ORCH_ADDRS:-orchestrator:80}" "$conf"
exec prometheus --config.file="$conf/prometheus.yml" --storage.tsdb.path=/prometheus \
    --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-15d}" \
    --storage.tsdb.retention.size="${PROMETHEUS_RETENTION_SIZE:-512MB}" \
    --web.listen-address=0.0.0.0:9090 "$@"
