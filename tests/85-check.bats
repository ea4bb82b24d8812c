#!/usr/bin/env bats
# cloudfs check: a clean store passes; each kind of damage, made behind
# cloudfs's back with sqlite3 or virsh, is reported on its own line.

load compute_helpers

setup_file() {
  STOP_TIMEOUT=1 compute_start
  make_tiny_offering tiny 64M
  mkdir "$C/vms/k1" "$C/vms/k2"
  echo tiny > "$C/vms/k1/offering"
  echo tiny > "$C/vms/k2/offering"
  echo running > "$C/vms/k1/state"
  wait_until 60 file_is "$C/vms/k1/status/state" running
  cat "$C/vms/k1/wait" >/dev/null
}

teardown_file() {
  f=$(cat "$T/foreign.name" 2>/dev/null || true)
  [ -z "$f" ] || { $VIRSH undefine "$f" >/dev/null 2>&1 || true; }
  compute_stop
}

# check [ARGS]: run cloudfs check on this file's store; output in $out, exit in $rc.
check() {
  rc=0
  out=$("$CLOUDFS_BIN" -c "$CONF" check "$@" 2>"$T/check.err") || rc=$?
}

# The qemu:///system of a test machine is shared: other stores' domains and
# networks show up as orphans.  Keep only the lines about this store's
# resources and the foreign domain this file defines.
ours() {
  local keep u
  keep=$(sqlite3 "$DB" "SELECT uuid FROM resources"; echo "${FOREIGN_UUID:-none}")
  while IFS= read -r line; do
    case "$line" in
      *": orphan "*" has UUID "*)
        u=${line##* has UUID }
        grep -qxF "$u" <<<"$keep" && printf '%s\n' "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <<<"$out"
}

# with_sql SQL...: apply SQL to the store (behind cloudfs's back).
# A busy timeout: the daemons may hold the write lock for a moment.
with_sql() { sqlite3 -cmd ".timeout 30000" "$DB" "$@"; }

vm_id() { sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='$1' AND deleted=0"; }

@test "a clean store passes (store only): exit 0, no output" {
  check -n
  [ "$rc" = 0 ] || { echo "$out"; cat "$T/check.err"; false; }
  [ -z "$out" ]
}

@test "a clean store with a running VM passes against the host" {
  check
  [ -z "$(ours)" ] || { ours; false; }
  # Whatever is left comes from other stores on the shared libvirtd.
  if [ -z "$out" ]; then [ "$rc" = 0 ]; else [ "$rc" = 1 ]; fi
}

@test "usage errors exit 2" {
  check --bogus
  [ "$rc" = 2 ]
  check -t x
  [ "$rc" = 2 ]
}

@test "an invalid stored value is reported" {
  with_sql "UPDATE attrs SET value='bogus' WHERE res=$(vm_id k2) AND name='state'"
  check -n
  with_sql "UPDATE attrs SET value='stopped' WHERE res=$(vm_id k2) AND name='state'"
  [ "$rc" = 1 ]
  grep -qx "zones/default/clusters/default/vms/k2: state: stored value 'bogus' is invalid: state: 'bogus' is not one of: running, stopped, paused" <<<"$out"
  [ "$(wc -l <<<"$out")" = 1 ]
}

@test "a value out of normal form, a control byte, a dangling reference" {
  id=$(vm_id k2)
  with_sql "UPDATE attrs SET value='40960M' WHERE res=$id AND name='root-size';
            UPDATE attrs SET value='a'||char(10)||'b' WHERE res=$id AND name='description';
            UPDATE attrs SET value='gone' WHERE res=$id AND name='offering'"
  check -n
  with_sql "UPDATE attrs SET value='40G' WHERE res=$id AND name='root-size';
            UPDATE attrs SET value='' WHERE res=$id AND name='description';
            UPDATE attrs SET value='tiny' WHERE res=$id AND name='offering'"
  [ "$rc" = 1 ]
  grep -q "vms/k2: root-size: stored value '40960M' is not in normal form" <<<"$out"
  grep -q 'vms/k2: description: stored value .a\\x0ab. is invalid' <<<"$out"
  grep -q "vms/k2: offering: offering 'gone' does not exist" <<<"$out"
  [ "$(wc -l <<<"$out")" = 3 ]
  check -n
  [ "$rc" = 0 ]
}

@test "rows of missing resources, unknown attributes and status names" {
  with_sql "INSERT INTO attrs VALUES(99999, 'state', 'running', 0);
            INSERT INTO attrs VALUES($(vm_id k2), 'colour', 'blue', 0);
            INSERT INTO status VALUES($(vm_id k2), 'mood', 'happy', 0);
            INSERT INTO resources(parent, kind, name, uuid, ctime, mtime)
              VALUES(88888, 'vm', 'lost', '11111111-2222-4333-8444-555555555555', 0, 0)"
  check -n
  # The reconciler may have written an error on 'lost' meanwhile: it goes too.
  with_sql "DELETE FROM attrs WHERE res=99999 OR name='colour'; DELETE FROM status WHERE name='mood';
            DELETE FROM status WHERE res IN (SELECT id FROM resources WHERE name='lost');
            DELETE FROM resources WHERE name='lost'"
  [ "$rc" = 1 ]
  grep -qx "store: attribute state of resource 99999, which does not exist" <<<"$out"
  grep -q "vms/k2: attribute 'colour' is not in the layout of a vm" <<<"$out"
  grep -q "vms/k2: status 'mood' is not in the layout of a vm" <<<"$out"
  grep -q "vms/lost: parent resource 88888 does not exist" <<<"$out"
}

@test "a collection count out of step with its rows" {
  cl=$(sqlite3 "$DB" "SELECT parent FROM resources WHERE kind='vm' AND name='k1'")
  n=$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE parent=$cl AND kind='vm' AND deleted=0")
  [ "$(stat -c %h "$C/vms")" = $((n + 2)) ]
  with_sql "UPDATE counts SET n = n + 5 WHERE parent=$cl AND kind='vm'"
  check -n
  with_sql "UPDATE counts SET n = n - 5 WHERE parent=$cl AND kind='vm'"
  [ "$rc" = 1 ]
  grep -qx "zones/default/clusters/default: count of vm is stored as $((n + 5)) but $n exist" <<<"$out"
  [ "$(wc -l <<<"$out")" = 1 ] || { echo "$out"; false; }
}

@test "status/host naming a host that does not exist" {
  with_sql "UPDATE status SET value='nowhere' WHERE res=$(vm_id k1) AND name='host'"
  check -n
  with_sql "UPDATE status SET value='local' WHERE res=$(vm_id k1) AND name='host'"
  [ "$rc" = 1 ]
  grep -q "vms/k1: status/host names host 'nowhere', which does not exist" <<<"$out"
}

@test "links: a target shared by two VMs, a missing target, too many links" {
  mkdir "$C/volumes/kv1"
  vol=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='volume' AND name='kv1'")
  with_sql "INSERT INTO links VALUES($(vm_id k1), 'volumes', $vol, 0);
            INSERT INTO links VALUES($(vm_id k2), 'volumes', $vol, 0);
            INSERT INTO links VALUES($(vm_id k2), 'volumes', 77777, 0)"
  for i in $(seq 1 25); do with_sql "INSERT INTO links VALUES($(vm_id k1), 'volumes', $((60000 + i)), 0)"; done
  check -n
  with_sql "DELETE FROM links"
  # The reconciler may have acted on the links inserted behind its back (k1
  # runs, so kv1 got plugged); rmdir is refused (EBUSY) until it unplugs it.
  wait_until 60 rmdir "$C/volumes/kv1"
  [ "$rc" = 1 ]
  grep -q "volumes/kv1: linked from 2 vm volumes/ directories; volumes links are exclusive" <<<"$out"
  grep -q "vms/k2: volumes: link to resource 77777, which does not exist" <<<"$out"
  grep -q "vms/k1: volumes: 26 links, at most 24 allowed" <<<"$out"
}

@test "the changes log going back in time, and its sequence counter" {
  last=$(last_seq)
  with_sql "UPDATE changes SET time = time - 3600000000000 WHERE seq = $last"
  check -n
  with_sql "UPDATE changes SET time = time + 3600000000000 WHERE seq = $last"
  [ "$rc" = 1 ]
  grep -q "^store: changes: seq $last is 3[56][0-9][0-9]\.[0-9]* s older than seq" <<<"$out" || { echo "$out"; false; }
  cp "$DB" "$T/copy.db"
  sqlite3 "$T/copy.db" "UPDATE sqlite_sequence SET seq = 1 WHERE name='changes'"
  sed "s|$DB|$T/copy.db|" "$CONF" > "$T/copy.conf"
  rc=0; out=$("$CLOUDFS_BIN" -c "$T/copy.conf" check -n 2>/dev/null) || rc=$?
  [ "$rc" = 1 ]
  grep -q "^store: changes: sequence counter 1 is below the last seq" <<<"$out"
}

@test "a damaged index fails PRAGMA integrity_check" {
  cp "$DB" "$T/broken.db"
  sqlite3 "$T/broken.db" "PRAGMA writable_schema=ON;
      UPDATE sqlite_master SET sql='CREATE INDEX resources_kind ON resources(name)'
      WHERE name='resources_kind'"
  sed "s|$DB|$T/broken.db|" "$CONF" > "$T/broken.conf"
  rc=0; out=$("$CLOUDFS_BIN" -c "$T/broken.conf" check -n 2>/dev/null) || rc=$?
  [ "$rc" = 1 ]
  grep -q "^store: integrity: .*resources_kind" <<<"$out"
}

@test "a tombstone whose teardown does not finish" {
  rc_stop
  mkdir "$C/vms/k3"
  rmdir "$C/vms/k3"
  check -n
  [ "$rc" = 0 ]                  # younger than the default 10 minutes
  check -n -t 0
  [ "$rc" = 1 ]
  grep -q "vms/.deleted-[0-9a-f-]*: deleted 0 minutes ago and still not torn down" <<<"$out"
  rc_start
  wait_until 30 bash -c "[ \$(sqlite3 '$DB' 'SELECT count(*) FROM resources WHERE deleted=1') = 0 ]"
  check -n -t 0
  [ "$rc" = 0 ]
}

@test "virsh destroy behind cloudfs's back: state differs from the domain" {
  dom=$(vm_domain k1)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 30 file_is "$C/vms/k1/status/state" stopped
  check
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/clusters/default/vms/k1: state is running but domain $dom is shut off" ]
  $VIRSH start "$dom" >/dev/null
  wait_until 30 file_is "$C/vms/k1/status/state" running
  check
  [ -z "$(ours)" ] || { ours; false; }
}

@test "virsh undefine behind cloudfs's back: the domain is missing" {
  echo stopped > "$C/vms/k1/state"
  cat "$C/vms/k1/wait"
  dom=$(vm_domain k1)
  rc_stop                       # it would define the domain again
  $VIRSH undefine "$dom" >/dev/null
  check
  rc_start
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/clusters/default/vms/k1: domain $dom is missing on host local" ]
  wait_until 30 domstate_is "$dom" "shut off"     # the restarted reconciler repairs it
  check
  [ -z "$(ours)" ] || { ours; false; }
}

@test "a foreign cfs-UUID domain with no VM is an orphan" {
  FOREIGN_UUID=$(cat /proc/sys/kernel/random/uuid)
  FOREIGN="cfs-$FOREIGN_UUID"
  export FOREIGN FOREIGN_UUID
  cat > "$T/foreign.xml" <<XML
<domain type='$(host_domain_type)'><name>$FOREIGN</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
  $VIRSH define "$T/foreign.xml" >/dev/null
  echo "$FOREIGN" > "$T/foreign.name"
  check
  $VIRSH undefine "$FOREIGN" >/dev/null
  [ "$rc" = 1 ]
  ours | grep -qx "zones/default/clusters/default/hosts/local: orphan domain $FOREIGN: no VM has UUID $FOREIGN_UUID"
}
