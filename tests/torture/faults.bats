#!/usr/bin/env bats
# Faults: the store's disk fills up; libvirtd dies under the reconciler; the
# Ceph cluster stops answering under volume operations.

load common

@test "the store's disk full: ENOSPC, nothing half-written, recovery" {
  cfs_start
  store_on_small_tmpfs 3m
  torture_disk_full
  small_tmpfs_cleanup
  cfs_stop
}

@test "libvirtd killed under 4 starting VMs, then restarted" {
  STOP_TIMEOUT=1 compute_start
  torture_libvirtd_restart 4
}

@test "the Ceph cluster stops answering under volume operations, ${TORTURE_CEPH_ROUNDS:-3} times" {
  STOP_TIMEOUT=1 CFS_EXTRA_CONF="storage-timeout = 3;" compute_start
  torture_ceph_stopped "${TORTURE_CEPH_ROUNDS:-3}"
}

teardown() {
  small_tmpfs_cleanup
  [ -z "${T:-}" ] || ceph_torture_cleanup
  # A libvirtd killed by a failed test is started again (scripts/libvirt-up.sh
  # started it; it starts it again only if it is gone), so that the domains
  # are cleaned up and the next test has one.
  if [ -f "${CLOUDFS_TEST_STATE:-/run/cloudfs-test}/libvirtd.started" ]; then
    "$REPO/scripts/libvirt-up.sh" >/dev/null 2>&1 || true
  fi
  compute_stop
}
