#!/usr/bin/env bash
# Starts / stops a full Triptych cluster on loopback, every role its own
# process: scheduler, memory node, prefill nodes, decode nodes and the gateway.
#
#   scripts/local-cluster.sh start [--model PATH] [--prefill N] [--decode M] [--port P]
#                                  [--policy kv_aware] [--threads T] [--ucx-tls TLS]
#                                  [--disagg-threshold TOKENS] [--kv-blocks N]
#                                  [--no-memory] [--memory-ram-blocks N]
#                                  [--prefill-device cpu|gpu] [--decode-device cpu|gpu]
#                                  [--kv-staging auto|on|off]
#   scripts/local-cluster.sh stop
#   scripts/local-cluster.sh status
#
# `start` waits until the cluster is ready and prints the gateway URL as its
# last line. Without --model it serves the stories260K model from
# ../shared/conformance when present, else a model it generates itself with
# triptych-gen-model (random weights: the text is noise, the serving path is
# real). State (pids, ports, logs) lives in $TRIPTYCH_CLUSTER_DIR
# (default .cluster/); `stop` stops exactly the processes recorded there.
# $TRIPTYCH_PREFILL_FLAGS: extra flags for every prefill node (benchmarks, e.g.
# "--no-layer-streaming"), split on spaces.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${TRIPTYCH_BIN:-$ROOT/build/bin}"
STATE="${TRIPTYCH_CLUSTER_DIR:-$ROOT/.cluster}"

die() { echo "local-cluster: $*" >&2; exit 1; }

# Every process binds port 0 itself and prints what it got; reading it from
# the log avoids the race of picking a free port first and binding it later.
log_port() {  # name sed-regex-with-one-group timeout_s
  local file="$STATE/$1.log" deadline=$(( $(date +%s) + $3 )) port=""
  while [[ -z "$port" ]]; do
    port=$(sed -nE "s#$2#\1#p" "$file" 2>/dev/null | head -1)
    [[ -n "$port" ]] && break
    (( $(date +%s) < deadline )) || return 1
    if ! kill -0 "$(awk -v n="$1" '$2 == n {print $1}' "$STATE/pids")" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  echo "$port"
}

wait_http() {  # url timeout_s
  local url=$1 deadline=$(( $(date +%s) + $2 ))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.2
  done
}

spawn() {  # name cmd...
  local name=$1; shift
  "$@" >"$STATE/$name.log" 2>&1 &
  echo "$! $name" >>"$STATE/pids"
}

cmd_stop() {
  [[ -f "$STATE/pids" ]] || { echo "local-cluster: nothing running" >&2; return 0; }
  # Gateway first, scheduler last: requests drain from the edge inwards.
  tac "$STATE/pids" | while read -r pid name; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$(( $(date +%s) + 20 ))
  while read -r pid name; do
    while kill -0 "$pid" 2>/dev/null; do
      if (( $(date +%s) >= deadline )); then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.1
    done
  done <"$STATE/pids"
  rm -f "$STATE/pids"
  echo "local-cluster: stopped" >&2
}

cmd_status() {
  [[ -f "$STATE/pids" ]] || { echo "not running"; return 1; }
  while read -r pid name; do
    if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid dead"; fi
  done <"$STATE/pids"
  cat "$STATE/url" 2>/dev/null
}

cmd_start() {
  local model="" prefill=1 decode=1 port=8000 policy=kv_aware threads=1 tls="" kv_blocks=1024
  local threshold="" memory=1 memory_ram=4096 prefill_device=cpu decode_device=cpu
  local kv_staging=auto
  while (($#)); do
    case $1 in
      --model) model=$2; shift 2 ;;
      --prefill) prefill=$2; shift 2 ;;
      --decode) decode=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --policy) policy=$2; shift 2 ;;
      --threads) threads=$2; shift 2 ;;
      --ucx-tls) tls=$2; shift 2 ;;
      --kv-blocks) kv_blocks=$2; shift 2 ;;
      --disagg-threshold) threshold=$2; shift 2 ;;
      --no-memory) memory=0; shift ;;
      --memory-ram-blocks) memory_ram=$2; shift 2 ;;
      --prefill-device) prefill_device=$2; shift 2 ;;
      --decode-device) decode_device=$2; shift 2 ;;
      --kv-staging) kv_staging=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ -f "$STATE/pids" ]] && die "already running (scripts/local-cluster.sh stop first)"
  for b in triptych-scheduler triptych-memory triptych-prefill triptych-decode triptych-gateway; do
    [[ -x "$BIN/$b" ]] || die "$BIN/$b missing: run scripts/build.sh first"
  done
  mkdir -p "$STATE"
  if [[ -z "$model" ]]; then
    if [[ -f "$ROOT/../shared/conformance/models/stories260K.gguf" ]]; then
      model="$ROOT/../shared/conformance/models/stories260K.gguf"
    else
      model="$STATE/default-model.gguf"
      [[ -f "$model" ]] || "$BIN/triptych-gen-model" --out "$model" --dim 256 --layers 4 \
        --heads 8 --kv-heads 4 --ffn 768 --vocab 2048 --ctx 2048 --type F16 >&2
    fi
  fi
  [[ -f "$model" ]] || die "model $model not found"
  local ucx=()
  [[ -n "$tls" ]] && ucx=(--ucx-tls "$tls")
  local sched_extra=()
  [[ -n "$threshold" ]] && sched_extra=(--disagg-threshold "$threshold")
  spawn scheduler "$BIN/triptych-scheduler" --host 127.0.0.1 --port 0 \
    --admin-port 0 --policy "$policy" "${sched_extra[@]}"
  local sched_port sched_admin
  sched_port=$(log_port scheduler '.*listening on [^:]+:([0-9]+).*' 30) &&
    sched_admin=$(log_port scheduler '.*\(admin :([0-9]+)\).*' 5) ||
    { cmd_stop; die "scheduler did not start (see $STATE/scheduler.log)"; }
  local names=() mem=() gw_mem=() mem_port=
  if ((memory)); then
    mkdir -p "$STATE/memory-tier"
    spawn memory-0 "$BIN/triptych-memory" --model "$model" --port 0 --admin-port 0 \
      --node-id memory-0 --scheduler "127.0.0.1:$sched_port" --ram-blocks "$memory_ram" \
      --disk-dir "$STATE/memory-tier" --disk-blocks $((4 * memory_ram)) "${ucx[@]}"
    mem_port=$(log_port memory-0 '.*listening on [^:]+:([0-9]+) admin.*' 60) ||
      { cmd_stop; die "memory node did not start (see $STATE/memory-0.log)"; }
    mem=(--memory "127.0.0.1:$mem_port")
    gw_mem=(--memory-address "127.0.0.1:$mem_port")
  fi
  for ((i = 0; i < prefill; i++)); do
    spawn "prefill-$i" "$BIN/triptych-prefill" --model "$model" --port 0 --admin-port 0 \
      --node-id "prefill-$i" --scheduler "127.0.0.1:$sched_port" --threads "$threads" \
      --device "$prefill_device" --kv-staging "$kv_staging" "${mem[@]}" "${ucx[@]}" \
      ${TRIPTYCH_PREFILL_FLAGS:-}
    names+=("prefill-$i")
  done
  for ((i = 0; i < decode; i++)); do
    spawn "decode-$i" "$BIN/triptych-decode" --model "$model" --port 0 --admin-port 0 \
      --node-id "decode-$i" --scheduler "127.0.0.1:$sched_port" --threads "$threads" \
      --kv-blocks "$kv_blocks" --device "$decode_device" --kv-staging "$kv_staging" \
      "${mem[@]}" "${ucx[@]}"
    names+=("decode-$i")
  done
  local admins=() mem_admin=""
  if ((memory)); then
    mem_admin=$(log_port memory-0 '.*listening on .* admin ([0-9]+).*' 60) &&
      wait_http "http://127.0.0.1:$mem_admin/ready" 60 ||
      { cmd_stop; die "memory node did not become ready"; }
  fi
  for n in "${names[@]}"; do
    local a
    a=$(log_port "$n" '.*listening on .* admin ([0-9]+).*' 60) ||
      { cmd_stop; die "$n did not start (see $STATE/$n.log)"; }
    wait_http "http://127.0.0.1:$a/ready" 60 || { cmd_stop; die "$n did not become ready"; }
    admins+=("$a")
  done
  spawn gateway "$BIN/triptych-gateway" --model "$model" --host 127.0.0.1 --port "$port" \
    --scheduler "127.0.0.1:$sched_port" "${gw_mem[@]}"
  port=$(log_port gateway '.*listening on http://[^:]+:([0-9]+).*' 60) &&
    wait_http "http://127.0.0.1:$port/health" 60 ||
    { cmd_stop; die "gateway did not start (see $STATE/gateway.log)"; }
  # Ready when the scheduler has every node registered and healthy.
  local want=$((prefill + decode + memory)) deadline=$(( $(date +%s) + 30 ))
  until [[ $(curl -fsS "http://127.0.0.1:$sched_admin/metrics" 2>/dev/null |
             awk '/^triptych_scheduler_nodes\{.*state="healthy"/ {s += $2} END {print s+0}') -ge $want ]]; do
    (( $(date +%s) < deadline )) || { cmd_stop; die "nodes did not register with the scheduler"; }
    sleep 0.2
  done
  cat >"$STATE/env" <<ENV
TRIPTYCH_GATEWAY_PORT=$port
TRIPTYCH_SCHEDULER_PORT=$sched_port
TRIPTYCH_SCHEDULER_ADMIN_PORT=$sched_admin
TRIPTYCH_NODE_ADMIN_PORTS="${admins[*]}"
TRIPTYCH_MEMORY_PORT=${mem_port:-}
TRIPTYCH_MEMORY_ADMIN_PORT=$mem_admin
TRIPTYCH_MODEL=$model
ENV
  echo "http://127.0.0.1:$port" | tee "$STATE/url"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 start|stop|status [options]" ;;
esac
