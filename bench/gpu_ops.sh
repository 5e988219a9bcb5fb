#!/usr/bin/env bash
# GPU forward ops (kernels/hip/forward_ops.h): op tests + timings in one call.
#
#   bash bench/gpu_ops.sh [--quick]         build (if needed) and run here
#   bash bench/gpu_ops.sh bundle            build the CUDA binaries here and pack
#                                           them with their shared libraries into
#                                           $BUILD_DIR/gpu-bundle (about 45 MB)
#   bash bench/gpu_ops.sh run DIR [--quick] run a bundle (a GPU machine without
#                                           this project's Debian packages)
#
# Prints the host, the devices, each command, the op tests' summary
# (hip_forward_ops_test / hip_forward_ops_cuda_test: every op against its CPU
# reference) and triptych-gpu-ops-bench's table. A runtime without a device
# (exit status 2) is reported and skipped. BUILD_DIR defaults to build-gpu.
# See docs/BENCHMARKS.md, "GPU (issue 7)".
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}

build() {
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
  fi
  local targets=(hip_forward_ops_test triptych-gpu-ops-bench)
  if grep -q "triptych-gpu-ops-bench-cuda:" "$BUILD_DIR/build.ninja"; then
    targets+=(hip_forward_ops_cuda_test triptych-gpu-ops-bench-cuda)
  fi
  ninja -C "$BUILD_DIR" "${targets[@]}" >/dev/null || exit 1
}

# run_pair TEST BENCH [bench args]: the op tests, then the timings.
run_pair() {
  local test=$1 bench=$2
  shift 2
  [[ -x $test && -x $bench ]] || return 0
  echo "== $(basename "$bench")"
  echo "command: $test --gtest_brief=1"
  "$test" --gtest_brief=1 2>&1 | tail -n 25
  echo "command: $bench $*"
  "$bench" "$@"
  local rc=$?
  if ((rc == 2)); then echo "(no device for this runtime; skipped)"; fi
  return 0
}

header() {
  echo "host: $(hostname) $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
  if command -v rocm-smi >/dev/null; then rocm-smi --showproductname 2>/dev/null | grep -i card; fi
}

case "${1:-}" in
  bundle)
    build
    [[ -x $BUILD_DIR/bin/triptych-gpu-ops-bench-cuda ]] || {
      echo "gpu_ops.sh: no nvcc build in $BUILD_DIR (nvcc not found at configure time)" >&2
      exit 1
    }
    out=$BUILD_DIR/gpu-bundle
    rm -rf "$out" && mkdir -p "$out/lib"
    cp "$BUILD_DIR/tests/hip_forward_ops_cuda_test" "$BUILD_DIR/bin/triptych-gpu-ops-bench-cuda" "$out/"
    # Every shared library but the C / C++ runtime, which the target has.
    ldd "$out/hip_forward_ops_cuda_test" "$out/triptych-gpu-ops-bench-cuda" |
      awk '$3 ~ /^\// {print $3}' | sort -u |
      grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux-x86-64|libpthread|libdl|librt)\.so' |
      xargs -r -I{} cp -L {} "$out/lib/"
    du -sh "$out"
    echo "run it on a GPU machine: bash bench/gpu_ops.sh run $out [--quick]"
    ;;
  run)
    dir=${2:?usage: gpu_ops.sh run DIR [--quick]}
    shift 2
    export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    header
    run_pair "$dir/hip_forward_ops_cuda_test" "$dir/triptych-gpu-ops-bench-cuda" "$@"
    ;;
  *)
    build
    header
    run_pair "$BUILD_DIR/tests/hip_forward_ops_test" "$BUILD_DIR/bin/triptych-gpu-ops-bench" "$@"
    run_pair "$BUILD_DIR/tests/hip_forward_ops_cuda_test" \
      "$BUILD_DIR/bin/triptych-gpu-ops-bench-cuda" "$@"
    ;;
esac
