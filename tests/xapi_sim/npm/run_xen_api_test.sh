#!/bin/sh
# Runs the xen-api (npm, pinned 4.7.6) client against the XAPI simulator.
set -e
cd "$(dirname "$0")"
if [ ! -d node_modules/xen-api ]; then
  npm ci --no-audit --no-fund
fi
exec timeout 150 node test_xen_api.mjs
