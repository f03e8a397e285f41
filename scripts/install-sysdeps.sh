#!/usr/bin/env bash
# Install the system packages the tests and the demo need, only where missing (Debian/Ubuntu).
set -euo pipefail
need=()
pg_bin_ok() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
pg_bin_ok || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
command -v npm >/dev/null 2>&1 || need+=(npm)  # s3rver, the second S3 implementation of the tests
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# podman as root with runc and no ulimit inheritance (the container runtime on these machines).
if command -v podman >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
fi
