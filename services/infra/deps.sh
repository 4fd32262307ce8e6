#!/usr/bin/env bash
#
# deps.sh — make sure the Debian packages needed to build and test are
# installed (`make deps`; `make test` runs it first). `deps.sh bench` (what
# `make bench` runs) also wants what only the benchmarks use: gnuplot, which
# draws their charts; the tests never need it.
#
# One dpkg-query call lists the installed state of every package we need;
# when nothing is missing the script exits 0 without a word, so it costs
# nothing on every `make test`. Otherwise, as root it runs apt-get update and
# installs exactly the missing packages with --no-install-recommends (what
# rabbitmq-server and zookeeper need at run time — Erlang, a JRE — are
# Depends, not Recommends); not as root it prints the apt-get command to run
# and exits 1. Running it again after a success does nothing.
#
# Package scripts must not leave a system RabbitMQ (and its epmd) or ZooKeeper
# running: the tests start private nodes on free ports, and a system node
# would hold ports and data we do not want. While installing, a
# policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d from
# starting services — unless the machine already has one (Docker images ship
# one that does the same). Afterwards anything the package users
# rabbitmq/zookeeper still run is stopped, via the init script where there is
# one, else by the PIDs that pgrep finds for those users.

set -u

PACKAGES=(
    gcc make pkg-config
    libmicrohttpd-dev librabbitmq-dev libzookeeper-mt-dev libsqlite3-dev libcjson-dev
    libcurl4-openssl-dev libncurses-dev
    rabbitmq-server zookeeper
    clang libclang-rt-14-dev
    wrk nginx sqlite3 python3 python3-venv python3-yaml tmux curl
    prometheus
    debootstrap
)
BENCH_PACKAGES=(gnuplot-nox)
[ "${1:-}" = bench ] && PACKAGES+=("${BENCH_PACKAGES[@]}")

# Installed means status "ii" (install ok installed); "rc", "iU" etc. are not.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null |
            awk 'substr($2, 2, 1) == "i" { print $1 }')
missing=()
for p in "${PACKAGES[@]}"; do
    grep -qxF -- "$p" <<<"$installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: install them as root with:" >&2
    echo "    $cmd" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}" >&2

policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by rideshare deps.sh during apt-get install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { [ $own_policy = 1 ] && rm -f "$policy"; }
trap cleanup EXIT

# Stops what a package's scripts may have started as the package's user.
stop_service_of() { # user init-script
    local user=$1 script=$2 pids
    id -u "$user" >/dev/null 2>&1 || return 0
    pids=$(pgrep -u "$user" 2>/dev/null | tr '\n' ' ')
    [ -n "$pids" ] || return 0
    echo "deps: stopping the system $user service the package started" >&2
    [ -x "$script" ] && "$script" stop >/dev/null 2>&1
    sleep 1
    pids=$(pgrep -u "$user" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086 # a list of PIDs
    [ -n "$pids" ] && kill $pids 2>/dev/null
    return 0
}

rc=0
apt-get update || rc=$?
if [ $rc = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || rc=$?
fi
for p in "${missing[@]}"; do
    case $p in
        rabbitmq-server) stop_service_of rabbitmq /etc/init.d/rabbitmq-server ;;
        zookeeper)       stop_service_of zookeeper /etc/init.d/zookeeper ;;
        prometheus)      stop_service_of prometheus /etc/init.d/prometheus ;;
    esac
done
if [ $rc != 0 ]; then
    echo "deps: apt-get failed (status $rc); the command was:" >&2
    echo "    $cmd" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}" >&2
