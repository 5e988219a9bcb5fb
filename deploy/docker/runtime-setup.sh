#!/usr/bin/env bash
# Runtime stage of every Triptych image (Dockerfile, Dockerfile.rocm,
# Dockerfile.xrt, Dockerfile.local), in two steps so that the package layer
# stays cached when only the binaries change:
#
#   runtime-setup.sh packages [EXTRA_PACKAGE...]
#       the shared libraries the binaries link (before they are copied in)
#   runtime-setup.sh finish [--groups G1,G2] [--dirs "D1 D2"]
#       checks that no library of /opt/triptych/bin is missing (the image
#       build fails, not the pod), creates the unprivileged runtime user
#       (UID 10001) and the folders the nodes use
#
# Base libraries: ldd of the Release build on Debian 12; their own
# dependencies (libgrpc29, libre2-9, libc-ares2, libssl3, libnuma1,
# libgfortran5, ...) come in through apt.
set -euo pipefail

step="${1:?usage: runtime-setup.sh packages|finish ...}"
shift
if [[ $step == packages ]]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    libgrpc++1.51 libprotobuf32 libabsl20220623 libucx0 libopenblas0-pthread \
    libpcre2-8-0 libyaml-cpp0.7 libxxhash0 zlib1g "$@"
  rm -rf /var/lib/apt/lists/*
  exit 0
fi
[[ $step == finish ]] || { echo "runtime-setup: unknown step '$step'" >&2; exit 2; }

groups="" dirs=""
while (($#)); do
  case "$1" in
    --groups) groups="$2"; shift 2 ;;
    --dirs) dirs="$2"; shift 2 ;;
    *) echo "runtime-setup: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

chmod 0755 /usr/local/bin/triptych
if ldd /opt/triptych/bin/* | grep 'not found'; then
  echo "runtime-setup: a shared library of the binaries is missing" >&2
  exit 1
fi
groupadd --system --gid 10001 triptych
useradd --system --uid 10001 --gid triptych ${groups:+--groups "$groups"} \
  --home-dir /var/lib/triptych --create-home --shell /usr/sbin/nologin triptych
# /var/lib/triptych/kv: the memory node's disk tier (--disk-dir); a named
# volume mounted there starts out owned by the runtime user.
mkdir -p /models /etc/triptych /var/lib/triptych/kv $dirs
chown triptych:triptych /models /var/lib/triptych/kv
