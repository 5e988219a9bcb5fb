#!/usr/bin/env bash
# The compose cluster end to end on a real Docker engine: engine, base images,
# image, `docker-compose up` of deploy/compose, every stories260K reference
# through the gateway, /metrics of every service, 30 s of load while a decode
# container is killed, its restart, `down -v`. Steps and options:
# deploy/compose_e2e.py (--help). CI runs it from .ci/run.
#
#   sudo deploy/compose-e2e.sh                 image from build/bin (scripts/build.sh)
#   sudo deploy/compose-e2e.sh --dockerfile    image from deploy/docker/Dockerfile
#   sudo deploy/compose-e2e.sh --image TAG     reuse an image
set -euo pipefail
exec python3 "$(dirname "$0")/compose_e2e.py" "$@"
