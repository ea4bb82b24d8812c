#!/usr/bin/env bats
# Host failure, fencing and HA restarts on the multi-host rig (scripts/hosts-up.sh:
# three real libvirtd hosts, each in its own namespaces and with its own address, so
# that Ceph sees each host's RBD clients at that address). cloudfs runs on the rig
# (the machine's own host "local" is the test driver, disabled). VMs with RBD root
# disks run on h2: ha1 (ha on), ha2 (never-stop), plain (ha off)
# and hadir (ha on, a data volume on a dir pool); every process of h2 is killed
# (scripts/hosts-kill.sh). Observers: virsh on h1/h3, `ceph osd blocklist ls`, the
# rbd status of the images, `cloudfs check`. Times from the kill are printed.

load compute_helpers

GUEST=/var/cache/cloudfs-test/tinyguest-counter

setup_file() {
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf)"
  export CEPH_CONF
  rig_up 3
  export RPOOL="cfsha$RIG_TAG"
  ceph_retry osd pool create "$RPOOL" 8
  rbd -c "$CEPH_CONF" pool init "$RPOOL"
  # ceph df lists a new pool once the monitors have its first statistics.
  wait_until 60 bash -c "ceph -c '$CEPH_CONF' df -f json | grep -q '\"name\":\"$RPOOL\"'"
  . "$REPO/scripts/hosts-lib.sh"
  rig_load "$RIG"
  local h
  # The hosts' network namespaces by name (the hosts' test-only netns), so that
  # `cloudfs check` looks for cloudfs's network objects there, not on this machine.
  for h in h1 h2 h3; do
    ip netns attach "cfsha-$RIG_TAG-$h" "$(host_init_pid "$(rig_host_dir "$h")")"
  done
  export A1=$(cat "$RIG/h1/address") A2=$(cat "$RIG/h2/address") A3=$(cat "$RIG/h3/address")
  CFS_TEST_URI=test:///default STOP_TIMEOUT=0 RESYNC=5 \
    CFS_EXTRA_CONF="storage-timeout = 10;" compute_start
  export Z="$MNT/zones/default"
  export IMG="$T/src"
  mkdir -p "$IMG"
  qemu-img create -q -f qcow2 "$IMG/base.qcow2" 64M
}

teardown_file() {
  local a e h
  compute_stop || true
  for h in h1 h2 h3; do
    [ -n "${RIG_TAG:-}" ] && ip netns del "cfsha-$RIG_TAG-$h" 2>/dev/null
  done
  rig_down || { sleep 5; rig_down; } || true
  # Ours (ADDR:0/0) and those librbd adds when a new instance breaks the
  # lock of an old one (ADDR:0/NONCE, an hour).
  for a in "${A1:-}" "${A2:-}" "${A3:-}"; do
    [ -n "$a" ] || continue
    for e in $(timeout 30 ceph -c "$CEPH_CONF" osd blocklist ls 2>/dev/null | awk -v p="$a:" 'index($1, p) == 1 { print $1 }'); do
      timeout 30 ceph -c "$CEPH_CONF" osd blocklist rm "$e" >/dev/null 2>&1
    done
  done
  [ -n "${RPOOL:-}" ] && ceph_retry osd pool delete "$RPOOL" "$RPOOL" --yes-i-really-really-mean-it
  [ -n "${T:-}" ] && rm -rf "$T"
  true
}

v() { local h=$1; shift; timeout 30 virsh -q -c "$(rig_uri "$h")" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
status_is() { [ "$(cat "$1")" = "$2" ]; }
# runs_on VM H: cloudfs places VM on H and virsh on H sees its domain running.
runs_on() {
  [ "$(cat "$C/vms/$1/status/host")" = "$2" ] && [ "$(v "$2" domstate "$(vm_domain "$1")")" = running ]
}
# runs_elsewhere VM: running on h1 or h3 (virsh there), as cloudfs says.
runs_elsewhere() { runs_on "$1" h1 || runs_on "$1" h3; }
blocklisted() { timeout 30 ceph -c "$CEPH_CONF" osd blocklist ls 2>/dev/null | grep -q "^$1:0/0 "; }

@test "setup: three rig hosts with fence addresses, an rbd pool, VMs on h2" {
  C="$Z/clusters/default"
  echo disabled > "$C/hosts/local/state"
  for h in h1 h2 h3; do
    mkdir "$C/hosts/$h"
    rig_uri "$h" > "$C/hosts/$h/uri"
    echo qemu > "$C/hosts/$h/domain-type"
    echo "cfsha-$RIG_TAG-$h" > "$C/hosts/$h/netns"
    cat "$RIG/$h/address" > "$C/hosts/$h/fence-address"
    [ "$h" = h2 ] || echo disabled > "$C/hosts/$h/state"
  done
  for h in h1 h2 h3; do
    wait_until 60 status_is "$C/hosts/$h/status/connection" connected
  done
  make_tiny_offering hatiny 64M
  mkdir "$C/pools/haceph"
  echo rbd > "$C/pools/haceph/type"
  echo "$CEPH_CONF" > "$C/pools/haceph/ceph-conf"
  echo "$RPOOL" > "$C/pools/haceph/rbd-pool"
  echo 1000 > "$C/pools/haceph/over-subscription"     # 4 root disks of 20G on the test OSD
  timeout 60 cat "$C/pools/haceph/wait"
  mkdir "$MNT/images/habase"
  echo "$IMG/base.qcow2" > "$MNT/images/habase/source"
  timeout 60 cat "$MNT/images/habase/wait"
  # hadir's data volume is on a dir pool in the rig's shared directory whose shared
  # attribute is off: hadir is not restarted elsewhere.
  mkdir -p "$RIG_SHARED/hapool"
  mkdir "$C/pools/hashared"
  echo "$RIG_SHARED/hapool" > "$C/pools/hashared/path"
  timeout 60 cat "$C/pools/hashared/wait"
  mkdir "$C/volumes/hadirdata"
  echo hashared > "$C/volumes/hadirdata/pool"
  for vm in ha1 ha2 plain hadir; do
    mkdir "$C/vms/$vm"
    echo hatiny > "$C/vms/$vm/offering"
    echo habase > "$C/vms/$vm/image"
    echo haceph > "$C/vms/$vm/pool"
    echo 20G > "$C/vms/$vm/root-size"
  done
  echo on > "$C/vms/ha1/ha"
  echo never-stop > "$C/vms/ha2/ha"
  echo on > "$C/vms/hadir/ha"
  ln -s ../../../volumes/hadirdata "$C/vms/hadir/volumes/"
  for vm in ha1 ha2 plain hadir; do echo running > "$C/vms/$vm/state"; done
  for vm in ha1 ha2 plain hadir; do
    wait_until 180 runs_on "$vm" h2 ||
      { echo "$vm: $(cat "$C/vms/$vm/status/state") $(cat "$C/vms/$vm/status/error")" >&2; false; }
  done
  # Ceph sees the disks' clients at h2's address.
  rbd -c "$CEPH_CONF" status "$RPOOL/$(cat "$C/vms/ha1/status/root-volume" | xargs -I{} sqlite3 "$DB" "SELECT 'cfs-vol-' || uuid FROM resources WHERE kind='volume' AND name='{}' AND deleted=0")" |
    grep -q "watcher=$A2:"
  echo enabled > "$C/hosts/h1/state"
  echo enabled > "$C/hosts/h3/state"
}

@test "kill -9 of every process of h2: lost, fenced, HA VMs run on h1/h3 within 30 s, the others unknown" {
  C="$Z/clusters/default"
  ip netns del "cfsha-$RIG_TAG-h2"      # the name only: the namespace goes with h2
  t0=$(now)
  "$REPO/scripts/hosts-kill.sh" "$RIG" h2
  wait_until 30 status_is "$C/hosts/h2/status/connection" lost
  t_lost=$(since "$t0")
  grep -q "lost" "$C/hosts/h2/status/error"
  wait_until 15 status_is "$C/hosts/h2/status/fenced" "$A2" ||
    { echo "h2: $(cat "$C/hosts/h2/status/error")" >&2; grep "reconcile" "$T/reconcile.log" | tail -20 >&2; false; }
  blocklisted "$A2"
  t_ha1="" t_ha2=""
  for i in $(seq 1 600); do
    [ -n "$t_ha1" ] || { runs_elsewhere ha1 && t_ha1=$(since "$t0"); }
    [ -n "$t_ha2" ] || { runs_elsewhere ha2 && t_ha2=$(since "$t0"); }
    [ -n "$t_ha1" ] && [ -n "$t_ha2" ] && break
    sleep 0.1
  done
  echo "# from kill -9 of h2: lost after ${t_lost}s; ha1 running elsewhere after ${t_ha1:-never}s, ha2 after ${t_ha2:-never}s" >&3
  [ -n "$t_ha1" ] && [ -n "$t_ha2" ]
  awk -v a="$t_ha1" -v b="$t_ha2" 'BEGIN { exit !(a <= 30 && b <= 30) }'
  awk -v a="$t_lost" 'BEGIN { exit !(a <= 15) }'
  # The non-HA VM: unknown, with the reason.
  wait_until 20 status_is "$C/vms/plain/status/state" unknown
  grep -q "host h2 is lost" "$C/vms/plain/status/error"
  grep -q "ha is off" "$C/vms/plain/status/error"
  [ "$(cat "$C/vms/plain/status/host")" = h2 ]
  for vm in ha1 ha2; do
    wait_until 20 status_is "$C/vms/$vm/status/state" running
    [ -z "$(cat "$C/vms/$vm/status/error")" ]
    grep -q "host h2 was lost and fenced; started on another host" "$C/vms/$vm/status/ha-restart"
  done
  # hadir (ha on) is not restarted: its data volume is on a dir pool.
  wait_until 20 status_is "$C/vms/hadir/status/state" unknown
  grep -q "host h2 is lost: not restarted elsewhere, volume hadirdata is on the dir pool hashared, which is not shared" "$C/vms/hadir/status/error"
  [ "$(cat "$C/vms/hadir/status/host")" = h2 ]
  [ -z "$(cat "$C/vms/hadir/status/ha-restart")" ]
  ! v h1 list --name | grep -q "$(vm_domain hadir)" || false
  ! v h3 list --name | grep -q "$(vm_domain hadir)" || false
  ! v h1 list --name | grep -q "$(vm_domain plain)" || false
  ! v h3 list --name | grep -q "$(vm_domain plain)" || false
  # No key in status or in the log.
  ! grep -rqi "key\s*=" "$C/hosts/h2/status/" || false
  run "$CLOUDFS_BIN" -c "$CONF" check
  echo "$output" >&2
  [ "$status" -eq 0 ]
  grep -q "hosts/h2: lost (fenced: $A2)" <<<"$output"
  rc_check_log
}

# disk_count VM: the count the tiny guest last wrote in the first sector of VM's root disk.
disk_count() {
  local vol
  vol=$(sqlite3 "$DB" "SELECT 'cfs-vol-' || uuid FROM resources WHERE kind='volume' AND name='$(cat "$C/vms/$1/status/root-volume")' AND deleted=0")
  rbd -c "$CEPH_CONF" export --no-progress "$RPOOL/$vol" - 2>/dev/null | head -c 512 |
    tr -d '\0' | awk '$1 == "TINYGUEST" && $2 == "COUNT" { print $3 }'
}
disk_count_above() { local n; n=$(disk_count "$1"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }
disk_count_below() { local n; n=$(disk_count "$1"); [ -n "$n" ] && [ "$n" -lt "$2" ]; }

@test "a frozen host (SIGSTOP): lost, fenced, the HA VM restarts elsewhere; woken up, its old instance cannot write the RBD image, its stale domain goes, then it is unfenced" {
  C="$Z/clusters/default"
  "$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null
  # The VM on h1 (h3 disabled meanwhile; h2 is lost since the test above).
  echo disabled > "$C/hosts/h3/state"
  make_tiny_offering hasmall 128M
  mkdir "$C/vms/fz"
  echo hasmall > "$C/vms/fz/offering"
  echo habase > "$C/vms/fz/image"
  echo haceph > "$C/vms/fz/pool"
  echo 20G > "$C/vms/fz/root-size"
  echo "$GUEST/vmlinuz" > "$C/vms/fz/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/fz/initrd"
  echo "console=ttyS0 panic=-1 tinyguest.counter" > "$C/vms/fz/cmdline"
  echo on > "$C/vms/fz/ha"
  echo running > "$C/vms/fz/state"
  wait_until 120 runs_on fz h1 ||
    { echo "fz: $(cat "$C/vms/fz/status/state") $(cat "$C/vms/fz/status/error")" >&2; false; }
  echo enabled > "$C/hosts/h3/state"
  # The first instance counts on its disk; let it get well ahead of a new one.
  wait_until 150 disk_count_above fz 24
  ip netns del "cfsha-$RIG_TAG-h1"
  t0=$(now)
  "$REPO/scripts/hosts-kill.sh" "$RIG" h1 --stop
  c_old=$(disk_count fz)
  wait_until 30 status_is "$C/hosts/h1/status/connection" lost
  t_lost=$(since "$t0")
  wait_until 15 status_is "$C/hosts/h1/status/fenced" "$A1"
  blocklisted "$A1"
  wait_until 60 runs_on fz h3
  t_run=$(since "$t0")
  echo "# from SIGSTOP of h1: lost after ${t_lost}s; fz running on h3 after ${t_run}s (old instance at count $c_old)" >&3
  awk -v a="$t_lost" -v b="$t_run" 'BEGIN { exit !(a <= 15 && b <= 30) }'
  # The new instance boots and writes its own counts, from 1.
  wait_until 120 disk_count_below fz "$c_old"
  # Wake h1: its old instance runs on (it prints counts past c_old on the console)
  # but none reaches the disk, which only ever shows the new instance's counts
  # (below c_old for as long as this watches).
  "$REPO/scripts/hosts-kill.sh" "$RIG" h1 --cont
  for i in $(seq 1 30); do
    n=$(disk_count fz)
    [ -z "$n" ] || [ "$n" -lt "$c_old" ] || { echo "disk shows count $n (the old instance was at $c_old)" >&2; false; }
    sleep 0.2
  done
  # cloudfs destroys the stale domain on h1, then unfences it; h1 is connected again.
  con="$T/console/$(vm_uuid fz).log"
  if grep -aq "^TINYGUEST COUNT $((c_old + 1)) " "$con"; then
    echo "# the old instance ran on after SIGCONT (printed count $((c_old + 1))); its writes did not reach the disk" >&3
  fi
  wait_until 60 status_is "$C/hosts/h1/status/connection" connected
  [ -z "$(cat "$C/hosts/h1/status/fenced")" ]
  ! blocklisted "$A1" || false
  ! v h1 list --all --name | grep -q "$(vm_domain fz)" || false
  runs_on fz h3
  grep -q "destroyed the stale domain of VM $(vm_uuid fz)" "$T/reconcile.log"
  n=$(disk_count fz)
  wait_until 20 disk_count_above fz "$n"
  rc_check_log
}
