#!/usr/bin/env bats
# Placement across simulated hosts (libvirt's test:/// driver, one node file
# per host): balanced spread, disabled hosts, a full cluster.

load compute_helpers

setup_file() {
  CFS_EXTRA_CONF='reserved-memory = "0";' CFS_TEST_URI="test:///default" compute_start
  S="$MNT/zones/default/clusters/sim"
  mkdir "$S"
  echo 1.0 > "$S/cpu-overcommit"
  for h in h1 h2; do
    node_xml "$T/$h.xml"
    mkdir "$S/hosts/$h"
    echo "test://$T/$h.xml" > "$S/hosts/$h/uri"
  done
  mkdir "$MNT/offerings/m1"
  echo 1 > "$MNT/offerings/m1/cpus"
  echo 1G > "$MNT/offerings/m1/memory"
}

teardown_file() { compute_stop; }

S() { echo "$MNT/zones/default/clusters/sim"; }

mkvm() {
  mkdir "$(S)/vms/$1"
  echo m1 > "$(S)/vms/$1/offering"
  echo running > "$(S)/vms/$1/state"
}

@test "simulated hosts connect and report their capacity" {
  wait_until 20 file_is "$(S)/hosts/h1/status/connection" connected
  wait_until 20 file_is "$(S)/hosts/h2/status/connection" connected
  [ "$(cat "$(S)/hosts/h1/status/cpus")" = 4 ]
  [ "$(cat "$(S)/hosts/h1/status/memory")" = 4G ]
  [ "$(cat "$(S)/hosts/h1/status/domain-type")" = test ]
}

@test "VMs spread across the hosts" {
  for v in a b c d; do mkvm "$v"; done
  for v in a b c d; do wait_until 20 file_is "$(S)/vms/$v/status/state" running; done
  n1=$(grep -l '^h1$' "$(S)"/vms/*/status/host | wc -l)
  n2=$(grep -l '^h2$' "$(S)"/vms/*/status/host | wc -l)
  [ "$n1" = 2 ]; [ "$n2" = 2 ]
  wait_until 20 file_is "$(S)/hosts/h1/status/vm-count" 2
  wait_until 20 file_is "$(S)/hosts/h1/status/free-memory" 2G
  [ "$(cat "$(S)/hosts/h1/status/allocated-cpus")" = 2 ]
  [ "$(cat "$(S)/hosts/h1/status/allocated-memory")" = 2G ]
  # status/vms/ links each placed VM, and the links resolve.
  [ "$(ls "$(S)/hosts/h1/status/vms" | wc -l)" = 2 ]
  for v in $(ls "$(S)/hosts/h1/status/vms"); do
    [ "$(readlink "$(S)/hosts/h1/status/vms/$v")" = "../../../../vms/$v" ]
    [ "$(cat "$(S)/hosts/h1/status/vms/$v/status/host")" = h1 ]
  done
}

@test "a disabled host receives no new VM" {
  echo disabled > "$(S)/hosts/h2/state"
  mkvm e
  mkvm f
  wait_until 20 file_is "$(S)/vms/e/status/state" running
  wait_until 20 file_is "$(S)/vms/f/status/state" running
  [ "$(cat "$(S)/vms/e/status/host")" = h1 ]
  [ "$(cat "$(S)/vms/f/status/host")" = h1 ]
}

@test "an over-full cluster leaves the VM unplaced with a reason, placed once capacity appears" {
  mkvm g
  run timeout 20 cat "$(S)/vms/g/wait"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Input/output error"* ]]
  grep -q "no host has room" "$(S)/vms/g/status/error"
  [ -z "$(cat "$(S)/vms/g/status/host")" ]
  [ "$(cat "$(S)/vms/g/status/state")" = stopped ]
  [ "$(cat "$(S)/vms/g/state")" = running ]
  echo enabled > "$(S)/hosts/h2/state"
  wait_until 30 file_is "$(S)/vms/g/status/host" h2
  wait_until 20 file_is "$(S)/vms/g/status/state" running
  [ -z "$(cat "$(S)/vms/g/status/error")" ]
}

@test "a host holding VMs cannot be deleted (maintenance evacuates it: tests/75-migration.bats)" {
  run rmdir "$(S)/hosts/h1"
  [ "$status" -ne 0 ]
  grep -q "still holds vm" "$(S)/hosts/h1/status/error"
}

@test "a bad URI gives a disconnected host with a clear error and no crash" {
  mkdir "$(S)/hosts/bad"
  echo "qemu+tcp://127.0.0.1:1/system" > "$(S)/hosts/bad/uri"
  wait_until 20 file_is "$(S)/hosts/bad/status/connection" disconnected
  [ -n "$(cat "$(S)/hosts/bad/status/error")" ]
  kill -0 "$(cat "$T/reconcile.pid")"
  rmdir "$(S)/hosts/bad"
}

@test "writes queue while the reconciler is down; an interrupted wait returns at once" {
  rc_stop
  mkdir "$(S)/vms/q"
  echo m1 > "$(S)/vms/q/offering"
  echo running > "$(S)/vms/q/state"
  start=$(date +%s)
  run timeout 1 cat "$(S)/vms/q/wait"
  [ "$status" -eq 124 ]
  [ $(( $(date +%s) - start )) -le 3 ]
  [ "$(cat "$(S)/vms/q/state")" = running ]     # the mount still answers
  rc_start
  [ "$(timeout 30 cat "$(S)/vms/q/wait")" = running ]
  [ "$(timeout 30 cat "$(S)/hosts/h1/wait")" = enabled ]     # its status/state
  rmdir "$(S)/vms/q"
}

@test "growing a running VM beyond its host's free capacity is refused (ENOSPC), allowed once there is room" {
  G="$MNT/zones/default/clusters/sim2"
  mkdir "$G"
  echo 1.0 > "$G/cpu-overcommit"
  node_xml "$T/h3.xml"
  mkdir "$G/hosts/h3"
  echo "test://$T/h3.xml" > "$G/hosts/h3/uri"
  mkdir "$MNT/offerings/m2" "$MNT/offerings/big"
  echo 2 > "$MNT/offerings/m2/cpus"; echo 2G > "$MNT/offerings/m2/memory"
  echo 3 > "$MNT/offerings/big/cpus"; echo 2G > "$MNT/offerings/big/memory"
  mkdir "$G/vms/grow" "$G/vms/fill"
  echo m1 > "$G/vms/grow/offering"
  echo big > "$G/vms/fill/offering"
  echo running > "$G/vms/grow/state"
  echo running > "$G/vms/fill/state"
  wait_until 30 file_is "$G/vms/grow/status/state" running
  wait_until 30 file_is "$G/vms/fill/status/state" running
  wait_until 30 file_is "$G/hosts/h3/status/free-cpus" 0
  run bash -c "echo m2 > '$G/vms/grow/offering'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  grep -q "^host h3 has 0 vCPUs and 1024 MiB free; growing vm grow to m2 needs" "$G/vms/grow/status/error"
  [ "$(cat "$G/vms/grow/offering")" = m1 ]
  [ "$(sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res
                      WHERE r.kind='vm' AND r.name='grow' AND a.name='offering'")" = m1 ]
  rmdir "$G/vms/fill"
  wait_until 30 file_is "$G/hosts/h3/status/free-cpus" 3
  echo m2 > "$G/vms/grow/offering"
  [ "$(timeout 30 cat "$G/vms/grow/wait")" = running ]
  rmdir "$G/vms/grow"
  wait_until 30 bash -c "[ \$(sqlite3 '$DB' \"select count(*) from resources where kind='vm' and name='grow'\") = 0 ]"
  rm -r "$G"
  rmdir "$MNT/offerings/m2" "$MNT/offerings/big"
}

@test "the whole simulated cluster can be torn down" {
  for v in a b c d e f g; do rmdir "$(S)/vms/$v"; done
  wait_until 20 bash -c "[ \$(sqlite3 '$DB' \"select count(*) from resources where kind='vm'\") = 0 ]"
  rm -r "$(S)"
  [ ! -e "$(S)" ]
}
