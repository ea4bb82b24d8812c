#!/usr/bin/env bats
# Limits are configurable: a "limits" group in cloudfs.conf overrides the
# range the layout gives an attribute, and only that one.

load helpers
load checks

setup_file() {
  CFS_EXTRA_CONF='limits = { vm = { root-size = { min = "10G"; max = "100G"; }; }; };'
  export CFS_EXTRA_CONF
  cfs_start
}
teardown_file() { cfs_stop; }

@test "vm root-size follows the configured 10G..100G instead of the layout's 20G..2000G" {
  grep -q 'limits = { vm = { root-size' "$CONF"
  mkdir "$C/vms/l1"
  [ "$(cat "$C/vms/l1/root-size")" = 40G ]
  accept "$C/vms/l1/root-size" 10G
  accept "$C/vms/l1/root-size" 15G
  accept "$C/vms/l1/root-size" 100G
  accept "$C/vms/l1/root-size" 102400M 100G
  reject "$E_INVAL" "$C/vms/l1/root-size" 9G "9G is out of range 10G..100G"
  reject "$E_INVAL" "$C/vms/l1/root-size" 101G "101G is out of range 10G..100G"
  reject "$E_INVAL" "$C/vms/l1/root-size" 2000G "2000G is out of range 10G..100G"
  [ "$(db_attr vm l1 root-size)" = 100G ]
}

@test "other attributes keep the layout's ranges" {
  mkdir "$C/volumes/l1v"
  accept "$C/volumes/l1v/size" 64000G
  reject "$E_INVAL" "$C/volumes/l1v/size" 9G "9G is out of range 10G..64000G"
  mkdir "$MNT/offerings/l1o"
  accept "$MNT/offerings/l1o/cpus" 240
  reject "$E_INVAL" "$MNT/offerings/l1o/cpus" 241 "241 is out of range 1..240"
}

@test "a limit that makes the layout's default invalid stops the daemon at start" {
  conf="$T/bad.conf"
  sed 's/max = "100G"/max = "30G"/' "$CONF" > "$conf"
  run "$CLOUDFS_BIN" -c "$conf" layout-man
  [ "$status" -ne 0 ]
  [[ "$output" == *"root-size"* ]]
  sed 's/root-size = {/no-such-attr = {/' "$CONF" > "$conf"
  run "$CLOUDFS_BIN" -c "$conf" layout-man
  [ "$status" -ne 0 ]
  [[ "$output" == *"limits.vm.no-such-attr: unknown attribute"* ]]
}
