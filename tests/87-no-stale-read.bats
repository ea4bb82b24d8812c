#!/usr/bin/env bats
# No stale read: a read that starts after a write has returned never sees
# an older value, whoever wrote it (this mount, another mount of the same
# store, the reconciler through the store).  Guards any caching of values
# in the kernel (issue 20's page-cache reads).
#
# A writer writes sequence numbers into a VM's description and, once each
# write has returned, publishes the number in a file on the local disk; a
# reader, a separate process, reads the published number and then the
# description, and records any description older than what was published.

load helpers

setup_file() { cfs_start; }
teardown_file() {
  [ -n "${MNT2:-}" ] && { fusermount3 -u "$MNT2" 2>/dev/null || fusermount3 -uz "$MNT2" 2>/dev/null; }
  [ -n "${MNT2_PID:-}" ] && reap_pid "$MNT2_PID"
  [ -n "${T:-}" ] && [ -f "$T/mount2.log" ] &&
    grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/mount2.log" >&2 && return 1
  cfs_stop
}

# reader DESC PUB OUT LAST: read PUB then DESC until DESC reads LAST; each
# stale read is a line in OUT; the number of rounds is the last line.
reader() {
  bash -c '
    desc=$1 pub=$2 out=$3 last=$4 n=0
    while :; do
      p=""; v=""
      read -r p < "$pub" 2>/dev/null
      read -r v < "$desc" || { echo "read failed" >> "$out"; exit 1; }
      case "$v" in ""|*[!0-9]*) echo "not a number: \"$v\"" >> "$out"; exit 1 ;; esac
      case "$p" in ""|*[!0-9]*) p=0 ;; esac
      [ "$v" -lt "$p" ] && echo "stale: read $v after $p had returned" >> "$out"
      n=$((n + 1))
      [ "$v" -ge "$last" ] && break
    done
    echo "rounds $n" >> "$out"' _ "$@"
}

# rounds WRITE_DIR READ_DIR N: N writes through WRITE_DIR's description,
# read concurrently through READ_DIR's.
rounds() {
  local wdir="$1" rdir="$2" n="$3" out="$T/reader.$RANDOM" pub="$T/published" i
  echo 0 > "$wdir/description"
  echo 0 > "$pub"
  : > "$out"
  reader "$rdir/description" "$pub" "$out" "$n" &
  local rpid=$!
  for ((i = 1; i <= n; i++)); do
    echo "$i" > "$wdir/description" || { kill "$rpid"; return 1; }
    echo "$i" > "$pub"
  done
  local rrc=0
  wait "$rpid" || rrc=$?
  cat "$out"
  [ "$rrc" = 0 ]
  ! grep -v '^rounds ' "$out"
  # The reader really ran alongside: it read many times, not once at the end.
  [ "$(sed -n 's/^rounds //p' "$out")" -ge 100 ]
  [ "$(cat "$rdir/description")" = "$n" ]
}

@test "a reader never sees an older description after the write returned (one mount)" {
  mkdir "$C/vms/ns1"
  cat "$C/vms/ns1/description" > /dev/null   # in the page cache from here on
  rounds "$C/vms/ns1" "$C/vms/ns1" 10000
}

@test "nor when the writer is another mount of the same store" {
  MNT2="$T/mnt2"
  mkdir -p "$MNT2"
  "$CLOUDFS_BIN" -c "$CONF" mount -f "$MNT2" >>"$T/mount2.log" 2>&1 &
  MNT2_PID=$!
  for _ in $(seq 1 100); do [ -e "$MNT2/version" ] && break; sleep 0.05; done
  [ -e "$MNT2/version" ]
  mkdir "$C/vms/ns2"
  cat "$C/vms/ns2/description" > /dev/null
  rounds "$MNT2/zones/default/clusters/default/vms/ns2" "$C/vms/ns2" 2000
  fusermount3 -u "$MNT2"
  reap_pid "$MNT2_PID"
  MNT2_PID=""
}

@test "a status written through the store is read fresh at once, before the feed wakes" {
  mkdir "$C/vms/ns3"
  id=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='ns3'")
  path=$(sqlite3 "$DB" "SELECT path FROM changes WHERE res=$id AND op='create' LIMIT 1")
  [ -n "$path" ]
  # The reconciler's way (store_status_set): the row and its change entry in
  # one commit; sqlite3 does not touch the store's notify file, so the
  # mount's feed wakes only at its 2 s safety poll.
  for s in running stopped crashed running-again; do
    [ -n "$(cat "$C/vms/ns3/status/state"; cat "$C/vms/ns3/status/state")" ] || [ "$s" = running ]
    sqlite3 -cmd ".timeout 30000" "$DB" "BEGIN;
      INSERT OR REPLACE INTO status(res, name, value, mtime) VALUES($id, 'state', '$s', 0);
      INSERT INTO changes(time, res, kind, path, op, attr, old, new, actor, origin)
        VALUES(0, $id, 'vm', '$path', 'status', 'state', NULL, '$s', 'test', 'test');
      COMMIT"
    [ "$(cat "$C/vms/ns3/status/state")" = "$s" ]
  done
}
