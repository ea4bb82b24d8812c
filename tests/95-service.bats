#!/usr/bin/env bats
# Starting and stopping a cloud: scripts/setup.sh starts the mount and the
# reconciler, scripts/stop.sh leaves no cloudfs process and no mount behind
# (also while a QEMU process holds a copy of the mount in its own mount
# namespace), VMs keep running across the stop; the systemd units that
# `make install` installs pass systemd-analyze verify.

load compute_helpers

setup_file() {
  T="$(mktemp -d /tmp/cfs-svc.XXXXXX)"
  export T MNT="$T/mnt" DB="$T/store.db" CONF="$T/cloudfs.conf"
  export C="$MNT/zones/default/clusters/default"
  cat > "$CONF" <<CONF
store = "$DB";
hypervisor = "qemu:///system";
pool-path = "$T/pool";
console-dir = "$T/console";
image-dir = "$T/images";
stop-timeout = 2;
default-subnet = "";
CONF
}

teardown_file() {
  CLOUDFS_RUN="$T/run" "$REPO/scripts/stop.sh" "$MNT" >/dev/null 2>&1 || true
  rc_cleanup_domains
  rm -rf "$T"
}

start() {
  CLOUDFS_CONF="$CONF" CLOUDFS_RUN="$T/run" CLOUDFS_LOG="$T" CLOUDFS_BIN="$CLOUDFS_BIN" \
    "$REPO/scripts/setup.sh" "$MNT" >"$T/setup.out" 2>&1 || { cat "$T/setup.out" >&2; return 1; }
}

stop() { CLOUDFS_RUN="$T/run" "$REPO/scripts/stop.sh" "$MNT"; }

# Processes of this cloud (by its configuration file), and its mount.
ours() { pgrep -f -- "-c $CONF " || true; }
mounted() { grep -qs " $MNT fuse" /proc/self/mounts; }

@test "setup.sh starts both daemons; stop.sh leaves no process and no mount while a VM runs" {
  start
  kill -0 "$(cat "$T/run/mount.pid")"; kill -0 "$(cat "$T/run/reconcile.pid")"
  # The mount has a helper process of its own (src/fs/notify_fs.c).
  [ "$(ours | wc -l)" -ge 2 ]
  make_tiny_offering tiny 64M
  mkdir "$C/vms/s1"
  echo tiny > "$C/vms/s1/offering"
  echo running > "$C/vms/s1/state"
  timeout 60 cat "$C/vms/s1/wait" || { cat "$C/vms/s1/status/error"; false; }
  domstate_is "$(vm_domain s1)" running
  # The QEMU process was started while the mount existed: on a host whose
  # root mount is private it holds a copy of the mount in its namespace,
  # which keeps the FUSE connection open after the unmount.
  qpid=$(cat "/run/libvirt/qemu/$(vm_domain s1).pid")
  if [ "$(findmnt -no PROPAGATION /)" = private ]; then
    grep -q " $MNT " "/proc/$qpid/mountinfo"
  fi
  run stop
  [ "$status" = 0 ]
  [ -z "$(ours)" ] || { ps -fp "$(ours)"; false; }
  ! mounted || false
  [ ! -e "$T/run/mount.pid" ]; [ ! -e "$T/run/reconcile.pid" ]
  # The control plane stopped, not the guest.
  domstate_is "$(vm_domain s1)" running
}

@test "setup.sh again picks up where the stop left off; a second stop is harmless" {
  start
  kill -0 "$(cat "$T/run/mount.pid")"; kill -0 "$(cat "$T/run/reconcile.pid")"
  wait_until 30 file_is "$C/vms/s1/status/state" running
  echo stopped > "$C/vms/s1/state"
  timeout 60 cat "$C/vms/s1/wait" || { cat "$C/vms/s1/status/error"; false; }
  domstate_is "$(vm_domain s1)" "shut off"
  stop
  stop
  [ -z "$(ours)" ]
  ! mounted || false
}

@test "stop.sh after a crashed mount daemon clears the dead mount" {
  start
  kill -9 "$(cat "$T/run/mount.pid")"
  wait_until 10 bash -c "! kill -0 $(cat "$T/run/mount.pid") 2>/dev/null"
  stop
  [ -z "$(ours)" ]
  ! mounted || false
}

@test "the systemd units that make install installs pass systemd-analyze verify" {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  make -s -C "$REPO" install PREFIX="$T/prefix" >/dev/null
  for u in cloudfs-mount cloudfs-reconcile; do
    f="$T/prefix/lib/systemd/system/$u.service"
    grep -q "^ExecStart=$T/prefix/bin/cloudfs " "$f"
    out=$(systemd-analyze verify --man=no "$f" 2>&1)
    [ -z "$out" ] || { echo "$out"; false; }
  done
  grep -q "^After=.*libvirtd.service" "$T/prefix/lib/systemd/system/cloudfs-reconcile.service"
  grep -q "^Restart=on-failure" "$T/prefix/lib/systemd/system/cloudfs-reconcile.service"
  grep -q "^Restart=on-failure" "$T/prefix/lib/systemd/system/cloudfs-mount.service"
}
