#!/usr/bin/env bash
# Live migration between real libvirtd hosts of the multi-host rig
# (scripts/hosts-up.sh 2): a tiny TCG guest (scripts/tiny-guest.sh, counting once a
# second on its console and its disk) moved back and forth h1 <-> h2 with
# `virsh migrate --live --persistent --undefinesource`, RUNS times, once with its
# disk on an rbd pool of the throwaway Ceph cluster and once with a qcow2 on the
# rig's shared directory. Rows: the wall time of `virsh migrate` and the downtime
# libvirt reports (domjobinfo --completed on the target), medians.
# The cloudfs column: the same guest with its root disk on an rbd pool, and on a dir
# pool in the shared directory (pool attribute shared on), moved h1 <-> h2 RUNS times
# through the tree (`echo hN > vms/X/host`): the time from the write to status/host
# naming the target with status/state running, and the downtime status/migration
# reports (libvirt's). bench/migration.sh measures diskless moves.
#   bench/migrate.sh [RUNS]     (default 5; quick: 3); starts scripts/ceph-up.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 5)}"
csv_init migrate
GUEST=/var/cache/cloudfs-test/tinyguest-counter    # as tests/66-hosts-rig.bats
RPOOL="cfsbenchmig$$"
RIG=""
started_ceph=""
W="$(mktemp -d /tmp/cfs-bench-mig.XXXXXX)"
cleanup() {
  bench_cleanup
  [ -n "$RIG" ] && "$REPO/scripts/hosts-down.sh" "$RIG"
  # (retried: a busy monitor now and then answers EPERM, see scripts/ceph-up.sh)
  if [ -n "${CEPH_CONF:-}" ]; then
    for _ in 1 2 3 4 5; do
      ceph -c "$CEPH_CONF" osd pool delete "$RPOOL" "$RPOOL" --yes-i-really-really-mean-it \
        >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  [ -n "$started_ceph" ] && "$REPO/scripts/ceph-down.sh"
  rm -rf "$W"
}
trap cleanup EXIT

"$REPO/scripts/libvirt-up.sh" >/dev/null || exit 1     # the user libvirt-qemu
"$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null || exit 1
started_ceph="$("$REPO/scripts/ceph-up.sh")" || exit 1
CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf)" || exit 1
ceph -c "$CEPH_CONF" osd pool create "$RPOOL" 8 >/dev/null 2>&1
rbd -c "$CEPH_CONF" pool init "$RPOOL" || exit 1
rbd -c "$CEPH_CONF" create --size 16M "$RPOOL/disk" || exit 1
RIG="$("$REPO/scripts/hosts-up.sh" 2)" || { RIG=""; exit 1; }
. "$RIG/rig.env"
qemu-img create -q -f qcow2 "$RIG_SHARED/disk.qcow2" 16M
U=("" "$(cat "$RIG/h1/uri")" "$(cat "$RIG/h2/uri")")

last_count() { grep -a '^TINYGUEST COUNT ' "$1" 2>/dev/null | tail -n1 | cut -d' ' -f3; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
declare -A VW VD CW CD     # medians by label: virsh wall/downtime, cloudfs time/downtime

# measure LABEL DISK [VIRSH-FLAG]: boot a guest on h1, migrate it RUNS times, one row each.
measure() {
  local label=$1 disk=$2 flag=${3:-} dom="cfsbench-$RIG_TAG-$1" from=1 to=2 r a b n
  local -a wall=() down=()
  "$REPO/scripts/tiny-guest-domain.sh" "$dom" "$GUEST" "$W/$label.log" "$disk" >"$W/$label.xml"
  virsh -q -c "${U[1]}" define "$W/$label.xml" >/dev/null || return 1
  virsh -q -c "${U[1]}" start "$dom" >/dev/null || return 1
  for _ in $(seq 1 900); do [ "$(last_count "$W/$label.log")" -ge 2 ] 2>/dev/null && break; sleep 0.2; done
  [ "$(last_count "$W/$label.log")" -ge 2 ] 2>/dev/null || { echo "$label: the guest did not boot" >&2; return 1; }
  for r in $(seq 1 "$RUNS"); do
    a=$(now_ns)
    virsh -q -c "${U[$from]}" migrate --live $flag --persistent --undefinesource "$dom" "${U[$to]}" ||
      { echo "$label: migration $r failed" >&2; return 1; }
    b=$(now_ns)
    wall+=($(( (b - a) / 1000000 )))
    down+=("$(virsh -q -c "${U[$to]}" domjobinfo --completed "$dom" | awk '/^Total downtime:/ { print $3 }')")
    n=$(( from )); from=$to; to=$n
    sleep 1
  done
  # The guest never restarted: one boot on its console.
  [ "$(grep -ac '^TINYGUEST COUNTER START' "$W/$label.log")" = 1 ] || { echo "$label: the guest restarted" >&2; return 1; }
  virsh -q -c "${U[$from]}" destroy "$dom" >/dev/null
  virsh -q -c "${U[$from]}" undefine "$dom" >/dev/null
  VW[$label]=$(printf '%s\n' "${wall[@]}" | median)
  VD[$label]=$(printf '%s\n' "${down[@]}" | median)
  echo "virsh p95 ($label): time $(printf '%s\n' "${wall[@]}" | p95) ms, downtime $(printf '%s\n' "${down[@]}" | p95) ms"
}

# measure_tree LABEL POOL: a VM of the tree with its root disk in POOL, booted on h1,
# moved h1 <-> h2 RUNS times by writing its host.
measure_tree() {
  local label=$1 X="$BC/vms/bm-$1" to=2 a
  local -a wall=() down=()
  mkdir "$X"
  echo b128 > "$X/offering"
  echo bmbase > "$X/image"
  echo "$2" > "$X/pool"
  echo 20G > "$X/root-size"
  echo "$GUEST/vmlinuz" > "$X/kernel"
  echo "$GUEST/initrd.gz" > "$X/initrd"
  echo "console=ttyS0 panic=-1 tinyguest.counter" > "$X/cmdline"
  echo h1 > "$X/host"
  echo running > "$X/state"
  for _ in $(seq 1 900); do [ "$(cat "$X/status/state")" = running ] && break; sleep 0.2; done
  for _ in $(seq 1 900); do [ "$(last_count "$(cat "$X/status/console")")" -ge 2 ] 2>/dev/null && break; sleep 0.2; done
  [ "$(last_count "$(cat "$X/status/console")")" -ge 2 ] 2>/dev/null ||
    { echo "$label (tree): the guest did not boot: $(cat "$X/status/error")" >&2; return 1; }
  for _ in $(seq 1 "$RUNS"); do
    a=$(now_ns)
    echo "h$to" > "$X/host"
    for _ in $(seq 1 2400); do
      [ "$(cat "$X/status/host")" = "h$to" ] && [ "$(cat "$X/status/state")" = running ] && break
      sleep 0.05
    done
    [ "$(cat "$X/status/host")" = "h$to" ] ||
      { echo "$label (tree): migration failed: $(cat "$X/status/error")" >&2; return 1; }
    wall+=("$(ms_since "$a")")
    down+=("$(sed -n 's/.*downtime \([0-9]*\) ms$/\1/p' "$X/status/migration")")
    to=$(( 3 - to ))
    sleep 1
  done
  [ "$(grep -ac '^TINYGUEST COUNTER START' "$(cat "$X/status/console")")" = 1 ] ||
    { echo "$label (tree): the guest restarted" >&2; return 1; }
  echo stopped > "$X/state"
  for _ in $(seq 1 300); do [ "$(cat "$X/status/state")" = stopped ] && break; sleep 0.2; done
  CW[$label]=$(printf '%s\n' "${wall[@]}" | median)
  CD[$label]=$(printf '%s\n' "${down[@]}" | median)
  echo "cloudfs p95 ($label): time $(printf '%s\n' "${wall[@]}" | p95) ms, downtime $(printf '%s\n' "${down[@]}" | p95) ms"
}

echo "machine: $(nproc) cores, KVM: $([ -e /dev/kvm ] && echo yes || echo no), load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS migrations each"
rc=0
measure rbd "rbd:$RPOOL/disk" || rc=1
# --unsafe: the shared directory is one local filesystem every host sees; libvirt 9.0
# cannot tell it is shared (README, "A multi-host rig"); the tree's dir pool says so
# with its attribute shared, and cloudfs passes the same flag.
measure shared-dir "file:$RIG_SHARED/disk.qcow2" --unsafe || rc=1

# --- cloudfs: the same guests, with root disks in the tree's pools ---
bench_mount test:///default "allow-test-uri = true; default-subnet = \"\"; resync-interval = 5;"
bench_reconciler
bench_rig_hosts h1 h2
mkdir "$BT/mnt/offerings/b128"; echo 1 > "$BT/mnt/offerings/b128/cpus"; echo 128M > "$BT/mnt/offerings/b128/memory"
mkdir "$BC/pools/bm-rbd"
echo rbd > "$BC/pools/bm-rbd/type"
echo "$CEPH_CONF" > "$BC/pools/bm-rbd/ceph-conf"
echo "$RPOOL" > "$BC/pools/bm-rbd/rbd-pool"
mkdir -p "$RIG_SHARED/pool" "$BC/pools/bm-dir"
echo "$RIG_SHARED/pool" > "$BC/pools/bm-dir/path"
echo on > "$BC/pools/bm-dir/shared"
for p in bm-rbd bm-dir; do echo 1000 > "$BC/pools/$p/over-subscription"; done   # 20G sparse disks
qemu-img create -q -f qcow2 "$W/base.qcow2" 16M
mkdir "$BT/mnt/images/bmbase"
echo "$W/base.qcow2" > "$BT/mnt/images/bmbase/source"
timeout 120 cat "$BT/mnt/images/bmbase/wait" >/dev/null
measure_tree rbd bm-rbd || rc=1
measure_tree shared-dir bm-dir || rc=1

header
for label in rbd shared-dir; do
  row "live migration 128M TCG guest ($label disk): time" "${CW[$label]:-n/a}" \
      "virsh migrate --live (wall)" "${VW[$label]:-n/a}" ms
  row "live migration 128M TCG guest ($label disk): downtime" "${CD[$label]:-n/a}" \
      "virsh migrate --live (libvirt)" "${VD[$label]:-n/a}" ms
done
exit "$rc"
