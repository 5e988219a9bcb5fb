#!/usr/bin/env bash
# Sanitizer stage: builds the unit tests that cover untrusted input and the
# core data structures with ASan + UBSan (-DTRIPTYCH_SANITIZE=ON, -O1) in
# build-sanitize/ and runs them. Any sanitizer report fails the stage: UBSan
# aborts on the first finding (-fno-sanitize-recover), ASan halts on its
# first error, and LeakSanitizer reports leaks at exit.
#
# Usage: bash scripts/sanitize.sh [BUILD_DIR]   (default build-sanitize)
# Why these tests and not all of them: docs/FUZZING.md ("Sanitizer stage").
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
build_dir="${1:-build-sanitize}"
start=$(date +%s)

tests=(
  # Listed slowest first so that the parallel run ends together.
  # Untrusted input: model files, tokenizer data, chat templates, HTTP
  # requests and OpenAI bodies, KV transfer metadata and prefill jobs.
  tokenizer_test engine_test
  gguf_reader_test gguf_conformance_test quantized_files_test
  pre_tokenizer_test tokenizer_unicode_test chat_template_test
  http_server_test gateway_openai_request_test gateway_core_test gateway_choices_test
  gateway_tool_fields_test tool_calls_test
  transport_wire_format_test transport_in_process_test prefill_job_test
  # Core logic with manual memory management, index arithmetic or threads.
  kv_cache_test engine_choices_test attention_kernels_test thread_pool_test
  sampling_params_test penalties_test sampler_test stop_matcher_test
  scheduler_registry_test scheduler_router_test scheduler_dispatcher_test
  memory_kv_history_store_test memory_collection_store_test memory_core_test
  kernels_fp16_test kernels_quant_ref_test
  memory_quest_test memory_top_k_test memory_bm25_test memory_dense_ip_test
  memory_cpu_backend_test
)

# -O1 with line tables: readable stacks at a fraction of -O0's test time.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g1" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DTRIPTYCH_SANITIZE=ON -DTRIPTYCH_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target "${tests[@]}"
built=$(date +%s)

# halt_on_error: the first ASan report ends the process with an error.
# detect_leaks: LeakSanitizer runs at exit (leaks fail the test).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Wall-clock bounds hold for the Release build, not under ASan on 2 cores.
export GTEST_FILTER="-TokenizerGguf.LongInputsStayFast"

# One process per test binary, nproc at a time, from the source root (as
# CTest runs them, so ../shared/conformance resolves). A failing binary's
# output is printed in full.
log_dir="$build_dir/sanitize-logs"
rm -rf "$log_dir" && mkdir -p "$log_dir"
printf '%s\n' "${tests[@]}" | xargs -P "$(nproc)" -I{} bash -c \
  'timeout 900 "$0/tests/$1" --gtest_brief=1 >"$2/$1.log" 2>&1 && echo "sanitize: $1 ok" ||
   { echo "sanitize: $1 FAILED"; touch "$2/$1.failed"; }' "$build_dir" {} "$log_dir"
failed=0
for t in "${tests[@]}"; do
  if [[ -e "$log_dir/$t.failed" ]]; then
    echo "---- $t"; cat "$log_dir/$t.log"; failed=1
  fi
done
echo "sanitize: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
exit "$failed"
