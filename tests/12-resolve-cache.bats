#!/usr/bin/env bats
# The mount caches path lookups (src/fs/resolve_cache.c) for one store
# generation: a change by the mount itself or by anyone else through SQLite
# is seen by the very next lookup, never a stale resource.

load helpers

setup() { cfs_start; }
teardown() { cfs_stop; }

@test "a rename made behind the mount's back is seen at once" {
  mkdir "$C/vms/rc1"
  for i in 1 2 3; do cat "$C/vms/rc1/state" >/dev/null; done    # cached now
  sqlite3 -cmd ".timeout 30000" "$DB" "UPDATE resources SET name='rc2' WHERE kind='vm' AND name='rc1'"
  # The kernel may still hold the old dentry; the open reaches the mount.
  run cat "$C/vms/rc1/state"
  [ "$status" -ne 0 ]
  [ "$(cat "$C/vms/rc2/state")" = stopped ]
}

@test "rmdir and mkdir of the same name: writes reach the new resource" {
  mkdir "$C/vms/rc3"
  echo "first" > "$C/vms/rc3/description"
  old=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='rc3'")
  rmdir "$C/vms/rc3"
  mkdir "$C/vms/rc3"
  new=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='rc3' AND deleted=0")
  [ "$old" != "$new" ]
  echo "second" > "$C/vms/rc3/description"
  [ "$(sqlite3 "$DB" "SELECT value FROM attrs WHERE res=$new AND name='description'")" = second ]
  [ "$(cat "$C/vms/rc3/description")" = second ]
}

@test "a resource deleted behind the mount's back is gone at once" {
  mkdir "$C/vms/rc4"
  cat "$C/vms/rc4/state" >/dev/null
  id=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='rc4'")
  sqlite3 -cmd ".timeout 30000" "$DB" "DELETE FROM attrs WHERE res=$id; DELETE FROM resources WHERE id=$id"
  run cat "$C/vms/rc4/state"
  [ "$status" -ne 0 ]
}
