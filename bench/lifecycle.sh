#!/usr/bin/env bash
# Compute latencies on qemu:///system, side by side in one run:
#  - echo running > state until the domain runs, against virsh start of an
#    equivalent domain (both timed until virsh domstate says running);
#  - out-of-band virsh destroy until status/state says stopped;
# first idle, then under a background load of LOAD spec changes per second
# (default 1000) written by a shell through the mount to 50 other VMs.
#   bench/lifecycle.sh [RUNS [LOAD]]    (default 10 1000; quick: 5);
#   needs libvirtd (scripts/libvirt-up.sh)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 5 || echo 10)}"
LOAD="${2:-1000}"
csv_init lifecycle
V="virsh -q -c qemu:///system"
PLAIN="cfs-bench-plain-$$"
LOAD_PID=""
trap '[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null; [ -n "${dom:-}" ] && { $V destroy "$dom"; $V undefine "$dom"; } >/dev/null 2>&1; $V destroy $PLAIN >/dev/null 2>&1; $V undefine $PLAIN >/dev/null 2>&1; bench_cleanup' EXIT

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
# The copy's NIC (the default VPC's) gets its own MAC and tap device from
# libvirt: both domains run at once.
$V dumpxml --inactive "$dom" | sed -e "s/<name>.*<\/name>/<name>$PLAIN<\/name>/" -e "/<uuid>/d" \
    -e "s|/console/[^']*\.log|/console/plain.log|g" -e "/<mac address=/d" \
    -e "/<target dev='cfst/d" > "$BT/plain.xml"
$V define "$BT/plain.xml" >/dev/null

wait_dom() { while [ "$($V domstate "$1")" != "$2" ]; do :; done; }
wait_file() { while [ "$(cat "$1")" != "$2" ]; do :; done; }

# Background load: RATE description writes per second, paced by the clock,
# until killed; the count lands in $BT/load.count.
for i in $(seq 1 50); do mkdir "$BC/vms/bg$i"; done
load_gen() {
  local rate="$1" n=0 start now due
  start=$(now_ns)
  trap 'echo "$n $start $(now_ns)" > "$BT/load.count"; exit 0' TERM
  while :; do
    echo "d$n" > "$BC/vms/bg$((n % 50 + 1))/description"
    n=$((n + 1))
    if [ $((n % 20)) = 0 ]; then
      now=$(now_ns)
      due=$(( start + n * 1000000000 / rate ))
      [ "$now" -lt "$due" ] && sleep "$(awk -v d=$((due - now)) 'BEGIN {printf "%.4f", d / 1e9}')"
    fi
  done
}

measure() {
  local label="$1" r a b c
  ours=() base=() drift=() destroy=()
  for r in $(seq 1 "$RUNS"); do
    echo poweroff > "$BC/vms/b1/ctl"
    wait_file "$BC/vms/b1/status/state" stopped
    a=$(now_ns); echo running > "$BC/vms/b1/state"; wait_dom "$dom" running; b=$(now_ns)
    ours+=($(( (b - a) / 1000000 )))
    wait_file "$BC/vms/b1/status/state" running

    a=$(now_ns); $V start $PLAIN >/dev/null || exit 1; wait_dom $PLAIN running; b=$(now_ns)
    base+=($(( (b - a) / 1000000 )))
    $V destroy $PLAIN >/dev/null

    a=$(now_ns); $V destroy "$dom" >/dev/null; b=$(now_ns)
    wait_file "$BC/vms/b1/status/state" stopped; c=$(now_ns)
    drift+=($(( (c - a) / 1000000 )))
    destroy+=($(( (b - a) / 1000000 )))
    echo stopped > "$BC/vms/b1/state"
    wait_file "$BC/vms/b1/status/state" stopped
    echo running > "$BC/vms/b1/state"
    wait_file "$BC/vms/b1/status/state" running
  done
  row "echo running > state -> domain running$label" "$(printf '%s\n' "${ours[@]}" | median)" \
      "virsh start" "$(printf '%s\n' "${base[@]}" | median)" ms
  row "virsh destroy -> status/state stopped$label" "$(printf '%s\n' "${drift[@]}" | median)" \
      "virsh destroy returns" "$(printf '%s\n' "${destroy[@]}" | median)" ms
  echo "p95$label: start $(printf '%s\n' "${ours[@]}" | p95) ms, virsh start $(printf '%s\n' "${base[@]}" | p95) ms, destroy->status $(printf '%s\n' "${drift[@]}" | p95) ms"
}

echo "machine: $(nproc) cores, KVM: $([ -e /dev/kvm ] && echo yes || echo no); $RUNS runs"
header
measure " (idle)"
load_gen "$LOAD" &
LOAD_PID=$!
sleep 1
measure " (under load)"
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=""
read -r n t0 t1 < "$BT/load.count"
row "background spec writes achieved during (under load)" "$(( n * 1000000000 / (t1 - t0) ))" "target" "$LOAD" "/s"
