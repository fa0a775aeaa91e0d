#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite twice:
# a normal build (every test) and an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Exits non-zero if any test fails. Options via environment:
#   XO_TEST_FILTER=regex   run only matching tests (ctest -R)
#   XO_SKIP_ASAN=1         skip the sanitizer pass (local iteration only; CI runs both)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
filter=()
[ -n "${XO_TEST_FILTER:-}" ] && filter=(-R "$XO_TEST_FILTER")
jobs=$(nproc)

echo "== build (RelWithDebInfo)"
bash scripts/build.sh build -DXO_SANITIZE=OFF
echo "== tests (normal build)"
(cd build && ctest --output-on-failure -j"$jobs" "${filter[@]}")

if [ "${XO_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  bash scripts/build.sh build-asan -DXO_SANITIZE=ON
  echo "== tests (sanitizer build)"
  (cd build-asan && ctest --output-on-failure -j"$jobs" -L "unit|fuzz|integration|e2e" \
     -LE "nosan" "${filter[@]}")
fi
echo "== all tests passed"
