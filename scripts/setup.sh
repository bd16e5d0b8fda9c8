#!/usr/bin/env bash
# Sets up a fresh Debian machine for nsgroups: the Debian packages the library and its tests use
# (as root, or through sudo), then npm dependencies and the build (native addon + TypeScript).
# Node.js 20 or newer must already be installed (Debian 12's own nodejs package is 18).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: nsgroups needs Node.js >= 20 (found: $(node -v 2>/dev/null || echo none)); install it first, e.g. from https://deb.nodesource.com" >&2
  exit 1
fi

# build tools for the addon; what the tests run inside sandboxes (ip, ipcs, ps, newuidmap, busybox)
packages=(python3 make g++ iproute2 util-linux procps uidmap busybox-static)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  echo "setup: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Build against the installed Node's headers instead of downloading them.
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi
npm ci --no-audit --no-fund   # its install script builds the addon (node-gyp-build)
npm run build:ts
