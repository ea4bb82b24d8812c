#!/usr/bin/env bats
# Clones of a VM (issue 17): `echo A > vms/B/from` makes B a full copy of
# the stopped VM A: its spec, its root disk from a snapshot of A's (a full
# copy on a dir pool), a NIC in A's subnet with a new MAC and address, and
# B's own UUID.  Checked from outside: qemu-io reads the disks, virsh shows
# the domains, SQLite holds the spec.

load compute_helpers
load checks

K=cfs-k57

setup_file() {
  id "$K" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$K"
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf 2>/dev/null)" || CEPH_CONF=""
  RPOOL=""
  if [ -n "$CEPH_CONF" ]; then
    # A Ceph pool of this file's own, removed at the end.
    RPOOL="cfsclone$$"
    ceph -c "$CEPH_CONF" osd pool create "$RPOOL" 8 >/dev/null 2>&1 &&
      rbd -c "$CEPH_CONF" pool init "$RPOOL" || RPOOL=""
  fi
  export CEPH_CONF RPOOL
  STOP_TIMEOUT=0 CFS_EXTRA_CONF="storage-timeout = 10;" compute_start
  # KVM guests do not come up on this machine's nested KVM (tests/52).
  echo qemu > "$C/hosts/local/domain-type"
  chmod 755 "$T"
  make_tiny_offering tiny 64M
  qemu-img create -q -f qcow2 "$T/base.qcow2" 1G
  mkdir "$MNT/images/base"
  echo "$T/base.qcow2" > "$MNT/images/base/source"
  timeout 60 cat "$MNT/images/base/wait" >/dev/null
  V="$MNT/zones/default/vpcs/v57"
  mkdir "$V" "$V/subnets/s1"
  echo 10.0.57.0/24 > "$V/subnets/s1/cidr"
  export V
}

# A sanitizer report or an undeclared read in the logs fails the file,
# after everything is cleaned up.
teardown_file() {
  local rc=0 vpcs
  vpcs=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc'" 2>/dev/null || true)
  compute_stop || rc=1
  vpc_dataplane_purge $vpcs
  userdel "$K" >/dev/null 2>&1 || true
  [ -n "${RPOOL:-}" ] && ceph -c "$CEPH_CONF" osd pool delete "$RPOOL" "$RPOOL" \
    --yes-i-really-really-mean-it >/dev/null 2>&1 || true
  return $rc
}

need_rbd() { [ -n "$RPOOL" ] || skip "no test Ceph cluster (scripts/ceph-up.sh)"; }
RBD() { rbd -c "$CEPH_CONF" "$@"; }
rbd_url() { echo "rbd:$RPOOL/cfs-vol-$(uuid_of volume "$1"):conf=$CEPH_CONF"; }

vol_file() { cat "$C/volumes/$1/status/path"; }
uuid_of() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='$1' AND name='$2' AND deleted=0"; }
# qread FILE PATTERN: the first MiB holds PATTERN (read beside a running guest).
# FORMAT: qcow2 (dir pools) or raw (RBD images, as rbd: URLs).
qread() { qemu-io -r -U -f "${3:-qcow2}" -c "read -P $2 0 1M" "$1" | grep -q "read 1048576/1048576"; }
qwrite() { qemu-io -f "${3:-qcow2}" -c "write -P $2 0 1M" "$1" >/dev/null; }
state_to() {
  echo "$2" > "$C/vms/$1/state"
  run timeout 120 cat "$C/vms/$1/wait"
  [ "$output" = "$2" ] || { echo "vm $1: $output $(cat "$C/vms/$1/status/error")" >&2; return 1; }
}
dom_macs() { $VIRSH dumpxml "$(vm_domain "$1")" | grep -o "mac address='[^']*'" | sort; }

@test "a running VM is not cloned (EBUSY with the reason); an unknown one is ENOENT" {
  mkdir "$C/vms/a"
  echo tiny > "$C/vms/a/offering"
  echo base > "$C/vms/a/image"
  echo 20G > "$C/vms/a/root-size"
  echo host-model > "$C/vms/a/cpu-mode"
  echo "the original" > "$C/vms/a/description"
  mkdir "$C/vms/a/nics/eth0"
  echo v57/s1 > "$C/vms/a/nics/eth0/subnet"
  echo e1000 > "$C/vms/a/nics/eth0/model"
  state_to a running
  domstate_is "$(vm_domain a)" running
  mkdir "$C/vms/x"
  reject "$E_BUSY" "$C/vms/x/from" a "vm a is running: a clone is made from a stopped VM"
  reject "$E_NOENT" "$C/vms/x/from" nosuch "vm 'nosuch' does not exist"
  reject "$E_INVAL" "$C/vms/x/from" x "cannot be a clone of itself"
  # Nothing was made for the refused writes.
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind='snapshot'")" = 0 ]
  [ -z "$(ls "$C/vms/x/nics")" ]
  rmdir "$C/vms/x"
}

@test "clone: B carries A's spec and disk content, its own UUID, MAC and address" {
  state_to a stopped
  f=$(vol_file a-root)
  qwrite "$f" 0xa5
  mkdir "$C/vms/b"
  echo a > "$C/vms/b/from"
  [ "$(cat "$C/vms/b/from")" = a ]
  # The spec came over in the write, not later.
  [ "$(cat "$C/vms/b/offering")" = tiny ]
  [ "$(cat "$C/vms/b/image")" = base ]
  [ "$(cat "$C/vms/b/root-size")" = 20G ]
  [ "$(cat "$C/vms/b/cpu-mode")" = host-model ]
  [ "$(cat "$C/vms/b/description")" = "the original" ]
  [ "$(cat "$C/vms/b/state")" = stopped ]
  [ "$(cat "$C/vms/b/nics/eth0/subnet")" = v57/s1 ]
  [ "$(cat "$C/vms/b/nics/eth0/model")" = e1000 ]
  ipa=$(cat "$C/vms/a/nics/eth0/status/ip") ipb=$(cat "$C/vms/b/nics/eth0/status/ip")
  [[ "$ipb" == 10.0.57.* ]]
  [ "$ipa" != "$ipb" ]
  [ "$(cat "$C/vms/a/nics/eth0/status/mac")" != "$(cat "$C/vms/b/nics/eth0/status/mac")" ]
  # A snapshot of A's root volume, named after B's UUID, holds the instant copied.
  s="clone-$(uuid_of vm b)"
  [ -d "$C/volumes/a-root/snapshots/$s" ]
  state_to b running
  domstate_is "$(vm_domain b)" running
  [ "$(cat "$C/vms/b/status/root-volume")" = b-root ]
  [ "$(cat "$C/volumes/b-root/snapshot")" = "a-root/$s" ]
  [ "$(cat "$C/volumes/a-root/snapshots/$s/status/state")" = ready ]
  # The content of A's disk, in a file of B's own (a dir pool copies it whole).
  g=$(vol_file b-root)
  [ "$g" != "$f" ]
  qread "$g" 0xa5
  # libvirt's view: another domain, another UUID, B's MAC only.
  [ "$($VIRSH domuuid "$(vm_domain b)")" = "$(uuid_of vm b)" ]
  [ "$(uuid_of vm a)" != "$(uuid_of vm b)" ]
  [ "$(dom_macs b)" = "mac address='$(cat "$C/vms/b/nics/eth0/status/mac")'" ]
  state_to a running
  [ "$(dom_macs a)" = "mac address='$(cat "$C/vms/a/nics/eth0/status/mac")'" ]
  [ "$(dom_macs a)" != "$(dom_macs b)" ]
}

@test "A and B diverge: a write to B's disk leaves A's as it was" {
  state_to a stopped
  state_to b stopped
  qwrite "$(vol_file b-root)" 0xb6
  qread "$(vol_file b-root)" 0xb6
  qread "$(vol_file a-root)" 0xa5
  qwrite "$(vol_file a-root)" 0xa7
  qread "$(vol_file b-root)" 0xb6
}

@test "refusals: a VM with a root disk, changing from, removing the source, another user's VM" {
  # a has a root disk: it cannot become a clone.
  reject "$E_BUSY" "$C/vms/a/from" b "vm a already has root volume a-root"
  # b's from is fixed; written again it is accepted and changes nothing.
  reject "$E_BUSY" "$C/vms/b/from" x "vm b is already a clone of vm a"
  before=$(spec_dump)
  echo a > "$C/vms/b/from"
  [ "$(spec_dump)" = "$before" ]
  # a stays while b names it.
  refused "$E_BUSY" rmdir "$C/vms/a"
  # A tenant cannot clone root's VM into its own.
  mkdir "$C/vms/k1"
  chown "$K:$K" "$C/vms/k1"
  refused "$E_ACCES" runuser -u "$K" -- bash -c "echo a > '$C/vms/k1/from'"
  reason_has "$C/vms/k1" "belongs to another user"
  [ -z "$(cat "$C/vms/k1/from")" ]
  rmdir "$C/vms/k1"
}

@test "each clone takes one of the source volume's 5 snapshots (EDQUOT past them); a removed clone gives it back" {
  # b holds one already.
  for i in 1 2 3 4; do
    mkdir "$C/vms/c$i"
    echo a > "$C/vms/c$i/from"
  done
  [ "$(ls "$C/volumes/a-root/snapshots" | wc -l)" = 5 ]
  mkdir "$C/vms/c5"
  reject "$E_DQUOT" "$C/vms/c5/from" a "volume a-root already holds 5 snapshots"
  [ "$(cat "$C/vms/c5/offering")" = 1C2G ]
  rmdir "$C/vms/c5"
  # Clones that never started: their snapshots go with them, from the tree
  # and from the qcow2 file.
  for i in 1 2 3 4; do rmdir "$C/vms/c$i"; done
  wait_until 90 bash -c "[ \"\$(ls '$C/volumes/a-root/snapshots')\" = 'clone-$(uuid_of vm b)' ]"
  wait_until 60 bash -c "[ \"\$(qemu-img snapshot -U -l '$(vol_file a-root)' | awk 'NR > 2' | wc -l)\" = 1 ]"
}

@test "removing the clone, then the source, leaves no disk behind" {
  fa=$(vol_file a-root) fb=$(vol_file b-root)
  rmdir "$C/vms/b"
  wait_until 90 test ! -e "$fb"
  # b's snapshot of a's disk went with b; a is whole.
  wait_until 90 bash -c "[ -z \"\$(ls '$C/volumes/a-root/snapshots')\" ]"
  wait_until 60 bash -c "[ -z \"\$(qemu-img snapshot -U -l '$fa')\" ]"
  qread "$fa" 0xa7
  rmdir "$C/vms/a"
  wait_until 90 test ! -e "$fa"
  wait_until 60 bash -c "[ \"\$(sqlite3 '$DB' \"select count(*) from resources where kind in ('vm','volume','snapshot')\")\" = 0 ]"
}

@test "rbd pool: the clone's root disk is an RBD clone of a protected snapshot of the source's" {
  need_rbd
  mkdir "$C/pools/ceph"
  echo rbd > "$C/pools/ceph/type"
  echo "$CEPH_CONF" > "$C/pools/ceph/ceph-conf"
  echo "$RPOOL" > "$C/pools/ceph/rbd-pool"
  # The cluster may be slow while other suites use it: retried until it answers.
  wait_until 180 file_is "$C/pools/ceph/status/state" available ||
    { echo "pool ceph: $(cat "$C/pools/ceph/status/error")" >&2; return 1; }
  mkdir "$C/vms/ra"
  echo tiny > "$C/vms/ra/offering"
  echo base > "$C/vms/ra/image"
  echo ceph > "$C/vms/ra/pool"
  state_to ra running
  state_to ra stopped
  qwrite "$(rbd_url ra-root)" 0xc1 raw
  mkdir "$C/vms/rb"
  echo ra > "$C/vms/rb/from"
  state_to rb running
  domstate_is "$(vm_domain rb)" running
  # In the source's pool though pool is not copied; a child of the snapshot.
  [ "$(cat "$C/volumes/rb-root/status/pool")" = ceph ]
  [ -z "$(cat "$C/vms/rb/pool")" ]
  s="clone-$(uuid_of vm rb)"
  parent="$RPOOL/cfs-vol-$(uuid_of volume ra-root)@cfs-snap-$(uuid_of snapshot "$s")"
  RBD info "$RPOOL/cfs-vol-$(uuid_of volume rb-root)" | grep -q "parent: $parent"
  RBD info "$parent" | grep -q "protected: True"
  qread "$(rbd_url rb-root)" 0xc1 raw
  # Copy-on-write: the clone owns next to nothing yet.
  [ "$(cat "$C/volumes/rb-root/status/allocation")" -lt $((64 << 20)) ]
  # Divergence, both ways.
  state_to rb stopped
  qwrite "$(rbd_url rb-root)" 0xd2 raw
  qread "$(rbd_url ra-root)" 0xc1 raw
  qwrite "$(rbd_url ra-root)" 0xe3 raw
  qread "$(rbd_url rb-root)" 0xd2 raw
  # The snapshot is the clone's parent: it stays while rb-root names it.
  refused "$E_BUSY" rmdir "$C/volumes/ra-root/snapshots/$s"
  imgs="cfs-vol-$(uuid_of volume ra-root) cfs-vol-$(uuid_of volume rb-root)"
  rmdir "$C/vms/rb"
  # The clone's snapshot goes with it, once its child image is gone.
  wait_until 120 bash -c "[ -z \"\$(ls '$C/volumes/ra-root/snapshots')\" ]"
  wait_until 120 bash -c "[ -z \"\$(rbd -c '$CEPH_CONF' snap ls '$RPOOL/cfs-vol-$(uuid_of volume ra-root)')\" ]"
  qread "$(rbd_url ra-root)" 0xe3 raw
  rmdir "$C/vms/ra"
  wait_until 120 bash -c "[ \"\$(sqlite3 '$DB' \"select count(*) from resources where deleted = 1 or name in ('ra', 'rb', 'ra-root', 'rb-root')\")\" = 0 ]"
  for i in $imgs; do ! RBD info "$RPOOL/$i" >/dev/null 2>&1; done
}
