# Shared set-up for the bats suites: each file gets its own store and mount,
# started in the foreground by PID and stopped by that PID at the end.
#
# CLOUDFS_BIN selects the binary (the sanitizer run uses build-asan/cloudfs).

REPO="$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)"
CLOUDFS_BIN="${CLOUDFS_BIN:-$REPO/build/cloudfs}"

# Start a mount for this file.  Sets T (temp dir), MNT, DB, CONF, C (the
# default cluster path inside the mount).  No default network (a VPC with
# real bridges on qemu:///system) unless CFS_DEFAULT_SUBNET gives its CIDR.
# The suites use libvirt's test driver, which production refuses:
# allow-test-uri is on unless CFS_ALLOW_TEST_URI=false.  The recycle bin
# (on by default) is off unless CFS_RECYCLE=true: the suites check that
# rmdir deletes (tests/78-recycle-bin.bats tests the bin).
cfs_start() {
  T="$(mktemp -d /tmp/cfs-test.XXXXXX)"
  MNT="$T/mnt"
  DB="$T/store.db"
  CONF="$T/cloudfs.conf"
  mkdir -p "$MNT"
  cat > "$CONF" <<CONF
store = "$DB";
hypervisor = "${CFS_TEST_URI:-test:///default}";
pool-path = "$T/pool";
sync = "normal";
default-subnet = "${CFS_DEFAULT_SUBNET:-}";
allow-test-uri = ${CFS_ALLOW_TEST_URI:-true};
pool-over-subscription = ${CFS_POOL_RATIO:-1000.0};
pool-store-warning = ${CFS_POOL_STORE_WARNING:-false};
recycle = ${CFS_RECYCLE:-false};
${CFS_EXTRA_CONF//@T@/$T}
CONF
  export T MNT DB CONF
  export C="$MNT/zones/default/clusters/default"
  cfs_mount
}

# (Re)mount the existing store; records the daemon's PID in $T/mount.pid.
cfs_mount() {
  "$CLOUDFS_BIN" -c "$CONF" mount -f "$MNT" >>"$T/mount.log" 2>&1 &
  echo $! > "$T/mount.pid"
  local i
  for i in $(seq 1 100); do
    [ -e "$MNT/version" ] && return 0
    kill -0 "$(cat "$T/mount.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "mount did not come up; log:" >&2
  cat "$T/mount.log" >&2
  return 1
}

# Unmount and wait for the daemon to exit.
# Wait up to 5 s for a process to exit, then kill it.
reap_pid() {
  local pid="$1" i
  [ -n "$pid" ] || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}

cfs_umount() {
  local pid
  pid="$(cat "$T/mount.pid" 2>/dev/null || true)"
  fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
  reap_pid "$pid"
  rm -f "$T/mount.pid"
}

# Kill the daemon without a clean unmount (crash), then clear the dead mount.
cfs_crash() {
  local pid
  pid="$(cat "$T/mount.pid")"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  rm -f "$T/mount.pid"
}

# Fails when a sanitizer reported anything in the daemon's log.
cfs_check_log() {
  if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/mount.log" >&2; then
    return 1
  fi
}

cfs_stop() {
  [ -n "${T:-}" ] || return 0
  cfs_umount
  cfs_check_log
  local rc=$?
  rm -rf "$T"
  return $rc
}

# The desired state as an independent observer sees it: straight from SQLite.
spec_dump() {
  sqlite3 "$DB" "
    SELECT 'R', r.id, r.parent, r.kind, r.name, r.uid, r.gid FROM resources r ORDER BY r.id;
    SELECT 'A', a.res, a.name, a.value FROM attrs a ORDER BY a.res, a.name;
    SELECT 'L', l.res, l.link, l.target FROM links l ORDER BY l.res, l.link, l.target;"
}

last_seq() {
  sqlite3 "$DB" "SELECT coalesce(max(seq), 0) FROM changes"
}

# Number of spec changes (not status) after a given seq.
# (A directory's mode is not spec: rsync makes new directories 0700 and
# chmods them at the end, which is logged as op chmod.)
spec_changes_since() {
  sqlite3 "$DB" "SELECT count(*) FROM changes WHERE seq > $1 AND op NOT IN ('status', 'chmod')"
}

# Run a shell write and capture its errno text; usage: write_fails ERRTEXT FILE VALUE
# Asserts the write failed with the given strerror text.
write_fails() {
  local want="$1" file="$2" value="$3" out
  if out=$( (printf '%s\n' "$value" > "$file") 2>&1 ); then
    echo "write of '$value' to $file unexpectedly succeeded" >&2
    return 1
  fi
  case "$out" in
    *"$want"*) return 0 ;;
    *) echo "expected '$want', got: $out" >&2; return 1 ;;
  esac
}
