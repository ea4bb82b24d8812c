#!/usr/bin/env bats
# Tenants against each other and against the root daemons (issue 13): two
# unprivileged local users, cfs-alice and cfs-bob, try the attacks of the
# issue's "Found" list; each must now fail with a clear errno and leak nothing.

load compute_helpers
load checks

setup_file() {
  local u
  for u in cfs-alice cfs-bob; do
    id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$u"
  done
  cfs_start
  # mktemp made $T private; the tenants have to reach the mount point.
  chmod 755 "$T"
  mkdir "$C/vms/alices"
  chown cfs-alice:cfs-alice "$C/vms/alices"
}
teardown_file() { cfs_stop; }

as_alice() { runuser -u cfs-alice -- "$@"; }
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
