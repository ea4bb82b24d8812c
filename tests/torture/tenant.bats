#!/usr/bin/env bats
# The torture suite as an unprivileged tenant (issue 13): bad input into its
# own resources and the operator's around them, and the load, with the
# writers and readers running as the local user cfs-torture.

load common

teardown() {
  torture_tenant_cleanup
  compute_stop
}

@test "as a tenant: every payload in every mode into every writable file" {
  cfs_start
  torture_as_tenant
  torture_bad_input "${TORTURE_RANDOM:-20}" 1
}

@test "as a tenant: 64 writers x 200 writes with 8 /events readers, inotify, 7 readers and the reconciler" {
  CFS_TEST_URI=test:///default compute_start
  torture_as_tenant
  torture_load 64 16 "${TORTURE_WRITES:-200}"
}
