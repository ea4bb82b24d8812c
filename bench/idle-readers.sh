#!/usr/bin/env bash
# Idle blocked readers (issue 13): the mount's CPU time and threads while N
# readers of /events and of wait files block with nothing to read, against
# the same mount with no reader, in one run.  Readers sleep on the change
# feed and wake only for a 500 ms interrupt tick: the CPU cost should stay
# near the idle mount's (it was 10 SQLite queries a second per reader).
#   bench/idle-readers.sh [N]    (default 400, quick: 40; the mount is
#   configured with mount-readers = N)
set -uo pipefail
. "$(dirname "$0")/common.sh"
N="${1:-$(quick && echo 40 || echo 400)}"
WINDOW=$(quick && echo 5 || echo 10)
csv_init idle-readers
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  bench_cleanup
}
trap cleanup EXIT

bench_mount "test:///default" "mount-readers = $N; user-readers = $N;"
MPID=$(cat "$BT/mount.pid")
mkdir "$BC/vms/idle1"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$MPID/stat"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$MPID/status"; }
# cpu_ms: the mount's CPU time (ms) over WINDOW seconds
cpu_ms() {
  local c0 c1
  c0=$(ticks); sleep "$WINDOW"; c1=$(ticks)
  echo $(( (c1 - c0) * 1000 / hz ))
}

sleep 1
base_cpu=$(cpu_ms)
base_threads=$(threads)
# Half of them on /events, half on a wait file that never converges (no
# reconciler runs).
for i in $(seq 1 "$N"); do
  if [ $((i % 2)) = 0 ]; then cat "$BT/mnt/events" >/dev/null 2>&1 &
  else cat "$BC/vms/idle1/wait" >/dev/null 2>&1 &
  fi
  pids+=($!)
done
# all open and blocked: one thread each
for _ in $(seq 1 300); do [ "$(threads)" -ge "$N" ] && break; sleep 0.1; done
sleep 1
ours_cpu=$(cpu_ms)
ours_threads=$(threads)
row "mount CPU ms in ${WINDOW}s with $N idle blocked readers" "$ours_cpu" "same mount with no reader" "$base_cpu" ms
row "mount threads with $N idle blocked readers" "$ours_threads" "same mount with no reader" "$base_threads" n
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()
# killed readers give their threads back (idle ones beyond 16 exit)
for _ in $(seq 1 100); do [ "$(threads)" -le $((base_threads + 16)) ] && break; sleep 0.1; done
row "mount threads once the $N readers were killed" "$(threads)" "same mount with no reader" "$base_threads" n
