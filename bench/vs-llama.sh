#!/usr/bin/env bash
# Triptych vs llama.cpp, same model files and threads, interleaved in one run.
#   bash bench/vs-llama.sh /work/peers/llama.cpp   # a llama.cpp checkout (outside this repo)
# Builds llama-bench and llama-server there (CPU, -j2) if missing, generates
# TinyLlama-1.1B-shaped random models (Q8_0, Q4_0, Q4_K), then for each type
# and 1 / 2 threads runs our runtime_bench (--batch 1 --prompt 128 --decode 32)
# and llama-bench (-p 128 -n 32 -r 3) back to back. Prints one row per case
# with the load average.
set -euo pipefail
LLAMA="${1:?usage: vs-llama.sh LLAMA_CPP_CHECKOUT}"
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/triptych-vs-llama}"; mkdir -p "$OUT"
if [[ ! -x "$LLAMA/build/bin/llama-bench" || ! -x "$LLAMA/build/bin/llama-server" ]]; then
  cmake -S "$LLAMA" -B "$LLAMA/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  cmake --build "$LLAMA/build" --target llama-bench llama-server -j2 >&2
fi
printf "type threads ours_prefill llama_prefill ours_decode llama_decode decode_ratio load\n"
for t in ${TYPES:-Q8_0 Q4_0 Q4_K}; do
  f="$OUT/tinyllama-1.1b-$t.gguf"
  [[ -f "$f" ]] || build/bin/triptych-gen-model --preset tinyllama-1.1b --type "$t" --out "$f" >&2
  for th in 1 2; do
    ours=$(build/bin/runtime_bench --model "$f" --threads "$th" --batch 1 --prompt 128 --decode 32)
    op=$(sed -E 's/.*"prefill_tok_s": ([0-9.]+).*/\1/' <<<"$ours")
    od=$(sed -E 's/.*"decode_tok_s": ([0-9.]+).*/\1/' <<<"$ours")
    ll=$("$LLAMA/build/bin/llama-bench" -m "$f" -p 128 -n 32 -r 3 -t "$th" -o csv 2>/dev/null | tail -2)
    lp=$(head -1 <<<"$ll" | awk -F'","' '{print $(NF-1)}')
    ld=$(tail -1 <<<"$ll" | awk -F'","' '{print $(NF-1)}')
    ratio=$(awk -v a="$od" -v b="$ld" 'BEGIN{printf "%.2f", a/b}')
    printf "%s %s %s %s %s %s %s %s\n" "$t" "$th" "$op" "$lp" "$od" "$ld" "$ratio" \
      "$(cut -d' ' -f1 /proc/loadavg)"
  done
done
