#!/usr/bin/env bash
# XO Fleet demo stack (README command 1): installs what is missing, builds, then starts
# xo-kafka-dev, two simulated pools of different sizes (one XCP-ng, one XenServer, both with
# missing patches), a local HTTPS patch catalogue for the XenServer one, one xo-agent per
# pool and xo-gateway, prints where everything is, and stays up until Ctrl-C, which stops
# every process it started (and only those). The gateway signs commands with a key
# generated in the run directory and both agents trust it; each agent signs its results
# with its own key, which the gateway trusts for that agent's pool (commands.agent_keys).
# So the demo can start and stop VMs and patch hosts (README, "Try it");
# tests/e2e/test_demo.py runs those lines against it.
#
# Environment: XO_DEMO_PORT (gateway port, default 8080), XO_DEMO_BUILD_DIR (default
# build), XO_DEMO_VMS_A / XO_DEMO_VMS_B (VMs per pool, default 200 and 60),
# XO_DEMO_EVENT_BATCH_MS (simulator event.from batching, default 50 as XAPI),
# XO_DEMO_NO_BUILD=1 (use the binaries already in the build dir: the e2e test of this
# script, which must not rebuild the tree it is testing).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PORT=${XO_DEMO_PORT:-8080}
BUILD=${XO_DEMO_BUILD_DIR:-build}
VMS_A=${XO_DEMO_VMS_A:-200}
VMS_B=${XO_DEMO_VMS_B:-60}
BATCH=${XO_DEMO_EVENT_BATCH_MS:-50}

die() { echo "demo: $*" >&2; exit 1; }

# 1. a busy port is a clear error, before anything starts
port_busy() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}
case "$PORT" in ''|*[!0-9]*) die "XO_DEMO_PORT must be a port number, not '$PORT'";; esac
if port_busy "$PORT"; then
  die "port $PORT on 127.0.0.1 is already in use; free it or set XO_DEMO_PORT (e.g. XO_DEMO_PORT=8081 bash scripts/demo.sh)"
fi

# 2. install what is missing, build
build_demo() {
  local need_install=0
  for pc in rdkafka libcurl libxml-2.0 json-c libwebsockets openssl libzstd libarchive cmocka; do
    pkg-config --exists "$pc" 2>/dev/null || need_install=1
  done
  for cmd in cmake cc python3 kcat node npm; do
    command -v "$cmd" >/dev/null 2>&1 || need_install=1
  done
  if [ "$need_install" = 1 ]; then
    echo "demo: installing missing dependencies (scripts/install-deps.sh)" >&2
    bash scripts/install-deps.sh
  fi
  echo "demo: building in $BUILD" >&2
  cmake -S . -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target xo-kafka-dev xo-agent xo-gateway >/dev/null \
    || die "build failed (run: cmake --build $BUILD)"
  # xo-lib (xo-server's own client) for the README's "Try it" lines, pinned by its lock
  # file; the lock on the directory keeps a concurrent install (the e2e tests) out
  flock tests/e2e/node bash -c '[ -d tests/e2e/node/node_modules/xo-lib ] || {
      echo "demo: installing xo-lib (npm ci in tests/e2e/node)" >&2
      cd tests/e2e/node && npm ci --no-audit --no-fund >/dev/null 2>&1; }' \
    || echo "demo: npm ci failed: the xo-lib lines of the README will not run" >&2
}
if [ "${XO_DEMO_NO_BUILD:-0}" = 1 ]; then
  for b in tools/xo-kafka-dev agent/xo-agent gateway/xo-gateway; do
    [ -x "$BUILD/$b" ] || die "XO_DEMO_NO_BUILD=1 but $BUILD/$b is not built"
  done
else
  build_demo
fi

RUN=$(mktemp -d "${TMPDIR:-/tmp}/xo-demo.XXXXXX")
PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  echo "demo: stopped (logs kept in $RUN)" >&2
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

wait_line() { # file prefix timeout_s -> the first line starting with prefix
  local f=$1 prefix=$2 t=$3 line
  for _ in $(seq $((t * 10))); do
    line=$(grep -m1 "^$prefix" "$f" 2>/dev/null || true)
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

# 3. the gateway's command-signing key (Ed25519), trusted by both agents below
"$BUILD/gateway/xo-gateway" keygen --out "$RUN/keys" >"$RUN/keygen.out" \
  || die "xo-gateway keygen failed"

# 4. Kafka
"$BUILD/tools/xo-kafka-dev" >"$RUN/kafka.out" 2>"$RUN/kafka.log" &
PIDS+=($!)
BOOTSTRAP=$(wait_line "$RUN/kafka.out" "127.0.0.1:" 30) || die "xo-kafka-dev did not start (see $RUN/kafka.log)"

# 5. two simulated pools of different sizes: XCP-ng 8.2.1 and XenServer 8.2.1
start_sim() { # name vms hosts seed [simulator options]
  python3 "$SRC/tests/xapi_sim/xapi_sim.py" --port 0 --vms "$2" --hosts "$3" --seed "$4" \
    --event-batch-ms "$BATCH" "${@:5}" >"$RUN/$1.out" 2>"$RUN/$1.log" &
  PIDS+=($!)
}
start_sim sim-a "$VMS_A" 3 1
start_sim sim-b "$VMS_B" 2 2 --family xenserver --product-version 8.2.1

# the XenServer pool's patch catalogue (HTTPS on loopback, its own self-signed CA)
python3 "$SRC/tests/e2e/catalog_server.py" --dir "$RUN/catalog" --cert-dir "$RUN/catalog-tls" \
  --demo 8.2.1 >"$RUN/catalog.out" 2>"$RUN/catalog.log" &
PIDS+=($!)
wait_line "$RUN/catalog.out" "ready" 30 >/dev/null || die "the catalogue did not start (see $RUN/catalog.log)"
CATALOG=$(wait_line "$RUN/catalog.out" "listening: " 5 | cut -d' ' -f2)
CATALOG_CA=$(wait_line "$RUN/catalog.out" "ca: " 5 | cut -d' ' -f2)
declare -A SIM_URL SIM_POOL
for s in sim-a sim-b; do
  wait_line "$RUN/$s.out" "ready" 120 >/dev/null || die "simulator $s did not start (see $RUN/$s.log)"
  SIM_URL[$s]=$(wait_line "$RUN/$s.out" "listening: " 5 | cut -d' ' -f2)
  SIM_POOL[$s]=$(wait_line "$RUN/$s.out" "pool: " 5 | cut -d' ' -f2)
done

# 6. one agent per pool, each with its own key to sign its command results (the gateway
#    trusts each key for its pool only: commands.agent_keys)
AGENT_KEYS=""
for s in sim-a sim-b; do
  "$BUILD/agent/xo-agent" keygen --out "$RUN/keys-$s" >"$RUN/keygen-$s.out" \
    || die "xo-agent keygen failed"
  AGENT_KEYS="${AGENT_KEYS:+$AGENT_KEYS,}${SIM_POOL[$s]}=$RUN/keys-$s/agent.pub"
  cat >"$RUN/agent-$s.conf" <<CONF
[agent]
id = demo-$s
private_key = $RUN/keys-$s/agent.key
[xapi]
url = ${SIM_URL[$s]}
user = root
[topics]
prefix = xo.
[kafka]
bootstrap.servers = $BOOTSTRAP
[commands]
public_keys = $RUN/keys/gateway.pub
[patches]
catalog_url = $CATALOG/updates.xml
ca_file = $CATALOG_CA
# keep each host's missing patches on its record (the view's \$missingPatches), hourly
check_interval_s = 3600
CONF
  XO_AGENT_XAPI_PASSWORD=password "$BUILD/agent/xo-agent" --config "$RUN/agent-$s.conf" \
    >"$RUN/agent-$s.out" 2>"$RUN/agent-$s.log" &
  PIDS+=($!)
done

# 7. the gateway (demo account admin@admin.net / admin: no users file)
cat >"$RUN/gateway.conf" <<CONF
[http]
address = 127.0.0.1
port = $PORT
[topics]
prefix = xo.
[kafka]
bootstrap.servers = $BOOTSTRAP
[commands]
private_key = $RUN/keys/gateway.key
agent_keys = $AGENT_KEYS
CONF
"$BUILD/gateway/xo-gateway" --config "$RUN/gateway.conf" >"$RUN/gateway.out" 2>"$RUN/gateway.log" &
PIDS+=($!)
wait_line "$RUN/gateway.out" "listening: " 30 >/dev/null || die "xo-gateway did not start (see $RUN/gateway.log)"
for _ in $(seq 600); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "gateway: http://127.0.0.1:$PORT"
echo "web UI: http://127.0.0.1:$PORT/ (open it in a browser; docs/webui.md)"
echo "kafka: $BOOTSTRAP"
echo "login: admin@admin.net / admin"
for s in sim-a sim-b; do echo "pool: ${SIM_POOL[$s]} ${SIM_URL[$s]}"; done
echo "demo: logs in $RUN; Ctrl-C to stop" >&2

# 8. stay up until Ctrl-C (or until a piece dies)
while true; do
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "demo: a process ($pid) exited; see $RUN" >&2; exit 1; }
  done
  sleep 1
done
