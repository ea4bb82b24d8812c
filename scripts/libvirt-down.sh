#!/usr/bin/env bash
# Stop the libvirt daemons that scripts/libvirt-up.sh started, and only those.
#
# libvirt-up.sh records "PID STARTTIME" in $CLOUDFS_TEST_STATE/{libvirtd,virtlogd}.started
# (default /run/cloudfs-test). For each record whose process is still the same process
# (same PID, same command name, same kernel start time) this sends SIGTERM and waits for
# it to exit (SIGKILL after LIBVIRT_DOWN_TIMEOUT seconds, default 20). Daemons without a
# record (already running before libvirt-up.sh) are left alone. Idempotent; prints
# nothing unless it has something to report.
#
# QEMU processes of domains still running are not touched (libvirtd does not own them
# in a way that stops them); a warning names them.
set -euo pipefail

URI="qemu:///system"
STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"
TIMEOUT="${LIBVIRT_DOWN_TIMEOUT:-20}"

die() { echo "libvirt-down: $*" >&2; exit 1; }

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "LIBVIRT_DOWN_TIMEOUT must be a number of seconds"
[ -d "$STATE_DIR" ] || exit 0

start_time() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  local -a f
  read -ra f <<<"$rest"
  [ "${f[0]}" != Z ] || return 1   # exited, not yet reaped: counts as gone
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
stop() {
  local name=$1 file="$STATE_DIR/$1.started" pid st extra
  [ -f "$file" ] || return 0
  read -r pid st extra <"$file" || true
  if ! [[ "${pid:-}" =~ ^[0-9]+$ && "${st:-}" =~ ^[0-9]+$ && -z "${extra:-}" ]]; then
    echo "libvirt-down: ignoring malformed $file" >&2
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
      echo "libvirt-down: ${name}[$pid] ignored SIGTERM for ${TIMEOUT}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        same_process "$name" "$pid" "$st" || break
        sleep 0.1
      done
      if same_process "$name" "$pid" "$st"; then
        echo "libvirt-down: ${name}[$pid] still alive after SIGKILL" >&2
        rc=1
        return 0
      fi
      break
    fi
    sleep 0.1
  done
  rm -f "$file"
}

if [ -f "$STATE_DIR/libvirtd.started" ]; then
  running=$(timeout 10 virsh -c "$URI" list --name 2>/dev/null | sed '/^$/d' | tr '\n' ' ' || true)
  if [ -n "$running" ]; then
    echo "libvirt-down: warning: domains still running (left alone): $running" >&2
  fi
fi

# libvirtd first: it talks to virtlogd.
stop libvirtd
stop virtlogd
exit "$rc"
