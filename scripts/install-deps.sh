#!/usr/bin/env bash
# Install what XO Fleet needs to build, run and test, from Debian 12 packages (as root).
# Installs only what is missing, so a second run is fast and needs no network.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config      # compiler and build
  librdkafka-dev                        # Kafka client + mock cluster (rdkafka_mock.h)
  libcurl4-openssl-dev                  # XAPI HTTP(S) client
  libxml2-dev                           # XML-RPC codec
  libjson-c-dev                         # JSON
  libwebsockets-dev                     # gateway HTTP/WebSocket server
  libssl-dev openssl ca-certificates    # TLS, Ed25519, certificates in tests
  libzstd-dev                           # compression
  libarchive-dev                        # patch zips unzipped as a stream
  libmimalloc-dev                       # the gateway's allocator (json-c's small allocations)
  zstd libxxhash0                       # XAPI simulator: zstd exports/imports, fast XXH64 for XVA chunks
  libcmocka-dev                         # unit tests
  kcat                                  # Kafka CLI: tests read topics as users do
  python3 python3-jsonschema            # XAPI simulator, test harness, schema checks
  python3-yaml                          # integration.deploy_files reads deploy/*.yaml
  haproxy                               # deploy/haproxy.cfg checked (haproxy -c) and run in
                                        # front of two gateways by e2e.gateway_many
  systemd                               # systemd-analyze: integration.systemd_units verifies
                                        # deploy/*.service offline (no booted systemd needed)
  clang-format                          # checked-in code style
  procps curl                           # ps/pkill and curl used by scripts and tests
  chromium                              # the console browser test (noVNC, headless)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the real xen-api and xo-lib clients in tests. Use the machine's
# node if it has one (it may come from another repository that bundles npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The console browser test's npm packages (noVNC, playwright-core driving Debian's chromium;
# no browser download): pinned in tests/e2e/browser/package-lock.json.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/browser"
if [ -f "$browser_dir/package-lock.json" ] && [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  echo "install-deps: npm ci in tests/e2e/browser"
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
# The web UI's npm package (noVNC, served by the gateway: the build copies it into the
# web UI's directory, webui/stage.cmake): pinned in webui/package-lock.json.
webui_dir="$(cd "$(dirname "$0")/.." && pwd)/webui"
if [ -f "$webui_dir/package-lock.json" ] && [ ! -d "$webui_dir/node_modules/@novnc/novnc" ]; then
  echo "install-deps: npm ci in webui"
  (cd "$webui_dir" && npm ci --no-audit --no-fund)
fi
echo "install-deps: all dependencies present"

# Xen Orchestra's REST API spec, pinned: the conformance test (e2e.rest_conformance) checks
# the gateway's REST answers against it. `npm install` of that package fails on a missing
# dependency; `npm pack` fetches the tarball alone. Kept outside the tree (not committed):
# ${XO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xo-fleet}/rest-api-<version>/swagger.json
REST_API_VERSION=0.39.0
spec_dir="${XO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xo-fleet}/rest-api-$REST_API_VERSION"
if [ ! -s "$spec_dir/swagger.json" ]; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "@xen-orchestra/rest-api@$REST_API_VERSION" >/dev/null &&
      tar xzf xen-orchestra-rest-api-"$REST_API_VERSION".tgz package/open-api/spec/swagger.json); then
    mkdir -p "$spec_dir"
    mv "$tmp/package/open-api/spec/swagger.json" "$spec_dir/swagger.json"
    echo "install-deps: REST API spec $REST_API_VERSION in $spec_dir"
  else
    echo "install-deps: could not fetch @xen-orchestra/rest-api@$REST_API_VERSION (offline?);" \
         "e2e.rest_conformance needs $spec_dir/swagger.json" >&2
  fi
  rm -rf "$tmp"
fi
