#!/usr/bin/env bats
# Bad input, full size: every payload in every write mode into every
# writable file of every resource; odd names for mkdir/mv/ln -s.

load common

setup() { cfs_start; }
teardown() { cfs_stop; }

@test "every payload in every mode into every writable file" {
  torture_bad_input "${TORTURE_RANDOM:-20}" 1
}

@test "odd names for mkdir, mv and ln -s" {
  torture_odd_names
}
