#!/usr/bin/env bash
# Issue 12's one prepared GPU run: op tests, device conformance and runtime
# throughput on the GPU, with the CPU beside it for the ratio.
#
#   bash bench/gpu.sh bundle        build the CUDA flavour here (build-cuda:
#                                   TRIPTYCH_GPU_RUNTIME=cuda) and pack the
#                                   binaries, their shared libraries and the
#                                   conformance data into build-cuda/gpu-bundle
#                                   and build-cuda/gpu-bundle.tar.xz (what a
#                                   device call carries)
#   bash bench/gpu.sh run DIR       on a lent GPU machine (no Debian packages
#                                   needed): run everything from a bundle
#   bash bench/gpu.sh local         the same sequence here on the build/ tree
#                                   (hip-cpu: checks the script, tiny shapes)
#
# A run prints the host, the GPU, every command and its output:
#  1. the op tests (hip_forward_ops_*test: every forward op against its CPU
#     reference) and the device model tests (device_model_test: logits per
#     weight type vs the CPU, batched == alone, layer callbacks);
#  2. conformance: `triptych-run --device gpu` on every stories260K greedy
#     reference line, F32 and F16, exact;
#  3. `runtime_bench --device gpu`: prefill tok/s at 512- and 2048-token
#     prompts, decode tok/s at batch 1, 8 and 32, for TinyLlama-1.1B-shaped
#     Q8_0 and Q4_0 models (generated on the machine), then the same on the
#     CPU (all cores) for the ratio.
# Record device, commands and figures in docs/BENCHMARKS.md ("GPU").
# Device time is short: `run` takes about 5 minutes on an H100 with 16 cores
# (model generation about 1 minute; the CPU rows are the slow part and are
# skipped with GPU_SH_NO_CPU=1).
set -uo pipefail
cd "$(dirname "$0")/.."

bundle() {
  local b=${BUILD_DIR:-build-cuda}
  cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIPTYCH_GPU_RUNTIME=cuda \
    >/dev/null || exit 1
  ninja -C "$b" runtime_bench triptych-run triptych-gen-model device_model_test \
    hip_forward_ops_test >/dev/null || exit 1
  local out=$b/gpu-bundle
  rm -rf "$out" && mkdir -p "$out/lib" "$out/conformance"
  cp "$b/bin/runtime_bench" "$b/bin/triptych-run" "$b/bin/triptych-gen-model" \
    "$b/tests/device_model_test" "$b/tests/hip_forward_ops_test" "$out/"
  cp "$0" "$out/gpu.sh"
  cp -r ../shared/conformance/models ../shared/conformance/reference "$out/conformance/"
  # Every shared library but the C / C++ runtime, which the target has.
  ldd "$out"/runtime_bench "$out"/triptych-run "$out"/triptych-gen-model \
    "$out"/device_model_test "$out"/hip_forward_ops_test |
    awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux-x86-64|libpthread|libdl|librt)\.so' |
    xargs -r -I{} cp -L {} "$out/lib/"
  # Stripped and xz-packed: a device call carries at most 64 MiB (OpenBLAS
  # alone is 35 MB unpacked).
  strip --strip-unneeded "$out"/runtime_bench "$out"/triptych-run "$out"/triptych-gen-model \
    "$out"/device_model_test "$out"/hip_forward_ops_test "$out"/lib/*.so* 2>/dev/null
  tar -C "$b" -cJf "$b/gpu-bundle.tar.xz" gpu-bundle
  du -sh "$out" "$b/gpu-bundle.tar.xz"
  echo "device call (carry $b/gpu-bundle.tar.xz):"
  echo "  mkdir -p /tmp/g && tar -C /tmp/g -xJf $b/gpu-bundle.tar.xz && bash /tmp/g/gpu-bundle/gpu.sh run /tmp/g/gpu-bundle"
}

header() {
  echo "host: $(hostname) $(uname -m) $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
  if command -v rocm-smi >/dev/null; then rocm-smi --showproductname 2>/dev/null | grep -i card; fi
}

# step DESCRIPTION COMMAND...: prints and runs it, never stops the run.
step() {
  local what=$1
  shift
  echo "== $what"
  echo "command: $*"
  "$@"
  echo "exit: $?"
}

conformance() {
  local run=$1 conf=$2 pass=0 fail=0
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    local model prompt n want got
    model=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["model"])' "$line")
    prompt=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["prompt"])' "$line")
    n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["n_predict"])' "$line")
    want=$(python3 -c 'import json,sys; sys.stdout.write(json.loads(sys.argv[1])["output"])' "$line")
    got=$("$run" -m "$conf/models/$model" -p "$prompt" -n "$n" --temp 0 --device gpu 2>/dev/null)
    if [[ "$got" == "$want" ]]; then pass=$((pass + 1)); else
      fail=$((fail + 1))
      echo "MISMATCH $model '$prompt'"
    fi
  done <"$conf/reference/stories260K-greedy.jsonl"
  echo "conformance --device gpu: $pass exact, $fail differ"
}

# run_all BIN_DIR TEST_DIR CONF_DIR OPS_TEST MODEL_DIR GEN_ARGS...
run_all() {
  local bin=$1 tests=$2 conf=$3 ops=$4 models=$5
  shift 5
  header
  export TRIPTYCH_CONFORMANCE_DIR=$conf
  step "GPU op tests" "$ops" --gtest_brief=1
  step "device model tests" "$tests/device_model_test" --gtest_brief=1
  step "conformance" conformance "$bin/triptych-run" "$conf"
  mkdir -p "$models"
  local threads
  threads=$(nproc)
  for type in Q8_0 Q4_0; do
    local m=$models/tiny-$type.gguf
    [[ -f $m ]] || step "model $type" "$bin/triptych-gen-model" --out "$m" "$@" --type "$type"
    local devices=(gpu)
    [[ ${GPU_SH_NO_CPU:-0} == 1 ]] || devices+=(cpu)
    for dev in "${devices[@]}"; do
      for p in 512 2048; do
        step "prefill $type $dev prompt $p" "$bin/runtime_bench" --model "$m" --device "$dev" \
          --threads "$threads" --batch 1 --prompt "$p" --decode 1
      done
      for batch in 1 8 32; do
        step "decode $type $dev batch $batch" "$bin/runtime_bench" --model "$m" --device "$dev" \
          --threads "$threads" --batch "$batch" --prompt 128 --decode 32
      done
    done
  done
}

case "${1:-}" in
  bundle) bundle ;;
  run)
    dir=$(cd "${2:?usage: gpu.sh run DIR}" && pwd)
    export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    run_all "$dir" "$dir" "$dir/conformance" "$dir/hip_forward_ops_test" "$dir/models" \
      --preset tinyllama-1.1b
    ;;
  local)
    # hip-cpu executes every GPU thread on the host: tiny shapes, to check
    # the script end to end, not to measure.
    run_all "$PWD/build/bin" "$PWD/build/tests" "$(cd ../shared/conformance && pwd)" \
      "$PWD/build/tests/hip_forward_ops_test" "$PWD/build/gpu-models" --dim 64 --layers 2 \
      --heads 4 --kv-heads 2 --ffn 128 --vocab 512 --ctx 4096
    ;;
  *)
    sed -n '2,27p' "$0"
    exit 2
    ;;
esac
