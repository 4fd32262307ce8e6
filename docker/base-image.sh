#!/usr/bin/env bash
#
# docker/base-image.sh — make sure the image debian:bookworm-slim exists locally.
#
# Every Dockerfile of the project starts FROM debian:bookworm-slim. On a normal machine
# this script finds it (or pulls it) and does nothing else. On a machine with no registry
# it builds an equivalent from Debian's packages:
#
#     debootstrap --variant=minbase bookworm DIR      (about 30 s)
#     tar -C DIR -c . | docker import - debian:bookworm-slim
#
# Needs root (debootstrap) only in that last case.
#
#   Environment:
#     BASE_IMAGE   the tag to make (default debian:bookworm-slim)
#     DEBIAN_MIRROR  mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

image=${BASE_IMAGE:-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi
echo "base-image: $image is not here; trying to pull it" >&2
if timeout 60 docker pull "$image" >/dev/null 2>&1; then
    echo "base-image: pulled $image" >&2
    exit 0
fi
echo "base-image: cannot pull $image; building it with debootstrap" >&2
command -v debootstrap >/dev/null 2>&1 || { echo "base-image: debootstrap is missing (make deps)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "base-image: debootstrap needs root" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/rideshare-rootfs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
    tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"
# Slim: no documentation, manual pages or translations, now or from later installs (dpkg
# skips those paths; copyright files stay); no apt lists, caches or logs.
cat >"$dir/etc/dpkg/dpkg.cfg.d/rideshare-slim" <<'EOT'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOT
find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/lintian/*
mkdir -p "$dir"/usr/share/man/man1 # update-alternatives (e.g. a JRE's postinst) needs it
find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
       "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/var/cache/debconf/*-old
tar -C "$dir" -c . | docker import \
    -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' \
    -m "debootstrap --variant=minbase bookworm (rideshare docker/base-image.sh)" \
    - "$image" >/dev/null
echo "base-image: built $image from Debian's packages" >&2
