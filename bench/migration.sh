#!/usr/bin/env bash
# Live migration through the tree vs `virsh migrate --live` of an equal domain, on the
# multi-host rig (scripts/hosts-up.sh 2). A tiny TCG guest counting on its console
# (scripts/tiny-guest.sh, tinyguest.counter, 128 MiB, no disk) moves h1 <-> h2 RUNS times
# by `echo hN > vms/X/host`: the time from the write to status/host naming the target
# with status/state running, and the downtime in status/migration (libvirt's). The
# baseline: an equal domain (scripts/tiny-guest-domain.sh, no disk) moved with
# `virsh migrate --live --persistent --undefinesource`: wall time, and the downtime
# of domjobinfo --completed. Medians (p95 printed).
#   bench/migration.sh [RUNS]     (default 10; quick: 3)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 3 || echo 10)}"
csv_init migration
GUEST=/var/cache/cloudfs-test/tinyguest-counter    # as tests/66-hosts-rig.bats
RIG=""
W="$(mktemp -d /tmp/cfs-bench-migration.XXXXXX)"
cleanup() {
  bench_cleanup
  [ -n "$RIG" ] && "$REPO/scripts/hosts-down.sh" "$RIG"
  rm -rf "$W"
}
trap cleanup EXIT

"$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null || exit 1
RIG="$("$REPO/scripts/hosts-up.sh" 2)" || { RIG=""; exit 1; }
. "$RIG/rig.env"
U=("" "$(cat "$RIG/h1/uri")" "$(cat "$RIG/h2/uri")")
last_count() { grep -a '^TINYGUEST COUNT ' "$1" 2>/dev/null | tail -n1 | cut -d' ' -f3; }
booted() {
  local i
  for i in $(seq 1 900); do [ "$(last_count "$1")" -ge 2 ] 2>/dev/null && return 0; sleep 0.2; done
  return 1
}
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

echo "machine: $(nproc) cores; $RUNS migrations each"
header
rc=0

# --- baseline: virsh ---
dom="cfsbench-$RIG_TAG-virsh"
"$REPO/scripts/tiny-guest-domain.sh" "$dom" "$GUEST" "$W/virsh.log" >"$W/virsh.xml"
virsh -q -c "${U[1]}" define "$W/virsh.xml" >/dev/null && virsh -q -c "${U[1]}" start "$dom" >/dev/null &&
  booted "$W/virsh.log" || { echo "virsh guest did not boot" >&2; exit 1; }
vwall=(); vdown=(); from=1; to=2
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns)
  virsh -q -c "${U[$from]}" migrate --live --persistent --undefinesource "$dom" "${U[$to]}" ||
    { echo "virsh migration failed" >&2; rc=1; break; }
  vwall+=("$(ms_since "$a")")
  vdown+=("$(virsh -q -c "${U[$to]}" domjobinfo --completed "$dom" | awk '/^Total downtime:/ { print $3 }')")
  n=$from; from=$to; to=$n
  sleep 1
done
virsh -q -c "${U[$from]}" destroy "$dom" >/dev/null
virsh -q -c "${U[$from]}" undefine "$dom" >/dev/null

# --- cloudfs: the same guest, moved by writing host ---
bench_mount test:///default "allow-test-uri = true; default-subnet = \"\"; resync-interval = 5; seed-dir = \"$W/seed\";"
bench_reconciler
bench_rig_hosts h1 h2
mkdir "$BT/mnt/offerings/b128"; echo 1 > "$BT/mnt/offerings/b128/cpus"; echo 128M > "$BT/mnt/offerings/b128/memory"
X="$BC/vms/bm"
mkdir "$X"
echo b128 > "$X/offering"
echo "$GUEST/vmlinuz" > "$X/kernel"
echo "$GUEST/initrd.gz" > "$X/initrd"
echo "console=ttyS0 panic=-1 tinyguest.counter" > "$X/cmdline"
echo h1 > "$X/host"
echo running > "$X/state"
for _ in $(seq 1 600); do [ "$(cat "$X/status/state")" = running ] && break; sleep 0.2; done
[ "$(cat "$X/status/state")" = running ] && booted "$(cat "$X/status/console")" ||
  { echo "cloudfs guest did not boot: $(cat "$X/status/error")" >&2; cat "$BT/reconcile.log" >&2; exit 1; }
cwall=(); cdown=(); to=2
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns)
  echo "h$to" > "$X/host"
  for _ in $(seq 1 1200); do
    [ "$(cat "$X/status/host")" = "h$to" ] && [ "$(cat "$X/status/state")" = running ] && break
    sleep 0.05
  done
  [ "$(cat "$X/status/host")" = "h$to" ] || { echo "cloudfs migration failed: $(cat "$X/status/error")" >&2; rc=1; break; }
  cwall+=("$(ms_since "$a")")
  cdown+=("$(sed -n 's/.*downtime \([0-9]*\) ms$/\1/p' "$X/status/migration")")
  to=$(( 3 - to ))
  sleep 1
done
[ "$(grep -ac '^TINYGUEST COUNTER START' "$(cat "$X/status/console")")" = 1 ] ||
  { echo "the cloudfs guest restarted" >&2; rc=1; }
echo stopped > "$X/state"
for _ in $(seq 1 300); do [ "$(cat "$X/status/state")" = stopped ] && break; sleep 0.2; done
rmdir "$X"
for _ in $(seq 1 100); do [ -e "$X" ] || break; sleep 0.1; done

row "live migration 128M TCG guest: time (write to running there)" \
  "$(printf '%s\n' "${cwall[@]}" | median)" "virsh migrate --live (wall)" \
  "$(printf '%s\n' "${vwall[@]}" | median)" ms
row "live migration 128M TCG guest: downtime" \
  "$(printf '%s\n' "${cdown[@]}" | median)" "virsh migrate --live (libvirt)" \
  "$(printf '%s\n' "${vdown[@]}" | median)" ms
echo "p95: cloudfs time $(printf '%s\n' "${cwall[@]}" | p95) ms, downtime $(printf '%s\n' "${cdown[@]}" | p95) ms;" \
  "virsh time $(printf '%s\n' "${vwall[@]}" | p95) ms, downtime $(printf '%s\n' "${vdown[@]}" | p95) ms"
exit "$rc"
