#!/usr/bin/env bats
# Crash, full size: kill -9 of the mount and the reconciler during many
# operations; then every acknowledged write is there and the VMs on
# qemu:///system converge with one domain each.

load common

teardown() { compute_stop; }

@test "kill -9 of the mount and the reconciler under 8 writers, 30 times" {
  CFS_TEST_URI=test:///default compute_start
  torture_crash_mount 8 "${TORTURE_ROUNDS:-30}"
}

@test "kill -9 of the reconciler during random state changes of 6 KVM VMs, 15 times" {
  STOP_TIMEOUT=1 compute_start
  torture_crash_vms 6 "${TORTURE_VM_ROUNDS:-15}"
}
