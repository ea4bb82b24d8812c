#!/usr/bin/env bash
# Stop the throwaway Ceph cluster that scripts/ceph-up.sh started, and only that.
#
# ceph-up.sh records "PID STARTTIME" in $CLOUDFS_TEST_STATE/ceph/{mgr,osd,mon}.started
# (default /run/cloudfs-test). For each record whose process is still the same process
# (same PID, same command name, same kernel start time) this sends SIGTERM and waits for
# it to exit (SIGKILL after CEPH_DOWN_TIMEOUT seconds, default 20). Then it removes
# $CLOUDFS_TEST_STATE/ceph and, if ceph-up.sh created it (and it is unchanged since),
# /etc/ceph/ceph.conf. Ceph daemons without a record are never touched.
# Idempotent; prints nothing unless it has something to report.
set -euo pipefail

STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"
CEPH_DIR="$STATE_DIR/ceph"
TIMEOUT="${CEPH_DOWN_TIMEOUT:-20}"
ETC_CONF=/etc/ceph/ceph.conf
MARKER="# written by cloudfs scripts/ceph-up.sh"

die() { echo "ceph-down: $*" >&2; exit 1; }

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "CEPH_DOWN_TIMEOUT must be a number of seconds"
[ -d "$CEPH_DIR" ] || exit 0

# One ceph-up/ceph-down at a time (ceph-up.sh calls us while holding the lock).
if [ -z "${_CLOUDFS_CEPH_LOCKED:-}" ]; then
  exec 9>"$STATE_DIR/ceph.lock"
  flock -w "$((TIMEOUT + 90))" 9 || die "another ceph-up/ceph-down holds $STATE_DIR/ceph.lock"
  [ -d "$CEPH_DIR" ] || exit 0
fi

start_time() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  local -a f
  read -ra f <<<"$rest"
  if [ "${f[0]}" = Z ]; then
    # The main thread exited. Gone only once no other thread is left (a daemon's other
    # threads keep running, and keep its listening socket, while exit is under way).
    local -a t=("/proc/$1/task/"*)
    [ "${#t[@]}" -gt 1 ] || return 1
  fi
  printf '%s\n' "${f[19]}"
}

# same_process NAME PID STARTTIME: true while PID is still the process we started.
same_process() {
  local comm st
  comm=$(cat "/proc/$2/comm" 2>/dev/null) || return 1
  [ "$comm" = "$1" ] || return 1
  st=$(start_time "$2") || return 1
  [ "$st" = "$3" ]
}

rc=0
# stop WHO COMM: stop the daemon recorded in $CEPH_DIR/WHO.started.
stop() {
  local name=$2 file="$CEPH_DIR/$1.started" pid st extra
  [ -f "$file" ] || return 0
  read -r pid st extra <"$file" || true
  if ! [[ "${pid:-}" =~ ^[0-9]+$ && "${st:-}" =~ ^[0-9]+$ && -z "${extra:-}" ]]; then
    echo "ceph-down: ignoring malformed $file" >&2
    rm -f "$file"
    return 0
  fi
  if ! same_process "$name" "$pid" "$st"; then
    rm -f "$file"              # already gone (or PID reused by something else)
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + TIMEOUT))
  while same_process "$name" "$pid" "$st"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "ceph-down: ${name}[$pid] ignored SIGTERM for ${TIMEOUT}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        same_process "$name" "$pid" "$st" || break
        sleep 0.1
      done
      if same_process "$name" "$pid" "$st"; then
        echo "ceph-down: ${name}[$pid] still alive after SIGKILL" >&2
        rc=1
        return 0
      fi
      break
    fi
    sleep 0.1
  done
  rm -f "$file"
}

# The manager and the OSD first: the monitor would otherwise wait for them.
stop mgr ceph-mgr
stop osd ceph-osd
stop mon ceph-mon
[ "$rc" = 0 ] || die "not removing $CEPH_DIR: some daemons are still alive"

# /etc/ceph/ceph.conf: only if we wrote it and nobody changed it since.
rec="$CEPH_DIR/etc-ceph-conf.created"
if [ -f "$rec" ] && [ -f "$ETC_CONF" ]; then
  if head -n1 "$ETC_CONF" | grep -qF "$MARKER" && [ "$(cksum <"$ETC_CONF")" = "$(cat "$rec")" ]; then
    rm -f "$ETC_CONF"
  else
    echo "ceph-down: warning: $ETC_CONF changed since ceph-up.sh wrote it; left alone" >&2
  fi
fi

rm -rf "$CEPH_DIR"
