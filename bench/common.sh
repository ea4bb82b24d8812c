# Shared helpers for the benchmarks: a private store and mount, timing.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
BUILD="${BUILD_DIR:-$REPO/build}"
CLOUDFS_BIN="${CLOUDFS_BIN:-$BUILD/cloudfs}"
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS"

now_ns() { date +%s%N; }

# Scale: BENCH_SCALE=quick (make bench QUICK=1) shrinks the big scenarios
# tenfold; the table says which scale ran.
BENCH_SCALE="${BENCH_SCALE:-full}"
quick() { [ "$BENCH_SCALE" = quick ]; }

# The CSV every scenario appends to: bench/run.sh sets BENCH_CSV for the
# merged table; a scenario run alone writes its own file.
csv_init() {
  CSV="${BENCH_CSV:-$RESULTS/$1-$(date +%Y%m%d-%H%M%S).csv}"
  [ -s "$CSV" ] || echo "name,ours,baseline,baseline_value,unit,ratio" > "$CSV"
}

# Resident memory of a process in kB.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# bench_mount URI [extra conf]: private store + mount under $BT.  A setting
# of the extra conf replaces the default one (a setting twice is refused).
bench_mount() {
  BT="$(mktemp -d /tmp/cfs-bench.XXXXXX)"
  mkdir -p "$BT/mnt"
  local extra="${2:-}" line
  while IFS= read -r line; do
    [[ "$extra" =~ (^|[[:space:]\;])"${line%% =*}"[[:space:]]*= ]] || echo "$line"
  done > "$BT/cloudfs.conf" <<CONF
store = "$BT/store.db";
hypervisor = "$1";
pool-path = "$BT/pool";
console-dir = "$BT/console";
image-dir = "$BT/images";
seed-dir = "$BT/seed";
sync = "normal";
CONF
  echo "$extra" >> "$BT/cloudfs.conf"
  "$CLOUDFS_BIN" -c "$BT/cloudfs.conf" mount -f "$BT/mnt" >"$BT/mount.log" 2>&1 &
  echo $! > "$BT/mount.pid"
  for _ in $(seq 1 100); do [ -e "$BT/mnt/version" ] && break; sleep 0.05; done
  BC="$BT/mnt/zones/default/clusters/default"
}

# bench_ceph_up NAME: the tests' throwaway Ceph cluster (started here when it
# was not running; bench_ceph_down stops it then) and an rbd pool of this
# bench's own, NAME plus the PID; sets CEPH_CONF and RPOOL.
bench_ceph_up() {
  RPOOL="$1$$"
  started_ceph="$("$REPO/scripts/ceph-up.sh")" || return 1
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf)" || return 1
  ceph -c "$CEPH_CONF" osd pool create "$RPOOL" 8 >/dev/null 2>&1
  rbd -c "$CEPH_CONF" pool init "$RPOOL"
}

bench_ceph_down() {
  [ -n "${CEPH_CONF:-}" ] && [ -n "${RPOOL:-}" ] && ceph -c "$CEPH_CONF" osd pool delete \
    "$RPOOL" "$RPOOL" --yes-i-really-really-mean-it >/dev/null 2>&1
  [ -n "${started_ceph:-}" ] && "$REPO/scripts/ceph-down.sh"
}

bench_reconciler() {
  "$CLOUDFS_BIN" -c "$BT/cloudfs.conf" reconcile -f >"$BT/reconcile.log" 2>&1 &
  echo $! > "$BT/reconcile.pid"
}

# bench_rig_hosts H...: the mount's local host disabled, rig hosts H (from
# scripts/hosts-up.sh in $RIG) added with TCG guests, until each is connected.
bench_rig_hosts() {
  local h
  echo disabled > "$BC/hosts/local/state"
  for h in "$@"; do
    mkdir "$BC/hosts/$h"
    cat "$RIG/$h/uri" > "$BC/hosts/$h/uri"
    echo qemu > "$BC/hosts/$h/domain-type"
  done
  for h in "$@"; do
    for _ in $(seq 1 300); do [ "$(cat "$BC/hosts/$h/status/connection")" = connected ] && break; sleep 0.2; done
  done
}

bench_cleanup() {
  [ -n "${BT:-}" ] || return 0
  # On the real libvirt: the domains and VPC data planes the run made.
  local vms="" vpcs="" u
  if grep -q 'qemu:///system' "$BT/cloudfs.conf" 2>/dev/null; then
    vms=$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind = 'vm'" 2>/dev/null)
    vpcs=$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind = 'vpc'" 2>/dev/null)
  fi
  if [ -f "$BT/reconcile.pid" ]; then
    local rpid; rpid=$(cat "$BT/reconcile.pid")
    kill "$rpid" 2>/dev/null
    # Until it is gone (bounded): a pass still running could remake what is purged below.
    for _ in $(seq 1 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
  fi
  fusermount3 -u "$BT/mnt" 2>/dev/null || fusermount3 -uz "$BT/mnt" 2>/dev/null
  local pid; pid=$(cat "$BT/mount.pid" 2>/dev/null)
  [ -n "$pid" ] && { sleep 0.3; kill "$pid" 2>/dev/null; }
  mountpoint -q "$BT/tmpfs" 2>/dev/null && umount "$BT/tmpfs"
  for u in $vms; do
    virsh -q -c qemu:///system destroy "cfs-$u" >/dev/null 2>&1
    virsh -q -c qemu:///system undefine "cfs-$u" >/dev/null 2>&1
  done
  # shellcheck disable=SC2086
  [ -z "$vpcs" ] || "$REPO/scripts/vpc-purge.sh" $vpcs
  rm -rf "$BT"
}

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
p95() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.95); if (i<1) i=1; print a[i]}'; }

# row NAME OURS BASELINE_NAME BASELINE UNIT: print and append to the CSV
# (names and baseline names must not contain commas).
row() {
  local ratio
  # OURS is n/a for a baseline whose cloudfs side does not exist yet.
  ratio=$(awk -v a="$2" -v b="$4" 'BEGIN {if (b > 0 && a ~ /^[0-9.]+$/) printf "%.2f", a / b; else print "n/a"}')
  printf '%-52s %10s %-34s %10s %5s  x%s\n' "$1" "$2" "$3" "$4" "$5" "$ratio"
  echo "$1,$2,$3,$4,$5,$ratio" >> "$CSV"
  # A scenario that keeps its own CSV still feeds make bench's table.
  if [ -n "${BENCH_CSV:-}" ] && [ "$CSV" != "$BENCH_CSV" ]; then
    echo "$1,$2,$3,$4,$5,$ratio" >> "$BENCH_CSV"
  fi
}

header() {
  printf '%-52s %10s %-34s %10s %5s  %s\n' "measure" "cloudfs" "baseline" "value" "unit" "ratio"
}
