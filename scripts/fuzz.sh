#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-DTRIPTYCH_FUZZ=ON, ASan + UBSan)
# in build-fuzz/, writes their seed corpora and runs each for SECONDS
# (default 20). A crash, sanitizer report, timeout or out-of-memory fails the
# script; the input is left in build-fuzz/artifacts/<target>/.
#
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   targets: gguf_fuzzer openai_request_fuzzer wire_format_fuzzer
#            prefill_request_fuzzer jinja_fuzzer json_schema_fuzzer
#            tool_call_parser_fuzzer (default: all). See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
seconds="${1:-20}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(gguf_fuzzer openai_request_fuzzer wire_format_fuzzer
                                 prefill_request_fuzzer jinja_fuzzer json_schema_fuzzer
                                 tool_call_parser_fuzzer)
dir=build-fuzz
start=$(date +%s)

CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTRIPTYCH_FUZZ=ON -DTRIPTYCH_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" gguf_fuzz_seeds \
  wire_format_fuzz_seeds prefill_fuzz_seeds jinja_fuzz_seeds
built=$(date +%s)

# Seeds: written fresh each run; what the fuzzer adds stays in corpus/.
seed() {
  local target=$1 out="$dir/seeds/$1"
  rm -rf "$out" && mkdir -p "$out"
  case "$target" in
    gguf_fuzzer)
      "$dir/bin/gguf_fuzz_seeds" "$out" \
        $(ls ../shared/conformance/models/*.gguf \
             ../shared/conformance/tokenizer/ggml-vocab-llama-spm.gguf 2>/dev/null) ;;
    openai_request_fuzzer) cp services/gateway/testdata/fuzz/openai_request/* "$out" ;;
    wire_format_fuzzer) "$dir/bin/wire_format_fuzz_seeds" "$out" ;;
    prefill_request_fuzzer) "$dir/bin/prefill_fuzz_seeds" "$out" ;;
    jinja_fuzzer)
      "$dir/bin/jinja_fuzz_seeds" "$out" ../shared/conformance/chat_templates/templates \
        ../shared/conformance/chat_templates/renderings.jsonl ;;
    json_schema_fuzzer)
      # flags byte, schema, NUL, no raw bytes, NUL, choice bytes (the
      # fuzzer's input format); every schema plain and with prefix/suffix,
      # plus json_object.
      local f n=0
      for f in runtime/grammar/testdata/fuzz/json_schema/*.json; do
        for flags in '\x00' '\x01'; do
          { printf "$flags"; cat "$f"; printf '\0\0%s' 0123456789abcdefghijklmnopqrstuv; } \
            >"$out/seed_$((n++))"
        done
      done
      printf '\x02\0{"a":[1,true]}\0zyxwvutsrqponmlkjihgfedcba9876543210' >"$out/seed_$n" ;;
    tool_call_parser_fuzzer) cp runtime/tool_calls/testdata/fuzz/tool_calls/* "$out" ;;
  esac >/dev/null
}

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
for t in "${targets[@]}"; do
  seed "$t"
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/logs"
  extra=()
  [[ $t == gguf_fuzzer ]] && extra+=(-max_len=4096)
  [[ $t == openai_request_fuzzer ]] &&
    extra+=(-dict=services/gateway/testdata/fuzz/openai_request.dict)
  [[ $t == jinja_fuzzer ]] && extra+=(-dict=runtime/jinja/testdata/fuzz/jinja.dict -max_len=16384)
  [[ $t == json_schema_fuzzer ]] &&
    extra+=(-dict=runtime/grammar/testdata/fuzz/json_schema.dict -max_len=4096)
  echo "fuzz: $t for ${seconds} s"
  rc=0
  "$dir/bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "${extra[@]}" -artifact_prefix="$dir/artifacts/$t/" \
    "$dir/corpus/$t" "$dir/seeds/$t" >"$dir/logs/$t.log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|peak_rss_mb))' "$dir/logs/$t.log" || true
  if ((rc)); then
    tail -n 80 "$dir/logs/$t.log"
    echo "fuzz: $t FAILED (exit $rc; input in $dir/artifacts/$t/, log $dir/logs/$t.log)"
    exit 1
  fi
done
echo "fuzz: build $((built - start)) s, runs $(( $(date +%s) - built )) s"
