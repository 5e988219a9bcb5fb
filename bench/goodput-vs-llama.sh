#!/usr/bin/env bash
# Serving goodput, Triptych against llama-server, one fresh server per rate
# (the loadgen repeats its prompts for a given seed, so a server kept across
# rates would answer the later ones from its prefix cache).
#
#   bash bench/goodput-vs-llama.sh LLAMA_CPP_DIR
#
# Same model file for both: serving.sh's (512-dim, 6 layers, F16, the
# stories260K vocabulary), generated when MODEL is unset. For each of RATES:
# Triptych as `local-cluster.sh start --decode 2 --prefill 0 --threads 1`
# (colocated, kv_aware), then llama-server `-t 2 -np $NP -c 1024*NP`; N
# requests of IN_LEN random input and OUT_LEN output tokens (--ignore-eos).
# Goodput: requests with TTFT <= 2 s and TPOT <= 200 ms. Prints a Markdown
# table (also $OUT/goodput.md); JSON per run in $OUT. TABLE_ONLY=1 prints
# the table of the runs already there (e.g. after rerunning one rate).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LLAMA=${1:?usage: goodput-vs-llama.sh LLAMA_CPP_DIR}
BIN="${TRIPTYCH_BIN:-$ROOT/build/bin}"
OUT="${OUT:-/tmp/triptych-goodput}"
RATES="${RATES:-2 4 8}"
N="${N:-48}" IN_LEN="${IN_LEN:-256}" OUT_LEN="${OUT_LEN:-32}" NP="${NP:-8}"
MODEL="${MODEL:-$OUT/serving-model.gguf}"
mkdir -p "$OUT"
export TRIPTYCH_CLUSTER_DIR="$OUT/cluster"
if [[ ! -f $MODEL ]]; then
  "$BIN/triptych-gen-model" --out "$MODEL" --dim 512 --layers 6 --heads 8 --kv-heads 4 \
    --ffn 1536 --ctx 4096 --type F16 \
    --vocab-from "$ROOT/../shared/conformance/models/stories260K.gguf" >&2
fi

load() {  # label url rate
  local name
  name=$(curl -fsS "$2/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  "$BIN/triptych-loadgen" --url "$2" --model "$name" --api completions --request-rate "$3" \
    --num-prompts "$N" --random-input-len "$IN_LEN" --random-output-len "$OUT_LEN" \
    --ignore-eos --seed 1 --no-progress --goodput ttft:2000 tpot:200 --label "$1" \
    --result-json "$OUT/$1-rate$3.json" >"$OUT/$1-rate$3.txt"
}

# TABLE_ONLY=1: only print the table of the runs already in $OUT.
for rate in $([[ ${TABLE_ONLY:-0} == 1 ]] || echo "$RATES"); do
  url=$(bash "$ROOT/scripts/local-cluster.sh" start --model "$MODEL" --decode 2 --prefill 0 \
    --threads 1 --port 0 --no-memory | tail -n 1)
  load triptych "$url" "$rate" || echo "triptych rate $rate failed" >&2
  bash "$ROOT/scripts/local-cluster.sh" stop >/dev/null
  port=$((18000 + RANDOM % 1000))
  "$LLAMA/build/bin/llama-server" -m "$MODEL" -t 2 -np "$NP" -c $((1024 * NP)) --host 127.0.0.1 \
    --port "$port" >"$OUT/llama-server-rate$rate.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
  load "llama-server-np$NP" "http://127.0.0.1:$port" "$rate" || echo "llama rate $rate failed" >&2
  kill "$pid" && wait "$pid" 2>/dev/null || true
done

python3 - "$OUT" "$RATES" "$NP" <<'PY' | tee "$OUT/goodput.md"
import json, os, sys
out, rates, np_ = sys.argv[1], sys.argv[2].split(), sys.argv[3]
print("| server | rate | completed | output tok/s | TTFT mean / p99 (ms) | TPOT mean / p99 (ms) | goodput (req/s) |")
print("|---|---|---|---|---|---|---|")
for label in ("triptych", f"llama-server-np{np_}"):
    for rate in rates:
        p = os.path.join(out, f"{label}-rate{rate}.json")
        if not os.path.exists(p):
            print(f"| {label} | {rate} | failed | | | | |"); continue
        r = json.load(open(p))
        print(f"| {label} | {rate} | {r['completed']}/{r['completed'] + r['failed']} | {r['output_throughput']:.1f} | "
              f"{r['mean_ttft_ms']:.0f} / {r['p99_ttft_ms']:.0f} | {r['mean_tpot_ms']:.1f} / {r['p99_tpot_ms']:.1f} | "
              f"{r.get('request_goodput', 0):.2f} |")
PY
