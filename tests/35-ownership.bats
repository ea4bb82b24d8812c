#!/usr/bin/env bats
# Ownership is POSIX: chown gives a tenant (uid 1000) a resource; the kernel
# (default_permissions) then lets the tenant write that resource's attributes
# and nothing of root's; in the sticky vms/ it makes and removes its own.

load helpers
load checks

TENANT=1000

setup_file() {
  cfs_start
  # mktemp made $T private; the tenant has to reach the mount point.
  chmod 755 "$T"
  mkdir "$C/vms/mine" "$C/vms/roots"
}
teardown_file() { cfs_stop; }

# as_tenant CMD...: run CMD as uid/gid 1000 without supplementary groups (no
# passwd entry is needed).
as_tenant() {
  setpriv --reuid="$TENANT" --regid="$TENANT" --clear-groups "$@"
}

@test "chown gives the resource and its files to the tenant, in the store too" {
  [ "$(stat -c %u:%g "$C/vms/mine")" = 0:0 ]
  chown "$TENANT:$TENANT" "$C/vms/mine"
  for f in "" /state /description /password /status /status/state /volumes; do
    [ "$(stat -c %u:%g "$C/vms/mine$f")" = "$TENANT:$TENANT" ] || {
      echo "owner of mine$f: $(stat -c %u:%g "$C/vms/mine$f")" >&2; return 1; }
  done
  [ "$(sqlite3 "$DB" "SELECT uid || ':' || gid FROM resources WHERE name = 'mine'")" = "$TENANT:$TENANT" ]
  [ "$(sqlite3 "$DB" "SELECT new FROM changes WHERE op = 'chown' AND path LIKE '%/vms/mine'")" = "$TENANT:$TENANT" ]
  [ "$(stat -c %u:%g "$C/vms/roots/state")" = 0:0 ]
  [ "$(stat -c %u:%g "$C/vms")" = 0:0 ]
}

@test "the tenant writes its own vm with echo, sed -i and a rename" {
  as_tenant sh -c "echo running > '$C/vms/mine/state'"
  [ "$(db_attr vm mine state)" = running ]
  as_tenant sed -i 's/running/paused/' "$C/vms/mine/state"
  [ "$(db_attr vm mine state)" = paused ]
  as_tenant sh -c "echo 'tenant text' > '$C/vms/mine/.d.tmp' && mv '$C/vms/mine/.d.tmp' '$C/vms/mine/description'"
  [ "$(db_attr vm mine description)" = "tenant text" ]
  as_tenant sh -c "echo tenant-pw > '$C/vms/mine/password'"
  pw_hash_of "$(db_attr vm mine password)" tenant-pw
  # the write is recorded as the tenant's
  [ "$(sqlite3 "$DB" "SELECT uid FROM changes WHERE op = 'set' AND attr = 'description' AND path LIKE '%/vms/mine'")" = "$TENANT" ]
  # secrets stay unreadable, even to their owner
  run as_tenant cat "$C/vms/mine/password"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
}

@test "the tenant cannot write, remove or rename root's vm, or take ownership (kernel EACCES/EPERM)" {
  refused "$E_ACCES" as_tenant sh -c "echo running > '$C/vms/roots/state'"
  [ "$(db_attr vm roots state)" = stopped ]
  refused "$E_ACCES" as_tenant sed -i 's/stopped/running/' "$C/vms/roots/state"
  # vms/ is sticky (1777, as /tmp): others' resources stay where they are
  refused "$E_PERM" as_tenant rmdir "$C/vms/roots"
  refused "$E_PERM" as_tenant mv "$C/vms/roots" "$C/vms/roots2"
  refused "$E_ACCES" as_tenant sh -c "echo 8 > '$MNT/offerings/1C2G/cpus'"
  refused "$E_ACCES" as_tenant mkdir "$MNT/offerings/big"
  refused "$E_PERM" as_tenant chown "$TENANT" "$C/vms/roots"
  refused "$E_PERM" as_tenant chown 0 "$C/vms/mine"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE uid = $TENANT AND deleted = 0")" = 1 ]
}

@test "the tenant makes, renames and removes its own vms in the sticky vms/" {
  as_tenant mkdir "$C/vms/tenant-new"
  [ "$(stat -c %u "$C/vms/tenant-new")" = "$TENANT" ]
  [ "$(sqlite3 "$DB" "SELECT uid FROM resources WHERE name = 'tenant-new' AND deleted = 0")" = "$TENANT" ]
  as_tenant mv "$C/vms/tenant-new" "$C/vms/tenant-two"
  as_tenant rmdir "$C/vms/tenant-two"
  [ ! -e "$C/vms/tenant-two" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE uid = $TENANT AND deleted = 0")" = 1 ]
}

@test "root keeps administering the tenant's vm and can give it back" {
  echo stopped > "$C/vms/mine/state"
  [ "$(db_attr vm mine state)" = stopped ]
  chown 0:0 "$C/vms/mine"
  [ "$(stat -c %u "$C/vms/mine/state")" = 0 ]
  refused "$E_ACCES" as_tenant sh -c "echo running > '$C/vms/mine/state'"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE uid = $TENANT AND deleted = 0")" = 0 ]
}
