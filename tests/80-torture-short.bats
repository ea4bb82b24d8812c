#!/usr/bin/env bats
# The torture suite, short (the full one is `make torture`,
# tests/torture/): bad input into one resource of each kind, odd names,
# kill -9 under writers, 16 writers with readers, the same as a tenant, the
# store's disk full.

load compute_helpers
load checks
load torture/lib

teardown() {
  small_tmpfs_cleanup
  torture_tenant_cleanup
  compute_stop
}

@test "bad input into every writable file of one resource of each kind" {
  cfs_start
  torture_bad_input 2 0
}

@test "odd names for mkdir, mv and ln -s" {
  cfs_start
  torture_odd_names
}

@test "kill -9 of the mount and the reconciler under 4 writers, 6 times" {
  CFS_TEST_URI=test:///default compute_start
  torture_crash_mount 4 6
}

@test "16 writers x 40 writes with 4 readers" {
  CFS_TEST_URI=test:///default compute_start
  torture_load 16 4 40
}

@test "as a tenant: bad input into its volume and a host of root's, then 8 writers with 4 readers" {
  CFS_TEST_URI=test:///default compute_start
  torture_as_tenant
  torture_bad_input 0 0 "$C/volumes/tv" "$C/hosts/th"
  torture_load 8 4 20
}

@test "the store's disk full: ENOSPC, nothing half-written, recovery" {
  cfs_start
  store_on_small_tmpfs 3m
  torture_disk_full
}
