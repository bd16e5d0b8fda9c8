#!/usr/bin/env bash
# Sets up a fresh Debian machine for nsgroups: the Debian packages the library and its tests use
# (when run as root, or through sudo), then npm dependencies and the build (addon + TypeScript).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nodejs npm python3 make g++ iproute2 util-linux busybox-static uidmap procps)
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
npm ci --no-audit --no-fund
npm run build
