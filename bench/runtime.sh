#!/usr/bin/env bash
# Prefill / decode throughput of TinyLlama-1.1B-shaped random models (Q8_0 and
# Q4_0, made by triptych-gen-model) at batch 1 and 8 with 1 and 2 threads.
# Prints one JSON line per configuration (see bench/runtime_bench.cc).
#
#   bash bench/runtime.sh            # after scripts/build.sh
#   BW1=32 BW2=76 bash bench/runtime.sh   # memory bandwidth (GB/s) at 1 / 2 threads
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/triptych-bench}"
BW1="${BW1:-32}"   # measured single-thread bandwidth of the reference machine
BW2="${BW2:-76}"
TYPES="${TYPES:-Q8_0 Q4_0}"
mkdir -p "$OUT"
for t in $TYPES; do
  f="$OUT/tinyllama-1.1b-$t.gguf"
  [[ -f "$f" ]] || build/bin/triptych-gen-model --preset tinyllama-1.1b --type "$t" --out "$f" >&2
done
for t in $TYPES; do
  for th in 1 2; do
    bw=$BW1; [[ $th == 2 ]] && bw=$BW2
    for b in 1 8; do
      build/bin/runtime_bench --model "$OUT/tinyllama-1.1b-$t.gguf" --threads "$th" \
        --batch "$b" --prompt "${PROMPT:-128}" --decode "${DECODE:-16}" --bandwidth-gbs "$bw"
    done
  done
done
