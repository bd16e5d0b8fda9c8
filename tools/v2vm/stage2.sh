# v2vm stage 2: PID 1 on the host's userland (overlay over the 9p root), run by the static busybox
# copied to /run/v2vm-guest. Sets up a pure cgroup v2 system, runs the command from the control
# share (/run/v2vm), writes its exit code there, syncs and powers off.
B=/run/v2vm-guest/busybox
CTL=/run/v2vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
stamp() { read -r up _ </proc/uptime; echo "$1 $up" >>/run/v2vm-guest/stamps; }
stamp stage2
. "$CTL/config" # V2VM_SHARED, V2VM_MODULES, V2VM_VERBOSE (written by tools/v2vm.sh)
say() { [ "$V2VM_VERBOSE" = 1 ] && echo "v2vm stage2: $*"; }
off() {
  [ "$V2VM_VERBOSE" = 1 ] || echo 0 >/proc/sys/kernel/printk # no "reboot: Power down" in the output
  $B sync
  $B poweroff -f
  $B reboot -f
}
fail() { echo "v2vm stage2: $*"; off; }

$B mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /sys/fs/cgroup
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
$B ln -sf pts/ptmx /dev/ptmx 2>/dev/null
$B mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
$B mount -t mqueue mqueue /dev/mqueue
# the guest kernel's modules, so that modprobe works (brd for io.max, veth…); bound before /tmp
# is hidden, since the cache may live there
if [ -n "$V2VM_MODULES" ]; then
  $B mkdir -p "/lib/modules/$($B uname -r)"
  $B mount --bind "$V2VM_MODULES" "/lib/modules/$($B uname -r)"
fi
# /tmp: the guest's own tmpfs (overlayfs refuses an overlay as its upper layer), except for the
# host paths under it asked for with --host-path, bound from the host's /tmp seen before
$B mkdir -p /run/v2vm-guest/host-tmp
$B mount --bind /tmp /run/v2vm-guest/host-tmp
$B mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
if [ -f "$CTL/host-paths" ]; then
  while read -r path; do
    case "$path" in /tmp/*) ;; *) continue ;; esac
    $B mkdir -p "$path"
    $B mount --bind "/run/v2vm-guest/host-tmp/${path#/tmp/}" "$path" || fail "cannot bind the host's $path"
  done <"$CTL/host-paths"
fi
# cgroup2 only (the kernel is booted with cgroup_no_v1=all); every controller enabled for the
# root's children, as systemd does on a unified host (Documentation/admin-guide/cgroup-v2.rst).
# With --init systemd, systemd mounts and manages it itself.
if [ "$V2VM_INIT" != systemd ]; then
  $B mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
  for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable the $c controller"
  done
  $B mount -t bpf bpf /sys/fs/bpf 2>/dev/null
fi
$B ip link set lo up
$B hostname v2vm
# the shared directory at the same path as on the host: results written there persist
if [ -n "$V2VM_SHARED" ]; then
  $B mkdir -p "$V2VM_SHARED"
  $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose v2shared "$V2VM_SHARED" ||
    fail "cannot mount the shared directory $V2VM_SHARED"
  cd "$V2VM_SHARED" || fail "cannot cd to $V2VM_SHARED"
else
  cd /tmp
fi
# --init systemd: systemd becomes PID 1 here and runs the command in a service of its own
[ "$V2VM_INIT" = systemd ] && exec $B sh /run/v2vm-guest/systemd-boot.sh boot
# output goes to the console through a fifo: the command sees a pipe, as in CI, not a tty
$B stty -F /dev/console -onlcr 2>/dev/null
$B mkfifo /run/v2vm-guest/out
$B cat /run/v2vm-guest/out >/dev/console &
catpid=$!
say "running the command"
stamp command
$B touch "$CTL/started" # the host's boot watchdog: the command starts now (tools/v2vm.sh)
$B env -i PATH="$PATH" /bin/bash "$CTL/command" </dev/null >/run/v2vm-guest/out 2>&1
code=$?
stamp done
# what the command left behind (every process but us, the console copier and kernel threads,
# whose parent is kthreadd, pid 2) is killed, so that the copier sees the end of its fifo
for d in /proc/[0-9]*; do
  read -r stat 2>/dev/null <"$d/stat" || continue
  set -- ${stat##*) } # after "pid (comm) ": state ppid …
  case "${d#/proc/}" in 1 | 2 | "$catpid") continue ;; esac
  [ "$2" = 2 ] || kill -KILL "${d#/proc/}" 2>/dev/null
done
wait $catpid
$B cp /run/v2vm-guest/stamps "$CTL/stamps"
[ -n "$V2VM_SHARED" ] && cd / && $B sync && $B umount "$V2VM_SHARED" 2>/dev/null
echo "$code" >"$CTL/exit.tmp" && $B mv "$CTL/exit.tmp" "$CTL/exit"
off
