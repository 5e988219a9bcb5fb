#!/usr/bin/env bash
# Makes the base images the Dockerfiles build on, debian:bookworm and
# debian:bookworm-slim, when the engine has neither them nor a registry to
# pull them from (an offline or mirror-only machine).
#
#   deploy/docker/base-images.sh            pull, or debootstrap what is missing
#   deploy/docker/base-images.sh --offline  do not try the registry
#
# What it builds: `debootstrap --variant=minbase bookworm` from the apt mirror
# this host uses (or $DEBIAN_MIRROR), with the bookworm-updates and security
# suites in its sources so image builds get the same package versions as the
# host, imported as debian:bookworm; then the same tree without
# documentation, man pages, locales and apt lists, imported as
# debian:bookworm-slim (what Debian's own -slim images leave out). Images that
# already exist are left alone. Needs root (debootstrap) and about 1 minute.
set -euo pipefail

offline=0
[[ ${1:-} == --offline ]] && offline=1
SUITE=bookworm

have() { docker image inspect "$1" >/dev/null 2>&1; }

missing=()
for image in "debian:$SUITE" "debian:$SUITE-slim"; do
  have "$image" && continue
  if ((offline == 0)) && timeout 30 docker pull -q "$image" >/dev/null 2>&1; then
    echo "base-images: pulled $image"
    continue
  fi
  missing+=("$image")
done
((${#missing[@]} == 0)) && { echo "base-images: debian:$SUITE and debian:$SUITE-slim present"; exit 0; }

command -v debootstrap >/dev/null || { echo "base-images: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "base-images: debootstrap needs root" >&2; exit 1; }

# The host's Debian mirror: deb822 sources first, then the classic list.
mirror="${DEBIAN_MIRROR:-}"
if [[ -z $mirror ]]; then
  mirror=$(sed -n 's/^URIs: *\(\S*debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
fi
if [[ -z $mirror ]]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror="${mirror:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}"

root=$(mktemp -d /tmp/triptych-debootstrap.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base-images: debootstrap $SUITE from $mirror"
debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

import_image() {  # image
  tar --numeric-owner -C "$root" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$1" >/dev/null
  echo "base-images: made $1 ($(docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

have "debian:$SUITE" || import_image "debian:$SUITE"
if ! have "debian:$SUITE-slim"; then
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  # As in Debian's slim images: dpkg keeps documentation out from now on.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  import_image "debian:$SUITE-slim"
fi
