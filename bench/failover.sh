#!/usr/bin/env bash
# Failover: a rig host (scripts/hosts-up.sh) running a VM with ha on is killed
# (scripts/hosts-kill.sh: SIGKILL to every process of the host at once); the time from
# the kill to the VM's domain running on another host, as `virsh` on that host sees it.
# cloudfs has to notice the loss (two failed reconnects), fence the host in Ceph
# (blocklist its address), then start the VM on the other host with its rbd root disk.
# The baseline: the same restart done by hand, without fencing: an equal domain (64 MiB,
# no OS, no disk: what cloudfs's VM is but its disk) runs on a third host whose copy is
# also defined on the target; a loop of `virsh list` on the killed host notices the loss
# (its socket refuses at once), then `virsh start` on the target. One fresh 3-host rig
# a round (a killed host stays dead), RUNS rounds; medians (p95 printed).
#   bench/failover.sh [RUNS]     (default 5; quick: 3)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 5)}"
csv_init failover
RIG=""
ADDRS=()
W="$(mktemp -d /tmp/cfs-bench-failover.XXXXXX)"
unblock() {
  local a e
  for a in "${ADDRS[@]}"; do
    for e in $(timeout 30 ceph -c "$CEPH_CONF" osd blocklist ls 2>/dev/null | awk -v p="$a:" 'index($1, p) == 1 { print $1 }'); do
      timeout 30 ceph -c "$CEPH_CONF" osd blocklist rm "$e" >/dev/null 2>&1
    done
  done
}
round_down() {
  bench_cleanup
  BT=""
  [ -n "$RIG" ] && "$REPO/scripts/hosts-down.sh" "$RIG"
  RIG=""
}
cleanup() {
  round_down
  unblock
  bench_ceph_down
  rm -rf "$W"
}
trap cleanup EXIT

bench_ceph_up cfsbfo || exit 1
qemu-img create -q -f qcow2 "$W/base.qcow2" 64M
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
vdom() { timeout 10 virsh -q -c "$1" domstate "$2" 2>/dev/null | head -n1; }

# one_round N: one rig, one cloudfs failover and one by hand; appends to the arrays.
one_round() {
  local n=$1 i a t0 dom u1 u2 u3
  RIG="$("$REPO/scripts/hosts-up.sh" 3)" || { RIG=""; return 1; }
  . "$RIG/rig.env"
  u1=$(cat "$RIG/h1/uri"); u2=$(cat "$RIG/h2/uri"); u3=$(cat "$RIG/h3/uri")
  for i in 1 2 3; do ADDRS+=("$(cat "$RIG/h$i/address")"); done

  # --- cloudfs: VM bf on h1 (h2 disabled until it runs), h1 killed ---
  bench_mount test:///default "allow-test-uri = true; default-subnet = \"\"; resync-interval = 5; storage-timeout = 10;"
  bench_reconciler
  echo disabled > "$BC/hosts/local/state"
  for i in 1 2; do
    mkdir "$BC/hosts/h$i"
    cat "$RIG/h$i/uri" > "$BC/hosts/h$i/uri"
    echo qemu > "$BC/hosts/h$i/domain-type"
    cat "$RIG/h$i/address" > "$BC/hosts/h$i/fence-address"
  done
  echo disabled > "$BC/hosts/h2/state"
  for i in 1 2; do
    for _ in $(seq 1 300); do [ "$(cat "$BC/hosts/h$i/status/connection")" = connected ] && break; sleep 0.2; done
  done
  mkdir "$BT/mnt/offerings/b64"; echo 1 > "$BT/mnt/offerings/b64/cpus"; echo 64M > "$BT/mnt/offerings/b64/memory"
  mkdir "$BC/pools/ceph"
  echo rbd > "$BC/pools/ceph/type"
  echo "$CEPH_CONF" > "$BC/pools/ceph/ceph-conf"
  echo "$RPOOL" > "$BC/pools/ceph/rbd-pool"
  echo 100 > "$BC/pools/ceph/over-subscription"
  timeout 180 cat "$BC/pools/ceph/wait" >/dev/null
  mkdir "$BT/mnt/images/fobase"
  echo "$W/base.qcow2" > "$BT/mnt/images/fobase/source"
  timeout 180 cat "$BT/mnt/images/fobase/wait" >/dev/null
  X="$BC/vms/bf"
  mkdir "$X"
  echo b64 > "$X/offering"
  echo fobase > "$X/image"
  echo ceph > "$X/pool"
  echo 20G > "$X/root-size"
  echo on > "$X/ha"
  echo running > "$X/state"
  for _ in $(seq 1 900); do [ "$(cat "$X/status/state")" = running ] && break; sleep 0.2; done
  [ "$(cat "$X/status/host")" = h1 ] && [ "$(cat "$X/status/state")" = running ] ||
    { echo "round $n: the VM did not start on h1: $(cat "$X/status/error")" >&2; tail -20 "$BT/reconcile.log" >&2; return 1; }
  echo enabled > "$BC/hosts/h2/state"
  dom="cfs-$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vm' AND name='bf' AND deleted=0")"
  sleep 2
  t0=$(now_ns)
  "$REPO/scripts/hosts-kill.sh" "$RIG" h1 || return 1
  for _ in $(seq 1 1800); do [ "$(vdom "$u2" "$dom")" = running ] && break; sleep 0.05; done
  [ "$(vdom "$u2" "$dom")" = running ] ||
    { echo "round $n: not restarted on h2: $(cat "$X/status/error")" >&2; tail -20 "$BT/reconcile.log" >&2; return 1; }
  cfo+=("$(ms_since "$t0")")
  grep -q "host h1 was lost and fenced" "$X/status/ha-restart" || echo "round $n: status/ha-restart: $(cat "$X/status/ha-restart")" >&2
  grep "lost\|fenced\|restarting" "$BT/reconcile.log" | sed "s/^/  round $n: /" | head -4
  bench_cleanup
  BT=""

  # --- by hand: an equal domain on h3, defined on h2 too; h3 killed ---
  a="cfsbench-$RIG_TAG-fo"
  cat > "$W/hand.xml" <<XML
<domain type='qemu'>
  <name>$a</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><graphics type='vnc' port='-1' listen='127.0.0.1'/></devices>
</domain>
XML
  virsh -q -c "$u2" define "$W/hand.xml" >/dev/null && virsh -q -c "$u3" define "$W/hand.xml" >/dev/null &&
    virsh -q -c "$u3" start "$a" >/dev/null || { echo "round $n: hand-made domain did not start" >&2; return 1; }
  sleep 2
  t0=$(now_ns)
  "$REPO/scripts/hosts-kill.sh" "$RIG" h3 || return 1
  for _ in $(seq 1 600); do timeout 5 virsh -q -c "$u3" list >/dev/null 2>&1 || break; sleep 0.05; done
  virsh -q -c "$u2" start "$a" >/dev/null || { echo "round $n: virsh start on h2 failed" >&2; return 1; }
  for _ in $(seq 1 600); do [ "$(vdom "$u2" "$a")" = running ] && break; sleep 0.05; done
  hand+=("$(ms_since "$t0")")
  virsh -q -c "$u2" destroy "$a" >/dev/null 2>&1
  "$REPO/scripts/hosts-down.sh" "$RIG"
  RIG=""
  unblock
  echo "round $n: cloudfs ${cfo[-1]} ms, by hand ${hand[-1]} ms"
}

echo "machine: $(nproc) cores; $RUNS rounds"
cfo=(); hand=(); rc=0
for n in $(seq 1 "$RUNS"); do
  one_round "$n" || { rc=1; round_down; break; }
done
header
if [ "${#cfo[@]}" -gt 0 ]; then
  row "HA failover: kill -9 of the host to running elsewhere" \
    "$(printf '%s\n' "${cfo[@]}" | median)" "virsh start by hand once noticed" \
    "$(printf '%s\n' "${hand[@]}" | median)" ms
  echo "p95: cloudfs $(printf '%s\n' "${cfo[@]}" | p95) ms, by hand $(printf '%s\n' "${hand[@]}" | p95) ms;" \
    "all: cloudfs ${cfo[*]}; by hand ${hand[*]}"
fi
exit "$rc"
