#!/usr/bin/env bash
# The systemd units in deploy/ pass `systemd-analyze verify` without a single diagnostic
# (verify exits 0 on unknown keys and bad values, so its output must be empty too), and
# keep an exposure level of at most 2.0 in `systemd-analyze security` (offline: no booted
# systemd needed; docs/operations.md lists the hardening). The one change made to a unit
# before checking it: ExecStart's /usr/local/bin/ becomes this build's binaries, which
# verify requires to exist. Self-test first: a broken unit must be reported.
set -euo pipefail
SRC="${XO_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
BUILD="${XO_BUILD_DIR:-$SRC/build}"
MAX_EXPOSURE=2.0

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: install Debian's systemd package (scripts/install-deps.sh)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify_quiet UNIT-FILE: exit 0 and no output at all.
verify_quiet() {
  local out rc=0
  out=$(systemd-analyze verify "$1" 2>&1) || rc=$?
  if [ "$rc" != 0 ] || [ -n "$out" ]; then
    echo "$out"
    return 1
  fi
}

printf '[Service]\nExecStart=/bin/true\nProtectSystem=sometimes\nNoSuchKey=1\n' >"$tmp/broken.service"
if verify_quiet "$tmp/broken.service" >/dev/null; then
  echo "self-test: a unit with an unknown key and a bad value passed verify_quiet"
  exit 1
fi

fail=0
for unit in "$SRC"/deploy/*.service; do
  name=$(basename "$unit")
  sed -e "s|/usr/local/bin/xo-gateway|$BUILD/gateway/xo-gateway|" \
      -e "s|/usr/local/bin/xo-agent|$BUILD/agent/xo-agent|" "$unit" >"$tmp/$name"
  check="$tmp/$name"
  if [[ "$name" == *@.service ]]; then # a template is checked as one instance of it
    check="$tmp/${name%@.service}@site1-pool-a.service"
    cp "$tmp/$name" "$check"
  fi
  if ! verify_quiet "$check"; then
    echo "FAIL verify $name"
    fail=1
    continue
  fi
  exposure=$(systemd-analyze security --offline=true "$check" 2>&1 |
             sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  if [ -z "$exposure" ] || ! awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
    echo "FAIL security $name: exposure '${exposure:-?}' above $MAX_EXPOSURE"
    systemd-analyze security --offline=true "$check" 2>&1 | grep '✗' || true
    fail=1
    continue
  fi
  echo "ok $name: verify clean, security exposure $exposure"
done
exit $fail
