#!/usr/bin/env bash
# Offline checks of the deployment recipes (issue 6); no Docker engine and no
# cluster needed. Registered with CTest as deploy_validate and
# deploy_validate_rejects_broken (deploy/CMakeLists.txt).
#
#   deploy/validate.sh              check deploy/compose and deploy/k8s
#   deploy/validate.sh --self-test  check that every broken fixture in
#                                   deploy/validate/testdata is rejected, each
#                                   with the message its `# expect:` line names
#
# Compose: `docker-compose config -q` (schema, interpolation, depends_on).
# Kubernetes: deploy/validate/validate.mjs (schemas from the npm package
# kubernetes-models, unknown fields, kustomization references, the overlays
# rendered and checked); plus, where kubectl is installed, `kubectl kustomize`
# of each kustomization checked the same way. node_modules comes from
# `npm ci` against package-lock.json when missing or stale.
set -euo pipefail
DEPLOY="$(cd "$(dirname "$0")" && pwd)"
VALIDATE="$DEPLOY/validate"

die() { echo "validate: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' not found (bash scripts/setup.sh installs it)"; }

compose() {
  if command -v docker-compose >/dev/null; then
    docker-compose "$@"
  elif docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  else
    die "neither docker-compose nor the docker compose plugin is installed"
  fi
}

# The compose file requires a cluster token; any value checks the file.
compose_check() { TRIPTYCH_CLUSTER_TOKEN="${TRIPTYCH_CLUSTER_TOKEN:-validate-only}" compose -f "$1" config -q; }

ensure_node_modules() {
  need node
  need npm
  # One npm ci at a time (CTest may run both tests together).
  exec 9>"${TMPDIR:-/tmp}/triptych-deploy-validate.lock"
  flock 9
  if [[ ! -f $VALIDATE/node_modules/.package-lock.json ||
        $VALIDATE/package-lock.json -nt $VALIDATE/node_modules/.package-lock.json ]]; then
    echo "validate: npm ci in deploy/validate" >&2
    (cd "$VALIDATE" && npm ci --no-audit --no-fund --loglevel=error) >&2 \
      || die "npm ci failed (needs the npm registry once)"
  fi
  flock -u 9
}

k8s_check() { node "$VALIDATE/validate.mjs" "$@"; }

validate_all() {
  local status=0
  echo "== compose: deploy/compose/docker-compose.yml"
  if compose_check "$DEPLOY/compose/docker-compose.yml"; then echo "ok"; else status=1; fi

  echo "== kubernetes: deploy/k8s (kubernetes-models schemas)"
  k8s_check --root "$DEPLOY/k8s" || status=1

  if [[ ${TRIPTYCH_VALIDATE_KUBECTL:-1} != 0 ]] && command -v kubectl >/dev/null &&
     kubectl kustomize --help >/dev/null 2>&1; then
    local k dir
    while IFS= read -r k; do
      dir="$(dirname "$k")"
      echo "== kubectl kustomize ${dir#"$DEPLOY"/}"
      local out
      if ! out="$(kubectl kustomize "$dir")"; then status=1; continue; fi
      k8s_check --stdin "kubectl kustomize ${dir#"$DEPLOY"/}" <<<"$out" || status=1
    done < <(find "$DEPLOY/k8s" -name kustomization.yaml | sort)
  else
    echo "== kubectl not installed: kustomizations rendered by validate.mjs only"
  fi
  return "$status"
}

# A fixture is rejected for the right reason: the check fails and its output
# holds the text of the fixture's `# expect:` line.
self_test() {
  local status=0 f expect out rc
  local data="$VALIDATE/testdata"
  for f in "$data"/*; do
    local marker="$f"
    [[ -d $f ]] && marker="$f/kustomization.yaml"
    expect="$(sed -n 's/^# expect: //p' "$marker" | head -n 1)"
    [[ -n $expect ]] || { echo "FAIL ${f#"$DEPLOY"/}: no '# expect:' line"; status=1; continue; }
    set +e
    case "$(basename "$f")" in
      *compose*) out="$(compose_check "$f" 2>&1)" ;;
      *) out="$(k8s_check "$f" 2>&1)" ;;
    esac
    rc=$?
    set -e
    if ((rc == 0)); then
      echo "FAIL ${f#"$DEPLOY"/}: accepted, but it is broken ($expect)"
      status=1
    elif ! grep -qF -- "$expect" <<<"$out"; then
      echo "FAIL ${f#"$DEPLOY"/}: rejected, but not for '$expect':"
      sed 's/^/    /' <<<"$out"
      status=1
    else
      echo "ok   ${f#"$DEPLOY"/}: rejected ($(grep -F -m1 -- "$expect" <<<"$out" | cut -c1-160))"
    fi
  done
  return "$status"
}

ensure_node_modules
case "${1:-}" in
  "") validate_all && echo "validate: all deployment checks passed" ;;
  --self-test) self_test && echo "validate: every broken fixture was rejected" ;;
  *) die "usage: deploy/validate.sh [--self-test]" ;;
esac
