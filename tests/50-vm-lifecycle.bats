#!/usr/bin/env bats
# VM power lifecycle on real libvirt (qemu:///system, KVM where available),
# checked with virsh.

load compute_helpers

setup_file() {
  STOP_TIMEOUT=3 compute_start
  make_tiny_offering tiny 64M
  mkdir "$C/vms/vm1"
  echo tiny > "$C/vms/vm1/offering"
}

teardown_file() { compute_stop; }

@test "running: the domain starts and status follows; cat wait prints the outcome" {
  run bash -c "echo running > '$C/vms/vm1/state' && timeout 60 cat '$C/vms/vm1/wait'"
  [ "$status" -eq 0 ]
  [ "$output" = running ]
  dom=$(vm_domain vm1)
  domstate_is "$dom" running
  [ "$(cat "$C/vms/vm1/status/state")" = running ]
  [ "$(cat "$C/vms/vm1/status/host")" = local ]
  [ "$(cat "$C/vms/vm1/status/domain")" = "$dom" ]
  grep -Eq '^127\.0\.0\.1:[0-9]+$' "$C/vms/vm1/status/vnc"
  [ "$(cat "$C/vms/vm1/status/cpus")" = 1 ]
  [ "$(cat "$C/vms/vm1/status/memory")" = 64M ]
  # The domain carries the VM's UUID and the tree path as its title.
  [ "$($VIRSH domuuid "$dom")" = "$(vm_uuid vm1)" ]
  $VIRSH dumpxml "$dom" | grep -q "<title>zones/default/clusters/default/vms/vm1</title>"
  grep -q "<domain type=" "$C/vms/vm1/status/domain.xml"
}

@test "paused and running again" {
  dom=$(vm_domain vm1)
  echo paused > "$C/vms/vm1/state"
  wait_until 20 domstate_is "$dom" paused
  wait_until 10 file_is "$C/vms/vm1/status/state" paused
  echo running > "$C/vms/vm1/state"
  wait_until 20 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
}

@test "ctl reboot and reset keep the domain running" {
  dom=$(vm_domain vm1)
  echo reboot > "$C/vms/vm1/ctl"
  echo reset > "$C/vms/vm1/ctl"
  sleep 1
  wait_until 20 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
  [ -z "$(cat "$C/vms/vm1/status/error")" ]
  [ "$(sqlite3 "$DB" "select count(*) from changes where op='verb' and new in ('reboot','reset')")" = 2 ]
}

@test "ctl poweroff stops at once and sets state to stopped" {
  dom=$(vm_domain vm1)
  echo poweroff > "$C/vms/vm1/ctl"
  wait_until 20 domstate_is "$dom" "shut off"
  wait_until 10 file_is "$C/vms/vm1/state" stopped
  wait_until 10 file_is "$C/vms/vm1/status/state" stopped
  [ "$(sqlite3 "$DB" "select actor from changes where attr='state' and op='set' order by seq desc limit 1")" = reconciler ]
}

@test "stopped on a domain without an OS: forced off after the stop timeout" {
  dom=$(vm_domain vm1)
  echo running > "$C/vms/vm1/state"
  wait_until 30 domstate_is "$dom" running
  echo stopped > "$C/vms/vm1/state"
  wait_until 10 file_is "$C/vms/vm1/status/state" stopping
  domstate_is "$dom" running      # ACPI ignored: still up inside the timeout
  [ "$(timeout 30 cat "$C/vms/vm1/wait")" = stopped ]
  domstate_is "$dom" "shut off"
  $VIRSH domstate --reason "$dom" | grep -q "destroyed"
}

@test "an unknown ctl verb is refused" {
  run bash -c "echo explode > '$C/vms/vm1/ctl'"
  [ "$status" -ne 0 ]
  grep -q "explode" "$C/vms/vm1/status/error"
}

@test "virsh destroy behind cloudfs's back: status shows stopped and names the drift" {
  dom=$(vm_domain vm1)
  echo running > "$C/vms/vm1/state"
  wait_until 30 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
  seq0=$(last_seq)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 10 file_is "$C/vms/vm1/status/state" stopped
  # The lifecycle event may say stopped before the VM's pass names the drift.
  wait_until 10 grep -q drift "$C/vms/vm1/status/error"
  [ "$(cat "$C/vms/vm1/state")" = running ]      # desired state left alone
  [ "$(spec_changes_since "$seq0")" = 0 ]          # no write to the tree
  sleep 2
  domstate_is "$dom" "shut off"                    # and not restarted
}

@test "with ha on, a destroyed VM is started again" {
  dom=$(vm_domain vm1)
  echo stopped > "$C/vms/vm1/state"
  wait_until 10 file_is "$C/vms/vm1/status/state" stopped
  echo on > "$C/vms/vm1/ha"
  echo running > "$C/vms/vm1/state"
  wait_until 30 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
  $VIRSH destroy "$dom" >/dev/null
  wait_until 30 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
}

@test "with the cluster's ha on, a destroyed VM whose own ha is off is started again" {
  dom=$(vm_domain vm1)
  echo off > "$C/vms/vm1/ha"
  echo on > "$C/ha"
  timeout 30 cat "$C/vms/vm1/wait"
  $VIRSH destroy "$dom" >/dev/null
  wait_until 30 domstate_is "$dom" running
  wait_until 10 file_is "$C/vms/vm1/status/state" running
  echo off > "$C/ha"
}

@test "virsh start behind cloudfs's back is reported, not undone" {
  mkdir "$C/vms/vm2"
  echo tiny > "$C/vms/vm2/offering"
  echo running > "$C/vms/vm2/state"
  dom=$(vm_domain vm2)
  wait_until 30 domstate_is "$dom" running
  echo stopped > "$C/vms/vm2/state"
  wait_until 20 domstate_is "$dom" "shut off"
  wait_until 10 file_is "$C/vms/vm2/status/state" stopped
  $VIRSH start "$dom" >/dev/null
  wait_until 10 file_is "$C/vms/vm2/status/state" running
  grep -q drift "$C/vms/vm2/status/error"
  [ "$(cat "$C/vms/vm2/state")" = stopped ]
}

@test "a running VM that cannot move to the host written runs on where it was, with the reason" {
  mkdir "$C/hosts/other"
  echo "test:///default" > "$C/hosts/other/uri"
  wait_until 20 file_is "$C/hosts/other/status/connection" connected
  echo other > "$C/vms/vm1/host"             # live migration (tests/75-migration.bats)
  wait_until 30 grep -q "migration to other failed" "$C/vms/vm1/status/error"
  [ "$(cat "$C/vms/vm1/status/host")" = local ]
  domstate_is "$(vm_domain vm1)" running
  echo local > "$C/vms/vm1/host"             # where it is: nothing to move, the reason goes
  wait_until 20 file_is "$C/vms/vm1/status/error" ""
  rmdir "$C/hosts/other"
}

@test "growing the offering of a running VM is applied live; shrinking is refused" {
  dom=$(vm_domain vm1)
  make_tiny_offering tiny2 64M
  echo 2 > "$MNT/offerings/tiny2/cpus"
  echo tiny2 > "$C/vms/vm1/offering"
  wait_until 20 file_is "$C/vms/vm1/status/cpus" 2
  [ "$($VIRSH vcpucount "$dom" --live --active)" = 2 ]
  domstate_is "$dom" running
  run bash -c "echo tiny > '$C/vms/vm1/offering'"
  [ "$status" -ne 0 ]
  grep -q "can only grow" "$C/vms/vm1/status/error"
  [ "$(cat "$C/vms/vm1/offering")" = tiny2 ]
}

@test "rmdir of a VM destroys and undefines its domain" {
  dom=$(vm_domain vm1)
  dom2=$(vm_domain vm2)
  rmdir "$C/vms/vm1"
  rm -r "$C/vms/vm2"
  [ ! -e "$C/vms/vm1" ]
  wait_until 20 bash -c "! $VIRSH dominfo $dom"
  wait_until 20 bash -c "! $VIRSH dominfo $dom2"
  wait_until 10 bash -c "[ \$(sqlite3 '$DB' \"select count(*) from resources where kind='vm'\") = 0 ]"
}
