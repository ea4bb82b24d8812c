#!/usr/bin/env bats
# Moving VMs with disks, driven through the tree, on the multi-host rig
# (scripts/hosts-up.sh: three real libvirtd hosts in their own namespaces; the throwaway
# Ceph cluster reached from each at its own address; $RIG/shared seen by every host).
# TCG guests in counter mode (scripts/tiny-guest.sh) write "TINYGUEST COUNT n UPTIME s"
# into the first sector of their root disk once a second, and on their console: a count
# that goes on across a move, read back from the disk itself (rbd export, qemu-img dd),
# proves the guest kept its disk and did not restart. Observers: virsh on each host,
# rbd ls/status, qemu-img, the guests' console logs.
# Storage rules (vm_move_rules.h): rbd disks stay in place and move live; a dir pool
# with shared on (here in $RIG/shared) moves live too; a dir pool that is not shared
# keeps its VM: a live or offline move is refused with the reason, and maintenance
# stops such a VM and names it. CPU rule: host-passthrough VMs need an identical CPU
# (host status/cpu-signature); TCG refuses host-passthrough, so the rig checks the
# signatures libvirt gives and the unit test (tests/unit/domain_xml_test.c) the rest.

load compute_helpers

GUEST=/var/cache/cloudfs-test/tinyguest-counter

setup_file() {
  "$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf)"
  export CEPH_CONF
  rig_up 3
  export RPOOL="cfsdk$RIG_TAG"
  ceph_retry osd pool create "$RPOOL" 8
  rbd -c "$CEPH_CONF" pool init "$RPOOL"
  wait_until 60 bash -c "ceph -c '$CEPH_CONF' df -f json | grep -q '\"name\":\"$RPOOL\"'"
  export A1=$(cat "$RIG/h1/address") A2=$(cat "$RIG/h2/address") A3=$(cat "$RIG/h3/address")
  CFS_TEST_URI=test:///default RESYNC=3 CFS_EXTRA_CONF="storage-timeout = 20;" compute_start
  echo disabled > "$C/hosts/local/state"        # the test-driver host takes no VM here
  local h
  for h in h1 h2 h3; do
    mkdir "$C/hosts/$h"
    rig_uri "$h" > "$C/hosts/$h/uri"
    echo qemu > "$C/hosts/$h/domain-type"
  done
  for h in h1 h2 h3; do
    wait_until 60 file_is "$C/hosts/$h/status/connection" connected
  done
  make_tiny_offering dk83 128M
  mkdir -p "$T/src" "$T/local" "$RIG/shared/pool"
  qemu-img create -q -f qcow2 "$T/src/base.qcow2" 64M
  mkdir "$C/pools/dk83ceph"
  echo rbd > "$C/pools/dk83ceph/type"
  echo "$CEPH_CONF" > "$C/pools/dk83ceph/ceph-conf"
  echo "$RPOOL" > "$C/pools/dk83ceph/rbd-pool"
  mkdir "$C/pools/dk83local"
  echo "$T/local" > "$C/pools/dk83local/path"
  mkdir "$C/pools/dk83shared"
  echo "$RIG/shared/pool" > "$C/pools/dk83shared/path"
  echo on > "$C/pools/dk83shared/shared"
  # 20G root disks (the minimum) on small test file systems: sparse, over-subscribed.
  for p in dk83ceph dk83local dk83shared; do echo 1000 > "$C/pools/$p/over-subscription"; done
  for p in dk83ceph dk83local dk83shared; do timeout 60 cat "$C/pools/$p/wait" >/dev/null; done
  mkdir "$MNT/images/dk83base"
  echo "$T/src/base.qcow2" > "$MNT/images/dk83base/source"
  timeout 60 cat "$MNT/images/dk83base/wait" >/dev/null
}

teardown_file() {
  compute_stop || true
  rig_down || { sleep 5; rig_down; } || true
  [ -n "${RPOOL:-}" ] && ceph_retry osd pool delete "$RPOOL" "$RPOOL" --yes-i-really-really-mean-it
  true
}

v() { local h=$1; shift; timeout 60 virsh -q -c "$(rig_uri "$h")" "$@"; }
on_host() { [ "$(v "$1" domstate "$(vm_domain "$2")" 2>/dev/null | head -n1)" = "$3" ]; }
absent_on() { ! v "$1" dominfo "$(vm_domain "$2")" >/dev/null 2>&1; }
placed_on() { [ "$(cat "$C/vms/$1/status/host")" = "$2" ] && file_is "$C/vms/$1/status/state" running; }
# vol_object VM: the root volume's object name in its pool (cfs-vol-UUID).
vol_object() {
  sqlite3 "$DB" "SELECT 'cfs-vol-' || uuid FROM resources WHERE kind='volume' AND name='$(cat "$C/vms/$1/status/root-volume")' AND deleted=0"
}
# disk_count VM POOLDIR: the count the guest last wrote in sector 0 of its root disk,
# read from the disk (rbd export, or the qcow2 file in POOLDIR read with -U).
disk_count() {
  local obj f
  obj=$(vol_object "$1")
  [ -n "$obj" ] || return 0
  if [ -z "${2:-}" ]; then
    rbd -c "$CEPH_CONF" export --no-progress "$RPOOL/$obj" - 2>/dev/null | head -c 512
  else
    f="$BATS_TEST_TMPDIR/sector0.$$"
    rm -f "$f"
    qemu-img dd -U -f qcow2 -O raw bs=512 count=1 if="$2/$obj.qcow2" of="$f" 2>/dev/null && cat "$f"
    rm -f "$f"
  fi | tr -d '\0' | awk '$1 == "TINYGUEST" && $2 == "COUNT" { print $3 }'
}
disk_count_above() { local n; n=$(disk_count "$1" "${3:-}"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }
# new_vm NAME POOL HOST: a counting guest with a root disk in POOL, pinned to HOST, started.
new_vm() {
  mkdir "$C/vms/$1"
  echo dk83 > "$C/vms/$1/offering"
  echo dk83base > "$C/vms/$1/image"
  echo "$2" > "$C/vms/$1/pool"
  echo 20G > "$C/vms/$1/root-size"
  echo "$GUEST/vmlinuz" > "$C/vms/$1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/$1/initrd"
  echo "console=ttyS0 panic=-1 tinyguest.counter" > "$C/vms/$1/cmdline"
  echo "$3" > "$C/vms/$1/host"
  echo running > "$C/vms/$1/state"
}
why_not() { local vm; for vm in "$@"; do echo "$vm: $(cat "$C/vms/$vm/status/state") on $(cat "$C/vms/$vm/status/host"); $(cat "$C/vms/$vm/status/migration"); $(cat "$C/vms/$vm/status/error")" >&2; done; }

@test "rbd root disk: live h1 -> h2 through the tree, the guest counts on on its disk, the image stays in the pool" {
  new_vm dkr dk83ceph h1
  new_vm dkl dk83local h1
  new_vm dks dk83shared h1
  for vm in dkr dkl dks; do wait_until 120 on_host h1 $vm running || { why_not $vm; false; }; done
  wait_until 120 disk_count_above dkr 2 || { why_not dkr; false; }
  obj=$(vol_object dkr)
  rbd -c "$CEPH_CONF" status "$RPOOL/$obj" | grep -q "watcher=$A1:"
  n0=$(disk_count dkr)
  echo h2 > "$C/vms/dkr/host"
  wait_until 90 placed_on dkr h2 || { why_not dkr; false; }
  on_host h2 dkr running
  absent_on h1 dkr
  grep -Eq "^done: h1 to h2 in [0-9.]+ s, downtime [0-9]+ ms$" "$C/vms/dkr/status/migration"
  echo "# rbd disk: $(cat "$C/vms/dkr/status/migration")" >&3
  # The same image, now opened from h2, with counts past those before the move.
  rbd -c "$CEPH_CONF" ls "$RPOOL" | grep -qx "$obj"
  wait_until 30 bash -c "rbd -c '$CEPH_CONF' status '$RPOOL/$obj' | grep -q 'watcher=$A2:'"
  ! rbd -c "$CEPH_CONF" status "$RPOOL/$obj" | grep -q "watcher=$A1:" || false
  wait_until 60 disk_count_above dkr $((n0 + 3))
  counted_once dkr
  [ -z "$(cat "$C/vms/dkr/status/error")" ]
}

@test "shared dir pool: live h1 -> h3, the same file, counting on" {
  f="$RIG/shared/pool/$(vol_object dks).qcow2"
  [ -f "$f" ]
  wait_until 90 disk_count_above dks 2 "$RIG/shared/pool" || { why_not dks; false; }
  n0=$(disk_count dks "$RIG/shared/pool")
  echo h3 > "$C/vms/dks/host"
  wait_until 90 placed_on dks h3 || { why_not dks; false; }
  on_host h3 dks running
  absent_on h1 dks
  v h3 domblklist "$(vm_domain dks)" | grep -q "$f"
  grep -q "^done: h1 to h3 " "$C/vms/dks/status/migration"
  wait_until 60 disk_count_above dks $((n0 + 3)) "$RIG/shared/pool"
  counted_once dks
}

@test "dir pool not shared: a live move is refused with the reason and the VM runs on; stopped, an offline move is refused too" {
  n0=$(disk_count dkl "$T/local")
  echo h2 > "$C/vms/dkl/host"
  wait_until 60 grep -q "migration to h2 failed: volume .* is on the dir pool dk83local, which is not shared" "$C/vms/dkl/status/error" ||
    { why_not dkl; false; }
  cat "$C/vms/dkl/status/error" >&3
  [ "$(cat "$C/vms/dkl/status/host")" = h1 ]
  on_host h1 dkl running
  absent_on h2 dkl
  wait_until 60 disk_count_above dkl "${n0:-0}" "$T/local"
  # Stopped, still pinned to h2: it stays on h1 (defined there, with its disk) and says why.
  echo stopped > "$C/vms/dkl/state"
  wait_until 60 on_host h1 dkl "shut off"
  wait_until 30 grep -q "cannot move to h2: volume .* is on the dir pool dk83local, which is not shared" "$C/vms/dkl/status/error" ||
    { why_not dkl; false; }
  [ "$(cat "$C/vms/dkl/status/host")" = h1 ]
  absent_on h2 dkl
  [ -f "$T/local/$(vol_object dkl).qcow2" ]
}

@test "maintenance on h1: the rbd VM moves and counts on, the VM on the local dir pool is stopped and named" {
  echo h1 > "$C/vms/dkl/host"
  echo running > "$C/vms/dkl/state"
  echo h1 > "$C/vms/dkr/host"
  wait_until 150 placed_on dkr h1 || { why_not dkr; false; }
  wait_until 150 on_host h1 dkl running || { why_not dkl; false; }
  n0=$(disk_count dkr)
  echo maintenance > "$C/hosts/h1/state"
  # (hosts/h1/wait fails with EIO once status/error names a stopped VM)
  wait_until 150 file_is "$C/hosts/h1/status/state" maintenance || { why_not dkr dkl; false; }
  cat "$C/hosts/h1/status/error" >&3
  grep -q "^stopped, could not move: .*dkl (volume .* not shared" "$C/hosts/h1/status/error"
  ! grep -q "dkr" "$C/hosts/h1/status/error" || false
  on_host h1 dkl "shut off"
  file_is "$C/vms/dkl/state" stopped
  grep -q "cannot move" "$C/vms/dkl/status/error"
  h=$(cat "$C/vms/dkr/status/host")
  [ "$h" = h2 ] || [ "$h" = h3 ]
  on_host "$h" dkr running
  wait_until 120 disk_count_above dkr $((n0 + 3))
  [ "$(v h1 list --name | grep -c .)" = 0 ]
  echo enabled > "$C/hosts/h1/state"
  wait_until 30 file_is "$C/hosts/h1/status/state" enabled
}

@test "CPU: every rig host reports the same cpu-signature, libvirt's model and vendor" {
  s1=$(cat "$C/hosts/h1/status/cpu-signature")
  [ -n "$s1" ]
  [ "$(cat "$C/hosts/h2/status/cpu-signature")" = "$s1" ]
  [ "$(cat "$C/hosts/h3/status/cpu-signature")" = "$s1" ]
  caps=$(v h1 capabilities)
  model=$(sed -n 's:.*<model>\(.*\)</model>.*:\1:p' <<<"$caps" | head -n1)
  vendor=$(sed -n 's:.*<vendor>\(.*\)</vendor>.*:\1:p' <<<"$caps" | head -n1)
  echo "# cpu-signature: $s1" >&3
  [[ "$s1" == "x86_64 $vendor $model "* ]]
}

@test "CPU rule through the tree: a host-passthrough VM on the test-driver host is not moved to a rig host (another CPU), by name or by the scheduler; another VM is let through" {
  # Host local (test:///default) describes an i686 CPU with no model: not the rig's.
  echo enabled > "$C/hosts/local/state"
  echo enabled > "$C/hosts/h1/state"        # (whatever the test before left)
  wait_until 30 file_is "$C/hosts/h1/status/state" enabled
  sl=$(cat "$C/hosts/local/status/cpu-signature")
  [[ "$sl" == "i686 - - "* ]]
  for vm in dkp dka; do
    mkdir "$C/vms/$vm"
    echo dk83 > "$C/vms/$vm/offering"
    echo local > "$C/vms/$vm/host"
  done
  echo host-passthrough > "$C/vms/dkp/cpu-mode"
  for vm in dkp dka; do echo running > "$C/vms/$vm/state"; done
  for vm in dkp dka; do wait_until 60 placed_on $vm local || { why_not $vm; false; }; done
  echo h1 > "$C/vms/dkp/host"
  wait_until 60 grep -q "migration to h1 failed: host h1 has another CPU (x86_64 .*) than the host-passthrough VM's (i686 - - " "$C/vms/dkp/status/error" ||
    { why_not dkp; false; }
  cat "$C/vms/dkp/status/error" >&3
  [ "$(cat "$C/vms/dkp/status/host")" = local ]
  file_is "$C/vms/dkp/status/state" running
  absent_on h1 dkp
  # The same move of a VM that is not host-passthrough passes the filter and reaches
  # libvirt (which cannot migrate out of its test driver).
  echo h1 > "$C/vms/dka/host"
  wait_until 60 grep -q "migration to h1 failed: " "$C/vms/dka/status/error" || { why_not dka; false; }
  ! grep -q "another CPU" "$C/vms/dka/status/error" || false
  # Left to the scheduler: no host has that CPU.
  echo "" > "$C/vms/dkp/host"
  wait_until 60 grep -q "no host has the CPU of this host-passthrough VM (host h[123] has another CPU" "$C/vms/dkp/status/error" ||
    { why_not dkp; false; }
  [ "$(cat "$C/vms/dkp/status/host")" = local ]
  echo disabled > "$C/hosts/local/state"
}

@test "TCG cannot run host-passthrough: such a VM on a rig host fails to start with libvirt's reason" {
  mkdir "$C/vms/dkt"
  echo dk83 > "$C/vms/dkt/offering"
  echo host-passthrough > "$C/vms/dkt/cpu-mode"
  echo "$GUEST/vmlinuz" > "$C/vms/dkt/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/dkt/initrd"
  echo h2 > "$C/vms/dkt/host"
  echo running > "$C/vms/dkt/state"
  wait_until 60 grep -qi "host-passthrough.*not supported" "$C/vms/dkt/status/error" || { why_not dkt; false; }
  cat "$C/vms/dkt/status/error" >&3
  ! on_host h2 dkt running || false
  echo stopped > "$C/vms/dkt/state"
}
