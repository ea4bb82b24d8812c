#!/usr/bin/env bats
# Pool capacity and over-subscription (issue 13): a write that would promise
# a pool more than capacity x over-subscription fails with ENOSPC and the
# figures, for root and tenants alike, and leaves the store as it was
# (sqlite3); the seeds' 90 % usage threshold; status allocated/allowed; the
# warning of a dir pool on the store's filesystem; rbd capacity as ceph df
# reports it.  Dir pools on tmpfs mounts of known size; the reconciler runs
# against libvirt's test driver (no domain is made).

load compute_helpers
load checks

U=cfs-pl-ann

setup_file() {
  id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$U"
  CFS_POOL_RATIO=1.5 CFS_POOL_STORE_WARNING=true \
    CFS_EXTRA_CONF='image-dir = "@T@/images"; pool-usage-threshold = 0.9;' cfs_start
  chmod 755 "$T"
  # A 20G pool (tmpfs: nothing is allocated up front) and a 64M one to fill.
  mkdir -p "$T/big" "$T/small"
  mount -t tmpfs -o size=20G,mode=0711 cfs-pl-big "$T/big"
  mount -t tmpfs -o size=64M,mode=0711 cfs-pl-small "$T/small"
  mkdir -p "$T/two" "$T/roomy"
  mount -t tmpfs -o size=20G,mode=0711 cfs-pl-two "$T/two"
  mount -t tmpfs -o size=10G,mode=0711 cfs-pl-roomy "$T/roomy"
  rc_start
}

teardown_file() {
  rc_stop
  local m
  for m in big small two roomy; do
    [ -n "${T:-}" ] && { umount "$T/$m" 2>/dev/null || true; }
  done
  local cp
  cp=$(cat "${T:-/nonexistent}/ceph-pool" 2>/dev/null || true)
  local i
  for i in 1 2 3; do
    [ -n "$cp" ] || break
    ceph -c /run/cloudfs-test/ceph/ceph.conf osd pool delete "$cp" "$cp" \
      --yes-i-really-really-mean-it >/dev/null 2>&1 && break
    sleep 2
  done
  local rc=0
  rc_check_log || rc=1
  cfs_stop || rc=1
  userdel "$U" 2>/dev/null || true
  return $rc
}

G=$((1024 * 1024 * 1024))

# new_cluster NAME: a cluster of its own (its pools are the only ones).
new_cluster() { mkdir "$MNT/zones/default/clusters/$1"; echo "$MNT/zones/default/clusters/$1"; }
# pool_seen POOL_DIR: the reconciler has observed the pool.
pool_seen() { wait_until 30 bash -c "[ -n \"\$(cat '$1/status/capacity')\" ]"; }
as_ann() { runuser -u "$U" -- "$@"; }

@test "dir pool: capacity x ratio bounds volumes; ENOSPC with the figures, store unchanged" {
  cc=$(new_cluster pcap)
  mkdir "$cc/pools/big"
  echo "$T/big" > "$cc/pools/big/path"
  pool_seen "$cc/pools/big"
  [ "$(cat "$cc/pools/big/status/capacity")" = $((20 * G)) ]
  [ "$(cat "$cc/pools/big/status/over-subscription")" = 1.5 ]
  [ "$(cat "$cc/pools/big/status/allowed")" = $((30 * G)) ]
  [ "$(cat "$cc/pools/big/status/allocated")" = 0 ]
  # Three 10G volumes fill 20G x 1.5; they count as soon as they exist.
  mkdir "$cc/volumes/v1" "$cc/volumes/v2"
  echo big > "$cc/volumes/v1/pool"
  [ "$(cat "$cc/pools/big/status/allocated")" -ge $((10 * G)) ]
  as_ann mkdir "$cc/volumes/v3"
  for v in v1 v2 v3; do
    [ "$(timeout 60 cat "$cc/volumes/$v/wait")" = available ]
    [ "$(cat "$cc/volumes/$v/status/pool")" = big ]
  done
  [ "$(cat "$cc/pools/big/status/allocated")" = $((30 * G)) ]
  # Growing past it: refused for root, with the figures.
  before=$(spec_dump)
  run bash -c "echo 600G > '$cc/volumes/v1/size'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  err=$(cat "$cc/volumes/v1/status/error")
  [[ "$err" == *"pool big: 600G asked, 20G capacity × 1.5 allows 30G, 20G allocated"* ]] ||
    { echo "error: $err" >&2; false; }
  grep -q "pool big: 600G asked" "$MNT/last-error"
  # A fourth volume (the scheduler's choice) and a tenant's: refused.
  run mkdir "$cc/volumes/v4"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  run as_ann mkdir "$cc/volumes/v5"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  as_ann cat "$MNT/last-error" | grep -q "pool big: 10G asked, 20G capacity × 1.5 allows 30G, 30G allocated"
  run as_ann bash -c "echo 20G > '$cc/volumes/v3/size'"
  [ "$status" -ne 0 ]
  [ "$(spec_dump)" = "$before" ]
  [ "$(sqlite3 "$DB" "select value from attrs a join resources r on r.id=a.res
                      where r.name='v1' and a.name='size'")" = 10G ]
  # Writing what is there asks nothing more; the ratio of the pool itself
  # (an operator attribute) lets it grow.
  echo 10G > "$cc/volumes/v1/size"
  run as_ann bash -c "echo 3.0 > '$cc/pools/big/over-subscription'"
  [ "$status" -ne 0 ]
  echo 3.0 > "$cc/pools/big/over-subscription"
  [ "$(cat "$cc/pools/big/status/over-subscription")" = 3.0 ]
  [ "$(cat "$cc/pools/big/status/allowed")" = $((60 * G)) ]
  echo 40G > "$cc/volumes/v1/size"
  [ "$(cat "$cc/pools/big/status/allocated")" = $((60 * G)) ]
  run bash -c "echo 41G > '$cc/volumes/v1/size'"
  [ "$status" -ne 0 ]
  # The volumes were really made (qemu-img), at their sizes.
  timeout 60 cat "$cc/volumes/v1/wait" >/dev/null
  [ "$(qemu-img info --output=json "$(cat "$cc/volumes/v1/status/path")" |
       sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p')" = $((40 * G)) ]
  # Deleting frees the promise at once.
  rmdir "$cc/volumes/v2"
  [ "$(cat "$cc/pools/big/status/allocated")" = $((50 * G)) ]
  echo "" > "$cc/pools/big/over-subscription"
  [ "$(cat "$cc/pools/big/status/over-subscription")" = 1.5 ]
}

@test "vm root disks count: image and root-size are checked against the pool" {
  cc="$MNT/zones/default/clusters/pcap"
  qemu-img create -q -f qcow2 "$T/base.qcow2" 1G
  mkdir "$MNT/images/pl-base"
  echo "$T/base.qcow2" > "$MNT/images/pl-base/source"
  mkdir "$cc/vms/vm1"
  echo big > "$cc/vms/vm1/pool"
  echo 20G > "$cc/vms/vm1/root-size"
  # 50G of 30G allowed are promised: a root disk does not fit.
  before=$(spec_dump)
  run bash -c "echo pl-base > '$cc/vms/vm1/image'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  [[ "$(cat "$cc/vms/vm1/status/error")" == *"pool big: 20G asked, 20G capacity × 1.5 allows 30G, 50G allocated"* ]]
  [ "$(spec_dump)" = "$before" ]
  rmdir "$cc/volumes/v1" "$cc/volumes/v3"
  echo pl-base > "$cc/vms/vm1/image" || { cat "$cc/vms/vm1/status/error" >&2; false; }
  [ "$(cat "$cc/pools/big/status/allocated")" = $((20 * G)) ]
  echo 30G > "$cc/vms/vm1/root-size"
  [ "$(cat "$cc/pools/big/status/allocated")" = $((30 * G)) ]
  # Past it (what is asked depends on whether the root volume is made yet).
  run bash -c "echo 200G > '$cc/vms/vm1/root-size'"
  [ "$status" -ne 0 ]
  [[ "$(cat "$cc/vms/vm1/status/error")" == *"pool big: 1"[78]"0G asked, 20G capacity × 1.5 allows 30G, "* ]] ||
    [[ "$(cat "$cc/vms/vm1/status/error")" == *"pool big: 200G asked, 20G capacity × 1.5 allows 30G, 0 allocated"* ]]
  rmdir "$cc/vms/vm1"
  wait_until 60 file_is "$cc/pools/big/status/allocated" 0
}

@test "the scheduler places a volume only in a pool with room for it" {
  cc=$(new_cluster ptwo)
  mkdir "$cc/pools/two" "$cc/pools/roomy"
  echo "$T/two" > "$cc/pools/two/path"
  echo 1.0 > "$cc/pools/two/over-subscription"
  echo "$T/roomy" > "$cc/pools/roomy/path"
  echo 1000.0 > "$cc/pools/roomy/over-subscription"
  pool_seen "$cc/pools/two"
  pool_seen "$cc/pools/roomy"
  mkdir "$cc/volumes/pinned"
  echo two > "$cc/volumes/pinned/pool"
  [ "$(timeout 60 cat "$cc/volumes/pinned/wait")" = available ]
  # two has the most free space (20G of sparse files) but room for 10G only.
  # (Made at its size while the reconciler is down: else it may place the
  # 10G of the mkdir before the size is written.)
  rc_stop
  mkdir "$cc/volumes/free"
  echo 20G > "$cc/volumes/free/size"
  rc_start
  [ "$(timeout 60 cat "$cc/volumes/free/wait")" = available ]
  [ "$(cat "$cc/volumes/free/status/pool")" = roomy ]
  [ "$(cat "$cc/pools/two/status/allocated")" = $((10 * G)) ]
  [ "$(cat "$cc/pools/roomy/status/allocated")" = $((20 * G)) ]
  # A 10G one still fits in two, which has the most free space.
  mkdir "$cc/volumes/small"
  [ "$(timeout 60 cat "$cc/volumes/small/wait")" = available ]
  [ "$(cat "$cc/volumes/small/status/pool")" = two ]
}

@test "the 90 % rule: a pool really used above pool-usage-threshold takes nothing new" {
  cc=$(new_cluster pfull)
  mkdir "$cc/pools/small"
  echo "$T/small" > "$cc/pools/small/path"
  echo 1000.0 > "$cc/pools/small/over-subscription"
  pool_seen "$cc/pools/small"
  mkdir "$cc/volumes/w1"
  head -c $((60 * 1024 * 1024)) /dev/zero > "$T/small/filler"
  # The next observation (a spec change wakes it) sees 94 % used and says so.
  echo filled > "$cc/pools/small/description"
  wait_until 40 grep -q "usage threshold" "$cc/pools/small/status/error"
  grep -q "pool small: 9[0-9]% of its capacity really used, above the 90% usage threshold" \
    "$cc/pools/small/status/error"
  before=$(spec_dump)
  run mkdir "$cc/volumes/w2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  grep -q "pool small: .* really used (9[0-9]%), above the 90% usage threshold" "$MNT/last-error"
  run bash -c "echo 20G > '$cc/volumes/w1/size'"
  [ "$status" -ne 0 ]
  [ "$(spec_dump)" = "$before" ]
  rm -f "$T/small/filler"
  echo emptied > "$cc/pools/small/description"
  wait_until 40 bash -c "[ -z \"\$(cat '$cc/pools/small/status/error')\" ]"
  mkdir "$cc/volumes/w2"
}

@test "a dir pool on the store's filesystem warns in status/error; one elsewhere does not" {
  # The default pool lives in $T/pool, next to the store in $T.
  wait_until 30 grep -q "is on the filesystem of the store" "$C/pools/local/status/error"
  [ "$(cat "$C/pools/local/status/state")" = available ]
  [[ "$(cat "$MNT/zones/default/clusters/pcap/pools/big/status/error")" != *"filesystem of the store"* ]]
  # A warning does not stop its volumes.
  mkdir "$C/volumes/l1"
  timeout 60 cat "$C/volumes/l1/wait" >/dev/null
}

@test "a volume made before its cluster's pool is first observed waits for it without an error" {
  # Made while the reconciler is down: its first passes meet both at once.
  rc_stop
  cc=$(new_cluster prace)
  mkdir "$T/race"
  mkdir "$cc/pools/p"
  echo "$T/race" > "$cc/pools/p/path"
  mkdir "$cc/volumes/r1"
  seq0=$(last_seq)
  rc_start
  run timeout 60 cat "$cc/volumes/r1/wait"
  [ "$status" -eq 0 ]
  [ "$output" = available ]
  # No error was ever reported for it (the changes log).
  [ "$(sqlite3 "$DB" "select count(*) from changes c join resources r on r.id=c.res
                      where r.name='r1' and c.attr='error' and c.new != ''
                      and c.seq > $seq0")" = 0 ]
}

@test "rbd pool: capacity is ceph df's STORED + MAX AVAIL, and bounds its volumes" {
  CEPH_CONF=/run/cloudfs-test/ceph/ceph.conf
  [ -r "$CEPH_CONF" ] || skip "no Ceph cluster"
  CEPH_POOL="cfspl$$"
  echo "$CEPH_POOL" > "$T/ceph-pool"   # teardown_file removes it
  ceph -c "$CEPH_CONF" osd pool create "$CEPH_POOL" 8 >/dev/null 2>&1
  rbd -c "$CEPH_CONF" pool init "$CEPH_POOL"
  # ceph df lists a new pool once the monitors have its first statistics.
  ceph_df() {
    ceph -c "$CEPH_CONF" df -f json | python3 -c "
import json, sys
for p in json.load(sys.stdin)['pools']:
    if p['name'] == sys.argv[1]: print(p['stats']['stored'] + p['stats']['max_avail'])" "$CEPH_POOL"
  }
  wait_until 60 bash -c "ceph -c '$CEPH_CONF' df -f json | grep -q '\"name\":\"$CEPH_POOL\"'"
  cc=$(new_cluster prbd)
  mkdir "$cc/pools/ceph"
  echo rbd > "$cc/pools/ceph/type"
  echo "$CEPH_CONF" > "$cc/pools/ceph/ceph-conf"
  echo "$CEPH_POOL" > "$cc/pools/ceph/rbd-pool"
  echo 1.0 > "$cc/pools/ceph/over-subscription"
  pool_seen "$cc/pools/ceph"
  df=$(ceph_df)
  cap=$(cat "$cc/pools/ceph/status/capacity")
  # max_avail moves a little as the cluster works: within 1 %.
  [ $(( (cap - df) * 100 / df )) -eq 0 ] || { echo "capacity $cap, ceph df $df" >&2; false; }
  # The test cluster is far smaller than 10G: a volume does not fit.
  before=$(spec_dump)
  run mkdir "$cc/volumes/big"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  grep -q "pool ceph: 10G asked, .* capacity × 1.0 allows .*, 0 allocated" "$MNT/last-error"
  [ "$(spec_dump)" = "$before" ]
  [ -z "$(rbd -c "$CEPH_CONF" ls "$CEPH_POOL")" ]
}

@test "cloudfs.conf: the pool keys are checked when read" {
  printf 'pool-over-subscription = 0.5;\n' > "$BATS_TEST_TMPDIR/c1"
  run "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/c1" layout-use
  [ "$status" -ne 0 ]
  [[ "$output" == *"pool-over-subscription must be in 1.00..1000.00"* ]]
  printf 'pool-usage-threshold = 1.5;\n' > "$BATS_TEST_TMPDIR/c2"
  run "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/c2" layout-use
  [ "$status" -ne 0 ]
  [[ "$output" == *"pool-usage-threshold must be in 0.01..1.00"* ]]
  printf 'pool-over-subscription = "lots";\n' > "$BATS_TEST_TMPDIR/c3"
  run "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/c3" layout-use
  [ "$status" -ne 0 ]
  [[ "$output" == *"pool-over-subscription must be a number"* ]]
  printf 'pool-over-subscription = 2;\npool-usage-threshold = 0.6;\n' > "$BATS_TEST_TMPDIR/c4"
  "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/c4" layout-use >/dev/null
}
