#!/usr/bin/env bash
# Boot volumes, side by side in one run: time until a bootable 20G root
# volume made from a 1 GiB image is ready (mkdir + echo image + echo size,
# until `cat wait` returns), on a dir pool and on an rbd pool, against the
# tools alone: qemu-img create -b (dir) and rbd clone (rbd).  The pool's
# one-time copy of the image (its first use) is reported on its own row.
#   bench/storage.sh [RUNS]   (default 10; quick: 3); starts scripts/ceph-up.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 10)}"
csv_init storage
cleanup() {
  bench_cleanup
  bench_ceph_down
}
trap cleanup EXIT
bench_ceph_up cfsbench || exit 1
bench_mount "test:///default"
bench_reconciler

ms() { echo $(( ($2 - $1) / 1000000 )); }

# A 1 GiB qcow2 image holding 1 GiB of data.
qemu-img create -q -f qcow2 "$BT/image.qcow2" 1G
qemu-io -f qcow2 -c "write -P 0x33 0 1G" "$BT/image.qcow2" >/dev/null
mkdir "$BT/mnt/images/img"
echo "$BT/image.qcow2" > "$BT/mnt/images/img/source"
a=$(now_ns); timeout 300 cat "$BT/mnt/images/img/wait" >/dev/null; b=$(now_ns)
import_ms=$(ms "$a" "$b")
# The same work with the tools: a durable copy and its checksum.
a=$(now_ns); cp "$BT/image.qcow2" "$BT/copy.qcow2" && sha256sum "$BT/copy.qcow2" >/dev/null &&
  sync "$BT/copy.qcow2"; b=$(now_ns)
cp_ms=$(ms "$a" "$b")
rm -f "$BT/copy.qcow2"

mkdir "$BC/pools/ceph"
echo rbd > "$BC/pools/ceph/type"
echo "$CEPH_CONF" > "$BC/pools/ceph/ceph-conf"
echo "$RPOOL" > "$BC/pools/ceph/rbd-pool"
# Thin provisioning: the test cluster's OSD is a 2 GiB RAM store.
echo 100 > "$BC/pools/ceph/over-subscription"
timeout 60 cat "$BC/pools/ceph/wait" >/dev/null

# make_vol NAME POOL: ms until the boot volume is ready.
make_vol() {
  local a b
  a=$(now_ns)
  mkdir "$BC/volumes/$1"
  echo "$2" > "$BC/volumes/$1/pool"
  echo img > "$BC/volumes/$1/image"
  echo 20G > "$BC/volumes/$1/size"
  timeout 300 cat "$BC/volumes/$1/wait" >/dev/null || echo "volume $1 failed: $(cat "$BC/volumes/$1/status/error")" >&2
  b=$(now_ns)
  ms "$a" "$b"
}

first_dir=$(make_vol first-dir local)
first_rbd=$(make_vol first-rbd ceph)
base_file=$(ls "$BT/pool"/cfs-img-*.qcow2)
base_rbd=$(rbd -c "$CEPH_CONF" ls "$RPOOL" | grep cfs-img- | head -n1)

dir_ours=() dir_base=() rbd_ours=() rbd_base=()
for r in $(seq 1 "$RUNS"); do
  dir_ours+=("$(make_vol "d$r" local)")
  a=$(now_ns); qemu-img create -q -f qcow2 -b "$base_file" -F qcow2 "$BT/plain$r.qcow2" 20G; b=$(now_ns)
  dir_base+=("$(ms "$a" "$b")")
  rbd_ours+=("$(make_vol "r$r" ceph)")
  a=$(now_ns); rbd -c "$CEPH_CONF" clone "$RPOOL/$base_rbd@base" "$RPOOL/plain$r"; b=$(now_ns)
  rbd_base+=("$(ms "$a" "$b")")
done

echo "== storage: bootable 20G root volume from a 1 GiB image ($RUNS runs, medians, ms)"
row "image import into the catalogue (1 GiB)" "$import_ms" "cp + sha256sum + sync" "$cp_ms" ms
row "first boot volume on dir (incl. pool copy)" "$first_dir" "-" 0 ms
row "first boot volume on rbd (incl. pool copy)" "$first_rbd" "-" 0 ms
row "boot volume ready on a dir pool" "$(printf '%s\n' "${dir_ours[@]}" | median)" \
    "qemu-img create -b" "$(printf '%s\n' "${dir_base[@]}" | median)" ms
row "boot volume ready on an rbd pool" "$(printf '%s\n' "${rbd_ours[@]}" | median)" \
    "rbd clone" "$(printf '%s\n' "${rbd_base[@]}" | median)" ms
row "boot volume ready on a dir pool (p95)" "$(printf '%s\n' "${dir_ours[@]}" | p95)" \
    "qemu-img create -b (p95)" "$(printf '%s\n' "${dir_base[@]}" | p95)" ms
row "boot volume ready on an rbd pool (p95)" "$(printf '%s\n' "${rbd_ours[@]}" | p95)" \
    "rbd clone (p95)" "$(printf '%s\n' "${rbd_base[@]}" | p95)" ms
echo "results: $CSV"
