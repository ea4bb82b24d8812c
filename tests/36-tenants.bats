#!/usr/bin/env bats
# Tenants against each other and against the root daemons (issue 13): two
# unprivileged local users, cfs-alice and cfs-bob, try the attacks of the
# issue's "Found" list; each must now fail with a clear errno and leak nothing.

load compute_helpers
load checks

setup_file() {
  local u
  getent group cfs-ops >/dev/null || groupadd --system cfs-ops
  for u in cfs-alice cfs-bob; do
    id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$u"
  done
  # alice administers (admin-group), bob is a plain tenant
  usermod -a -G cfs-ops cfs-alice
  export CFS_EXTRA_CONF='admin-group = "cfs-ops"; metrics-interval = 1; image-dir = "@T@/images"; console-dir = "@T@/console"; stop-timeout = 2;'
  cfs_start
  # mktemp made $T private; the tenants have to reach the mount point.
  chmod 755 "$T"
  mkdir "$C/vms/alices"
  chown cfs-alice:cfs-alice "$C/vms/alices"
}
teardown_file() { rc_stop; rc_cleanup_domains; cfs_stop; }

as_alice() { runuser -u cfs-alice -- "$@"; }

# vnc_valid_for VMDIR DOMAIN MIN MAX: the VM's VNC password expires MIN..MAX
# seconds from now, by status/vnc-valid-to and by libvirt's passwdValidTo
# (UTC), which agree.
vnc_valid_for() {
  local to lv now left
  to=$(cat "$1/status/vnc-valid-to")
  lv=$($VIRSH dumpxml --security-info "$2" | grep -o "passwdValidTo='[^']*'" | cut -d"'" -f2)
  now=$(date -u +%s)
  left=$(( $(date -u -d "$to" +%s) - now ))
  if [ "${lv}Z" != "$to" ] || [ "$left" -lt "$3" ] || [ "$left" -gt "$4" ]; then
    echo "vnc valid to '$to' (libvirt '$lv'), $left s from now, not in $3..$4" >&2
    return 1
  fi
}
as_bob() { runuser -u cfs-bob -- "$@"; }

# --- 1. the store ---------------------------------------------------------

@test "store: the database, its -wal/-shm and -notify are 0600 root; tenants cannot read or lock them" {
  echo secret-pw > "$C/vms/alices/password"
  for f in "$DB" "$DB-wal" "$DB-shm" "$DB-notify"; do
    [ -e "$f" ] || continue
    [ "$(stat -c %a:%u "$f")" = 600:0 ] || { echo "$f: $(stat -c %a:%u "$f")" >&2; return 1; }
  done
  run as_bob sqlite3 "$DB" "SELECT value FROM attrs"
  [ "$status" -ne 0 ]
  [[ "$output" != *secret-pw* ]]
  run as_bob cat "$DB"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
  # the attack of the issue: a read lock on -shm froze every write
  run as_bob python3 -c "import fcntl,sys; f=open(sys.argv[1],'rb'); fcntl.lockf(f, fcntl.LOCK_SH)" "$DB-shm"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Permission denied"* ]]
}

@test "store: wider modes of an existing store are narrowed at open; a new store directory is 0700" {
  cfs_umount
  chmod 644 "$DB" "$DB-notify"
  [ ! -e "$DB-wal" ] || chmod 644 "$DB-wal"
  [ ! -e "$DB-shm" ] || chmod 644 "$DB-shm"
  cfs_mount
  for f in "$DB" "$DB-wal" "$DB-shm" "$DB-notify"; do
    [ -e "$f" ] || continue
    [ "$(stat -c %a "$f")" = 600 ] || { echo "$f: $(stat -c %a "$f")" >&2; return 1; }
  done
  # a store in a directory that does not exist yet: created 0700
  local conf2="$T/other.conf" mnt2="$T/mnt2"
  mkdir "$mnt2"
  sed "s|^store = .*|store = \"$T/newdir/store.db\";|" "$CONF" > "$conf2"
  "$CLOUDFS_BIN" -c "$conf2" mount -f "$mnt2" >>"$T/mount2.log" 2>&1 &
  local pid=$!
  wait_until 10 test -e "$mnt2/version"
  fusermount3 -u "$mnt2"
  reap_pid "$pid"
  [ "$(stat -c %a:%u "$T/newdir")" = 700:0 ]
  [ "$(stat -c %a "$T/newdir/store.db")" = 600 ]
}

@test "store: a store directory others may write is refused at start" {
  local d="$T/opendir" conf2="$T/open.conf" mnt2="$T/mnt3"
  mkdir -m 777 "$d" "$mnt2"
  chmod 777 "$d"
  sed "s|^store = .*|store = \"$d/store.db\";|" "$CONF" > "$conf2"
  run timeout 20 "$CLOUDFS_BIN" -c "$conf2" mount -f "$mnt2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"writable by group or others"* ]]
  [ ! -e "$d/store.db" ]
}

# --- 2. operator attributes and kinds ---------------------------------------

@test "operator attributes: a tenant owning a host, pool or vm cannot set uri, path, ceph-conf, kernel, initrd" {
  local h="$C/hosts/local" p="$C/pools/local"
  mkdir "$C/vms/bobs"
  chown cfs-bob:cfs-bob "$h" "$p" "$C/vms/bobs"
  refused "$E_PERM" as_bob sh -c "echo 'qemu+ext:///system?command=/tmp/x' > '$h/uri'"
  reason_has "$h" "uri is an operator attribute"
  refused "$E_PERM" as_bob sh -c "echo test:///etc/shadow > '$h/uri'"
  refused "$E_PERM" as_bob sed -i 's|.*|test:///etc/passwd|' "$h/uri"
  refused "$E_PERM" as_bob sh -c "echo /etc > '$p/path'"
  reason_has "$p" "path is an operator attribute"
  refused "$E_PERM" as_bob sh -c "echo /tmp/evil.conf > '$p/ceph-conf'"
  refused "$E_PERM" as_bob sh -c "echo rbd > '$p/type'"
  refused "$E_PERM" as_bob sh -c "echo /etc/shadow > '$C/vms/bobs/kernel'"
  reason_has "$C/vms/bobs" "kernel is an operator attribute"
  refused "$E_PERM" as_bob sh -c "echo /root/initrd > '$C/vms/bobs/initrd'"
  # placement is the operator's: a tenant picks neither host nor pool
  refused "$E_PERM" as_bob sh -c "echo local > '$C/vms/bobs/host'"
  reason_has "$C/vms/bobs" "host is an operator attribute"
  refused "$E_PERM" as_bob sh -c "echo local > '$C/vms/bobs/pool'"
  mkdir "$C/volumes/bobv"
  chown cfs-bob:cfs-bob "$C/volumes/bobv"
  refused "$E_PERM" as_bob sh -c "echo local > '$C/volumes/bobv/pool'"
  rmdir "$C/volumes/bobv"
  # a webhook URL is posted to by root: a tenant's would reach loopback services
  mkdir "$MNT/notifications/bobn"
  chown cfs-bob:cfs-bob "$MNT/notifications/bobn"
  refused "$E_PERM" as_bob sh -c "echo http://127.0.0.1:631/ > '$MNT/notifications/bobn/url'"
  rmdir "$MNT/notifications/bobn"
  # what the owner may write still works
  as_bob sh -c "echo disabled > '$h/state'"
  [ "$(db_attr host local state)" = disabled ]
  echo enabled > "$h/state"
  # the audit keeps the refusals as bob's
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE uid = $(id -u cfs-bob) AND path LIKE '%/hosts/local/uri'")" -ge 1 ]
}

@test "operator attributes: root and a member of admin-group write them" {
  local h="$C/hosts/local" p="$C/pools/local"
  chown cfs-alice:cfs-alice "$h" "$p"
  as_alice sh -c "echo 'qemu:///session' > '$h/uri'"
  [ "$(db_attr host local uri)" = "qemu:///session" ]
  as_alice sh -c "echo '$T/pool2' > '$p/path'"
  [ "$(db_attr pool local path)" = "$T/pool2" ]
  echo "$T/pool" > "$p/path"
  echo "test:///default" > "$h/uri"
  [ "$(db_attr host local uri)" = "test:///default" ]
  chown 0:0 "$h" "$p"
}

@test "operator kinds: a tenant owning a cluster cannot create, rename or remove its hosts and pools" {
  # Collections belong to root 0755, so the kernel says EACCES first; the
  # mount's own check (EPERM) stands behind it for collections a tenant may
  # write one day.
  local cl="$MNT/zones/default/clusters/bobc"
  mkdir "$cl" "$cl/hosts/h1"
  chown cfs-bob:cfs-bob "$cl" "$cl/hosts/h1"
  refused "$E_ACCES" as_bob mkdir "$cl/hosts/h2"
  refused "$E_ACCES" as_bob mkdir "$cl/pools/p2"
  refused "$E_ACCES" as_bob mv "$cl/hosts/h1" "$cl/hosts/h3"
  refused "$E_ACCES" as_bob rmdir "$cl/hosts/h1"
  [ -d "$cl/hosts/h1" ]
  rmdir "$cl/hosts/h1" "$cl"
}

# --- 3. libvirt URIs ----------------------------------------------------------

@test "uri allow-list at write time: no ext transport, no command=/socket=/keyfile=, no other driver" {
  local h="$C/hosts/local"
  refused "$E_PERM" write_value "$h/uri" "qemu+ext:///system?command=$T/evil.sh"
  reason_has "$h" "transport 'ext' is refused"
  refused "$E_PERM" write_value "$h/uri" "qemu:///system?socket=$T/sock"
  reason_has "$h" "parameter 'socket' is refused"
  refused "$E_PERM" write_value "$h/uri" "qemu+ssh://h/system?keyfile=/root/.ssh/id_rsa"
  refused "$E_PERM" write_value "$h/uri" "qemu+ssh://h/system?no_verify=1&command=/bin/sh"
  refused "$E_PERM" write_value "$h/uri" "lxc:///system"
  refused "$E_PERM" write_value "$h/uri" "qemu:///embed?root=/tmp/x"
  # the shapes of the documentation stay accepted
  local u
  for u in qemu:///system qemu+ssh://root@node1/system qemu+tls://node1/system \
           "qemu+tcp://node1:16509/system?no_verify=1" qemu:///session test:///default; do
    write_value "$h/uri" "$u"
    [ "$(db_attr host local uri)" = "$u" ]
  done
}

@test "uri allow-list in the reconciler: a stored ext URI is never run; libvirt's text stays out of status/error" {
  local h="$C/hosts/local"
  printf '#!/bin/sh\ntouch %s/ran\n' "$T" > "$T/evil.sh"
  chmod 755 "$T/evil.sh"
  # written before the allow-list existed (straight into the store)
  sqlite3 "$DB" "UPDATE attrs SET value = 'qemu+ext:///system?command=$T/evil.sh'
                 WHERE name = 'uri' AND res = (SELECT id FROM resources WHERE kind = 'host' AND name = 'local')"
  rc_start
  wait_until 60 grep -q "transport 'ext' is refused" "$h/status/error"
  [ "$(cat "$h/status/connection")" = disconnected ]
  [ ! -e "$T/ran" ]
  # the test driver (allowed here by allow-test-uri) parsing a secret file:
  # status/error is world-readable and must not quote it
  printf 'root:$6$secrethash:19000:0:99999:7:::\n' > "$T/shadow"
  chmod 600 "$T/shadow"
  echo "test://$T/shadow" > "$h/uri"
  wait_until 60 grep -q "libvirt error" "$h/status/error"
  grep -q secrethash "$h/status/error" && false
  run as_bob cat "$h/status/error"
  [[ "$output" != *secrethash* ]]
  echo test:///default > "$h/uri"
  wait_until 60 file_is "$h/status/connection" connected
  rc_stop
  rc_check_log
}

@test "uri allow-list without allow-test-uri: test:/// is refused at write and in the reconciler" {
  local h="$C/hosts/local"
  cfs_umount
  sed -i 's/^allow-test-uri = .*/allow-test-uri = false;/' "$CONF"
  cfs_mount
  refused "$E_PERM" write_value "$h/uri" "test:///etc/shadow"
  reason_has "$h" "allow-test-uri"
  refused "$E_PERM" write_value "$h/uri" "qemu+unix:///system?socket=$T/sock"
  reason_has "$h" "parameter 'socket' is refused"
  rc_start
  wait_until 60 file_is "$h/status/connection" disconnected
  reason_has "$h" "the test driver is refused"
  rc_stop
  rc_check_log
  cfs_umount
  sed -i 's/^allow-test-uri = .*/allow-test-uri = true;/' "$CONF"
  cfs_mount
}

# --- 4. image source ----------------------------------------------------------

# (bash, not dash: dash reports every failed write of echo as EIO)

# img_as USER NAME: an image owned by USER.
img_as() {
  mkdir "$MNT/images/$2"
  chown "$1:$1" "$MNT/images/$2"
}

@test "image source: a tenant cannot name a file only root reads, a symlinked path or a FIFO" {
  img_as cfs-alice steal
  local a="$T/alice"
  mkdir -m 700 "$a"
  chown cfs-alice:cfs-alice "$a"
  printf 'root-only secret\n' > "$T/rootonly"
  chmod 600 "$T/rootonly"
  refused "$E_ACCES" as_alice bash -c "echo /etc/shadow > '$MNT/images/steal/source'"
  reason_has "$MNT/images/steal" "not readable by uid $(id -u cfs-alice)"
  refused "$E_ACCES" as_alice bash -c "echo '$T/rootonly' > '$MNT/images/steal/source'"
  # a symlinked directory in the path (root planted none: hers)
  as_alice ln -s /etc "$a/etcdir"
  refused "Too many levels of symbolic links" as_alice bash -c "echo '$a/etcdir/passwd' > '$MNT/images/steal/source'"
  reason_has "$MNT/images/steal" "symbolic link"
  as_alice ln -s /etc/passwd "$a/pw"
  refused "Too many levels of symbolic links" as_alice bash -c "echo '$a/pw' > '$MNT/images/steal/source'"
  as_alice mkfifo "$a/fifo"
  refused "$E_INVAL" timeout 20 runuser -u cfs-alice -- bash -c "echo '$a/fifo' > '$MNT/images/steal/source'"
  reason_has "$MNT/images/steal" "not a regular file"
  [ "$(db_attr image steal source)" = "" ]
}

@test "image source: the reconciler reads as the image's owner, never follows a swapped path, is not blocked by FIFOs" {
  local a="$T/alice" id
  img_as cfs-alice own
  # a sparse 64M raw image with some data
  as_alice sh -c "truncate -s 64M '$a/disk.raw' && printf 'bootsector' | dd of='$a/disk.raw' conv=notrunc status=none"
  as_alice bash -c "echo '$a/disk.raw' > '$MNT/images/own/source'"
  # what a swap after the write would give the root reconciler: paths
  # stored behind the mount's back
  img_as cfs-alice swapped
  img_as cfs-alice fifo1
  img_as cfs-alice fifo2
  img_as cfs-alice linked
  for id in swapped:/etc/shadow fifo1:$a/fifo fifo2:$a/fifo linked:$a/etcdir/passwd; do
    sqlite3 "$DB" "UPDATE attrs SET value = '${id#*:}' WHERE name = 'source'
                   AND res = (SELECT id FROM resources WHERE kind = 'image' AND name = '${id%%:*}')"
  done
  rc_start
  wait_until 120 file_is "$MNT/images/own/status/state" available
  wait_until 60 file_is "$MNT/images/swapped/status/state" failed
  wait_until 60 file_is "$MNT/images/fifo1/status/state" failed
  wait_until 60 file_is "$MNT/images/fifo2/status/state" failed
  wait_until 60 file_is "$MNT/images/linked/status/state" failed
  reason_has "$MNT/images/swapped" "not readable by uid $(id -u cfs-alice)"
  reason_has "$MNT/images/fifo1" "not a regular file"
  reason_has "$MNT/images/linked" "symbolic link"
  # nothing of /etc/shadow in the catalogue; the good copy is root's, 0400, sparse
  local uuid f
  uuid=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind = 'image' AND name = 'swapped'")
  [ ! -e "$T/images/$uuid.img" ]
  uuid=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind = 'image' AND name = 'own'")
  f="$T/images/$uuid.img"
  [ "$(stat -c %a:%u "$f")" = 400:0 ]
  [ "$(stat -c %s "$f")" = $((64 * 1024 * 1024)) ]
  [ "$(du -k "$f" | cut -f1)" -lt 4096 ]
  [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(cat "$MNT/images/own/status/sha256")" ]
  run as_bob cat "$f"
  [ "$status" -ne 0 ]
  # the workers are free: a new import still goes through
  img_as cfs-alice after
  as_alice bash -c "echo '$a/disk.raw' > '$MNT/images/after/source'"
  wait_until 60 file_is "$MNT/images/after/status/state" available
  rc_stop
  rc_check_log
}

# --- 5. dir pools ---------------------------------------------------------------

@test "dir pools: volume files 0600, image copies 0400, the pool directory 0711; a tenant reads none" {
  local pool="$T/pool" f
  # what an older version left: a 0755 pool and a 0644 disk
  chmod 755 "$pool"
  printf 'old disk' > "$pool/cfs-vol-old.qcow2"
  chmod 644 "$pool/cfs-vol-old.qcow2"
  mkdir "$C/volumes/v1" "$C/volumes/v2"
  chown cfs-alice:cfs-alice "$C/volumes/v1" "$C/volumes/v2"
  as_alice bash -c "echo 10G > '$C/volumes/v1/size'"
  as_alice bash -c "echo own > '$C/volumes/v2/image'"
  rc_start
  [ "$(timeout 120 cat "$C/volumes/v1/wait")" = available ]
  [ "$(timeout 120 cat "$C/volumes/v2/wait")" = available ]
  [ "$(stat -c %a:%u "$pool")" = 711:0 ]
  [ "$(stat -c %a "$pool/cfs-vol-old.qcow2")" = 600 ]
  for f in "$(cat "$C/volumes/v1/status/path")" "$(cat "$C/volumes/v2/status/path")"; do
    [ "$(stat -c %a:%u "$f")" = 600:0 ] || { echo "$f: $(stat -c %a:%u "$f")" >&2; return 1; }
    run as_bob cat "$f"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$E_ACCES"* ]]
  done
  for f in "$pool"/cfs-img-*.qcow2; do
    [ "$(stat -c %a:%u "$f")" = 400:0 ]
  done
  run as_bob ls "$pool"
  [ "$status" -ne 0 ]
  rmdir "$C/volumes/v1" "$C/volumes/v2"
  rc_stop
  rc_check_log
}

# --- 6. secrets -------------------------------------------------------------------

@test "secrets: password and user-data text never reach /events, status/events, the changes log or the audit" {
  local v="$C/vms/alices" ud="#cloud-config
chpasswd: {list: 'root:hunter2-userdata-secret'}"
  (timeout 8 cat "$MNT/events" > "$T/events.txt" 2>/dev/null || true) &
  local reader=$!
  sleep 1
  as_alice bash -c "printf '%s\n' \"$ud\" > '$v/user-data'"
  as_alice bash -c "echo pw-secret-123 > '$v/password'"
  as_alice bash -c "printf 'more-userdata-secret\n' >> '$v/user-data'"
  pw_hash_of "$(db_attr vm alices password)" pw-secret-123
  db_attr vm alices user-data | grep -q hunter2-userdata-secret
  wait "$reader" || true
  grep -q '"attribute":"user-data"' "$T/events.txt"
  grep -q '"new":"<' "$T/events.txt"
  cat "$v/status/events" > "$T/status-events.txt"
  grep -q '"attribute":"user-data"' "$T/status-events.txt"
  sqlite3 "$DB" "SELECT old, new FROM changes" > "$T/changes.txt"
  sqlite3 "$DB" "SELECT value FROM audit" > "$T/audit.txt"
  cat "$MNT/audit" > "$T/audit-file.txt" 2>/dev/null || true
  for f in events status-events changes audit audit-file; do
    if grep -E "hunter2-userdata-secret|more-userdata-secret|pw-secret-123" "$T/$f.txt"; then
      echo "secret text in $f" >&2
      return 1
    fi
  done
  # the size is shown instead
  grep -qE '^<[0-9]+ bytes>' "$T/audit.txt"
}

@test "secrets: user-data is 0600, readable by its owner only" {
  local v="$C/vms/alices"
  [ "$(stat -c %a "$v/user-data")" = 600 ]
  as_alice cat "$v/user-data" | grep -q hunter2-userdata-secret
  run as_bob cat "$v/user-data"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
  [[ "$output" != *hunter2* ]]
}

# --- 7. VNC consoles -----------------------------------------------------------

@test "vnc: status/vnc and a random password are the owner's alone; the password reaches no event" {
  local v="$C/vms/alices" dom pw
  echo qemu:///system > "$C/hosts/local/uri"
  make_tiny_offering tiny 64M
  as_alice bash -c "echo tiny > '$v/offering'"
  rc_start
  as_alice bash -c "echo running > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = running ]
  wait_until 30 grep -Eq '^127\.0\.0\.1:[0-9]+$' "$v/status/vnc"
  [ "$(stat -c %a:%U "$v/status/vnc")" = 400:cfs-alice ]
  [ "$(stat -c %a:%U "$v/status/vnc-password")" = 400:cfs-alice ]
  [ "$(stat -c %a:%U "$v/status/vnc-valid-to")" = 400:cfs-alice ]
  as_alice grep -Eq '^127\.0\.0\.1:[0-9]+$' "$v/status/vnc"
  pw=$(as_alice cat "$v/status/vnc-password")
  [[ "$pw" =~ ^[A-Za-z0-9]{8}$ ]]
  # valid 300 s: status/vnc-valid-to and libvirt's passwdValidTo agree
  vnc_valid_for "$v" "$(vm_domain alices)" 240 300
  run as_bob cat "$v/status/vnc-valid-to"
  [ "$status" -ne 0 ]
  run as_bob cat "$v/status/vnc"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
  run as_bob cat "$v/status/vnc-password"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_ACCES"* ]]
  # libvirt has it; the world-readable domain.xml, the changes log and the
  # events do not
  dom=$(vm_domain alices)
  $VIRSH dumpxml --security-info "$dom" | grep -q "passwd='$pw'"
  grep -q "$pw" "$v/status/domain.xml" && false
  sqlite3 "$DB" "SELECT coalesce(old, '') || ' ' || coalesce(new, '') FROM changes" | grep -q "$pw" && false
  grep -q "$pw" "$v/status/events" && false
  # a description change redefines the running domain: same password
  as_alice bash -c "echo 'new text' > '$v/description'"
  timeout 60 cat "$v/wait" >/dev/null
  [ "$(cat "$v/status/vnc-password")" = "$pw" ]
  # each start gets a new one
  as_alice bash -c "echo stopped > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = stopped ]
  as_alice bash -c "echo running > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = running ]
  [ "$(cat "$v/status/vnc-password")" != "$pw" ]
  $VIRSH dumpxml --security-info "$dom" | grep -q "passwd='$(cat "$v/status/vnc-password")'"
  vnc_valid_for "$v" "$dom" 240 300
  as_alice bash -c "echo stopped > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = stopped ]
  rc_stop
  rc_check_log
}

@test "vnc: the password expires (passwdValidTo) and the reconciler renews it on the running domain before it does" {
  local v="$C/vms/alices" dom pw to pw2 to2
  rc_stop
  # a 20 s validity: renewed 4 s before it expires
  cp "$CONF" "$T/conf.before-vnc"
  echo 'vnc-password-validity = 20;' >> "$CONF"
  rc_start
  as_alice bash -c "echo running > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = running ]
  dom=$(vm_domain alices)
  wait_until 30 grep -Eq '^127\.0\.0\.1:[0-9]+$' "$v/status/vnc"
  pw=$(cat "$v/status/vnc-password"); to=$(cat "$v/status/vnc-valid-to")
  vnc_valid_for "$v" "$dom" 0 20
  # renewed without a write: a new password, a new expiry, live in libvirt
  wait_until 40 bash -c "[ \"\$(cat '$v/status/vnc-password')\" != '$pw' ]"
  pw2=$(cat "$v/status/vnc-password"); to2=$(cat "$v/status/vnc-valid-to")
  [[ "$pw2" =~ ^[A-Za-z0-9]{8}$ ]]
  [ "$(date -u -d "$to2" +%s)" -gt "$(date -u -d "$to" +%s)" ]
  $VIRSH dumpxml --security-info "$dom" | grep -q "passwd='$pw2'"
  vnc_valid_for "$v" "$dom" 10 20
  # the renewal reached no event and no changes log
  sqlite3 "$DB" "SELECT coalesce(old, '') || ' ' || coalesce(new, '') FROM changes" | grep -q "$pw2" && false
  grep -q "$pw2" "$v/status/events" && false
  as_alice bash -c "echo stopped > '$v/state'"
  [ "$(timeout 120 cat "$v/wait")" = stopped ]
  rc_stop
  cp "$T/conf.before-vnc" "$CONF"
  rc_check_log
}

# what USER sees of /metrics
metrics_as() { runuser -u "$1" -- cat "$MNT/metrics"; }

@test "what is observed of a tenant's resource (status, wait, events, metrics, refusals) is its owner's and group's" {
  local v="$C/vms/bobm" e="$T/bob.ev" n="$T/nobody.ev" pe pn out
  echo qemu:///system > "$C/hosts/local/uri"
  make_tiny_offering tiny 64M
  as_bob mkdir "$v"
  as_bob bash -c "echo tiny > '$v/offering'"
  # modes: the owner's and group's, no one else's; root's resources stay everyone's
  [ "$(stat -c %a:%U "$v/status")" = 550:cfs-bob ]
  [ "$(stat -c %a "$v/status/state"):$(stat -c %a "$v/status/events"):$(stat -c %a "$v/wait")" = 440:440:440 ]
  [ "$(stat -c %a "$v/state")" = 644 ]
  [ "$(stat -c %a:%U "$C/status/error")" = 444:root ]
  runuser -u nobody -- cat "$C/status/error" >/dev/null
  runuser -u cfs-bob -- timeout 30 cat "$MNT/events" > "$e" & pe=$!
  runuser -u nobody -- timeout 30 cat "$MNT/events" > "$n" & pn=$!
  sleep 1
  rc_start
  as_bob bash -c "echo running > '$v/state'"
  [ "$(as_bob timeout 120 cat "$v/wait")" = running ]
  as_bob cat "$v/status/state" | grep -qx running
  cat "$v/status/state" | grep -qx running
  run runuser -u nobody -- cat "$v/status/state"
  [ "$status" -ne 0 ] && [[ "$output" == *"$E_ACCES"* ]]
  run runuser -u nobody -- ls "$v/status"
  [ "$status" -ne 0 ]
  run runuser -u nobody -- cat "$v/wait"
  [ "$status" -ne 0 ] && [[ "$output" == *"$E_ACCES"* ]]
  runuser -u nobody -- cat "$v/state" | grep -qx running      # the spec stays readable
  # /events: the spec change for everyone who reaches the VM, its observed values for bob
  as_bob bash -c "echo marker > '$v/description'"
  wait_until 20 grep -q '"new":"marker"' "$e"
  wait_until 20 grep -q '"new":"marker"' "$n"
  kill "$pe" "$pn" 2>/dev/null || true
  wait "$pe" "$pn" 2>/dev/null || true
  grep -q '"path":"[^"]*/vms/bobm","kind":"vm","op":"status"' "$e" || grep -q 'vms/bobm.*"attr":"status/state"' "$e"
  ! grep -q '"attr":"status/' "$n" || ! grep '"attr":"status/' "$n" | grep -q 'vms/bobm' || { cat "$n"; false; }
  # /metrics: bob's VM's samples for bob and root, not for nobody; no empty families
  wait_until 30 sh -c "cat '$MNT/metrics' | grep -q 'cloudfs_vm_cpu_seconds_total{.*vm=\"bobm\"'"
  metrics_as cfs-bob | grep -q 'cloudfs_vm_cpu_seconds_total{.*vm="bobm"'
  metrics_as cfs-bob | grep -q 'cloudfs_vms{.*state="running"} 1'
  out=$(metrics_as nobody)
  [[ "$out" == *"cloudfs_reconciler_up 1"* ]]
  [[ "$out" != *'vm="bobm"'* ]]
  [[ "$out" != *"# TYPE cloudfs_vm_cpu_seconds_total"* ]]
  [[ "$out" != *'state="running"'* ]]
  [[ "$out" == *"cloudfs_changes_last_seq"* ]]
  # a refusal on bob's VM: in its status/error (bob reads it) and in bob's /last-error
  refused "$E_NOENT" as_bob bash -c "echo 99C1G > '$v/offering'"
  as_bob cat "$v/status/error" | grep -q 99C1G
  last_error_has cfs-bob "99C1G"
  # a refusal in root's collection: not in the cluster's status/error
  local before
  before=$(cat "$C/status/error")
  refused "$E_INVAL" as_bob mkdir "$C/vms/bad name"
  [ "$(cat "$C/status/error")" = "$before" ]
  last_error_has cfs-bob "bad name"
  [ -z "$(runuser -u nobody -- cat "$MNT/last-error")" ]
  as_bob bash -c "echo stopped > '$v/state'"
  [ "$(as_bob timeout 120 cat "$v/wait")" = stopped ]
  rc_stop
  rc_check_log
  as_bob rmdir "$v"
}

@test "end to end: a tenant makes, starts, grows, snapshots and deletes his VM and volume; others see none of it" {
  local v="$C/vms/e2e" d="$C/volumes/e2ev" f dom n="$T/nobody2.ev" pn
  echo qemu:///system > "$C/hosts/local/uri"
  make_tiny_offering tiny 64M
  runuser -u nobody -- timeout 300 cat "$MNT/events" > "$n" & pn=$!
  rc_start
  # (a volume made before the reconciler's first look at the pool can fail once)
  wait_until 60 file_is "$C/pools/local/status/state" available
  as_bob mkdir "$v" "$d"
  as_bob bash -c "echo tiny > '$v/offering'"
  as_bob timeout 60 cat "$d/wait" >/dev/null || { cat "$d/status/error" "$C/pools/local/status/error" >&2; false; }
  wait_until 60 file_is "$d/status/state" available
  f=$(as_bob cat "$d/status/path")
  # the disk is root's alone; nobody reads neither it nor where it is
  [ "$(stat -c %a:%U "$f")" = 600:root ]
  run runuser -u nobody -- cat "$d/status/path"
  [ "$status" -ne 0 ] && [[ "$output" == *"$E_ACCES"* ]]
  run runuser -u nobody -- head -c1 "$f"
  [ "$status" -ne 0 ]
  as_bob ln -s ../../../volumes/e2ev "$v/volumes/e2ev"
  as_bob bash -c "echo running > '$v/state'"
  [ "$(as_bob timeout 120 cat "$v/wait")" = running ]
  dom=$(vm_domain e2e)
  $VIRSH domblklist "$dom" | grep -qF "$f"
  run runuser -u nobody -- cat "$v/status/vnc"
  [ "$status" -ne 0 ]
  # grown live: QEMU's view and the file agree
  as_bob bash -c "echo 20G > '$d/size'"
  wait_until 60 bash -c "qemu-img info -U --output=json '$f' | grep -q '\"virtual-size\": 21474836480'"
  wait_until 30 bash -c "$VIRSH domblkinfo '$dom' '$f' | grep -q 'Capacity: *21474836480'"
  as_bob bash -c "echo stopped > '$v/state'"
  [ "$(as_bob timeout 120 cat "$v/wait")" = stopped ]
  # a snapshot of his stopped VM's volume, in the pool's own format
  as_bob mkdir "$d/snapshots/s1"
  [ "$(as_bob timeout 90 cat "$d/snapshots/s1/wait")" = ready ]
  qemu-img snapshot -U -l "$f" | grep -q "cfs-snap-"
  # and all of it gone again, by him
  as_bob rmdir "$d/snapshots/s1"
  wait_until 60 bash -c "! qemu-img snapshot -U -l '$f' | grep -q cfs-snap-"
  as_bob rm "$v/volumes/e2ev"
  as_bob rmdir "$v"
  wait_until 60 bash -c "! $VIRSH dominfo '$dom' >/dev/null 2>&1"
  as_bob rmdir "$d"
  wait_until 60 test ! -e "$f"
  rc_stop
  rc_check_log
  kill "$pn" 2>/dev/null || true
  wait "$pn" 2>/dev/null || true
  # nobody saw the names go by, never a value the reconciler observed
  grep -q 'vms/e2e"' "$n"
  ! grep '"op":"status"' "$n" | grep -q 'e2e' || { grep e2e "$n" | grep '"op":"status"' | head -3; false; }
}

# --- other users' volumes and private images ---------------------------------

@test "references: a tenant cannot attach another user's volume or boot another user's private image" {
  local b="$C/vms/bobs"
  [ -d "$b" ] || { mkdir "$b"; chown cfs-bob:cfs-bob "$b"; }
  mkdir "$C/volumes/av" "$MNT/images/pub" "$MNT/images/apriv"
  chown cfs-alice:cfs-alice "$C/volumes/av" "$MNT/images/apriv"
  refused "$E_ACCES" as_bob ln -s ../../../volumes/av "$b/volumes/av"
  reason_has "$b" "volume av belongs to another user"
  refused "$E_ACCES" as_bob bash -c "echo av > '$b/attach'"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM links WHERE target = 'av'")" = 0 ]
  # alice's image is private; root's "pub" is public
  refused "$E_ACCES" as_bob bash -c "echo apriv > '$b/image'"
  reason_has "$b" "image apriv belongs to another user"
  as_bob bash -c "echo pub > '$b/image'"
  [ "$(db_attr vm bobs image)" = pub ]
  as_bob bash -c "echo '' > '$b/image'"
  # the owner attaches her own volume to her own vm, and detaches it
  as_alice ln -s ../../../volumes/av "$C/vms/alices/volumes/av"
  as_alice rm "$C/vms/alices/volumes/av"
  # root may do anything
  ln -s ../../../volumes/av "$b/volumes/av"
  rm "$b/volumes/av"
  rmdir "$C/volumes/av" "$MNT/images/pub" "$MNT/images/apriv"
}

# --- modes of resource directories, and what /events shows -----------------

@test "chmod 700 makes a tenant's VM private: stat and the store agree, others get EACCES" {
  mkdir "$C/vms/priv"
  chown cfs-alice:cfs-alice "$C/vms/priv"
  as_alice chmod 700 "$C/vms/priv"
  [ "$(stat -c %a:%U "$C/vms/priv")" = 700:cfs-alice ]
  [ "$(sqlite3 "$DB" "SELECT mode FROM resources WHERE kind='vm' AND name='priv'")" = 448 ]
  run as_bob cat "$C/vms/priv/state"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Permission denied"* ]]
  run as_bob ls "$C/vms/priv"
  [ "$status" -ne 0 ]
  as_alice cat "$C/vms/priv/state"
  # the change is logged and survives a remount
  [ "$(sqlite3 "$DB" "SELECT new FROM changes WHERE op='chmod' ORDER BY seq DESC LIMIT 1")" = 0700 ]
  cfs_umount
  cfs_mount
  [ "$(stat -c %a "$C/vms/priv")" = 700 ]
  # the owner keeps rwx; setuid, setgid and sticky are refused
  refused "$E_INVAL" as_alice chmod 600 "$C/vms/priv"
  reason_has "$C/vms/priv" "the owner keeps rwx"
  refused "$E_INVAL" as_alice chmod 1777 "$C/vms/priv"
  # only the owner (and root) may chmod: the kernel says so
  refused "$E_PERM" as_bob chmod 777 "$C/vms/priv"
  as_alice chmod 750 "$C/vms/priv"
  [ "$(stat -c %a "$C/vms/priv")" = 750 ]
  # mkdir takes the umask, as for any directory
  (umask 077; mkdir "$C/vms/priv2")
  [ "$(stat -c %a "$C/vms/priv2")" = 700 ]
  # made with its mode in one write: one create in the log, no chmod
  [ "$(sqlite3 "$DB" "SELECT group_concat(op) FROM changes c JOIN resources r ON r.id = c.res
                      WHERE r.name = 'priv2' AND c.op IN ('create', 'chmod')")" = create ]
  rmdir "$C/vms/priv" "$C/vms/priv2"
}

@test "a resource's own collections are its owner's" {
  [ "$(stat -c %U "$C/vms/alices/volumes")" = cfs-alice ]
  [ "$(stat -c %U "$C/vms/alices/nics")" = cfs-alice ]
  [ "$(stat -c %U "$C/vms")" = root ]
  as_alice mkdir "$C/vms/alices/nics/eth1"
  [ "$(sqlite3 "$DB" "SELECT uid FROM resources WHERE kind='nic' AND name='eth1'")" = "$(id -u cfs-alice)" ]
  as_alice rmdir "$C/vms/alices/nics/eth1"
}

# events_of USER FILE: USER reads /events into FILE in the background (its PID in $!).
events_of() {
  runuser -u "$1" -- timeout 30 cat "$MNT/events" > "$2" &
}

@test "/events shows a tenant only the resources it can reach; root and the admin group see all" {
  mkdir "$C/vms/hidden" "$C/vms/shown" "$C/vms/bobown"
  chmod 700 "$C/vms/hidden"                       # root's, private
  chown cfs-bob:cfs-bob "$C/vms/bobown"
  chmod 700 "$C/vms/bobown"                       # bob's, private
  local b="$T/bob.events" a="$T/alice.events" r="$T/root.events" pb pa pr
  events_of cfs-bob "$b"; pb=$!
  events_of cfs-alice "$a"; pa=$!                 # admin-group
  timeout 30 cat "$MNT/events" > "$r" & pr=$!
  sleep 1
  echo "root private" > "$C/vms/hidden/description"
  echo "for everyone" > "$C/vms/shown/description"
  as_bob sh -c "echo 'bob private' > '$C/vms/bobown/description'"
  echo "marker" > "$C/vms/shown/hostname"
  wait_until 20 grep -q marker "$b"
  wait_until 20 grep -q marker "$a"
  wait_until 20 grep -q marker "$r"
  kill "$pb" "$pa" "$pr" 2>/dev/null || true
  wait "$pb" "$pa" "$pr" 2>/dev/null || true
  grep -q '"new":"for everyone"' "$b"
  grep -q '"new":"bob private"' "$b"
  ! grep -q 'vms/hidden' "$b" || { cat "$b"; false; }
  grep -q '"new":"root private"' "$a"
  grep -q '"new":"bob private"' "$a"
  grep -q '"new":"root private"' "$r"
  # /audit: bob reads the lines of his own requests only; root all of them
  as_bob cat "$MNT/audit" | grep -q 'value="bob private"'
  ! as_bob cat "$MNT/audit" | grep -q 'value="root private"' || false
  [ -z "$(as_bob cat "$MNT/audit" | grep -v " uid=$(id -u cfs-bob) ")" ]
  grep -q 'value="root private"' "$MNT/audit"
  grep -q 'value="bob private"' "$MNT/audit"
  rmdir "$C/vms/hidden" "$C/vms/shown" "$C/vms/bobown"
}

# --- tenants make their own resources, within a quota ----------------------

@test "quotas: a tenant makes VMs and volumes in the sticky collections up to the quota, then EDQUOT" {
  [ "$(stat -c %a:%U "$C/vms")" = 1777:root ]
  [ "$(stat -c %a:%U "$C/hosts")" = 755:root ]
  refused "$E_INVAL" mkdir "$MNT/quotas/no-such-user"
  mkdir "$MNT/quotas/cfs-bob"
  local q="$MNT/quotas/cfs-bob"
  # bob already owns what earlier tests gave him (stopped VMs, no volumes)
  local n0
  n0=$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE kind='vm' AND deleted=0 AND uid=$(id -u cfs-bob)")
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE kind='volume' AND deleted=0 AND uid=$(id -u cfs-bob)")" = 0 ]
  echo $((n0 + 2)) > "$q/vms"; echo 1 > "$q/running-vms"; echo 2 > "$q/cpus"; echo 20G > "$q/volume-size"
  refused "$E_ACCES" as_bob sh -c "echo 100 > '$q/vms'"
  refused "$E_ACCES" as_bob mkdir "$MNT/quotas/cfs-bob2"
  # VMs: two, then the third is refused
  as_bob mkdir "$C/vms/b1" "$C/vms/b2"
  [ "$(stat -c %U "$C/vms/b1")" = cfs-bob ]
  refused "$E_DQUOT" as_bob mkdir "$C/vms/b3"
  # the reason is bob's: in his /last-error, not in the cluster's status/error
  last_error_has cfs-bob "quota of user cfs-bob: vms is $((n0 + 2)), $((n0 + 2)) in use"
  ! grep -q cfs-bob "$C/status/error"
  [ "$(cat "$q/status/vms")" = $((n0 + 2)) ]
  # running: one at a time, and vCPUs from the offerings
  as_bob sh -c "echo running > '$C/vms/b1/state'"
  refused "$E_DQUOT" as_bob bash -c "echo running > '$C/vms/b2/state'"
  reason_has "$C/vms/b2" "running-vms is 1, 1 in use"
  echo 2 > "$q/running-vms"
  as_bob sh -c "echo running > '$C/vms/b2/state'"
  [ "$(cat "$q/status/running-vms"):$(cat "$q/status/cpus"):$(cat "$q/status/memory")" = 2:2:4G ]
  refused "$E_DQUOT" as_bob bash -c "echo 2C4G > '$C/vms/b2/offering'"
  reason_has "$C/vms/b2" "cpus is 2, 1 in use, 2 more asked"
  # the sticky rule: bob removes his own, not root's or alice's
  refused "$E_PERM" as_bob rmdir "$C/vms/alices"
  refused "$E_PERM" as_bob mv "$C/vms/alices" "$C/vms/mine"
  # volumes: sizes together
  as_bob mkdir "$C/volumes/bv1"
  as_bob sh -c "echo 20G > '$C/volumes/bv1/size'"
  [ "$(cat "$q/status/volumes"):$(cat "$q/status/volume-size")" = 1:20G ]
  refused "$E_DQUOT" as_bob mkdir "$C/volumes/bv2"
  last_error_has cfs-bob "volume-size is 20G, 20G in use, 10G more asked"
  # root and the admin group have no quota
  as_alice mkdir "$C/vms/a1" "$C/vms/a2" "$C/vms/a3"
  # the store agrees on who owns what
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE kind='vm' AND deleted=0 AND uid=$(id -u cfs-bob)")" = $((n0 + 2)) ]
  as_bob sh -c "echo stopped > '$C/vms/b1/state'; echo stopped > '$C/vms/b2/state'"
  as_bob rmdir "$C/vms/b1" "$C/vms/b2" "$C/volumes/bv1"
  as_alice rmdir "$C/vms/a1" "$C/vms/a2" "$C/vms/a3"
  [ "$(cat "$q/status/vms")" = "$n0" ]
  rmdir "$q"
}
