#!/usr/bin/env bash
# Compute latencies on qemu:///system, side by side in one run:
#  - echo running > state until the domain runs, against virsh start of an
#    equivalent domain (both timed until virsh domstate says running);
#  - out-of-band virsh destroy until status/state says stopped.
#   bench/lifecycle.sh [RUNS]    (default 10); needs libvirtd (scripts/libvirt-up.sh)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-10}"
CSV="$RESULTS/lifecycle-$(date +%Y%m%d-%H%M%S).csv"
echo "name,ours,baseline,baseline_value,unit,ratio" > "$CSV"
V="virsh -q -c qemu:///system"
trap '[ -n "${dom:-}" ] && { $V destroy "$dom"; $V undefine "$dom"; } >/dev/null 2>&1; bench_cleanup; $V destroy cfs-bench-plain >/dev/null 2>&1; $V undefine cfs-bench-plain >/dev/null 2>&1' EXIT

"$REPO/scripts/libvirt-up.sh" || exit 1
bench_mount "qemu:///system" "stop-timeout = 1; resync-interval = 30;"
bench_reconciler
mkdir "$BT/mnt/offerings/tiny"
echo 64M > "$BT/mnt/offerings/tiny/memory"
mkdir "$BC/vms/b1"
echo tiny > "$BC/vms/b1/offering"
# A first start defines the domain and warms QEMU's capability cache.
echo running > "$BC/vms/b1/state"
for _ in $(seq 1 300); do [ "$(cat "$BC/vms/b1/status/state")" = running ] && break; sleep 0.05; done
dom=$(cat "$BC/vms/b1/status/domain")
$V dumpxml --inactive "$dom" | sed -e "s/<name>.*<\/name>/<name>cfs-bench-plain<\/name>/" -e "/<uuid>/d" \
    -e "s|/console/[^']*\.log|/console/plain.log|g" > "$BT/plain.xml"
$V define "$BT/plain.xml" >/dev/null

wait_dom() { while [ "$($V domstate "$1")" != "$2" ]; do :; done; }
wait_file() { while [ "$(cat "$1")" != "$2" ]; do :; done; }

ours=() base=() drift=() destroy=()
for r in $(seq 1 "$RUNS"); do
  echo poweroff > "$BC/vms/b1/ctl"
  wait_file "$BC/vms/b1/status/state" stopped
  a=$(now_ns); echo running > "$BC/vms/b1/state"; wait_dom "$dom" running; b=$(now_ns)
  ours+=($(( (b - a) / 1000000 )))
  wait_file "$BC/vms/b1/status/state" running

  a=$(now_ns); $V start cfs-bench-plain >/dev/null; wait_dom cfs-bench-plain running; b=$(now_ns)
  base+=($(( (b - a) / 1000000 )))
  $V destroy cfs-bench-plain >/dev/null

  a=$(now_ns); $V destroy "$dom" >/dev/null; b=$(now_ns)
  wait_file "$BC/vms/b1/status/state" stopped; c=$(now_ns)
  drift+=($(( (c - a) / 1000000 )))
  destroy+=($(( (b - a) / 1000000 )))
  echo stopped > "$BC/vms/b1/state"
  wait_file "$BC/vms/b1/status/state" stopped
  echo running > "$BC/vms/b1/state"
  wait_file "$BC/vms/b1/status/state" running
done

echo "machine: $(nproc) cores, KVM: $([ -e /dev/kvm ] && echo yes || echo no); $RUNS runs"
printf '%-44s %12s %-28s %12s %6s  %s\n' "measure (median)" "cloudfs" "baseline" "value" "unit" "ratio"
row "echo running > state -> domain running" "$(printf '%s\n' "${ours[@]}" | median)" \
    "virsh start" "$(printf '%s\n' "${base[@]}" | median)" ms
row "virsh destroy -> status/state stopped" "$(printf '%s\n' "${drift[@]}" | median)" \
    "virsh destroy returns" "$(printf '%s\n' "${destroy[@]}" | median)" ms
echo "p95: start $(printf '%s\n' "${ours[@]}" | p95) ms, virsh start $(printf '%s\n' "${base[@]}" | p95) ms, destroy->status $(printf '%s\n' "${drift[@]}" | p95) ms"
echo "results: $CSV"
