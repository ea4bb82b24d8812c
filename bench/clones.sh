#!/usr/bin/env bash
# Whole-VM clones (issue 17), side by side in one run, against the storage
# tools alone on the same disk:
#   (a) dir pool: `mkdir vms/B; echo A > vms/B/from; echo running >
#       vms/B/state` until `cat vms/B/wait` answers running, A being a stopped
#       VM whose 20G root disk holds 1 GiB, vs `qemu-img snapshot -c` +
#       `qemu-img convert -l snapshot.name=S` (the full copy a dir pool makes:
#       a qcow2 internal snapshot cannot back another file);
#   (b) rbd pool: the same vs `rbd snap create` + `rbd snap protect` +
#       `rbd clone` of A's root image.
# The clones run on qemu:///system (TCG, 64M, a disk without an OS: QEMU
# starts and stays in its firmware), so ours includes defining and starting a
# domain, which the baseline does not: the ratio is an upper bound of the
# cost of going through the tree.  (libvirt's test driver cannot attach
# disks, so it cannot stand in here.)
# Each run makes one clone and removes it (untimed: at most 5 snapshots a
# volume, and a clone holds one of its source's).  The order of ours and the
# baseline alternates.
#   bench/clones.sh [RUNS]   (default 10; quick: 3)
# RBD_WRITE (default 1G; quick 256M): what is written into the rbd root disk.
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 10)}"
RBD_WRITE="${RBD_WRITE:-$(quick && echo 256M || echo 1G)}"
csv_init clones
cleanup() {
  bench_cleanup
  bench_ceph_down
}
trap cleanup EXIT
bench_ceph_up cfsbclone || exit 1
bench_mount "qemu:///system" "stop-timeout = 0;"
bench_reconciler
for _ in $(seq 1 100); do [ "$(cat "$BC/hosts/local/status/connection")" = connected ] && break; sleep 0.1; done
# TCG: the clone's QEMU starts (and sits in its firmware: the disk holds no OS).
echo qemu > "$BC/hosts/local/domain-type"
RBD() { rbd -c "$CEPH_CONF" "$@"; }
DB="$BT/store.db"

ms() { echo $(( ($2 - $1) / 1000000 )); }
die() { echo "clones: $*" >&2; exit 1; }
uuid_of() {
  sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='$1' AND name='$2' AND deleted=0"
}
# gone: every removal through the tree has finished (no tombstone left).
gone() {
  local _
  for _ in $(seq 1 600); do
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE deleted = 1")" = 0 ] && return 0
    sleep 0.2
  done
  die "removals through the tree did not finish"
}
# state_to VM STATE: write it and wait for the reconciler's answer.
state_to() {
  local out
  echo "$2" > "$BC/vms/$1/state"
  out=$(timeout 300 cat "$BC/vms/$1/wait")
  [ "$out" = "$2" ] || die "vm $1: $out $(cat "$BC/vms/$1/status/error")"
}

# clone_ms NEW SRC: ms from mkdir until the clone runs.
clone_ms() {
  local a b
  a=$(now_ns)
  mkdir "$BC/vms/$1"
  echo "$2" > "$BC/vms/$1/from" || die "clone $1 of $2: $(cat "$BC/vms/$1/status/error")"
  state_to "$1" running
  b=$(now_ns)
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

# ---- the sources: a stopped VM per pool, 20G root disk with data written
qemu-img create -q -f qcow2 "$BT/base.qcow2" 1G
mkdir "$BT/mnt/images/base"
echo "$BT/base.qcow2" > "$BT/mnt/images/base/source"
timeout 120 cat "$BT/mnt/images/base/wait" >/dev/null || die "image base"
mkdir "$BT/mnt/offerings/tiny"
echo 1 > "$BT/mnt/offerings/tiny/cpus"
echo 64M > "$BT/mnt/offerings/tiny/memory"
mkdir "$BC/pools/ceph"
echo rbd > "$BC/pools/ceph/type"
echo "$CEPH_CONF" > "$BC/pools/ceph/ceph-conf"
echo "$RPOOL" > "$BC/pools/ceph/rbd-pool"
# Thin provisioning: the test cluster's OSD is a 2 GiB RAM store.
echo 100 > "$BC/pools/ceph/over-subscription"
timeout 180 cat "$BC/pools/ceph/wait" >/dev/null
make_src() {
  mkdir "$BC/vms/$1"
  echo tiny > "$BC/vms/$1/offering"
  echo base > "$BC/vms/$1/image"
  echo 20G > "$BC/vms/$1/root-size"
  [ -n "$2" ] && echo "$2" > "$BC/vms/$1/pool"
  state_to "$1" running
  state_to "$1" stopped
}
make_src da ""
make_src ra ceph
dfile=$(cat "$BC/volumes/da-root/status/path")
[ -f "$dfile" ] || die "no file for volume da-root"
qemu-io -f qcow2 -c "write -P 0x33 0 1G" "$dfile" >/dev/null || die "qemu-io into $dfile"
bfile="$BT/pool/plain.qcow2"
cp --sparse=always "$dfile" "$bfile"
sync "$bfile"
rimg="cfs-vol-$(uuid_of volume ra-root)"
qemu-io -f raw -c "write -P 0x33 0 $RBD_WRITE" "rbd:$RPOOL/$rimg:conf=$CEPH_CONF" >/dev/null ||
  die "qemu-io into $RPOOL/$rimg"

a_ours=() a_base=() b_ours=() b_base=()
dir_ours() {
  local v
  v=$(clone_ms "dc$r" da) || exit 1; a_ours+=("$v")
  if [ "$r" = 1 ]; then
    qemu-io -r -U -f qcow2 -c "read -P 0x33 1023M 1M" "$(cat "$BC/volumes/dc1-root/status/path")" |
      grep -q "read 1048576/1048576" || die "clone dc1 lacks the source's data"
  fi
}
dir_base() {
  local a b
  a=$(now_ns)
  qemu-img snapshot -c "p$r" "$bfile" &&
    qemu-img convert -q -l "snapshot.name=p$r" -O qcow2 "$bfile" "$BT/pool/plain-c$r.qcow2" ||
    die "qemu-img snapshot + convert"
  b=$(now_ns)
  a_base+=("$(ms "$a" "$b")")
}
rbd_ours() {
  local v
  v=$(clone_ms "rc$r" ra) || exit 1; b_ours+=("$v")
  if [ "$r" = 1 ]; then
    RBD info "$RPOOL/cfs-vol-$(uuid_of volume rc1-root)" | grep -q "parent: $RPOOL/$rimg@" ||
      die "clone rc1's root is not an RBD clone of $rimg"
  fi
}
rbd_base() {
  local a b
  a=$(now_ns)
  RBD snap create --no-progress "$RPOOL/$rimg@p$r" && RBD snap protect "$RPOOL/$rimg@p$r" &&
    RBD clone "$RPOOL/$rimg@p$r" "$RPOOL/plain-c$r" || die "rbd snap + protect + clone"
  b=$(now_ns)
  b_base+=("$(ms "$a" "$b")")
}
for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) = 1 ]; then
    dir_ours; dir_base; rbd_ours; rbd_base
  else
    dir_base; dir_ours; rbd_base; rbd_ours
  fi
  # Untimed: the clones and the baseline's copies go.
  state_to "dc$r" stopped
  state_to "rc$r" stopped
  rmdir "$BC/vms/dc$r" "$BC/vms/rc$r"
  gone
  rm -f "$BT/pool/plain-c$r.qcow2"
  qemu-img snapshot -d "p$r" "$bfile"
  RBD rm --no-progress "$RPOOL/plain-c$r" >/dev/null
  RBD snap unprotect "$RPOOL/$rimg@p$r" && RBD snap rm --no-progress "$RPOOL/$rimg@p$r" >/dev/null
  # The sources' clone snapshots go once their children are gone.
  for _ in $(seq 1 300); do
    [ -z "$(ls "$BC/volumes/da-root/snapshots")" ] && [ -z "$(ls "$BC/volumes/ra-root/snapshots")" ] && break
    sleep 0.2
  done
done

med() { printf '%s\n' "$@" | median; }
rbdw=$(echo "$RBD_WRITE" | sed 's/G$/ GiB/; s/M$/ MiB/')
echo "== clones: a stopped VM with a 20G root disk, 1 GiB written (rbd: $rbdw) ($RUNS runs, medians, ms)"
row "clone of a VM until it runs on dir (full copy)" "$(med "${a_ours[@]}")" \
    "qemu-img snapshot -c + convert" "$(med "${a_base[@]}")" ms
row "clone of a VM until it runs on rbd (RBD clone)" "$(med "${b_ours[@]}")" \
    "rbd snap create + protect + clone" "$(med "${b_base[@]}")" ms
