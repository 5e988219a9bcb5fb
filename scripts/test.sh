#!/usr/bin/env bash
# Builds and runs every test. Tests that need ../shared/conformance skip
# without it locally and fail without it when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900
