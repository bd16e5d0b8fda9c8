# Sourced by the lanes that boot the QEMU guest (.ci/lane-v2.sh, .ci/lane-systemd.sh): installs
# what the guest needs from Debian (the kernel package itself is fetched by tools/v2vm.sh). Needs
# the lane's lane_failed; $1 names the lane in what it prints. Defines installed() for the lane.
installed() { [ "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }
install_guest_packages() {
  local lane=$1 p
  local packages=(qemu-system-x86 busybox-static kmod xz-utils) missing=() as_root=()
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  if [ ${#missing[@]} -gt 0 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
    echo "$lane lane: installing ${missing[*]:-nothing} (apt-get)"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || lane_failed "apt-get update"
    if [ ${#missing[@]} -gt 0 ]; then
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || lane_failed "apt-get install ${missing[*]}"
    fi
  fi
}
