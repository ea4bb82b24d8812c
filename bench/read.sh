#!/usr/bin/env bash
# Attribute read: open+read+close of a status file through the mount,
# against the same read on tmpfs and on a minimal libfuse filesystem serving
# a constant with cloudfs's mount options (the FUSE floor, bench/fusefloor.c).
#   bench/read.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"
csv_init read
FLOOR_PID=""
trap '[ -n "$FLOOR_PID" ] && { fusermount3 -u "$BT/floor" 2>/dev/null; wait "$FLOOR_PID"; }; bench_cleanup' EXIT

bench_mount "test:///default"
mkdir "$BC/vms/vm1"
mkdir -p "$BT/tmpfs" "$BT/floor"
mount -t tmpfs none "$BT/tmpfs"
mkdir -p "$BT/tmpfs/vms/vm1/status"
echo stopped > "$BT/tmpfs/vms/vm1/state"
echo "" > "$BT/tmpfs/vms/vm1/status/state"
"$BUILD/fusefloor" "$BT/floor" &
FLOOR_PID=$!
for _ in $(seq 1 100); do [ -e "$BT/floor/state" ] && break; sleep 0.05; done

us() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns / 1000}'; }
ours=$("$BUILD/readloop" "$BC/vms/vm1/status/state")
spec=$("$BUILD/readloop" "$BC/vms/vm1/state")
tmp=$("$BUILD/readloop" "$BT/tmpfs/vms/vm1/status/state")
flr=$("$BUILD/readloop" "$BT/floor/state")
row "read vms/vm1/status/state (open+read+close)" "$(us "$ours")" "tmpfs same path" "$(us "$tmp")" us
row "read vms/vm1/status/state (open+read+close)" "$(us "$ours")" "FUSE floor (constant file)" "$(us "$flr")" us
row "read vms/vm1/state (spec attribute)" "$(us "$spec")" "FUSE floor (constant file)" "$(us "$flr")" us
