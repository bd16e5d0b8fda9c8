# v2vm --init systemd (run by the static busybox of stage 2). Two modes:
#   boot  PID 1, after stage 2's mounts: prepares the guest's own /etc and /var (the overlay over
#         the host's root: nothing reaches the host) for a real systemd boot, then execs systemd
#         with v2vm.target as the unit to start
#   run   the ExecStart of v2vm-command.service: waits for the lingering user's manager, runs the
#         command from the control share, writes its exit code there and powers off
# The guest gets a system bus (dbus), logind, and a user 'v2vm' with lingering, so that
# user@UID.service runs `systemd --user` (and its user bus) without anyone logging in.
B=/run/v2vm-guest/busybox
CTL=/run/v2vm
USER_NAME=v2vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
stamp() { read -r up _ </proc/uptime; echo "$1 $up" >>/run/v2vm-guest/stamps; }
. "$CTL/config"
say() { [ "$V2VM_VERBOSE" = 1 ] && echo "v2vm systemd: $*"; }
off() {
  [ "$V2VM_VERBOSE" = 1 ] || echo 0 >/proc/sys/kernel/printk
  $B sync
  $B poweroff -f
  $B reboot -f
}
fail() { echo "v2vm systemd: $*"; off; }

boot() {
  # a machine id of its own (the host's is shared read-only otherwise), a hostname
  $B tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id
  echo v2vm >/etc/hostname
  # the host may be a container: its marker, seen through the shared root, would make systemd
  # think it runs in one (virt.c detect_container) and ignore the kernel command line
  $B rm -f /.dockerenv /run/.containerenv
  # the user, in the guest's /etc only, and lingering: logind starts user@UID.service at boot
  id "$USER_NAME" >/dev/null 2>&1 || useradd --create-home --user-group --shell /bin/bash "$USER_NAME" ||
    fail "useradd $USER_NAME failed"
  $B mkdir -p /var/lib/systemd/linger
  $B touch "/var/lib/systemd/linger/$USER_NAME"
  uid=$(id -u "$USER_NAME")
  # units that only cost boot time here (the host enables them for itself)
  for unit in systemd-timesyncd.service systemd-pstore.service e2scrub_reap.service apt-daily.timer \
    apt-daily-upgrade.timer man-db.timer systemd-networkd.service systemd-resolved.service \
    systemd-update-utmp.service; do
    $B ln -sf /dev/null "/etc/systemd/system/$unit"
  done
  $B cat >/etc/systemd/system/v2vm.target <<EOF
[Unit]
Description=v2vm: the command
Requires=v2vm-command.service
After=v2vm-command.service
AllowIsolate=yes
EOF
  $B cat >/etc/systemd/system/v2vm-command.service <<EOF
[Unit]
Description=v2vm: the command
Wants=dbus.socket systemd-logind.service user@$uid.service
After=basic.target dbus.socket systemd-logind.service user@$uid.service
[Service]
Type=oneshot
ExecStart=/run/v2vm-guest/busybox sh /run/v2vm-guest/systemd-boot.sh run
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
EOF
  stamp systemd
  say "exec systemd"
  exec /lib/systemd/systemd --unit=v2vm.target
}

run() {
  uid=$(id -u "$USER_NAME")
  # user@UID.service is Type=notify: active once `systemd --user` is up (its bus socket then too)
  for _ in $($B seq 600); do
    [ "$(systemctl is-active "user@$uid.service" 2>/dev/null)" = active ] && [ -S "/run/user/$uid/bus" ] && break
    $B sleep 0.2
  done
  [ "$(systemctl is-active "user@$uid.service" 2>/dev/null)" = active ] || {
    systemctl status "user@$uid.service" --no-pager 2>&1 | $B head -20 >/dev/console
    fail "user@$uid.service did not become active"
  }
  stamp command
  $B stty -F /dev/console -onlcr 2>/dev/null
  $B mkfifo /run/v2vm-guest/out
  $B cat /run/v2vm-guest/out >/dev/console &
  catpid=$!
  cd "${V2VM_SHARED:-/tmp}" || fail "cannot cd to $V2VM_SHARED"
  $B touch "$CTL/started" # the host's boot watchdog: the command starts now (tools/v2vm.sh)
  $B env -i PATH="$PATH" V2VM_USER="$USER_NAME" /bin/bash "$CTL/command" </dev/null >/run/v2vm-guest/out 2>&1
  code=$?
  stamp done
  # a process the command left behind may hold the fifo open: the copier gets 3 s to drain it
  for _ in $($B seq 30); do $B kill -0 $catpid 2>/dev/null || break; $B sleep 0.1; done
  $B kill $catpid 2>/dev/null
  $B cp /run/v2vm-guest/stamps "$CTL/stamps"
  [ -n "$V2VM_SHARED" ] && cd / && $B sync
  echo "$code" >"$CTL/exit.tmp" && $B mv "$CTL/exit.tmp" "$CTL/exit"
  off
}

case "$1" in
  boot) boot ;;
  run) run ;;
  *) fail "usage: systemd-boot.sh boot|run" ;;
esac
