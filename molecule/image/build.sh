#!/usr/bin/env bash
# Build a Molecule base image without any registry: localhost/checkniner-debian12:latest by default, or
# DEBIAN_SUITE=trixie CHECKNINER_MOLECULE_IMAGE=localhost/checkniner-debian13:latest. debootstrap a minimal Debian
# root with the slow, stable packages baked in (Debian's PostgreSQL server and client: 15 on bookworm, 17 on
# trixie; python3-venv, cron, sudo, logrotate, gnupg), then `podman import` it. Cached: does nothing when the
# image already exists (FORCE=1 rebuilds).
set -euo pipefail

IMAGE="${CHECKNINER_MOLECULE_IMAGE:-localhost/checkniner-debian12:latest}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if [ "${FORCE:-0}" != "1" ] && podman image exists "$IMAGE"; then
  echo "image $IMAGE already built (FORCE=1 to rebuild)"
  exit 0
fi

# Reuse the controller's Debian mirror when it has one, else the public redirector.
mirror_from_host() {
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $2 !~ /^\[/ && $3 == "'"$SUITE"'" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_host)}"

PACKAGES=(
  python3 python3-venv python3-pip python3-apt
  ca-certificates sudo acl procps less
  cron logrotate gnupg
  postgresql postgresql-client
)
# trixie: debootstrap resolves cron's and postgresql-common's need for sysusers/tmpfiles to the whole of systemd,
# whose configuration fails in its chroot. So debootstrap installs the base alone, and apt (which takes the
# standalone sysusers/tmpfiles a container needs) the rest, inside the new root.
LATER=()
if [ "$SUITE" = "trixie" ]; then
  LATER=(cron logrotate postgresql postgresql-client systemd-standalone-sysusers systemd-standalone-tmpfiles)
  KEEP=()
  for p in "${PACKAGES[@]}"; do [[ " ${LATER[*]} " == *" $p "* ]] || KEEP+=("$p"); done
  PACKAGES=("${KEEP[@]}")
fi

ROOTFS=$(mktemp -d /var/tmp/checkniner-rootfs.XXXXXX)
chmod 0755 "$ROOTFS" # the root of the image: package scripts running as postgres must traverse it
cleanup() {
  for m in proc sys dev/pts; do umount "$ROOTFS/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

echo "debootstrap $SUITE from $MIRROR into $ROOTFS"
LANG=C.UTF-8 LC_ALL=C.UTF-8 debootstrap --variant=minbase \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  "$SUITE" "$ROOTFS" "$MIRROR"

if [ ${#LATER[@]} -gt 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"
  chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
  printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$ROOTFS/etc/apt/sources.list"
  mount -t proc proc "$ROOTFS/proc"
  LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" apt-get update -qq
  LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" \
    apt-get install -y -qq --no-install-recommends "${LATER[@]}" >/dev/null
  umount "$ROOTFS/proc"
fi

# The default cluster (postgresql-common creates it at install; make sure it exists).
PG_MAJOR=$(find "$ROOTFS/usr/lib/postgresql" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -1)
if [ ! -f "$ROOTFS/etc/postgresql/$PG_MAJOR/main/postgresql.conf" ]; then
  mount -t proc proc "$ROOTFS/proc"
  LANG=C.UTF-8 LC_ALL=C.UTF-8 chroot "$ROOTFS" pg_createcluster --locale C.UTF-8 "$PG_MAJOR" main
  umount "$ROOTFS/proc"
fi

# Trim what a container never needs; keep dpkg state so apt knows what is installed.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/var/log/*.log
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" > "$ROOTFS/etc/apt/sources.list"
# Cron's PAM stack cannot set the login uid inside a container: make that step optional.
sed -i 's/^session\s\+required\s\+pam_loginuid\.so/session    optional     pam_loginuid.so/' "$ROOTFS/etc/pam.d/cron"
# No init system inside the container: services are started by hand, never by package scripts.
printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
: > "$ROOTFS/etc/machine-id"

echo "importing into $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . | podman import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sleep", "infinity"]' \
  - "$IMAGE"
podman image ls "$IMAGE"
