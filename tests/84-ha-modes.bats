#!/usr/bin/env bats
# HA levels (attribute ha of a VM and of its cluster): off, on (ZStack's
# OnHostFailure), never-stop (NeverStop), on one host (qemu:///system) with a
# tiny TCG guest that powers itself off 10 s after it starts (guest_image below):
# the guest's own poweroff, libvirt reason "shutdown". Observers: virsh (domain
# id, state and reason), the guests' serial
# consoles, SQLite (the store, the changes log). The restart elsewhere after a
# host failure is in tests/82-host-ha.bats (on the rig).

load compute_helpers
load checks

# guest_image FILE: a guest that powers itself off, 5 s after it starts: a
# multiboot (a.out kludge) image QEMU boots with -kernel. It prints "HM84 UP"
# on the serial port, waits for the RTC's seconds to change 10 times, prints
# "HM84 POWEROFF" and powers the machine off through ACPI (SLP_EN with S5's
# SLP_TYP 0 to PM1a_CNT, port 0x604): the guest's own poweroff (libvirt reason
# "shutdown").
guest_image() {
  python3 - "$1" <<'PY'
import struct, sys
def say(s):
    b = b'\x66\xba\xf8\x03'                          # mov dx, 0x3f8
    for ch in s:
        b += b'\xb0' + bytes([ch]) + b'\xee'         # mov al, ch; out dx, al
    return b
wait = (b'\xb9\x0a\x00\x00\x00'                      # mov ecx, 10
        b'\xb0\x00\xe6\x70\xe4\x71\x88\xc3'          # bl = RTC seconds
        b'\xb0\x00\xe6\x70\xe4\x71\x38\xd8\x74\xf6'  # spin while unchanged
        b'\x88\xc3\x49\x75\xf1')                     # bl = al; 10 times
off = b'\x66\xba\x04\x06\x66\xb8\x00\x20\x66\xef\xf4\xeb\xfd'  # outw 0x2000, 0x604; hlt
magic, flags, base = 0x1BADB002, 0x00010000, 0x100000
hdr = struct.pack('<8I', magic, flags, (-(magic + flags)) & 0xffffffff, base, base, 0, 0, base + 32)
open(sys.argv[1], 'wb').write(hdr + say(b'HM84 UP\n') + wait + say(b'HM84 POWEROFF\n') + off)
PY
}

setup_file() {
  STOP_TIMEOUT=3 compute_start
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering hm84 64M
  guest_image "$T/poweroff.bin"
  local vm
  for vm in hm-ns hm-on hm-off hm-d; do
    mkdir "$C/vms/$vm"
    echo hm84 > "$C/vms/$vm/offering"
    # hm-d has no OS: it sits in the firmware until destroyed.
    [ "$vm" = hm-d ] || echo "$T/poweroff.bin" > "$C/vms/$vm/kernel"
  done
  echo never-stop > "$C/vms/hm-ns/ha"
  echo on > "$C/vms/hm-on/ha"
  echo on > "$C/vms/hm-d/ha"
}

teardown_file() { cp "$T/reconcile.log" /tmp/s18/rc.log; compute_stop; }

domid() { $VIRSH domid "$(vm_domain "$1")" 2>/dev/null | grep -E '^[0-9]+$'; }
console() { cat "$(cat "$C/vms/$1/status/console")" 2>/dev/null; }
# poweroffs VM: how many times its guest powered itself off (the console is appended to).
poweroffs() { console "$1" | grep -ac "HM84 POWEROFF"; }
poweroffs_above() { [ "$(poweroffs "$1")" -gt "$2" ]; }
# runs_again VM ID: its domain runs with an id other than ID.
runs_again() { local id; id=$(domid "$1") && [ "$id" != "$2" ] && domstate_is "$(vm_domain "$1")" running; }

@test "ha takes off, on, never-stop (and the bool's old spellings); anything else is EINVAL, store unchanged" {
  mkdir "$C/vms/hm-val"
  V="$C/vms/hm-val"
  [ "$(cat "$V/ha")" = off ]
  accept "$V/ha" never-stop
  accept "$V/ha" NEVER-STOP never-stop
  accept "$V/ha" yes on
  accept "$V/ha" 0 off
  accept "$V/ha" true on
  accept "$V/ha" FALSE off
  accept "$V/ha" 1 on
  seq0=$(last_seq)
  reject "$E_INVAL" "$V/ha" maybe "'maybe' is not on or off, nor one of: never-stop"
  reject "$E_INVAL" "$V/ha" never-stop2 "is not on or off"
  reject "$E_INVAL" "$V/ha" "never stop" "is not on or off"
  reject "$E_INVAL" "$V/ha" neverstop "is not on or off"
  reject "$E_INVAL" "$V/ha" "$(printf 'never-stop\r')" ""
  reject "$E_INVAL" "$V/ha" "$(printf 'x%.0s' {1..300})" ""
  reject "$E_INVAL" "$V/ha" "'; drop table attrs; --" "is not on or off"
  [ "$(db_attr vm hm-val ha)" = on ]
  [ "$(spec_changes_since "$seq0")" = 0 ]
  # The cluster's ha: the same values.
  accept "$C/ha" never-stop
  accept "$C/ha" no off
  reject "$E_INVAL" "$C/ha" always "'always' is not on or off, nor one of: never-stop"
  [ "$(db_attr cluster default ha)" = off ]
  rmdir "$V"
}

@test "never-stop: a guest that powers itself off comes back with a new domain id, again and again; status/ha-restart says why" {
  V="$C/vms/hm-ns"
  seq0=$(last_seq)
  echo running > "$V/state"
  wait_until 240 domstate_is "$(vm_domain hm-ns)" running     # a busy machine starts slowly
  id0=$(domid hm-ns)
  wait_until 120 poweroffs_above hm-ns 0
  wait_until 240 runs_again hm-ns "$id0"
  id1=$(domid hm-ns)
  wait_until 20 grep -q "the guest powered off; started again on host local (ha never-stop)" "$V/status/ha-restart"
  grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z ' "$V/status/ha-restart"
  # The restart is an event: a status change in the changes log.
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes c JOIN resources r ON r.id = c.res
         WHERE r.name = 'hm-ns' AND c.op = 'status' AND c.attr = 'ha-restart' AND c.seq > $seq0")" -ge 1 ]
  # And once more: each poweroff of the guest is followed by a new start.
  wait_until 120 poweroffs_above hm-ns 1
  wait_until 240 runs_again hm-ns "$id1"
  [ "$(cat "$V/state")" = running ]              # desired state left alone
  [ "$(spec_changes_since "$seq0")" = 1 ]        # no write to the tree but ours
  echo stopped > "$V/state"
  [ "$(timeout 120 cat "$V/wait")" = stopped ]
}

@test "on and off: a guest that powers itself off stays off (libvirt: shutdown) and status/error says why" {
  for vm in hm-on hm-off; do echo running > "$C/vms/$vm/state"; done
  for vm in hm-on hm-off; do
    wait_until 300 poweroffs_above $vm 0
    wait_until 60 domstate_is "$(vm_domain $vm)" "shut off"
    $VIRSH domstate --reason "$(vm_domain $vm)" | grep -q "shut off (shutdown)"
    console $vm | grep -aq "HM84 POWEROFF"
    wait_until 20 file_is "$C/vms/$vm/status/state" stopped
    poweroffs $vm > "$T/$vm.poweroffs"
  done
  wait_until 20 grep -q "the guest powered off; ha on restarts a VM after a host failure or a stop from outside the guest, never-stop also after a guest poweroff or crash" "$C/vms/hm-on/status/error"
  wait_until 20 grep -q "the guest powered off; ha is off" "$C/vms/hm-off/status/error"
  sleep 8                                        # more than a resync (5 s)
  for vm in hm-on hm-off; do
    domstate_is "$(vm_domain $vm)" "shut off"
    [ "$(poweroffs $vm)" = "$(cat "$T/$vm.poweroffs")" ]
    [ -z "$(cat "$C/vms/$vm/status/ha-restart")" ]
    [ "$(cat "$C/vms/$vm/state")" = running ]
  done
}

@test "the cluster's never-stop lifts a VM's on: its powered-off guest starts again; back to off, it stays off" {
  V="$C/vms/hm-on"
  echo never-stop > "$C/ha"
  wait_until 240 domstate_is "$(vm_domain hm-on)" running
  wait_until 20 grep -q "the guest powered off; started again on host local (ha never-stop)" "$V/status/ha-restart"
  echo off > "$C/ha"
  n=$(cat "$T/hm-on.poweroffs")
  wait_until 120 poweroffs_above hm-on "$n"
  wait_until 30 domstate_is "$(vm_domain hm-on)" "shut off"
  sleep 8
  domstate_is "$(vm_domain hm-on)" "shut off"
  [ "$(poweroffs hm-on)" = $((n + 1)) ]
}

@test "on: a virsh destroy is restarted (as before), and never-stop too" {
  V="$C/vms/hm-d"
  dom=$(vm_domain hm-d)
  echo running > "$V/state"
  [ "$(timeout 240 cat "$V/wait")" = running ]
  id0=$(domid hm-d)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 240 runs_again hm-d "$id0"
  wait_until 20 grep -q "its domain was destroyed outside cloudfs; started again on host local (ha on)" "$V/status/ha-restart"
  echo never-stop > "$V/ha"
  [ "$(timeout 120 cat "$V/wait")" = running ]
  id1=$(domid hm-d)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 240 runs_again hm-d "$id1"
  wait_until 20 grep -q "destroyed outside cloudfs; started again on host local (ha never-stop)" "$V/status/ha-restart"
  echo stopped > "$V/state"
  [ "$(timeout 120 cat "$V/wait")" = stopped ]
  rc_check_log
}
