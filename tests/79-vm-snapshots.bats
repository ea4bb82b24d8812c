#!/usr/bin/env bats
# Whole-VM snapshots (issue 17): vms/X/snapshots/S takes every disk of the
# VM at one instant, on a dir pool (qcow2 internal snapshots, through
# libvirt for a running VM) and on an rbd pool of the test Ceph cluster
# (RBD snapshots).  Checked from outside: qemu-io and rbd read the data
# back, qemu-img snapshot -l, rbd snap ls and virsh snapshot-list list what
# the tree shows.  A TCG guest on qemu:///system with a blank root disk (no
# OS: the guest agent never answers, so a live snapshot is crash-consistent).

load compute_helpers
load checks

E_OPNOTSUPP="Operation not supported"

setup_file() {
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf 2>/dev/null)" || CEPH_CONF=""
  RPOOL=""
  if [ -n "$CEPH_CONF" ]; then
    RPOOL="cfsvmsnap$$"
    ceph -c "$CEPH_CONF" osd pool create "$RPOOL" 8 >/dev/null 2>&1 &&
      rbd -c "$CEPH_CONF" pool init "$RPOOL" || RPOOL=""
  fi
  export CEPH_CONF RPOOL
  STOP_TIMEOUT=0 CFS_EXTRA_CONF="storage-timeout = 20;" compute_start
  make_tiny_offering tiny 64M
  timeout 60 cat "$C/pools/local/wait" >/dev/null
  qemu-img create -q -f qcow2 "$T/base.qcow2" 1G
  mkdir "$MNT/images/vsbase"
  echo "$T/base.qcow2" > "$MNT/images/vsbase/source"
  timeout 60 cat "$MNT/images/vsbase/wait" >/dev/null
  if [ -n "$RPOOL" ]; then
    mkdir "$C/pools/vsceph"
    echo rbd > "$C/pools/vsceph/type"
    echo "$CEPH_CONF" > "$C/pools/vsceph/ceph-conf"
    echo "$RPOOL" > "$C/pools/vsceph/rbd-pool"
  fi
}

teardown_file() {
  # Domains with snapshots are undefined with their snapshots' records.
  if [ -f "${DB:-}" ]; then
    for u in $(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm'"); do
      $VIRSH destroy "cfs-$u" >/dev/null 2>&1 || true
      $VIRSH undefine "cfs-$u" --snapshots-metadata >/dev/null 2>&1 || true
    done
  fi
  # The sanitizer's and the declaration checker's findings fail the file.
  local ok=0
  compute_stop || ok=1
  [ -n "${RPOOL:-}" ] && ceph -c "$CEPH_CONF" osd pool delete "$RPOOL" "$RPOOL" \
    --yes-i-really-really-mean-it >/dev/null 2>&1 || true
  return $ok
}

need_rbd() { [ -n "$RPOOL" ] || skip "no test Ceph cluster (scripts/ceph-up.sh)"; }
RBD() { rbd -c "$CEPH_CONF" "$@"; }

uuid_of() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='$1' AND name='$2' AND deleted=0"; }
vol_file() { cat "$C/volumes/$1/status/path"; }
snap_name() { echo "cfs-snap-vm-$(uuid_of vm-snapshot "$1")"; }
no_tombstones() { [ "$(sqlite3 "$DB" "select count(*) from resources where deleted = 1")" = 0 ]; }
# tombs_gone SECONDS: every deletion is finished (else say what is left, why).
tombs_gone() {
  wait_until "$1" no_tombstones || {
    sqlite3 "$DB" "SELECT r.kind, r.name, s.value FROM resources r LEFT JOIN status s
                   ON s.res = r.id AND s.name = 'error' WHERE r.deleted = 1" >&2
    return 1
  }
}
rbd_url() { echo "rbd:$RPOOL/cfs-vol-$(uuid_of volume "$1"):conf=$CEPH_CONF"; }

qcow_snaps() { qemu-img snapshot -U -l "$1" | awk 'NR > 2 { print $2 }' | sort; }
rbd_snaps() { RBD snap ls "$RPOOL/cfs-vol-$(uuid_of volume "$1")" --format json | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | sort; }
virsh_snaps() { $VIRSH snapshot-list "$(vm_domain "$1")" --name 2>/dev/null | sed '/^$/d' | sort; }
# The pool names of the tree's snapshots of a VM, sorted.
tree_snaps() {
  local s
  for s in $(ls "$C/vms/$1/snapshots"); do snap_name "$s"; done | sort
}

qread() { qemu-io -r -U "${@:3}" -c "read -P $2 0 1M" "$1" | grep -q "read 1048576/1048576"; }
qwrite() { qemu-io "${@:3}" -c "write -P $2 0 1M" "$1" >/dev/null; }
# Both disks of vs1 hold PATTERN (write) / are checked for it (read).
both_write() { qwrite "$(vol_file vs1-root)" "$1" -f qcow2 && qwrite "$(rbd_url vsd1)" "$1" -f raw; }
both_read() { qread "$(vol_file vs1-root)" "$1" -f qcow2 && qread "$(rbd_url vsd1)" "$1" -f raw; }

vm_state() {
  echo "$2" > "$C/vms/$1/state"
  run timeout 150 cat "$C/vms/$1/wait"
  [ "$output" = "$2" ] || { echo "vm $1: $output $(cat "$C/vms/$1/status/error")" >&2; return 1; }
}

# snap_ready VM SNAP: the snapshot is taken.
snap_ready() {
  run timeout 120 cat "$C/vms/$1/snapshots/$2/wait"
  [ "$output" = ready ] || { echo "snapshot $1/$2: $output $(cat "$C/vms/$1/snapshots/$2/status/error")" >&2; return 1; }
}

# revert VM SNAP: echo revert > ctl, then wait until the reconciler ran it.
revert() {
  local d="$C/vms/$1/snapshots/$2" id seq
  echo revert > "$d/ctl"
  id=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm-snapshot' AND name='$2' AND deleted=0")
  seq=$(sqlite3 "$DB" "SELECT max(seq) FROM changes WHERE res=$id AND op='verb'")
  wait_until 150 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT value FROM status WHERE res=$id AND name='_verb_seq'\")\" -ge $seq ] &&
                          [ \"\$(cat '$d/status/state')\" = ready ]"
  [ -z "$(cat "$d/status/error")" ] || { echo "revert $1/$2: $(cat "$d/status/error")" >&2; return 1; }
}

@test "stopped VM, dir root disk + rbd data disk: snapshot, overwrite, revert reads both back; qemu-img and rbd agree" {
  need_rbd
  wait_until 180 file_is "$C/pools/vsceph/status/state" available
  mkdir "$C/volumes/vsd1"
  echo vsceph > "$C/volumes/vsd1/pool"
  timeout 60 cat "$C/volumes/vsd1/wait" >/dev/null
  mkdir "$C/vms/vs1"
  echo tiny > "$C/vms/vs1/offering"
  echo vsbase > "$C/vms/vs1/image"
  echo 20G > "$C/vms/vs1/root-size"
  ln -s ../../../volumes/vsd1 "$C/vms/vs1/volumes/"
  # The first start makes the root disk.
  vm_state vs1 running
  vm_state vs1 stopped
  [ "$(cat "$C/vms/vs1/status/root-volume")" = vs1-root ]
  both_write 0xa1
  mkdir "$C/vms/vs1/snapshots/s1"
  echo "before the upgrade" > "$C/vms/vs1/snapshots/s1/description"
  snap_ready vs1 s1
  [ "$(cat "$C/vms/vs1/snapshots/s1/status/consistency")" = stopped ]
  [ "$(cat "$C/vms/vs1/snapshots/s1/status/size")" = 30G ]
  [ "$(cat "$C/vms/vs1/snapshots/s1/status/disks")" = "$(printf 'vs1-root\nvsd1')" ]
  [[ "$(cat "$C/vms/vs1/snapshots/s1/status/created")" =~ ^20[0-9-]+T[0-9:]+Z$ ]]
  # Each disk's snapshot is named after the resource's UUID.
  [ "$(qcow_snaps "$(vol_file vs1-root)")" = "$(snap_name s1)" ]
  [ "$(rbd_snaps vsd1)" = "$(snap_name s1)" ]
  both_write 0xb2
  revert vs1 s1
  both_read 0xa1
  [ "$(cat "$C/vms/vs1/status/state")" = stopped ]
}

@test "running VM with disks on both pool kinds: refused with EOPNOTSUPP; a snapshot taken stopped stays until it stops" {
  need_rbd
  vm_state vs1 running
  refused "$E_OPNOTSUPP" mkdir "$C/vms/vs1/snapshots/live"
  reason_has "$C/vms/vs1" "both a dir and an rbd pool"
  # s1 was taken stopped: qemu-img cannot drop it from the file in use.
  refused "$E_BUSY" rmdir "$C/vms/vs1/snapshots/s1"
  reason_has "$C/vms/vs1/snapshots/s1" "stop the VM first"
  # Revert stops the VM, then rolls both disks back.
  revert vs1 s1
  [ "$(cat "$C/vms/vs1/state")" = stopped ]
  wait_until 60 file_is "$C/vms/vs1/status/state" stopped
  both_read 0xa1
  qemu-img check -q "$(vol_file vs1-root)"
}

@test "running VM with rbd disks: paused while librbd takes every disk (crash-consistent without an agent); revert stops it and reads the data back" {
  need_rbd
  mkdir "$C/volumes/vrd1" "$C/volumes/vrd2"
  echo vsceph > "$C/volumes/vrd1/pool"
  echo vsceph > "$C/volumes/vrd2/pool"
  timeout 60 cat "$C/volumes/vrd1/wait" "$C/volumes/vrd2/wait" >/dev/null
  qwrite "$(rbd_url vrd1)" 0x51 -f raw
  qwrite "$(rbd_url vrd2)" 0x52 -f raw
  mkdir "$C/vms/vr1"
  echo tiny > "$C/vms/vr1/offering"
  ln -s ../../../volumes/vrd1 ../../../volumes/vrd2 "$C/vms/vr1/volumes/"
  vm_state vr1 running
  mkdir "$C/vms/vr1/snapshots/l"
  snap_ready vr1 l
  [ "$(cat "$C/vms/vr1/snapshots/l/status/consistency")" = crash-consistent ]
  [ -z "$(cat "$C/vms/vr1/snapshots/l/status/memory")" ]
  [ "$(cat "$C/vms/vr1/snapshots/l/status/disks")" = "$(printf 'vrd1\nvrd2')" ]
  # Resumed after; no libvirt snapshot (librbd took them).
  wait_until 30 domstate_is "$(vm_domain vr1)" running
  wait_until 30 file_is "$C/vms/vr1/status/state" running
  [ -z "$(virsh_snaps vr1)" ]
  [ "$(rbd_snaps vrd1)" = "$(snap_name l)" ]
  [ "$(rbd_snaps vrd2)" = "$(snap_name l)" ]
  # memory is fixed once taken.
  reject "$E_BUSY" "$C/vms/vr1/snapshots/l/memory" on "taken already"
  vm_state vr1 stopped
  qwrite "$(rbd_url vrd1)" 0x61 -f raw
  qwrite "$(rbd_url vrd2)" 0x62 -f raw
  vm_state vr1 running
  revert vr1 l
  [ "$(cat "$C/vms/vr1/state")" = stopped ]
  wait_until 60 file_is "$C/vms/vr1/status/state" stopped
  qread "$(rbd_url vrd1)" 0x51 -f raw
  qread "$(rbd_url vrd2)" 0x52 -f raw
  # rmdir of the VM takes its snapshots; the volumes stay, without them.
  rmdir "$C/vms/vr1"
  tombs_gone 120
  [ -z "$(rbd_snaps vrd1)" ]
  [ -z "$(rbd_snaps vrd2)" ]
  rm -r "$C/volumes/vrd1" "$C/volumes/vrd2"
  tombs_gone 90
}

@test "while whole-VM snapshots exist the VM's disks and NICs stay: attach, detach, a new NIC refused with EBUSY" {
  need_rbd
  mkdir "$C/volumes/vsd2"
  refused "$E_BUSY" ln -s ../../../volumes/vsd2 "$C/vms/vs1/volumes/"
  reason_has "$C/vms/vs1" "whole-VM snapshots"
  reject "$E_BUSY" "$C/vms/vs1/attach" vsd2 "attaching a volume"
  refused "$E_BUSY" rm "$C/vms/vs1/volumes/vsd1"
  reason_has "$C/vms/vs1" "detaching a volume"
  [ -L "$C/vms/vs1/volumes/vsd1" ]
  refused "$E_BUSY" mkdir "$C/vms/vs1/nics/eth9"
  reason_has "$C/vms/vs1" "a new NIC"
  reject "$E_BUSY" "$C/vms/vs1/ctl" reinstall "whole-VM snapshots"
  rmdir "$C/volumes/vsd2"
  # Memory cannot be kept with a disk on an rbd pool.
  mkdir "$C/vms/vs1/snapshots/mm"
  reject "$E_OPNOTSUPP" "$C/vms/vs1/snapshots/mm/memory" on "rbd pool"
  rmdir "$C/vms/vs1/snapshots/mm"
  tombs_gone 60
}

@test "at most vm-snapshots (5): the 6th is refused with EDQUOT; rmdir in any order leaves the others whole" {
  need_rbd
  for p in 2 3 4 5; do
    both_write 0xc$p
    mkdir "$C/vms/vs1/snapshots/q$p"
    snap_ready vs1 q$p
  done
  [ "$(ls "$C/vms/vs1/snapshots" | wc -l)" = 5 ]
  refused "$E_DQUOT" mkdir "$C/vms/vs1/snapshots/q6"
  reason_has "$C/vms/vs1" "already holds 5 snapshots"
  [ "$(qcow_snaps "$(vol_file vs1-root)")" = "$(tree_snaps vs1)" ]
  [ "$(rbd_snaps vsd1)" = "$(tree_snaps vs1)" ]
  # The middle one, the oldest, then the newest.
  rmdir "$C/vms/vs1/snapshots/q3"
  rmdir "$C/vms/vs1/snapshots/s1"
  rmdir "$C/vms/vs1/snapshots/q5"
  tombs_gone 90
  [ "$(qcow_snaps "$(vol_file vs1-root)")" = "$(tree_snaps vs1)" ]
  [ "$(rbd_snaps vsd1)" = "$(tree_snaps vs1)" ]
  [ "$(echo "$(tree_snaps vs1)" | wc -l)" = 2 ]
  both_write 0xee
  revert vs1 q2
  both_read 0xc2
  revert vs1 q4
  both_read 0xc4
  qemu-img check -q "$(vol_file vs1-root)"
}

@test "rmdir of the VM deletes its snapshots: the data volume keeps no RBD snapshot" {
  need_rbd
  rmdir "$C/vms/vs1"
  tombs_gone 120
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind in ('vm-snapshot','vm')")" = 0 ]
  [ -z "$(rbd_snaps vsd1)" ]
  rm -r "$C/volumes/vsd1"
  tombs_gone 90
}

@test "running VM on a dir pool, memory on: libvirt keeps disks and memory; revert brings it back running" {
  mkdir "$C/vms/vm1"
  echo tiny > "$C/vms/vm1/offering"
  echo vsbase > "$C/vms/vm1/image"
  echo 20G > "$C/vms/vm1/root-size"
  vm_state vm1 running
  mkdir "$C/vms/vm1/snapshots/m"
  # Chosen right after mkdir (the snapshot is taken a second later).
  echo on > "$C/vms/vm1/snapshots/m/memory"
  snap_ready vm1 m
  [ "$(cat "$C/vms/vm1/snapshots/m/status/memory")" = included ]
  [ "$(cat "$C/vms/vm1/snapshots/m/status/consistency")" = crash-consistent ]
  [ "$(virsh_snaps vm1)" = "$(snap_name m)" ]
  [ "$(qcow_snaps "$(vol_file vm1-root)")" = "$(snap_name m)" ]
  $VIRSH snapshot-info "$(vm_domain vm1)" "$(snap_name m)" | grep -Eq "State: +(running|paused)"
  revert vm1 m
  wait_until 90 domstate_is "$(vm_domain vm1)" running
  [ "$(cat "$C/vms/vm1/state")" = running ]
  wait_until 60 file_is "$C/vms/vm1/status/state" running
  # Deleted from the running domain through libvirt.
  rmdir "$C/vms/vm1/snapshots/m"
  tombs_gone 90
  [ -z "$(virsh_snaps vm1)" ]
  [ -z "$(qcow_snaps "$(vol_file vm1-root)")" ]
  vm_state vm1 stopped
  rmdir "$C/vms/vm1"
  tombs_gone 90
}
