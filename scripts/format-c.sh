#!/usr/bin/env bash
# clang-format over src-native (the style is .clang-format's): `--check` reports what differs
# and fails, without it the files are rewritten. Needs Debian's clang-format (14 on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-c: no clang-format: apt-get install clang-format" >&2; exit 2; }
mapfile -t files < <(find src-native -name '*.c' -o -name '*.cc' -o -name '*.h' | sort)
if [ "${1:-}" = --check ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "format-c: ${#files[@]} files formatted as .clang-format says"
else
  clang-format -i "${files[@]}"
fi
