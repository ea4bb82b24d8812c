#!/usr/bin/env bash
# Event latency on qemu:///system, side by side in one run:
#  - out-of-band `virsh destroy` of a running VM -> IN_MODIFY on its
#    status/state, delivered to an inotify watcher on the mount;
#  - the floor: a plain write on the mount (echo > description) -> its
#    IN_MODIFY, raised by the kernel itself.
# Times are taken in one bash process with $EPOCHREALTIME (no fork on
# either side); the watcher is one long-lived inotifywait.  The commit time
# of status/state (the changes log) splits the reconciler's share (libvirt
# event -> commit) from the mount's (commit -> inotify event).
#   bench/events.sh [RUNS]    (default 50; quick: 10); needs libvirtd
#   (scripts/libvirt-up.sh)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 10 || echo 50)}"
csv_init events
V="virsh -q -c qemu:///system"
watcher=""
cleanup() {
  # The watcher by its own PID: killing the pipeline's reader would leave it.
  [ -f "${BT:-}/inw.pid" ] && kill "$(cat "$BT/inw.pid")" 2>/dev/null
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  [ -n "${dom:-}" ] && { $V destroy "$dom"; $V undefine "$dom"; } >/dev/null 2>&1
  bench_cleanup
}
trap cleanup EXIT

"$REPO/scripts/libvirt-up.sh" || exit 1
bench_mount "qemu:///system" "stop-timeout = 1; resync-interval = 30;"
bench_reconciler
mkdir "$BT/mnt/offerings/tiny"
echo 64M > "$BT/mnt/offerings/tiny/memory"
VM="$BC/vms/b1"
mkdir "$VM"
echo tiny > "$VM/offering"
echo running > "$VM/state"
# Not status/wait: in a new cloud the first start can fail once (its NIC's
# VPC network is still being made; the reconciler retries), and wait
# returns that error.
for _ in $(seq 1 600); do [ "$(cat "$VM/status/state")" = running ] && break; sleep 0.1; done
[ "$(cat "$VM/status/state")" = running ] || { echo "VM did not start" >&2; exit 1; }
dom=$(cat "$VM/status/domain")

# One line per event: "<EPOCHREALTIME> <path>".
{
  inotifywait -m -q -e modify --format '%w%f' "$VM" "$VM/status" 2>"$BT/inw.err" &
  echo $! > "$BT/inw.pid"
  wait
} | while read -r f; do echo "$EPOCHREALTIME $f"; done > "$BT/events.log" &
watcher=$!
sleep 1     # inotifywait -q prints nothing when ready; give it its watches

us() { local t="${1/./}"; echo "$((10#$t))"; }
# wait_event PATH AFTER_LINE: echo the time (µs) of the first event on PATH
# logged after line AFTER_LINE of the log.
wait_event() {
  local line
  while :; do
    line=$(tail -n +"$(($2 + 1))" "$BT/events.log" | grep -m1 " $1\$")
    [ -n "$line" ] && { us "${line%% *}"; return; }
    sleep 0.005   # the time is the watcher's, not this loop's
  done
}
lines() { wc -l < "$BT/events.log"; }

destroy=() after=() commit=() floor=() virsh_ms=()
for r in $(seq 1 "$RUNS"); do
  while [ "$(cat "$VM/status/state")" != running ]; do
    echo stopped > "$VM/state"; timeout 60 cat "$VM/wait" >/dev/null
    echo running > "$VM/state"; timeout 60 cat "$VM/wait" >/dev/null
  done
  sleep 0.2   # let the start's own status updates settle

  n=$(lines); t0=$(us "$EPOCHREALTIME")
  echo "value $r" > "$VM/description"
  t1=$(wait_event "$VM/description" "$n")
  floor+=($((t1 - t0)))

  n=$(lines); t0=$(us "$EPOCHREALTIME")
  $V destroy "$dom" >/dev/null
  t2=$(us "$EPOCHREALTIME")
  t1=$(wait_event "$VM/status/state" "$n")
  destroy+=($((t1 - t0)))
  after+=($((t1 - t2)))     # negative when the event beat virsh's own return
  # When the reconciler committed status/state (the changes log's time):
  # splits the reconciler's share from the notifier's.
  tc=$(sqlite3 "$BT/store.db" "SELECT max(time) / 1000 FROM changes WHERE op = 'status'
                                AND attr = 'state' AND new = 'stopped'")
  commit+=($((t1 - tc)))
  virsh_ms+=($((t2 - t0)))
done

ms() { awk '{printf "%.2f\n", $1 / 1000}'; }
echo "machine: $(nproc) cores, KVM: $([ -e /dev/kvm ] && echo yes || echo no); $RUNS runs"
header
# vs_floor NAME MS...: the median and p95 of these figures, each against
# the same statistic of the floor (a plain write -> IN_MODIFY).
vs_floor() {
  local name="$1" stat
  shift
  for stat in median p95; do
    row "$name ($stat)" "$(printf '%s\n' "$@" | $stat | ms)" \
        "write -> IN_MODIFY ($stat)" "$(printf '%s\n' "${floor[@]}" | $stat | ms)" ms
  done
}
vs_floor "virsh destroy -> IN_MODIFY status/state" "${destroy[@]}"
vs_floor "virsh destroy returned -> IN_MODIFY" "${after[@]}"
vs_floor "status/state committed -> IN_MODIFY" "${commit[@]}"
echo "virsh destroy itself: median $(printf '%s\n' "${virsh_ms[@]}" | median | ms) ms, p95 $(printf '%s\n' "${virsh_ms[@]}" | p95 | ms) ms"
echo "results: $CSV"
