#!/usr/bin/env bash
# The multi-role image's entrypoint:
#
#   triptych <role> [flags...]     role: gateway | scheduler | prefill | decode | memory
#                                        | loadgen | run | quantize | gen-model
#   triptych probe PORT [PATH]     exits 0 when GET http://127.0.0.1:PORT/PATH answers 200
#                                  (container healthchecks; the image carries no curl)
#   triptych roles                 lists the roles this image was built with
#
# The role may also come from $TRIPTYCH_ROLE when the first argument is a flag.
# The scheduler has no environment fallback for its token, so for that role a
# set $TRIPTYCH_CLUSTER_TOKEN becomes --cluster-token unless the flag is given
# (nodes read the variable themselves). Everything else is passed through.
set -euo pipefail

BIN_DIR="${TRIPTYCH_BIN_DIR:-/opt/triptych/bin}"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

probe() {  # port [path]: a minimal HTTP/1.0 GET over bash's /dev/tcp
  local port=${1:?probe needs a port} path=${2:-/ready} status
  exec 3<>"/dev/tcp/127.0.0.1/${port}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
  IFS=' ' read -r -t 5 _ status _ <&3 || return 1
  exec 3<&-
  [[ ${status%$'\r'} == 200 ]]
}

role="${1:-${TRIPTYCH_ROLE:-}}"
if [[ $role == -h || $role == --help ]]; then
  usage 0
elif [[ -z $role || $role == -* ]]; then
  role="${TRIPTYCH_ROLE:-}"
  [[ -n $role ]] || usage
else
  shift
fi

case "$role" in
  -h|--help|help) usage 0 ;;
  probe) probe "$@"; exit ;;
  roles)
    for b in "$BIN_DIR"/triptych-*; do basename "$b" | sed 's/^triptych-//'; done
    exit 0 ;;
  gateway|scheduler|prefill|decode|memory|loadgen|run|quantize|gen-model) ;;
  *) echo "triptych: unknown role '$role' (try: triptych --help)" >&2; exit 2 ;;
esac

bin="$BIN_DIR/triptych-$role"
if [[ ! -x $bin ]]; then
  echo "triptych: role '$role' is not built into this image ($bin missing)" >&2
  exit 2
fi

if [[ $role == scheduler && -n ${TRIPTYCH_CLUSTER_TOKEN:-} ]]; then
  given=0
  for a in "$@"; do [[ $a == --cluster-token || $a == --cluster-token=* ]] && given=1; done
  ((given)) || set -- "$@" --cluster-token "$TRIPTYCH_CLUSTER_TOKEN"
fi

exec "$bin" "$@"
