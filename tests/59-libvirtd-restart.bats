#!/usr/bin/env bats
# libvirtd stopped and restarted under a running reconciler: the host shows
# disconnected with a reason, nothing crashes, and work converges afterwards.
# Only runs where scripts/libvirt-up.sh started libvirtd (it then restarts it
# and records the new PID, so scripts/libvirt-down.sh still stops it).

load compute_helpers

STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"

setup_file() {
  STOP_TIMEOUT=2 compute_start
  make_tiny_offering tiny 64M
  mkdir "$C/vms/r1"
  echo tiny > "$C/vms/r1/offering"
}

teardown_file() {
  "$REPO/scripts/libvirt-up.sh" >/dev/null 2>&1 || true
  compute_stop
}

libvirtd_pid() { awk '{print $1}' "$STATE_DIR/libvirtd.started" 2>/dev/null; }

@test "libvirtd down: host disconnected with a reason; back up: the pending start converges" {
  [ -f "$STATE_DIR/libvirtd.started" ] || skip "libvirtd was not started by scripts/libvirt-up.sh"
  wait_until 20 file_is "$C/hosts/local/status/connection" connected
  pid=$(libvirtd_pid)
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  wait_until 30 file_is "$C/hosts/local/status/connection" disconnected
  [ -n "$(cat "$C/hosts/local/status/error")" ]
  echo running > "$C/vms/r1/state"
  sleep 1
  kill -0 "$(cat "$T/reconcile.pid")"            # the reconciler survived
  "$REPO/scripts/libvirt-up.sh" >/dev/null
  wait_until 60 file_is "$C/hosts/local/status/connection" connected
  wait_until 60 domstate_is "$(vm_domain r1)" running
  wait_until 20 file_is "$C/vms/r1/status/state" running
}
