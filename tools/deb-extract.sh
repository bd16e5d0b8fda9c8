#!/usr/bin/env bash
# Extracts Debian packages of another architecture into a directory, for qemu-user (-L ROOT) or
# as a sysroot, without installing anything: apt runs with its own lists, status and archive
# cache, so the host's dpkg architectures and package lists stay as they are (no
# `dpkg --add-architecture`). The host's sources and keys are used. No dependencies are followed:
# name every package you need.
#
#   tools/deb-extract.sh ARCH ROOT PACKAGE...     e.g. tools/deb-extract.sh arm64 /tmp/r libc6 musl
set -euo pipefail
arch=${1:?usage: deb-extract.sh ARCH ROOT PACKAGE...}
root=${2:?usage: deb-extract.sh ARCH ROOT PACKAGE...}
shift 2
[ $# -gt 0 ] || { echo "deb-extract: no packages named" >&2; exit 2; }

state=$(mktemp -d /tmp/nsgroups-apt.XXXXXX)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/archives/partial" "$root"
: > "$state/status"
apt=(apt-get -qq
  -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
  -o "Dir::Cache=$state" -o "Dir::Cache::archives=$state/archives"
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root) # the state directory is ours, not _apt's
"${apt[@]}" update >&2
(cd "$state/archives" && "${apt[@]}" download "$@" >&2)
for deb in "$state"/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
