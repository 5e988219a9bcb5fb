#!/usr/bin/env bash
# Serving benchmark sweep with triptych-loadgen (docs/LOADGEN.md).
#
#   bash bench/serving.sh                 # local cluster: all modes below
#   URL=http://host:port MODEL_NAME=x bash bench/serving.sh external   # any OpenAI server
#   bash bench/serving.sh prefix          # shared-prefix: kv_aware vs round_robin
#
# Modes against a local cluster (scripts/local-cluster.sh, 2 decode nodes):
#   colocated      no prefill node, prompts prefilled on the decode nodes
#   disaggregated  1 prefill node, every prompt prefilled there, KV over UCX
#   round_robin / least_loaded / kv_aware   colocated, one routing policy each
# For each mode and each of RATES (requests/s, Poisson) it starts a fresh
# cluster and runs N requests of random
# input/output lengths and writes JSON + SVG per run to $OUT, then a Markdown
# table to $OUT/<section>.md and into docs/BENCHMARKS.md between the markers
# <!-- <section>:begin --> and <!-- <section>:end --> (section serving, prefix
# or external). The prefix-cache column is the decode nodes' share of prompt
# tokens served from their prefix caches in that run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${TRIPTYCH_BIN:-$ROOT/build/bin}"
OUT="${OUT:-/tmp/triptych-serving}"
RATES="${RATES:-2 4 8}"
N="${N:-48}"
IN_LEN="${IN_LEN:-256}"
OUT_LEN="${OUT_LEN:-32}"
THREADS="${THREADS:-1}"
MODEL="${MODEL:-$OUT/serving-model.gguf}"
export TRIPTYCH_CLUSTER_DIR="$OUT/cluster"
mkdir -p "$OUT"

if [[ ! -f "$MODEL" ]]; then
  # A model big enough that prefill costs real time, with the stories260K
  # vocabulary when available (so prompts tokenize like English text).
  vocab=()
  [[ -f "$ROOT/../shared/conformance/models/stories260K.gguf" ]] &&
    vocab=(--vocab-from "$ROOT/../shared/conformance/models/stories260K.gguf")
  "$BIN/triptych-gen-model" --out "$MODEL" --dim 512 --layers 6 --heads 8 --kv-heads 4 \
    --ffn 1536 --ctx 4096 --type F16 "${vocab[@]}" >&2
fi

cluster() { bash "$ROOT/scripts/local-cluster.sh" "$@"; }

run_rate() {  # label url model rate [extra loadgen flags...]
  local label=$1 url=$2 name=$3 rate=$4; shift 4
  "$BIN/triptych-loadgen" --url "$url" --model "$name" --api completions \
    --request-rate "$rate" --num-prompts "$N" --random-input-len "$IN_LEN" \
    --random-output-len "$OUT_LEN" --ignore-eos --seed 1 --no-progress \
    --goodput ttft:2000 tpot:200 --label "$label" \
    --result-json "$OUT/$label-rate$rate.json" --plot "$OUT/$label-rate$rate.svg" "$@" \
    >"$OUT/$label-rate$rate.txt"
}

model_name() { curl -fsS "$1/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])'; }

# Prompt tokens served from the prefix cache vs computed, summed over the
# decode nodes of the running cluster.
prefix_stats() {
  source "$TRIPTYCH_CLUSTER_DIR/env"
  local hit=0 miss=0
  for a in $TRIPTYCH_NODE_ADMIN_PORTS; do
    read -r h m < <(curl -fsS "http://127.0.0.1:$a/metrics" | awk '
      /^triptych_prefix_cached_tokens_total / {h=$2} /^triptych_prompt_tokens_computed_total / {m=$2}
      END {printf "%d %d\n", h, m}')
    hit=$((hit + h)); miss=$((miss + m))
  done
  echo "$hit $miss"
}

# One fresh cluster per (mode, rate): every row starts with empty caches.
run_local() {  # label "cluster flags" [extra loadgen flags...]
  local label=$1 flags=$2; shift 2
  for rate in $RATES; do
    local url
    # shellcheck disable=SC2086
    url=$(cluster start --model "$MODEL" --decode 2 --port 0 --threads "$THREADS" $flags | tail -1)
    run_rate "$label" "$url" "$(model_name "$url")" "$rate" "$@"
    echo "$label $rate $(prefix_stats)" >>"$OUT/prefix_hits.txt"
    cluster stop
  done
}

table() {
  python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
hits = {}
if os.path.exists(f"{out}/prefix_hits.txt"):
    for line in open(f"{out}/prefix_hits.txt"):
        label, rate, h, m = line.split()
        hits[(label, float(rate))] = (int(h), int(m))
for f in sorted(glob.glob(f"{out}/*-rate*.json")):
    r = json.load(open(f))
    rows.append(r)
rows.sort(key=lambda r: (r.get("label", ""), float(r["request_rate"]) if r["request_rate"] != "inf" else 1e9))
print("| run | rate (req/s) | completed/failed | req/s | output tok/s | TTFT mean / p99 (ms) | TPOT mean / p99 (ms) | ITL mean (ms) | E2E mean (ms) | goodput (req/s) | prompt tokens from prefix cache |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    rate = float(r["request_rate"]) if r["request_rate"] != "inf" else float("inf")
    h = hits.get((r.get("label", ""), rate))
    hr = f"{h[0]}/{h[0]+h[1]} ({100*h[0]/max(1,h[0]+h[1]):.0f}%)" if h else "n/a"
    print(f"| {r.get('label','')} | {r['request_rate']} | {r['completed']}/{r['failed']} | {r['request_throughput']:.2f} | "
          f"{r['output_throughput']:.1f} | {r['mean_ttft_ms']:.0f} / {r['p99_ttft_ms']:.0f} | "
          f"{r['mean_tpot_ms']:.1f} / {r['p99_tpot_ms']:.1f} | {r['mean_itl_ms']:.1f} | {r['mean_e2el_ms']:.0f} | "
          f"{r.get('request_goodput', 0):.2f} | {hr} |")
PY
}

publish() {  # marker: the table replaces <!-- MARKER:begin --> ... <!-- MARKER:end -->
  local marker=$1
  table >"$OUT/$marker.md"
  cat "$OUT/$marker.md"
  local doc="$ROOT/docs/BENCHMARKS.md"
  if grep -q "<!-- $marker:begin -->" "$doc" 2>/dev/null; then
    python3 - "$doc" "$OUT/$marker.md" "$marker" <<'PY'
import sys
doc, table, marker = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
s = open(doc).read()
a = s.index(f"<!-- {marker}:begin -->") + len(f"<!-- {marker}:begin -->")
b = s.index(f"<!-- {marker}:end -->")
open(doc, "w").write(s[:a] + "\n" + table + s[b:])
PY
  fi
}

case "${1:-all}" in
  all)
    rm -f "$OUT"/*-rate*.json "$OUT/prefix_hits.txt"
    run_local colocated "--prefill 0 --policy kv_aware"
    run_local disaggregated "--prefill 1 --disagg-threshold 0 --policy kv_aware"
    for p in round_robin least_loaded; do run_local "$p" "--prefill 0 --policy $p"; done
    publish serving ;;
  prefix)
    rm -f "$OUT"/*-rate*.json "$OUT/prefix_hits.txt"
    for p in round_robin kv_aware; do
      run_local "prefix-$p" "--prefill 0 --policy $p" --dataset shared-prefix \
        --prefix-groups "${GROUPS_N:-4}" --prefix-len "${PREFIX_LEN:-384}"
    done
    publish prefix ;;
  external)
    [[ -n "${URL:-}" ]] || { echo "set URL" >&2; exit 1; }
    rm -f "$OUT"/*-rate*.json "$OUT/prefix_hits.txt"
    for rate in $RATES; do
      run_rate "${LABEL:-external}" "$URL" "${MODEL_NAME:-$(model_name "$URL")}" "$rate"
    done
    publish external ;;
  *) echo "usage: $0 [all|prefix|external]" >&2; exit 1 ;;
esac
