#!/usr/bin/env bats
# Load, full size: 64 writers, 8 /events readers, an inotify watcher and 7
# plain readers; no lost or duplicated change, no deadlock, bounded memory.

load common

teardown() { compute_stop; }

@test "64 writers x 200 writes with 8 /events readers, inotify, 7 readers and the reconciler" {
  CFS_TEST_URI=test:///default compute_start
  torture_load 64 16 "${TORTURE_WRITES:-200}"
}
