#!/bin/busybox sh
# v2vm stage 1: the initramfs /init (static busybox, PID 1). Loads the modules the guest needs to
# reach the host (virtio, 9p, overlay), mounts the host's root read-only over 9p with a tmpfs
# overlay on top (writes stay in the guest), then switch_root into stage 2 on that root.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

say() { [ "$V2VM_VERBOSE" = 1 ] && echo "v2vm stage1: $*"; }
fail() { echo "v2vm stage1: $*"; exec sh -c 'echo 1 >/proc/sys/kernel/sysrq; echo b >/proc/sysrq-trigger'; }
grep -q 'v2vm.verbose=1' /proc/cmdline && V2VM_VERBOSE=1
stamp() { read -r up _ </proc/uptime; echo "$1 $up" >>/stamps; }
stamp stage1

# modules/order lists each module after its dependencies (computed from modules.dep on the host)
while read -r m; do insmod "/modules/$m.ko" || fail "insmod $m failed"; done </modules/order
say "modules loaded"

# 9p2000.L over virtio; cache=loose: the host keeps the shared trees unchanged while the guest runs
ninep='trans=virtio,version=9p2000.L,msize=512000,cache=loose'
mount -t 9p -o "ro,$ninep" v2root /lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay root"

# /run: the guest's own; the per-run control share (command, environment, exit code) under it
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /newroot/run
mkdir -p /newroot/run/v2vm /newroot/run/v2vm-guest
mount -t 9p -o "$ninep" v2ctl /newroot/run/v2vm || fail "cannot mount the control share"
cp /bin/busybox /stage2.sh /systemd-boot.sh /newroot/run/v2vm-guest/
cp /stamps /newroot/run/v2vm-guest/stamps
for fs in dev proc sys; do mount --move "/$fs" "/newroot/$fs"; done
say "switching root"
exec switch_root /newroot /run/v2vm-guest/busybox sh /run/v2vm-guest/stage2.sh
