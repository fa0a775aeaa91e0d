#!/usr/bin/env bash
# No circles between the project's source files (common, agent, gateway, tools): file A
# using a symbol file B defines while B uses one of A's, or any longer cycle. Reads the
# symbols each object file defines and uses (nm), so uses through a map header count.
# First proves the checker can fail: it compiles circular tiny C files and must report them.
set -euo pipefail
src="${XO_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${XO_BUILD_DIR:-$src/build}"
checker="$src/tests/integration/no_circles.py"
python3 "$checker" --self-test
python3 "$checker" --build "$build" --src "$src"
