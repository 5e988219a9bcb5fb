#!/usr/bin/env bash
# Builds the multi-role image from binaries built on this Debian 12 host,
# without compiling in the image build (deploy/docker/Dockerfile.local).
#
#   deploy/docker/local-image.sh [BUILD_DIR] [TAG]     defaults: build triptych:cpu
#
# Stages a small build context (stripped copies of the roles' binaries, the
# entrypoint and runtime-setup.sh) so the engine is not sent the source tree.
# Works with the legacy builder and BuildKit alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${1:-build}"
TAG="${2:-triptych:cpu}"
TARGETS=(triptych-gateway triptych-scheduler triptych-prefill triptych-decode triptych-memory
         triptych-loadgen triptych-run triptych-quantize triptych-gen-model)

ctx=$(mktemp -d /tmp/triptych-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
for t in "${TARGETS[@]}"; do
  [[ -x $BUILD_DIR/bin/$t ]] || { echo "local-image: $BUILD_DIR/bin/$t is not built (bash scripts/build.sh)" >&2; exit 1; }
  install -m 0755 -s "$BUILD_DIR/bin/$t" "$ctx/bin/$t"
done
cp deploy/docker/Dockerfile.local deploy/docker/entrypoint.sh deploy/docker/runtime-setup.sh "$ctx/"

# The Debian packages that hold the binaries' shared libraries (usrmerge:
# dpkg may know a library under /lib or /usr/lib).
packages=()
while read -r lib; do
  lib=$(realpath -s "$lib")
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
          dpkg -S "/usr$lib" 2>/dev/null || true)
  [[ -n $owner ]] || { echo "local-image: no Debian package holds $lib" >&2; exit 1; }
  packages+=("${owner%%:*}")
done < <(ldd "$ctx"/bin/* | awk '/=> \//{print $3}' | sort -u)
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u |
                        grep -vxE 'libc6|libgcc-s1|libstdc\+\+6')

log="$ctx.log"
if ! docker build -f "$ctx/Dockerfile.local" --build-arg PACKAGES="${packages[*]}" \
    -t "$TAG" "$ctx" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "local-image: docker build failed (log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "local-image: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1 / 1e6}'))"
