#!/usr/bin/env bats
# Disk snapshots of volumes (issue 17) on a dir pool (qcow2 internal
# snapshots) and on an rbd pool of the test Ceph cluster (RBD snapshots),
# checked from outside: qemu-io reads the data back, qemu-img snapshot -l
# and rbd snap ls list what the tree shows, SQLite holds the spec.

load compute_helpers
load checks

setup_file() {
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf 2>/dev/null)" || CEPH_CONF=""
  RPOOL=""
  if [ -n "$CEPH_CONF" ]; then
    # A Ceph pool of this file's own, removed at the end.
    RPOOL="cfssnap$$"
    ceph -c "$CEPH_CONF" osd pool create "$RPOOL" 8 >/dev/null 2>&1 &&
      rbd -c "$CEPH_CONF" pool init "$RPOOL" || RPOOL=""
  fi
  export CEPH_CONF RPOOL
  STOP_TIMEOUT=0 CFS_EXTRA_CONF="storage-timeout = 10;" compute_start
  make_tiny_offering tiny 64M
  # The default dir pool is looked at before the first volume asks for it.
  timeout 60 cat "$C/pools/local/wait" >/dev/null
}

teardown_file() {
  compute_stop || true
  # The file's Ceph pool goes with every image and snapshot in it.
  [ -n "${RPOOL:-}" ] && ceph -c "$CEPH_CONF" osd pool delete "$RPOOL" "$RPOOL" \
    --yes-i-really-really-mean-it >/dev/null 2>&1 || true
}

need_rbd() { [ -n "$RPOOL" ] || skip "no test Ceph cluster (scripts/ceph-up.sh)"; }

RBD() { rbd -c "$CEPH_CONF" "$@"; }
# The rbd pool "ceph" of the tree, made when a test runs alone.
ceph_pool_ready() {
  if [ ! -d "$C/pools/ceph" ]; then
    mkdir "$C/pools/ceph"
    echo rbd > "$C/pools/ceph/type"
    echo "$CEPH_CONF" > "$C/pools/ceph/ceph-conf"
    echo "$RPOOL" > "$C/pools/ceph/rbd-pool"
  fi
  wait_until 180 file_is "$C/pools/ceph/status/state" available
}
uuid_of() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='$1' AND name='$2' AND deleted=0"; }
vol_file() { cat "$C/volumes/$1/status/path"; }
snap_name() { echo "cfs-snap-$(uuid_of snapshot "$1")"; }
no_tombstones() { [ "$(sqlite3 "$DB" "select count(*) from resources where deleted = 1")" = 0 ]; }

# vol_ready NAME: the volume is made and available.
vol_ready() {
  timeout 60 cat "$C/volumes/$1/wait" >/dev/null
  wait_until 60 file_is "$C/volumes/$1/status/state" available
}

# snap_ready VOL SNAP: the snapshot is taken (its wait file answers ready).
snap_ready() {
  run timeout 90 cat "$C/volumes/$1/snapshots/$2/wait"
  [ "$output" = ready ] || { echo "snapshot $1/$2: $output $(cat "$C/volumes/$1/snapshots/$2/status/error")" >&2; return 1; }
}

# revert VOL SNAP: echo revert > ctl, then wait until the reconciler ran
# that verb (its _verb_seq reached it) and the snapshot is ready again.
revert() {
  local d="$C/volumes/$1/snapshots/$2" id seq
  echo revert > "$d/ctl"
  id=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='snapshot' AND name='$2' AND deleted=0
                      AND parent=(SELECT id FROM resources WHERE kind='volume' AND name='$1' AND deleted=0)")
  seq=$(sqlite3 "$DB" "SELECT max(seq) FROM changes WHERE res=$id AND op='verb'")
  wait_until 90 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT value FROM status WHERE res=$id AND name='_verb_seq'\")\" -ge $seq ] &&
                         [ \"\$(cat '$d/status/state')\" = ready ]"
  [ -z "$(cat "$d/status/error")" ] || { echo "revert $1/$2: $(cat "$d/status/error")" >&2; return 1; }
}

# The tags of qemu-img snapshot -l, sorted.
qcow_snaps() { qemu-img snapshot -U -l "$1" | awk 'NR > 2 { print $2 }' | sort; }
rbd_snaps() { RBD snap ls "$RPOOL/$1" --format json | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | sort; }
# The pool names of the tree's snapshots of a volume, sorted.
tree_snaps() {
  local s
  for s in $(ls "$C/volumes/$1/snapshots"); do snap_name "$s"; done | sort
}

# qread FILE|URL PATTERN: the first MiB holds PATTERN.
qread() { qemu-io -r -U "${@:3}" -c "read -P $2 0 1M" "$1" | grep -q "read 1048576/1048576"; }
qwrite() { qemu-io "${@:3}" -c "write -P $2 0 1M" "$1" >/dev/null; }

@test "dir pool: snapshot, overwrite, revert reads the pattern back; qemu-img agrees with the tree" {
  mkdir "$C/volumes/d1"
  vol_ready d1
  f=$(vol_file d1)
  qwrite "$f" 0xa1 -f qcow2
  mkdir "$C/volumes/d1/snapshots/s1"
  echo "before the upgrade" > "$C/volumes/d1/snapshots/s1/description"
  snap_ready d1 s1
  [ "$(cat "$C/volumes/d1/snapshots/s1/status/size")" = 10G ]
  [[ "$(cat "$C/volumes/d1/snapshots/s1/status/created")" =~ ^20[0-9-]+T[0-9:]+Z$ ]]
  # The pool's name is the resource's UUID, never what the user typed.
  [ "$(qcow_snaps "$f")" = "$(snap_name s1)" ]
  qwrite "$f" 0xb2 -f qcow2
  # Grown after s1: s2 records the new size.
  echo 20G > "$C/volumes/d1/size"
  timeout 60 cat "$C/volumes/d1/wait"
  mkdir "$C/volumes/d1/snapshots/s2"
  snap_ready d1 s2
  [ "$(cat "$C/volumes/d1/snapshots/s2/status/size")" = 20G ]
  qwrite "$f" 0xc3 -f qcow2
  revert d1 s1
  qread "$f" 0xa1 -f qcow2
  # qcow2 restores s1's 10G; the volume grows back to its 20G.
  wait_until 60 bash -c "qemu-img info -U --output=json '$f' | grep -q '\"virtual-size\": 21474836480'"
  revert d1 s2
  qread "$f" 0xb2 -f qcow2
  [ "$(qcow_snaps "$f")" = "$(tree_snaps d1)" ]
  [ "$(echo "$(tree_snaps d1)" | wc -l)" = 2 ]
}

@test "dir pool: delete in any order without breaking the others" {
  f=$(vol_file d1)
  mkdir "$C/volumes/d1/snapshots/s3"
  snap_ready d1 s3
  # The oldest first: the later ones still revert to their own data.
  rmdir "$C/volumes/d1/snapshots/s1"
  wait_until 60 no_tombstones
  [ "$(qcow_snaps "$f")" = "$(tree_snaps d1)" ]
  [ "$(echo "$(qcow_snaps "$f")" | wc -l)" = 2 ]
  qwrite "$f" 0xd4 -f qcow2
  revert d1 s2
  qread "$f" 0xb2 -f qcow2
  # Then the newest, then the middle one.
  rmdir "$C/volumes/d1/snapshots/s3"
  wait_until 60 no_tombstones
  revert d1 s2
  qread "$f" 0xb2 -f qcow2
  rmdir "$C/volumes/d1/snapshots/s2"
  wait_until 60 no_tombstones
  [ -z "$(qcow_snaps "$f")" ]
  qemu-img check -q "$f"
}

@test "at most volume-snapshots (5): the 6th mkdir is refused with EDQUOT and the reason" {
  for i in 1 2 3 4 5; do mkdir "$C/volumes/d1/snapshots/q$i"; done
  refused "$E_DQUOT" mkdir "$C/volumes/d1/snapshots/q6"
  reason_has "$C/volumes/d1" "already holds 5 snapshots"
  [ ! -e "$C/volumes/d1/snapshots/q6" ]
  for i in 1 2 3 4 5; do snap_ready d1 q$i; done
  [ "$(qcow_snaps "$(vol_file d1)")" = "$(tree_snaps d1)" ]
  # cloudfs check finds nothing wrong with them.
  out=$("$CLOUDFS_BIN" -c "$CONF" check 2>&1) || true
  if grep -E "snapshot" <<<"$out" >&2; then false; fi
  # Deleting one makes room again.
  rmdir "$C/volumes/d1/snapshots/q3"
  mkdir "$C/volumes/d1/snapshots/q6"
  snap_ready d1 q6
  [ "$(echo "$(qcow_snaps "$(vol_file d1)")" | wc -l)" = 5 ]
}

@test "hostile names and values are refused and change nothing" {
  d="$C/volumes/d1/snapshots"
  rmdir "$d/q6"
  wait_until 60 no_tombstones   # refused() compares whole spec dumps
  refused "$E_INVAL" mkdir "$d/-c"
  refused "$E_INVAL" mkdir "$d/a;rm -rf x"
  refused "$E_INVAL" mkdir "$d/\$(id)"
  reject "$E_INVAL" "$d/q1/ctl" "delete" "revert"
  reject "$E_INVAL" "$d/q1/ctl" "revert; rm -rf /" "revert"
  reject "$E_INVAL" "$d/q1/description" "$(printf 'a\xe2\x80\xaeb')" "bidirectional"
  # Only the UUID names reached the file.
  [ "$(qcow_snaps "$(vol_file d1)")" = "$(tree_snaps d1)" ]
  # A volume that holds snapshots is not deleted by a bare rmdir, nor shrunk.
  refused "$E_NOTEMPTY" rmdir "$C/volumes/d1"
  reason_has "$C/volumes/d1" "still holds snapshot"
  reject "$E_INVAL" "$C/volumes/d1/size" 5G "out of range"
}

@test "dir pool: a volume in use by a running VM: snapshot and revert refused with EBUSY" {
  mkdir "$C/vms/v1"
  echo tiny > "$C/vms/v1/offering"
  ln -s ../../../volumes/d1 "$C/vms/v1/volumes/"
  echo running > "$C/vms/v1/state"
  run timeout 120 cat "$C/vms/v1/wait"
  [ "$output" = running ]
  wait_until 30 file_is "$C/volumes/d1/status/attached-to" v1
  refused "$E_BUSY" mkdir "$C/volumes/d1/snapshots/live"
  reason_has "$C/volumes/d1" "in use by vm v1"
  reject "$E_BUSY" "$C/volumes/d1/snapshots/q1/ctl" revert "stop the VM or detach"
  refused "$E_BUSY" rmdir "$C/volumes/d1/snapshots/q2"
  reason_has "$C/volumes/d1/snapshots/q2" "cannot lose a snapshot"
  [ "$(qcow_snaps "$(vol_file d1)")" = "$(tree_snaps d1)" ]
  # Stopped, it may be reverted to (and snapshotted) again.
  echo stopped > "$C/vms/v1/state"
  run timeout 120 cat "$C/vms/v1/wait"
  [ "$output" = stopped ]
  revert d1 q1
  mkdir "$C/volumes/d1/snapshots/cold"
  snap_ready d1 cold
  rm "$C/vms/v1/volumes/d1"
  rmdir "$C/vms/v1"
  wait_until 60 no_tombstones
}

@test "dir pool: rm -r of a volume deletes its snapshots, then the file" {
  f=$(vol_file d1)
  rm -r "$C/volumes/d1"
  wait_until 60 test ! -e "$f"
  wait_until 60 no_tombstones
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind='snapshot'")" = 0 ]
}

@test "a VM's root volume goes with the VM, its snapshots with it" {
  qemu-img create -q -f qcow2 "$T/base.qcow2" 1G
  mkdir "$MNT/images/base"
  echo "$T/base.qcow2" > "$MNT/images/base/source"
  timeout 60 cat "$MNT/images/base/wait"
  mkdir "$C/vms/r1"
  echo tiny > "$C/vms/r1/offering"
  echo base > "$C/vms/r1/image"
  echo 20G > "$C/vms/r1/root-size"
  # The root volume is made for the first start; a dir pool snapshots it stopped.
  echo running > "$C/vms/r1/state"
  run timeout 120 cat "$C/vms/r1/wait"
  [ "$output" = running ]
  echo stopped > "$C/vms/r1/state"
  run timeout 120 cat "$C/vms/r1/wait"
  [ "$output" = stopped ]
  [ "$(cat "$C/vms/r1/status/root-volume")" = r1-root ]
  f=$(vol_file r1-root)
  mkdir "$C/volumes/r1-root/snapshots/s1"
  snap_ready r1-root s1
  [ "$(qcow_snaps "$f")" = "$(tree_snaps r1-root)" ]
  rmdir "$C/vms/r1"
  wait_until 90 test ! -e "$f"
  wait_until 60 no_tombstones
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind in ('snapshot','volume')")" = 0 ]
  rmdir "$MNT/images/base"
}

@test "rbd pool: snapshot, overwrite, revert reads the pattern back; rbd snap ls agrees" {
  need_rbd
  mkdir "$C/pools/ceph"
  echo rbd > "$C/pools/ceph/type"
  echo "$CEPH_CONF" > "$C/pools/ceph/ceph-conf"
  echo "$RPOOL" > "$C/pools/ceph/rbd-pool"
  # The cluster may be slow while other suites use it: retried until it answers.
  wait_until 180 file_is "$C/pools/ceph/status/state" available ||
    { echo "pool ceph: $(cat "$C/pools/ceph/status/error")" >&2; return 1; }
  mkdir "$C/volumes/r1"
  echo ceph > "$C/volumes/r1/pool"
  vol_ready r1
  img="cfs-vol-$(uuid_of volume r1)"
  url="rbd:$RPOOL/$img:conf=$CEPH_CONF"
  qwrite "$url" 0xa1 -f raw
  mkdir "$C/volumes/r1/snapshots/s1"
  snap_ready r1 s1
  [ "$(cat "$C/volumes/r1/snapshots/s1/status/size")" = 10G ]
  [ "$(rbd_snaps "$img")" = "$(snap_name s1)" ]
  qwrite "$url" 0xb2 -f raw
  mkdir "$C/volumes/r1/snapshots/s2"
  snap_ready r1 s2
  qwrite "$url" 0xc3 -f raw
  revert r1 s1
  qread "$url" 0xa1 -f raw
  revert r1 s2
  qread "$url" 0xb2 -f raw
  [ "$(rbd_snaps "$img")" = "$(tree_snaps r1)" ]
  # Deleting in any order leaves the others intact.
  mkdir "$C/volumes/r1/snapshots/s3"
  snap_ready r1 s3
  rmdir "$C/volumes/r1/snapshots/s1"
  wait_until 60 no_tombstones
  [ "$(rbd_snaps "$img")" = "$(tree_snaps r1)" ]
  qwrite "$url" 0xd4 -f raw
  revert r1 s2
  qread "$url" 0xb2 -f raw
  rmdir "$C/volumes/r1/snapshots/s3"
  wait_until 60 no_tombstones
  [ "$(rbd_snaps "$img")" = "$(tree_snaps r1)" ]
  [ "$(echo "$(rbd_snaps "$img")" | wc -l)" = 1 ]
}

@test "rbd pool: the limit, and rm -r removes the snapshots and the image" {
  need_rbd
  img="cfs-vol-$(uuid_of volume r1)"
  for i in 1 2 3 4; do mkdir "$C/volumes/r1/snapshots/q$i"; done
  refused "$E_DQUOT" mkdir "$C/volumes/r1/snapshots/q5"
  reason_has "$C/volumes/r1" "already holds 5 snapshots"
  for i in 1 2 3 4; do snap_ready r1 q$i; done
  [ "$(rbd_snaps "$img")" = "$(tree_snaps r1)" ]
  [ "$(echo "$(rbd_snaps "$img")" | wc -l)" = 5 ]
  rm -r "$C/volumes/r1"
  wait_until 90 bash -c "! rbd -c '$CEPH_CONF' ls '$RPOOL' | grep -qx '$img'"
  wait_until 60 no_tombstones
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind in ('snapshot','volume')")" = 0 ]
}

@test "rbd pool: a running VM's disk is snapshotted live; revert needs it stopped" {
  need_rbd
  mkdir "$C/volumes/r2"
  echo ceph > "$C/volumes/r2/pool"
  vol_ready r2
  mkdir "$C/vms/v2"
  echo tiny > "$C/vms/v2/offering"
  ln -s ../../../volumes/r2 "$C/vms/v2/volumes/"
  echo running > "$C/vms/v2/state"
  run timeout 120 cat "$C/vms/v2/wait"
  [ "$output" = running ]
  wait_until 30 file_is "$C/volumes/r2/status/attached-to" v2
  mkdir "$C/volumes/r2/snapshots/live"
  snap_ready r2 live
  img="cfs-vol-$(uuid_of volume r2)"
  [ "$(rbd_snaps "$img")" = "$(snap_name live)" ]
  reject "$E_BUSY" "$C/volumes/r2/snapshots/live/ctl" revert "stop the VM or detach"
  echo stopped > "$C/vms/v2/state"
  run timeout 120 cat "$C/vms/v2/wait"
  [ "$output" = stopped ]
  revert r2 live
  rm "$C/vms/v2/volumes/r2"
  rmdir "$C/vms/v2"
  wait_until 60 no_tombstones
  wait_until 30 file_is "$C/volumes/r2/status/attached-to" ""
  rm -r "$C/volumes/r2"
  wait_until 90 no_tombstones
  [ -z "$(RBD ls "$RPOOL" | grep cfs-vol- || true)" ]
}

@test "dir pool: a volume made from a snapshot holds the snapshot's data as a full copy; the snapshot stays while it is named" {
  mkdir "$C/volumes/c1"
  vol_ready c1
  f=$(vol_file c1)
  qwrite "$f" 0x5a -f qcow2
  mkdir "$C/volumes/c1/snapshots/s"
  snap_ready c1 s
  qwrite "$f" 0x6b -f qcow2
  mkdir "$C/volumes/c2"
  # Bad references first: nothing is stored.
  reject "$E_NOENT" "$C/volumes/c2/snapshot" c1/nope "does not exist"
  reject "$E_INVAL" "$C/volumes/c2/snapshot" c1 "a path of 2 names"
  mkdir "$C/volumes/c3"
  echo 20G > "$C/volumes/c3/size"
  mkdir "$C/volumes/c3/snapshots/big"
  snap_ready c3 big
  reject "$E_INVAL" "$C/volumes/c2/snapshot" c3/big "below snapshot big's size 20G"
  echo 20G > "$C/volumes/c2/size"      # above the snapshot's 10G: the copy is grown
  echo c1/s > "$C/volumes/c2/snapshot"
  vol_ready c2
  g=$(vol_file c2)
  [ "$(cat "$C/volumes/c2/status/size")" = 20G ]
  qemu-img info -U --output=json "$g" | grep -q '"virtual-size": 21474836480'
  [ "$g" != "$f" ]
  qread "$g" 0x5a -f qcow2
  # A copy, not a child of the source file: the two diverge.
  ! qemu-img info -U "$g" | grep -q "backing file"
  qwrite "$g" 0x7c -f qcow2
  qread "$f" 0x6b -f qcow2
  [ "$(sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res
                       WHERE r.name = 'c2' AND r.deleted = 0 AND a.name = 'snapshot'")" = c1/s ]
  # Named by c2: neither the snapshot nor its volume can go.
  refused "$E_BUSY" rmdir "$C/volumes/c1/snapshots/s"
  rm -r "$C/volumes/c2" "$C/volumes/c3"
  wait_until 60 no_tombstones
  rmdir "$C/volumes/c1/snapshots/s"
  rm -r "$C/volumes/c1"
  wait_until 60 no_tombstones
}

@test "a tenant cannot make a volume from another user's snapshot" {
  id cfs-snapbob >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh cfs-snapbob
  chmod 755 "$T"    # the mount's parent: a tenant reaches the mount
  mkdir "$C/volumes/t1"
  vol_ready t1
  mkdir "$C/volumes/t1/snapshots/s"
  snap_ready t1 s
  runuser -u cfs-snapbob -- mkdir "$C/volumes/bobs"
  run runuser -u cfs-snapbob -- bash -c "echo t1/s > '$C/volumes/bobs/snapshot'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
  last_error_has cfs-snapbob "belongs to another user"
  [ -z "$(cat "$C/volumes/bobs/snapshot")" ]
  rmdir "$C/volumes/bobs"
  rm -r "$C/volumes/t1"
  wait_until 60 no_tombstones
  userdel cfs-snapbob 2>/dev/null || true
}

@test "rbd pool: a volume made from a snapshot is a copy-on-write clone of it; data and rbd info agree" {
  need_rbd
  ceph_pool_ready
  mkdir "$C/volumes/rc1"
  echo ceph > "$C/volumes/rc1/pool"
  vol_ready rc1
  img="cfs-vol-$(uuid_of volume rc1)"
  qwrite "rbd:$RPOOL/$img:conf=$CEPH_CONF" 0x5a -f raw
  mkdir "$C/volumes/rc1/snapshots/s"
  snap_ready rc1 s
  qwrite "rbd:$RPOOL/$img:conf=$CEPH_CONF" 0x6b -f raw
  mkdir "$C/volumes/rc2"
  echo rc1/s > "$C/volumes/rc2/snapshot"
  vol_ready rc2
  [ "$(cat "$C/volumes/rc2/status/pool")" = ceph ]
  clone="cfs-vol-$(uuid_of volume rc2)"
  RBD info "$RPOOL/$clone" | grep -q "parent: $RPOOL/$img@$(snap_name s)"
  qread "rbd:$RPOOL/$clone:conf=$CEPH_CONF" 0x5a -f raw
  qwrite "rbd:$RPOOL/$clone:conf=$CEPH_CONF" 0x7c -f raw
  qread "rbd:$RPOOL/$img:conf=$CEPH_CONF" 0x6b -f raw
  refused "$E_BUSY" rmdir "$C/volumes/rc1/snapshots/s"
  rm -r "$C/volumes/rc2"
  wait_until 90 no_tombstones
  # With its clone gone the snapshot is unprotected and removed.
  rmdir "$C/volumes/rc1/snapshots/s"
  wait_until 90 no_tombstones
  [ -z "$(rbd_snaps "$img")" ]
  rm -r "$C/volumes/rc1"
  wait_until 90 no_tombstones
  [ -z "$(RBD ls "$RPOOL" | grep cfs-vol- || true)" ]
}

# vm_image_test POOL: an image made from a stopped VM whose root disk is in
# POOL (dir or rbd) holds the disk's data; the VM may then go, and a new VM
# made from the image gets that data and runs.
vm_image_test() {
  local pool="$1" src="src$1" img="img$1" new="new$1" root f
  qemu-img create -q -f qcow2 "$T/base-$pool.qcow2" 1G
  qemu-io -f qcow2 -c "write -P 0x11 0 1M" "$T/base-$pool.qcow2" >/dev/null
  mkdir "$MNT/images/b$pool"
  echo "$T/base-$pool.qcow2" > "$MNT/images/b$pool/source"
  timeout 60 cat "$MNT/images/b$pool/wait" >/dev/null
  mkdir "$C/vms/$src"
  echo tiny > "$C/vms/$src/offering"
  echo "$pool" > "$C/vms/$src/pool"       # the pool first: the root disk is made once
  echo "b$pool" > "$C/vms/$src/image"
  echo running > "$C/vms/$src/state"
  run timeout 180 cat "$C/vms/$src/wait"
  [ "$output" = running ] || { echo "vm $src: $output: $(cat "$C/vms/$src/status/error")" >&2; false; }
  mkdir "$MNT/images/$img"
  reject "$E_BUSY" "$MNT/images/$img/vm" "default/default/$src" "stop it first"
  reject "$E_INVAL" "$MNT/images/$img/vm" "default/$src" "a path of 3 names"
  reject "$E_NOENT" "$MNT/images/$img/vm" "default/default/nope" "does not exist"
  echo stopped > "$C/vms/$src/state"
  run timeout 120 cat "$C/vms/$src/wait"
  [ "$output" = stopped ]
  root=$(cat "$C/vms/$src/status/root-volume")
  # What the VM wrote: a pattern over the image's.
  if [ "$pool" = local ]; then
    qwrite "$(vol_file "$root")" 0x22 -f qcow2
  else
    qwrite "rbd:$RPOOL/cfs-vol-$(uuid_of volume "$root"):conf=$CEPH_CONF" 0x22 -f raw
  fi
  echo "default/default/$src" > "$MNT/images/$img/vm"
  run timeout 180 cat "$MNT/images/$img/wait"
  [ "$output" = available ] || { cat "$MNT/images/$img/status/error"; false; }
  f="$T/images/$(uuid_of image "$img").img"
  [ "$(cat "$MNT/images/$img/status/format")" = qcow2 ]
  [ "$(cat "$MNT/images/$img/status/sha256")" = "$(sha256sum "$f" | cut -d' ' -f1)" ]
  [ "$(stat -c %a "$f")" = 400 ]
  ! qemu-img info -U "$f" | grep -q "backing file"
  qread "$f" 0x22 -f qcow2
  # A template now: the VM goes, the image stays.
  rmdir "$C/vms/$src"
  wait_until 90 no_tombstones
  [ "$(cat "$MNT/images/$img/status/state")" = available ]
  mkdir "$C/vms/$new"
  echo tiny > "$C/vms/$new/offering"
  echo "$pool" > "$C/vms/$new/pool"
  echo "$img" > "$C/vms/$new/image"
  echo running > "$C/vms/$new/state"
  run timeout 180 cat "$C/vms/$new/wait"
  [ "$output" = running ]
  root=$(cat "$C/vms/$new/status/root-volume")
  echo stopped > "$C/vms/$new/state"
  timeout 120 cat "$C/vms/$new/wait"
  if [ "$pool" = local ]; then
    qread "$(vol_file "$root")" 0x22 -f qcow2
  else
    qread "rbd:$RPOOL/cfs-vol-$(uuid_of volume "$root"):conf=$CEPH_CONF" 0x22 -f raw
  fi
  rmdir "$C/vms/$new"
  wait_until 90 no_tombstones
  rmdir "$MNT/images/$img" "$MNT/images/b$pool"
  wait_until 90 no_tombstones
  [ ! -e "$f" ]
}

@test "dir pool: an image made from a stopped VM carries its root disk; the VM may go; a new VM gets the data" {
  vm_image_test local
}

@test "rbd pool: an image made from a stopped VM carries its root disk; the VM may go; a new VM gets the data" {
  need_rbd
  ceph_pool_ready
  vm_image_test ceph
}
