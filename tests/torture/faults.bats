#!/usr/bin/env bats
# Faults: the store's disk fills up; libvirtd dies under the reconciler.
# TODO(storage): the Ceph cluster stopped under volume operations, once
# pools and volumes land.

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

teardown() {
  small_tmpfs_cleanup
  compute_stop
}
