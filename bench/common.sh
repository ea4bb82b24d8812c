# Shared helpers for the benchmarks: a private store and mount, timing.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
CLOUDFS_BIN="${CLOUDFS_BIN:-$REPO/build/cloudfs}"
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS"

now_ns() { date +%s%N; }

# bench_mount URI [extra conf]: private store + mount under $BT.
bench_mount() {
  BT="$(mktemp -d /tmp/cfs-bench.XXXXXX)"
  mkdir -p "$BT/mnt"
  cat > "$BT/cloudfs.conf" <<CONF
store = "$BT/store.db";
hypervisor = "$1";
pool-path = "$BT/pool";
console-dir = "$BT/console";
image-dir = "$BT/images";
sync = "normal";
${2:-}
CONF
  "$CLOUDFS_BIN" -c "$BT/cloudfs.conf" mount -f "$BT/mnt" >"$BT/mount.log" 2>&1 &
  echo $! > "$BT/mount.pid"
  for _ in $(seq 1 100); do [ -e "$BT/mnt/version" ] && break; sleep 0.05; done
  BC="$BT/mnt/zones/default/clusters/default"
}

bench_reconciler() {
  "$CLOUDFS_BIN" -c "$BT/cloudfs.conf" reconcile -f >"$BT/reconcile.log" 2>&1 &
  echo $! > "$BT/reconcile.pid"
}

bench_cleanup() {
  [ -n "${BT:-}" ] || return 0
  if [ -f "$BT/reconcile.pid" ]; then kill "$(cat "$BT/reconcile.pid")" 2>/dev/null; sleep 0.5; fi
  fusermount3 -u "$BT/mnt" 2>/dev/null || fusermount3 -uz "$BT/mnt" 2>/dev/null
  local pid; pid=$(cat "$BT/mount.pid" 2>/dev/null)
  [ -n "$pid" ] && { sleep 0.3; kill "$pid" 2>/dev/null; }
  mountpoint -q "$BT/tmpfs" 2>/dev/null && umount "$BT/tmpfs"
  rm -rf "$BT"
}

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
p95() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.95); if (i<1) i=1; print a[i]}'; }

# row NAME OURS BASELINE_NAME BASELINE UNIT: print and append to the CSV.
row() {
  local ratio
  ratio=$(awk -v a="$2" -v b="$4" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
  printf '%-44s %12s %-28s %12s %6s  x%s\n' "$1" "$2" "$3" "$4" "$5" "$ratio"
  echo "$1,$2,$3,$4,$5,$ratio" >> "$CSV"
}
