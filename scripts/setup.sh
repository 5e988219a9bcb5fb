#!/usr/bin/env bash
# Installs every Debian 12 package Triptych builds, tests and runs with.
# libtbb-dev: the HIP CPU Runtime (../shared/third_party/hip-cpu) that runs
# kernels/hip on the host in CI.
# Idempotent and non-interactive: packages already present are skipped by apt.
# TRIPTYCH_SETUP_PROFILE=build (the Dockerfiles' build stage) installs only
# what compiling needs: no container engine, compose, debootstrap or Node.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3 iproute2
  clang-14 libclang-rt-14-dev
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev libpcre2-dev nlohmann-json3-dev libxxhash-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev openssl
  libucx-dev ucx-utils libboost-dev libspdlog-dev libyaml-cpp-dev libcli11-dev
  libxrt-dev hipcc libamdhip64-dev rocm-device-libs
  libtbb-dev
)
if [[ ${TRIPTYCH_SETUP_PROFILE:-all} != build ]]; then
  # deploy/compose-e2e.sh: Debian's engine, compose, and debootstrap for the
  # base images when no registry is reachable (deploy/docker/base-images.sh).
  PACKAGES+=(docker.io docker-compose debootstrap)
  # The gateway's client test runs the official `openai` npm package under Node.
  # NodeSource's nodejs bundles npm; Debian's nodejs needs the separate npm package.
  PACKAGES+=(nodejs)
  command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all ${#PACKAGES[@]} packages present"
