#!/usr/bin/env bash
# deploy/ files say what the docs say (see deploy_files.py).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/deploy_files.py"
