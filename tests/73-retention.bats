#!/usr/bin/env bats
# Retention (cloudfs.conf(5) changes-retention, audit-retention): the
# changes log and the audit lose what is older than their periods once every
# consumer has read it, the newest spec entry of each resource stays (wait
# compares with it), and the store file stops growing.  Observed with
# sqlite3 on the store.

load compute_helpers

setup_file() {
  RESYNC=1 CFS_EXTRA_CONF="changes-retention = 2; audit-retention = 2;" compute_start
  mkdir "$C/vms/rv"          # stopped: the reconciler answers wait, no domain
}

teardown_file() {
  compute_stop
}

q() { sqlite3 -cmd ".timeout 30000" "$DB" "$@"; }

# writes N: N writes of a VM's description through the mount.
writes() {
  local i
  for i in $(seq 1 "$1"); do echo "d$i" > "$C/vms/rv/description"; done
}

few_left() { [ "$(q 'SELECT count(*) FROM changes')" -lt "$1" ] && [ "$(q 'SELECT count(*) FROM audit')" -lt "$1" ]; }

@test "entries older than the retention go; each resource's newest spec entry stays" {
  a0=$(q 'SELECT coalesce(max(id), 0) FROM audit')
  c0=$(q 'SELECT coalesce(max(seq), 0) FROM changes')
  writes 1000
  zr=$(q "SELECT id FROM resources WHERE kind='vm' AND name='rv'")
  newest=$(q "SELECT max(seq) FROM changes WHERE res=$zr AND op='set'")
  [ "$(q 'SELECT max(seq) FROM changes')" -ge $((c0 + 1000)) ]
  # Every write was audited (a slow run may already have pruned the first).
  [ "$(q 'SELECT max(id) FROM audit')" -ge $((a0 + 1000)) ]
  wait_until 90 few_left 100
  # The generation wait compares with is unchanged.
  [ "$(q "SELECT max(seq) FROM changes WHERE res=$zr AND op IN ('create','set','link','unlink','delete')")" = "$newest" ]
  [ "$(q "SELECT new FROM changes WHERE seq=$newest")" = d1000 ]
  echo again > "$C/vms/rv/description"
  timeout 30 cat "$C/vms/rv/wait" >/dev/null
  # Recent audit rows are still append-only.
  run q "DELETE FROM audit"
  [ "$status" -ne 0 ]
  [[ "$output" == *"audit is append-only"* ]]
  "$CLOUDFS_BIN" -c "$CONF" check -n
  grep -q "retention: pruned [0-9]* change entries, [0-9]* audit rows" "$T/reconcile.log"
}

@test "a consumer that has not read an entry keeps it until it reads or goes stale" {
  writes 10
  wait_until 90 few_left 100
  seq=$(last_seq)
  now=$(q "SELECT CAST(strftime('%s','now') AS INTEGER) * 1000000000")
  q "INSERT INTO cursors VALUES('slow reader', $seq, $now)"
  writes 300
  sleep 6      # several prune rounds (every 2 s here)
  [ "$(q "SELECT count(*) FROM changes WHERE seq > $seq")" -ge 300 ]
  # A reader that has not reported for 10 minutes is not waited for.
  q "UPDATE cursors SET time = time - 700000000000 WHERE name='slow reader'"
  wait_until 90 few_left 100
}

@test "the store file stops growing under steady changes" {
  pages() { q "PRAGMA page_count"; }
  writes 1500
  wait_until 90 few_left 100
  first=$(pages)
  writes 1500
  wait_until 90 few_left 100
  writes 1500
  wait_until 90 few_left 100
  last=$(pages)
  echo "pages after 1,500 writes: $first; after 4,500: $last" >&3
  [ "$last" -le $((first + first / 10 + 8)) ]
}
