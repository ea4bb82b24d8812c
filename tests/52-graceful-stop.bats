#!/usr/bin/env bats
# Graceful stop against a real guest that honours ACPI: a tiny Linux (Debian
# kernel + busybox initramfs from scripts/tiny-guest.sh) booted under TCG.

load compute_helpers

GUEST=/var/cache/cloudfs-test/tinyguest

setup_file() {
  "$REPO/scripts/tiny-guest.sh" "$GUEST"
  STOP_TIMEOUT=60 compute_start
  echo qemu > "$C/hosts/local/domain-type"      # this kernel hangs under nested KVM
  make_tiny_offering small 128M
  mkdir "$C/vms/g1"
  echo small > "$C/vms/g1/offering"
  echo "$GUEST/vmlinuz" > "$C/vms/g1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/g1/initrd"
  echo "console=ttyS0 panic=-1" > "$C/vms/g1/cmdline"
}

teardown_file() { compute_stop; }

@test "the guest boots from the kernel and initrd given in the tree" {
  echo running > "$C/vms/g1/state"
  dom=$(vm_domain g1)
  wait_until 30 domstate_is "$dom" running
  $VIRSH dumpxml "$dom" | grep -q "<type arch='x86_64'[^>]*>hvm</type>"
  $VIRSH dumpxml "$dom" | grep -q "domain type='qemu'"
  console=$(cat "$C/vms/g1/status/console")
  [ -n "$console" ]
  wait_until 60 grep -q "TINYGUEST READY" "$console"
}

@test "stopped: the guest powers off through ACPI, without force" {
  dom=$(vm_domain g1)
  console=$(cat "$C/vms/g1/status/console")
  echo stopped > "$C/vms/g1/state"
  wait_until 30 domstate_is "$dom" "shut off"
  # Well inside the 60 s timeout, and by the guest itself.
  grep -q "TINYGUEST POWER BUTTON" "$console"
  $VIRSH domstate --reason "$dom" | grep -q "shut off (shutdown)"
  wait_until 10 file_is "$C/vms/g1/status/state" stopped
  [ -z "$(cat "$C/vms/g1/status/error")" ]
}
