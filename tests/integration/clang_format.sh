#!/usr/bin/env bash
# Every tracked C source and header is formatted with the root .clang-format.
set -euo pipefail
cd "${XO_SRC_DIR:-$(dirname "$0")/../..}"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common agent gateway tools tests -name '*.[ch]')
out=$(echo "$files" | xargs clang-format --dry-run --Werror 2>&1 || true)
if [ -n "$out" ]; then
  echo "$out" | head -40
  echo "clang-format: files above are not formatted (run: clang-format -i <file>)"
  exit 1
fi
echo "clang-format: $(echo "$files" | wc -l) files formatted"
