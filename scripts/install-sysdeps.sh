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
# promtool (the alert rules' checks and unit tests, the metrics file's lint): only the one binary out of Debian's
# `prometheus` package, the only Debian package that ships it. Installing the package itself would add ~96 MB, a
# system user and a Prometheus server started on :9090; promtool alone is ~48 MB, in /usr/local/bin.
if ! command -v promtool >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing promtool (from Debian's prometheus package)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  $SUDO apt-get update -qq
  # apt's "download is performed unsandboxed as root" note is noise here; its errors are not
  (cd "$work" && $SUDO apt-get download -qq prometheus 2> >(grep -v unsandboxed >&2))
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
  $SUDO install -m 0755 "$work/usr/bin/promtool" /usr/local/bin/promtool
fi
# podman as root with runc and no ulimit inheritance (the container runtime on these machines).
if command -v podman >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
fi
