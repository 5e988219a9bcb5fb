#!/usr/bin/env bash
# Disaggregated TTFT, A/B: the same load against two builds of Triptych.
#
#   bash bench/disagg-ttft.sh NAME_A ROOT_A NAME_B ROOT_B [ROUNDS]
#
# ROOT_x is a checkout with binaries in ROOT_x/build/bin (its own
# scripts/local-cluster.sh starts them). Each round starts a fresh cluster
# per build (1 prefill node, 1 decode node, every prompt prefilled remotely,
# no memory node) and runs triptych-loadgen: Poisson arrivals at RATE
# requests/s, N prompts of IN_LEN random tokens, OUT_LEN output tokens.
# Rounds alternate A, B so machine noise hits both. Prints one line per run
# (TTFT p50/p90/mean ms) and writes JSON to $OUT. Model: a 1024-dim, 8-layer
# Q8_0 random Llama with the Llama 2 vocabulary (generated once with A's
# triptych-gen-model; VOCAB= another GGUF's tokenizer).
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n 2,13p "$0"; exit 2; }
NAME_A=$1 ROOT_A=$2 NAME_B=$3 ROOT_B=$4 ROUNDS=${5:-2}
OUT="${OUT:-/tmp/triptych-disagg-ttft}"
RATE="${RATE:-2}" N="${N:-40}" IN_LEN="${IN_LEN:-128}" OUT_LEN="${OUT_LEN:-64}"
THREADS="${THREADS:-1}"
# The Llama 2 SentencePiece vocabulary (32000 ids), so that the loadgen's
# --tokenizer makes each prompt IN_LEN tokens for the server too (with the
# generator's 512-id synthetic vocabulary a "128-token" prompt of words was
# about 470 tokens).
VOCAB="${VOCAB:-$ROOT_A/../shared/conformance/tokenizer/ggml-vocab-llama-spm.gguf}"
MODEL="$OUT/model-1024x8-q8_0-spm.gguf"
mkdir -p "$OUT"
if [[ ! -f "$MODEL" ]]; then
  "$ROOT_A/build/bin/triptych-gen-model" --out "$MODEL" --dim 1024 --layers 8 --heads 16 \
    --kv-heads 4 --ffn 2816 --ctx 2048 --type Q8_0 --vocab-from "$VOCAB" >&2
fi
run() {  # name root round
  local name=$1 root=$2 round=$3 url
  export TRIPTYCH_BIN="$root/build/bin" TRIPTYCH_CLUSTER_DIR="$OUT/cluster-$name"
  url=$(bash "$root/scripts/local-cluster.sh" start --model "$MODEL" --prefill 1 --decode 1 \
        --port 0 --threads "$THREADS" --disagg-threshold 0 --no-memory | tail -1)
  "$ROOT_A/build/bin/triptych-loadgen" --url "$url" --model "$(basename "$MODEL" .gguf)" \
    --api completions --request-rate "$RATE" --num-prompts "$N" --random-input-len "$IN_LEN" \
    --random-output-len "$OUT_LEN" --ignore-eos --seed "$round" --no-progress --tokenizer "$MODEL" \
    --result-json "$OUT/$name-$round.json" >"$OUT/$name-$round.txt"
  bash "$root/scripts/local-cluster.sh" stop >/dev/null
  python3 - "$OUT/$name-$round.json" "$name" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def g(*keys):
    for k in keys:
        if k in r: return r[k]
    return float("nan")
print(f"{sys.argv[2]:>10} round {sys.argv[3]}: TTFT p50 {g('median_ttft_ms'):.0f} ms"
      f"  p90 {g('p90_ttft_ms'):.0f} ms  mean {g('mean_ttft_ms'):.0f} ms"
      f"  completed {g('completed')}")
PY
}
for round in $(seq 1 "$ROUNDS"); do
  run "$NAME_A" "$ROOT_A" "$round"
  run "$NAME_B" "$ROOT_B" "$round"
done
