#!/usr/bin/env bash
# Boots a throw-away QEMU guest with Debian's kernel and cgroup v2 only (cgroup_no_v1=all), the
# host's root shared read-only over 9p under a tmpfs overlay, runs COMMAND in it and exits with
# COMMAND's status. How and why: tools/README-v2vm.md and research/v2vm.md.
#
#   tools/v2vm.sh [--shared DIR] [--mem 2G] [--cpus N] [--timeout SEC] [--env NAME=VALUE]...
#                 [--host-path PATH]... [--kernel VMLINUZ-KVER] [--init busybox|systemd] [--verbose] -- COMMAND [ARG]...
#
# The guest sees the host's root read-only at the same paths, except under /tmp and /run, where
# it mounts its own tmpfs: --host-path keeps a host path under /tmp visible there (a checkout in
# /tmp, say). --shared DIR is mounted read-write at its host path wherever it is.
#
# Exit status: COMMAND's; 124 on timeout; 125 when the guest reported nothing (no boot, panic)
# or on a usage error. COMMAND's stdout and stderr come back on stdout (through a pipe in the
# guest, then the serial console); v2vm's own messages go to stderr.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 125
}
die() {
  echo "v2vm: $*" >&2
  exit 125
}

shared='' mem=2G cpus=$(nproc) timeout=0 verbose=0 kernel='' init=busybox envs=() host_paths=()
while [ $# -gt 0 ]; do
  case "$1" in
    --shared) shared=${2:?--shared needs a directory}; shift 2 ;;
    --mem) mem=${2:?--mem needs a size such as 2G}; shift 2 ;;
    --cpus) cpus=${2:?--cpus needs a number}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --env) envs+=("${2:?--env needs NAME=VALUE}"); shift 2 ;;
    --host-path) host_paths+=("${2:?--host-path needs a path}"); shift 2 ;;
    --kernel) kernel=${2:?--kernel needs a vmlinuz-KVER file}; shift 2 ;;
    --init) init=${2:?--init needs busybox or systemd}; shift 2 ;;
    --verbose) verbose=1; shift ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "v2vm: unknown option '$1'" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || { echo "v2vm: no COMMAND after --" >&2; usage; }
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds, got '$timeout'"
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a positive number, got '$cpus'"
[[ "$mem" =~ ^[1-9][0-9]*[MG]$ ]] || die "--mem wants a size such as 512M or 2G, got '$mem'"
case "$init" in busybox) ;; systemd) [ -x /lib/systemd/systemd ] || die "--init systemd: no /lib/systemd/systemd on this host (apt-get install systemd)" ;;
  *) die "--init wants busybox or systemd, got '$init'" ;; esac
for e in "${envs[@]}"; do [[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE, got '$e'"; done
for i in "${!host_paths[@]}"; do
  [ -e "${host_paths[i]}" ] || die "--host-path: no such path '${host_paths[i]}'"
  host_paths[i]=$(realpath "${host_paths[i]}")
  [[ "${host_paths[i]}" != *$'\n'* ]] || die "--host-path: a path with a newline cannot be passed"
done
if [ -n "$shared" ]; then
  [ -d "$shared" ] || die "--shared: '$shared' is not a directory"
  shared=$(cd "$shared" && pwd -P)
fi

log() { [ "$verbose" = 0 ] || echo "v2vm: $*" >&2; }
now() { date +%s.%N; }
started=$(now)
elapsed() { awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- everything this run starts is undone on exit, INT and TERM: only our own pids are killed
pids=() ctl=''
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -z "$ctl" ] || rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the cache: the guest kernel (plain ELF vmlinux, modules) and the initramfs
if [ -n "${V2VM_CACHE:-}" ]; then cache=$V2VM_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/nsgroups-v2vm
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/nsgroups-v2vm; fi
mkdir -p "$cache" || die "cannot create the cache directory $cache"
cache=$(cd "$cache" && pwd -P)
# one run builds the cache at a time; the others wait and then reuse it (read-only is enough to
# boot from a cache that another user built)
if [ -w "$cache/.lock" ] || [ -w "$cache" ]; then exec 9>>"$cache/.lock"; else exec 9<"$cache/.lock"; fi ||
  die "cannot open $cache/.lock"
flock 9 || die "cannot lock $cache/.lock"

depmod_cmd() {
  if command -v depmod >/dev/null; then depmod "$@"
  elif [ -x /usr/sbin/depmod ]; then /usr/sbin/depmod "$@"
  else busybox depmod "$@"; fi
}

# Debian's bzImage carries an XZ-compressed ELF vmlinux; booting that ELF through its PVH entry
# saves the guest ~4 s of decompression under TCG.
extract_vmlinux() { # VMLINUZ OUT
  local off
  for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | cut -d: -f1); do
    tail -c +$((off + 1)) "$1" | xz -dc >"$2.tmp" 2>/dev/null
    if [ "$(head -c 4 "$2.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then mv "$2.tmp" "$2"; return 0; fi
  done
  rm -f "$2.tmp"
  return 1
}

# Module trees the guest never loads (hardware it does not have): pruned to keep the cache small.
unused_modules=(sound drivers/gpu drivers/media drivers/infiniband drivers/usb drivers/iio
  drivers/staging drivers/comedi drivers/hid drivers/hwmon drivers/input drivers/video drivers/mtd
  drivers/scsi drivers/ata drivers/target drivers/bluetooth drivers/isdn drivers/mmc drivers/net/wireless
  drivers/net/ethernet drivers/net/can drivers/net/usb drivers/thunderbolt drivers/platform
  drivers/power drivers/leds drivers/i2c drivers/spi drivers/gpio drivers/mfd drivers/regulator
  drivers/edac drivers/nfc drivers/pinctrl drivers/misc drivers/w1 drivers/firewire drivers/pcmcia
  drivers/atm drivers/parport drivers/rtc drivers/soundwire drivers/tty/serial drivers/ptp
  drivers/crypto net/bluetooth net/wireless net/mac80211)

# Downloads Debian's kernel package (no install: /boot and the initramfs tools are untouched).
fetch_debian_kernel() { # PACKAGE DIR
  local pkg=$1 dir=$2 kver=${1#linux-image-} tmp
  log "fetching $pkg (apt-get download)"
  tmp=$(mktemp -d "$cache/fetch.XXXXXX") || die "cannot create a directory in $cache"
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/root" || { rm -rf "$tmp"; die "dpkg-deb -x failed"; }
  local mods=$tmp/root/lib/modules/$kver
  [ -d "$mods" ] || mods=$tmp/root/usr/lib/modules/$kver
  mkdir -p "$tmp/out/lib/modules"
  mv "$mods" "$tmp/out/lib/modules/$kver"
  for d in "${unused_modules[@]}"; do rm -rf "$tmp/out/lib/modules/$kver/kernel/$d"; done
  depmod_cmd -b "$tmp/out" "$kver" || { rm -rf "$tmp"; die "depmod failed"; }
  cp "$tmp/root/boot/config-$kver" "$tmp/out/config"
  extract_vmlinux "$tmp/root/boot/vmlinuz-$kver" "$tmp/out/vmlinux" || { rm -rf "$tmp"; die "cannot unpack vmlinuz-$kver"; }
  rm -rf "$dir"
  mv "$tmp/out" "$dir" && rm -rf "$tmp"
}

# The kernel: --kernel FILE, else the Debian kernel cached before, else the one linux-image-amd64
# depends on (V2VM_KERNEL_PKG names another).
if [ -n "$kernel" ]; then
  [ -f "$kernel" ] || die "--kernel: no file '$kernel'"
  kernel=$(cd "$(dirname "$kernel")" && pwd -P)/$(basename "$kernel")
  kver=$(basename "$kernel") && kver=${kver#vmlinuz-} && kver=${kver#vmlinux-}
  [ "$kver" != "$(basename "$kernel")" ] || die "--kernel: name the file vmlinuz-KVER or vmlinux-KVER"
  modules=$(dirname "$kernel")/../lib/modules/$kver
  [ -d "$modules" ] || modules=/lib/modules/$kver
  [ -f "$modules/modules.dep" ] || depmod_cmd -b "${modules%/lib/modules/$kver}" "$kver" ||
    die "no modules for $kver next to --kernel or in /lib/modules"
  kdir=$cache/custom-$kver-$(sha256sum "$kernel" | head -c 12)
  if [ ! -f "$kdir/vmlinux" ]; then
    mkdir -p "$kdir"
    if [ "$(head -c 4 "$kernel" | od -An -c | tr -d ' ')" = '177ELF' ]; then ln -sf "$kernel" "$kdir/vmlinux"
    else extract_vmlinux "$kernel" "$kdir/vmlinux" || die "cannot unpack $kernel"; fi
  fi
else
  pkg=${V2VM_KERNEL_PKG:-}
  if [ -z "$pkg" ] && [ -f "$cache/default-kernel" ] && [ -f "$cache/$(cat "$cache/default-kernel")/vmlinux" ]; then
    kdir=$cache/$(cat "$cache/default-kernel")
  else
    if [ -z "$pkg" ]; then
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
      [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (run apt-get update first)"
    fi
    kdir=$cache/debian-${pkg#linux-image-}
    [ -f "$kdir/vmlinux" ] || fetch_debian_kernel "$pkg" "$kdir"
    [ -n "${V2VM_KERNEL_PKG:-}" ] || basename "$kdir" >"$cache/default-kernel"
  fi
  kver=${kdir##*/debian-}
  modules=$kdir/lib/modules/$kver
fi

# The initramfs (stage 1): static busybox, the stage scripts and the modules needed to reach the
# host, each listed after its dependencies. Rebuilt when any of its inputs changes.
busybox=$(command -v busybox || echo /bin/busybox)
[[ "$(ldd "$busybox" 2>&1)" == *'not a dynamic executable'* ]] || die "$busybox is not static: apt-get install busybox-static"
wanted_modules=(virtio_pci 9pnet_virtio 9p overlay virtio-rng)
initramfs=$kdir/initramfs-$(cat "$here/v2vm/stage1.sh" "$here/v2vm/stage2.sh" "$here/v2vm/systemd-boot.sh" "$busybox" "$modules/modules.dep" |
  sha256sum | head -c 12).cpio
if [ ! -f "$initramfs" ]; then
  log "building $initramfs"
  tmp=$(mktemp -d "$cache/initramfs.XXXXXX") || die "cannot create a directory in $cache"
  mkdir -p "$tmp/bin" "$tmp/modules"
  cp "$busybox" "$tmp/bin/busybox"
  cp "$here/v2vm/stage1.sh" "$tmp/init" && chmod 755 "$tmp/init"
  cp "$here/v2vm/stage2.sh" "$tmp/stage2.sh"
  cp "$here/v2vm/systemd-boot.sh" "$tmp/systemd-boot.sh"
  declare -A seen=()
  add_module() { # PATH relative to $modules
    local name=${1##*/}
    name=${name%%.ko*}
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    case "$1" in
      *.ko) cp "$modules/$1" "$tmp/modules/$name.ko" ;;
      *.ko.xz) xz -dc "$modules/$1" >"$tmp/modules/$name.ko" ;;
      *.ko.zst) zstd -qdc "$modules/$1" >"$tmp/modules/$name.ko" ;;
      *) die "unexpected module file $1" ;;
    esac || die "cannot copy the module $1"
    echo "$name" >>"$tmp/modules/order"
  }
  for want in "${wanted_modules[@]}"; do
    line=$(grep -E "(^|/)$want\.ko(\.[a-z]+)?:" "$modules/modules.dep" | head -1)
    [ -n "$line" ] || die "the kernel $kver has no module $want"
    read -ra deps <<<"${line#*:}"
    # modules.dep lists what a module needs, each before what it needs in turn: load from the end
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[i]}"; done
    add_module "${line%%:*}"
  done
  (cd "$tmp" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc >"$initramfs.tmp" 2>/dev/null) ||
    die "cpio failed"
  mv "$initramfs.tmp" "$initramfs" && rm -rf "$tmp"
  # those of older stage scripts, unless built within the hour (another checkout may boot them)
  find "$kdir" -maxdepth 1 -name 'initramfs-*.cpio' ! -newer "$initramfs" -mmin +60 -delete 2>/dev/null
fi
flock -u 9
exec 9>&-

# ---- the per-run control share: what to run, and the exit code and timings coming back
# A run killed by SIGKILL cannot clean up (its qemu dies with it, by pdeathsig): its control
# directory, named after its pid, is removed by the next run once that pid is gone.
for stale in "${TMPDIR:-/tmp}"/v2vm.[0-9]*.*; do
  owner=${stale##*/v2vm.} && owner=${owner%%.*}
  [ -d "$stale" ] && [ -O "$stale" ] && [ ! -d "/proc/$owner" ] && rm -rf "$stale"
done
ctl=$(mktemp -d "${TMPDIR:-/tmp}/v2vm.$$.XXXXXX") || die "cannot create a directory in ${TMPDIR:-/tmp}"
{
  printf 'V2VM_SHARED=%q\n' "$shared"
  printf 'V2VM_MODULES=%q\n' "$modules"
  printf 'V2VM_VERBOSE=%q\n' "$verbose"
  printf 'V2VM_INIT=%q\n' "$init"
} >"$ctl/config"
[ ${#host_paths[@]} = 0 ] || printf '%s\n' "${host_paths[@]}" >"$ctl/host-paths"
{
  printf 'export HOME=/root TERM=dumb LANG=C.UTF-8 V2VM_KERNEL=%q\n' "$kver"
  for e in "${envs[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$ctl/command"

qesc() { printf '%s' "${1//,/,,}"; } # a comma in a qemu option value is written twice
cmdline="console=ttyS0 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 mitigations=off"
cmdline+=" tsc=reliable no_timer_check random.trust_cpu=on"
if [ "$verbose" = 1 ]; then cmdline+=" loglevel=7 v2vm.verbose=1"; else cmdline+=" quiet loglevel=1"; fi
# systemd: no status lines on the console (COMMAND's output is all that comes back there)
[ "$init" = busybox ] || cmdline+=" systemd.show_status=0 udev.log_level=err"
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -display none
  -machine pc -accel tcg,thread=multi -cpu Nehalem -smp "$cpus" -m "$mem"
  -bios /usr/share/qemu/qboot.rom -kernel "$kdir/vmlinux" -initrd "$initramfs" -append "$cmdline"
  -chardev stdio,id=console,signal=off -serial chardev:console
  -device virtio-rng-pci
  -virtfs local,path=/,mount_tag=v2root,security_model=none,readonly=on,multidevs=remap
  -virtfs "local,path=$(qesc "$ctl"),mount_tag=v2ctl,security_model=none,multidevs=remap")
[ -z "$shared" ] || qemu+=(-virtfs "local,path=$(qesc "$shared"),mount_tag=v2shared,security_model=none,multidevs=remap")

log "kernel $kver, $cpus vCPUs, $mem, TCG; prepared in $(elapsed) s"
forget() { for i in "${!pids[@]}"; do [ "${pids[i]}" != "$1" ] || unset 'pids[i]'; done; }
if [ "$timeout" -gt 0 ]; then
  setpriv --pdeathsig KILL -- sleep "$timeout" &
  timer_pid=$!
  pids+=("$timer_pid")
fi
# A boot watchdog: the guest touches $ctl/started just before COMMAND runs (stage2.sh,
# systemd-boot.sh), which takes 4-15 s here. A guest that has not got there in
# V2VM_BOOT_TIMEOUT seconds (a TCG guest was once seen hanging silently before its init) is
# killed and booted again, twice at most: COMMAND had not started, so nothing is run twice.
boot_timeout=${V2VM_BOOT_TIMEOUT:-120}
[[ "$boot_timeout" =~ ^[0-9]+$ ]] || die "V2VM_BOOT_TIMEOUT wants whole seconds, got '$boot_timeout'"
for attempt in 1 2 3; do
  rm -f "$ctl/started" "$ctl/exit" "$ctl/exit.tmp" "$ctl/stamps"
  # qemu dies with this script even on SIGKILL (pdeathsig), and the trap kills it on exit
  setpriv --pdeathsig KILL -- "${qemu[@]}" </dev/null &
  qemu_pid=$!
  pids+=("$qemu_pid")
  setpriv --pdeathsig KILL -- bash -c 'for _ in $(seq "$1"); do [ -f "$2" ] && exit 0; sleep 1; done; exit 3' _ "$boot_timeout" "$ctl/started" &
  watch_pid=$!
  pids+=("$watch_pid")
  waitfor=("$qemu_pid" "$watch_pid" ${timer_pid:+"$timer_pid"})
  wait -n -p finished "${waitfor[@]}"
  status=$?
  # the one that ended is reaped: its pid may be reused, so the cleanup must not kill it
  forget "${finished:-}"
  if [ "${finished:-}" = "$watch_pid" ] && [ "$status" = 0 ]; then
    # started: from here on, COMMAND's own time, bounded by --timeout
    wait -n -p finished "$qemu_pid" ${timer_pid:+"$timer_pid"}
    status=$?
    forget "${finished:-}"
  elif [ "${finished:-}" = "$watch_pid" ]; then
    kill -KILL "$qemu_pid" 2>/dev/null
    wait "$qemu_pid" 2>/dev/null
    forget "$qemu_pid"
    if [ "$attempt" -lt 3 ]; then
      echo "v2vm: the guest had not started the command after $boot_timeout s (boot $attempt of 3): booting it again" >&2
      continue
    fi
    echo "v2vm: the guest had not started the command after $boot_timeout s, three boots in a row" >&2
    exit 125
  fi
  break
done
qemu_status=$status
if [ "$timeout" -gt 0 ] && [ "${finished:-}" = "$timer_pid" ]; then
  echo "v2vm: timed out after $timeout s: the guest was killed" >&2
  exit 124
fi
if [ ! -f "$ctl/exit" ]; then
  echo "v2vm: the guest reported no exit code (qemu exited with status $qemu_status): no boot, or a panic; try --verbose" >&2
  exit 125
fi
if [ "$verbose" = 1 ] && [ -f "$ctl/stamps" ]; then
  # guest uptime at each stage: kernel ready (stage 1), root switched (stage 2), command, done
  echo "v2vm: guest uptime (s): $(tr '\n' ' ' <"$ctl/stamps")" >&2
fi
log "total $(elapsed) s"
exit "$(cat "$ctl/exit")"
