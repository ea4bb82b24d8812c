#!/usr/bin/env bash
# Live migration between real libvirtd hosts of the multi-host rig
# (scripts/hosts-up.sh 2): a tiny TCG guest (scripts/tiny-guest.sh, counting once a
# second on its console and its disk) moved back and forth h1 <-> h2 with
# `virsh migrate --live --persistent --undefinesource`, RUNS times, once with its
# disk on an rbd pool of the throwaway Ceph cluster and once with a qcow2 on the
# rig's shared directory. Rows: the wall time of `virsh migrate` and the downtime
# libvirt reports (domjobinfo --completed on the target), medians.
# These are the baselines for cloudfs's own migration (writing `host` of a running
# VM with disks): its column says n/a; bench/migration.sh measures diskless moves.
#   bench/migrate.sh [RUNS]     (default 10; quick: 3); starts scripts/ceph-up.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 10)}"
csv_init migrate
GUEST=/var/cache/cloudfs-test/tinyguest-counter    # as tests/66-hosts-rig.bats
RPOOL="cfsbenchmig$$"
RIG=""
started_ceph=""
W="$(mktemp -d /tmp/cfs-bench-mig.XXXXXX)"
cleanup() {
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
  row "live migration tiny TCG guest ($label): time" n/a "virsh migrate --live (wall)" \
      "$(printf '%s\n' "${wall[@]}" | median)" ms
  row "live migration tiny TCG guest ($label): downtime" n/a "virsh migrate --live (libvirt)" \
      "$(printf '%s\n' "${down[@]}" | median)" ms
  echo "p95 ($label): time $(printf '%s\n' "${wall[@]}" | p95) ms, downtime $(printf '%s\n' "${down[@]}" | p95) ms"
}

echo "machine: $(nproc) cores, KVM: $([ -e /dev/kvm ] && echo yes || echo no); $RUNS migrations each"
header
rc=0
measure rbd "rbd:$RPOOL/disk" || rc=1
# --unsafe: the shared directory is one local filesystem every host sees; libvirt 9.0
# cannot tell it is shared (README, "A multi-host rig").
measure shared-dir "file:$RIG_SHARED/disk.qcow2" --unsafe || rc=1
exit "$rc"
