#!/usr/bin/env bats
# Retention, full size (issue 19): 100,000 changes with a 2 s retention of
# the changes log and the audit.  The store file stops growing once the
# pruning keeps pace, and cloudfs check stays clean.  Observers: sqlite3
# (page_count, row counts), cloudfs check.

load common

teardown() { compute_stop; }

q() { sqlite3 -cmd ".timeout 30000" "$DB" "$@"; }

# writes N: N writes of a VM's description, one open/write/close each.
writes() {
  python3 - "$C/vms/rv/description" "$1" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(path, "w") as f:
        f.write("d%d\n" % i)
PY
}

few_left() { [ "$(q 'SELECT count(*) FROM changes')" -lt 2000 ] && [ "$(q 'SELECT count(*) FROM audit')" -lt 2000 ]; }

@test "100,000 changes with a short retention: the store stops growing, check is clean" {
  RESYNC=1 CFS_EXTRA_CONF="changes-retention = 2; audit-retention = 2;" \
    CFS_TEST_URI=test:///default compute_start
  mkdir "$C/vms/rv"
  writes 20000
  wait_until 300 few_left
  at20=$(q "PRAGMA page_count")
  for round in 1 2 3 4; do writes 20000; done
  wait_until 300 few_left
  at100=$(q "PRAGMA page_count")
  echo "pages after 20,000 changes: $at20; after 100,000: $at100" >&3
  [ "$at100" -le $((at20 + at20 / 10 + 16)) ]
  "$CLOUDFS_BIN" -c "$CONF" check -n
}
