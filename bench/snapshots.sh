#!/usr/bin/env bash
# Disk snapshots and volumes made from them (issue 17), side by side in one
# run, against the tools alone on an identical disk:
#   (a) dir pool: a snapshot of a 20G volume with 1 GiB written (mkdir
#       snapshots/S until `cat wait` answers ready) vs `qemu-img snapshot -c`
#       on a copy of the volume's file;
#   (b) rbd pool: the same snapshot vs `rbd snap create` on the volume's image;
#   (c) rbd pool: a 20G volume made from that snapshot (mkdir, size, echo
#       VOL/SNAP > snapshot, until `cat wait` returns) vs `rbd snap protect`
#       + `rbd clone` of an equal snapshot;
#   (d) dir pool: the same vs `qemu-img convert -l snapshot.name=S` (a full
#       copy: a qcow2 internal snapshot cannot back another file).
# Whole-VM clones are measured by bench/clones.sh.  Each run takes a fresh snapshot and makes one volume
# from it (so every run pays the protect on rbd, as the baseline does), then
# removes both, untimed.  The order of ours and the baseline alternates.
#   bench/snapshots.sh [RUNS]   (default 10; quick: 3)
# RBD_WRITE (default 1G; quick 256M) is what is written into the rbd volume:
# the test cluster's OSD is a 2 GiB RAM store shared with the tests.
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 10)}"
RBD_WRITE="${RBD_WRITE:-$(quick && echo 256M || echo 1G)}"
csv_init snapshots
cleanup() {
  bench_cleanup
  bench_ceph_down
}
trap cleanup EXIT
bench_ceph_up cfsbsnap || exit 1
bench_mount "test:///default"
bench_reconciler
RBD() { rbd -c "$CEPH_CONF" "$@"; }
DB="$BT/store.db"

ms() { echo $(( ($2 - $1) / 1000000 )); }
die() { echo "snapshots: $*" >&2; exit 1; }
uuid_of() {
  sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='$1' AND name='$2' AND deleted=0"
}
snap_uuid() {
  sqlite3 "$DB" "SELECT s.uuid FROM resources s JOIN resources v ON v.id = s.parent
                 WHERE s.kind = 'snapshot' AND s.name = '$2' AND s.deleted = 0
                   AND v.kind = 'volume' AND v.name = '$1' AND v.deleted = 0"
}
# gone: every removal through the tree has finished (no tombstone left).
gone() {
  local _
  for _ in $(seq 1 600); do
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE deleted = 1")" = 0 ] && return 0
    sleep 0.2
  done
  die "removals through the tree did not finish: $(sqlite3 "$DB" "SELECT r.kind || ' ' || r.name ||
        ': ' || coalesce((SELECT value FROM status WHERE res = r.id AND name = 'error'), '')
        FROM resources r WHERE r.deleted = 1" | tr '\n' ';')"
}

# make_vol NAME POOL: a 20G volume, ready.
make_vol() {
  mkdir "$BC/volumes/$1"
  echo "$2" > "$BC/volumes/$1/pool"
  echo 20G > "$BC/volumes/$1/size"
  timeout 120 cat "$BC/volumes/$1/wait" >/dev/null ||
    die "volume $1: $(cat "$BC/volumes/$1/status/error")"
}

# snap_ms VOL SNAP: ms from mkdir until the snapshot's wait answers ready.
snap_ms() {
  local a b out
  a=$(now_ns)
  mkdir "$BC/volumes/$1/snapshots/$2"
  out=$(timeout 300 cat "$BC/volumes/$1/snapshots/$2/wait")
  b=$(now_ns)
  [ "$out" = ready ] || die "snapshot $1/$2: $out $(cat "$BC/volumes/$1/snapshots/$2/status/error")"
  ms "$a" "$b"
}

# clone_ms NEW VOL SNAP: ms until the 20G volume NEW made from VOL/SNAP is ready.
clone_ms() {
  local a b
  a=$(now_ns)
  mkdir "$BC/volumes/$1"
  echo 20G > "$BC/volumes/$1/size"
  echo "$2/$3" > "$BC/volumes/$1/snapshot"
  timeout 300 cat "$BC/volumes/$1/wait" >/dev/null
  b=$(now_ns)
  [ "$(sqlite3 "$DB" "SELECT s.value FROM status s JOIN resources r ON r.id = s.res
        WHERE r.kind = 'volume' AND r.name = '$1' AND r.deleted = 0 AND s.name = '_snapshot'")" = "$2/$3" ] &&
    [ "$(cat "$BC/volumes/$1/status/state")" = available ] ||
    die "volume $1 from $2/$3: $(cat "$BC/volumes/$1/status/state") $(cat "$BC/volumes/$1/status/error")"
  ms "$a" "$b"
}

# timed CMD...: ms the command took (it must succeed).
timed() {
  local a b
  a=$(now_ns)
  "$@" >/dev/null || die "failed: $*"
  b=$(now_ns)
  ms "$a" "$b"
}

# ---- the disks: 20G, 1 GiB written (dir), RBD_WRITE written (rbd)
mkdir "$BC/pools/ceph"
echo rbd > "$BC/pools/ceph/type"
echo "$CEPH_CONF" > "$BC/pools/ceph/ceph-conf"
echo "$RPOOL" > "$BC/pools/ceph/rbd-pool"
# Thin provisioning: the test cluster's OSD is a 2 GiB RAM store.
echo 100 > "$BC/pools/ceph/over-subscription"
timeout 180 cat "$BC/pools/ceph/wait" >/dev/null
make_vol dv local
make_vol rv ceph
dfile=$(cat "$BC/volumes/dv/status/path")
[ -f "$dfile" ] || die "no file for volume dv"
qemu-io -f qcow2 -c "write -P 0x33 0 1G" "$dfile" >/dev/null || die "qemu-io into $dfile"
# The baseline's disk: an identical qcow2 file in the same directory.
bfile="$BT/pool/plain.qcow2"
cp --sparse=always "$dfile" "$bfile"
sync "$bfile"   # else the first qemu-img snapshot -c pays cp's writeback
rimg="cfs-vol-$(uuid_of volume rv)"
qemu-io -f raw -c "write -P 0x33 0 $RBD_WRITE" "rbd:$RPOOL/$rimg:conf=$CEPH_CONF" >/dev/null ||
  die "qemu-io into $RPOOL/$rimg"
# The baseline's rbd side works on the same image (a second 1 GiB copy
# would not fit the test cluster), its own snapshots removed each run.

a_ours=() a_base=() b_ours=() b_base=() c_ours=() c_base=() d_ours=() d_base=()
# One run, ours and the baseline of each pool ($r: the run).
dir_ours() {
  local v u
  v=$(snap_ms dv "s$r") || exit 1; a_ours+=("$v")
  v=$(clone_ms "dc$r" dv "s$r") || exit 1; d_ours+=("$v")
  # Once: the snapshot is in the file when wait answers, the copy holds the data.
  if [ "$r" = 1 ]; then
    u=$(snap_uuid dv s1)
    [ -n "$u" ] && qemu-img snapshot -U -l "$dfile" | grep -q "cfs-snap-$u" ||
      die "snapshot s1 not in $dfile"
    qemu-io -r -U -f qcow2 -c "read -P 0x33 1023M 1M" "$(cat "$BC/volumes/dc1/status/path")" |
      grep -q "read 1048576/1048576" || die "volume dc1 lacks the snapshot's data"
  fi
}
dir_base() {
  local v
  v=$(timed qemu-img snapshot -c "p$r" "$bfile") || exit 1; a_base+=("$v")
  v=$(timed qemu-img convert -q -l "snapshot.name=p$r" -O qcow2 "$bfile" "$BT/pool/plain-c$r.qcow2") ||
    exit 1
  d_base+=("$v")
}
rbd_ours() {
  local v u
  v=$(snap_ms rv "s$r") || exit 1; b_ours+=("$v")
  v=$(clone_ms "rc$r" rv "s$r") || exit 1; c_ours+=("$v")
  if [ "$r" = 1 ]; then
    u=$(snap_uuid rv s1)
    [ -n "$u" ] && RBD snap ls "$RPOOL/$rimg" | grep -q "cfs-snap-$u" ||
      die "snapshot s1 not on $rimg"
    RBD info "$RPOOL/cfs-vol-$(uuid_of volume rc1)" | grep -q "parent: $RPOOL/$rimg@" ||
      die "volume rc1 is not a clone of $rimg"
  fi
}
rbd_base() {
  local v a b
  v=$(timed RBD snap create --no-progress "$RPOOL/$rimg@p$r") || exit 1; b_base+=("$v")
  a=$(now_ns)
  RBD snap protect "$RPOOL/$rimg@p$r" && RBD clone "$RPOOL/$rimg@p$r" "$RPOOL/plain-c$r" ||
    die "rbd protect + clone"
  b=$(now_ns)
  c_base+=("$(ms "$a" "$b")")
}
for r in $(seq 1 "$RUNS"); do
  # ours / baseline, alternating which goes first
  if [ $((r % 2)) = 1 ]; then
    dir_ours; dir_base; rbd_ours; rbd_base
  else
    dir_base; dir_ours; rbd_base; rbd_ours
  fi
  # Untimed: everything this run made goes (at most 5 snapshots a volume).
  rm -r "$BC/volumes/dc$r" "$BC/volumes/rc$r"
  gone
  rmdir "$BC/volumes/dv/snapshots/s$r" "$BC/volumes/rv/snapshots/s$r"
  rm -f "$BT/pool/plain-c$r.qcow2"
  qemu-img snapshot -d "p$r" "$bfile"
  RBD rm --no-progress "$RPOOL/plain-c$r" >/dev/null
  RBD snap unprotect "$RPOOL/$rimg@p$r" && RBD snap rm --no-progress "$RPOOL/$rimg@p$r" >/dev/null
  gone
done

med() { printf '%s\n' "$@" | median; }
rbdw=$(echo "$RBD_WRITE" | sed 's/G$/ GiB/; s/M$/ MiB/')
echo "== snapshots: 20G volumes, 1 GiB written (rbd: $rbdw) ($RUNS runs, medians, ms)"
row "snapshot of a 20G volume (1 GiB written) on dir" "$(med "${a_ours[@]}")" \
    "qemu-img snapshot -c" "$(med "${a_base[@]}")" ms
row "snapshot of a 20G volume ($rbdw written) on rbd" "$(med "${b_ours[@]}")" \
    "rbd snap create" "$(med "${b_base[@]}")" ms
row "volume from a snapshot on rbd (clone)" "$(med "${c_ours[@]}")" \
    "rbd snap protect + rbd clone" "$(med "${c_base[@]}")" ms
row "volume from a snapshot on dir (1 GiB copy)" "$(med "${d_ours[@]}")" \
    "qemu-img convert -l snapshot.name" "$(med "${d_base[@]}")" ms
echo "runs (ours | baseline): a ${a_ours[*]} | ${a_base[*]}; b ${b_ours[*]} | ${b_base[*]};" \
     "c ${c_ours[*]} | ${c_base[*]}; d ${d_ours[*]} | ${d_base[*]}"
# The tree's objects go through the tree before the mount stops.
rm -r "$BC/volumes/dv" "$BC/volumes/rv"
gone
rm -f "$bfile"
echo "results: $CSV"
