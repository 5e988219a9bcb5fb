#!/usr/bin/env bash
# CTest entry: starts `triptych-gateway --local` with stories260K on a free
# port, runs openai_client_test.mjs (the official openai npm client) against
# it, then stops the gateway with SIGTERM and checks it drains cleanly.
# Usage: run_openai_client_test.sh GATEWAY_BINARY NODE_BINARY
# Exit 77 (skip) when the shared conformance data is missing and CI is unset.
set -euo pipefail
gateway=$1
node=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
conformance="$root/../shared/conformance"
model="$conformance/models/stories260K.gguf"
if [[ ! -f $model ]]; then
  if [[ ${CI:-} == true ]]; then echo "missing $model (required when CI=true)"; exit 1; fi
  echo "SKIP: $model not found"; exit 77
fi
if [[ ! -d $here/node_modules/openai ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/stderr"
"$gateway" --model "$model" --local --port 0 --api-keys test-key \
  --served-model-name stories260K 2>"$work/stderr" &
pid=$!
exec 3<"$work/stderr"
url=""
while IFS= read -r -t 120 line <&3; do
  echo "gateway: $line"
  if [[ $line =~ listening\ on\ (http://[^ ]+) ]]; then url=${BASH_REMATCH[1]}; break; fi
done
if [[ -z $url ]]; then echo "gateway did not start"; exit 1; fi
cat <&3 >"$work/gateway.log" &
reader=$!

status=0
"$node" "$here/openai_client_test.mjs" "$url/v1" test-key stories260K \
  "$conformance/reference/stories260K-greedy.jsonl" || status=$?

kill -TERM $pid
gateway_status=0
wait $pid || gateway_status=$?
wait $reader || true
if ((status == 0)) && ((gateway_status != 0)); then
  echo "gateway exited with $gateway_status after SIGTERM"; cat "$work/gateway.log"; status=1
fi
grep -q '^stopped$' "$work/gateway.log" || { echo "gateway did not drain"; status=1; }
exit $status
