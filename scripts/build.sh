#!/usr/bin/env bash
# Configure and build XO Fleet. Usage: scripts/build.sh [build-dir] [extra cmake args...]
# Example: scripts/build.sh build-asan -DXO_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
