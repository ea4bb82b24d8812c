#!/usr/bin/env bash
# ls -l of a collection of N VMs and a single-attribute read, through the
# mount, against the same on tmpfs (same shape) measured in the same run.
#   bench/tree.sh [N]      (default 10000)
set -uo pipefail
. "$(dirname "$0")/common.sh"
N="${1:-10000}"
CSV="$RESULTS/tree-$(date +%Y%m%d-%H%M%S).csv"
echo "name,ours,baseline,baseline_value,unit,ratio" > "$CSV"
trap bench_cleanup EXIT

bench_mount "test:///default"
mkdir -p "$BT/tmpfs" && mount -t tmpfs none "$BT/tmpfs"
mkdir -p "$BT/tmpfs/vms"

t0=$(now_ns)
for i in $(seq 1 "$N"); do mkdir "$BC/vms/vm$i"; done
t1=$(now_ns)
for i in $(seq 1 "$N"); do
  mkdir "$BT/tmpfs/vms/vm$i"
  for f in state offering image root-size pool host ha hostname password user-data kernel initrd cmdline description ctl; do
    : > "$BT/tmpfs/vms/vm$i/$f"
  done
  mkdir "$BT/tmpfs/vms/vm$i/status" "$BT/tmpfs/vms/vm$i/volumes"
done
echo "stopped" > "$BT/tmpfs/vms/vm1/state"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; N=$N VMs"
printf '%-44s %12s %-28s %12s %6s  %s\n' "measure" "cloudfs" "baseline" "value" "unit" "ratio"
row "mkdir of $N VMs (per VM)" "$(( (t1 - t0) / N / 1000 ))" "-" 0 us

ls_time() {  # median of 5 warm runs of ls -l, in ms
  local d="$1" i
  ls -l "$d" > /dev/null
  for i in 1 2 3 4 5; do
    local a b; a=$(now_ns); ls -l "$d" > /dev/null; b=$(now_ns)
    echo $(( (b - a) / 1000000 ))
  done | median
}
row "ls -l vms/ ($N entries)" "$(ls_time "$BC/vms")" "tmpfs" "$(ls_time "$BT/tmpfs/vms")" ms

read_time() {  # per read via the shell builtin (open+read+close, no fork), in us
  local f="$1" n=20000 i v a b
  a=$(now_ns); for ((i = 0; i < n; i++)); do read -r v < "$f"; done; b=$(now_ns)
  echo $(( (b - a) / n / 1000 ))
}
row "read vms/vm1/state (open+read+close)" "$(read_time "$BC/vms/vm1/state")" "tmpfs" "$(read_time "$BT/tmpfs/vms/vm1/state")" us
echo "results: $CSV"
