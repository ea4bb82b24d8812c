# daemon-lib.sh: bookkeeping of the daemons the test scripts start, sourced by
# libvirt-up/down.sh and ceph-up/down.sh.  A daemon we start is recorded as
# "PID STARTTIME" in DIR/WHO.started; only a process with that PID, command
# name and kernel start time is ever signalled, so a recycled PID is safe.
#
# The sourcing script defines die() and sets DAEMON_LOG_PREFIX ("ceph-down").

# start_time PID: field 22 of /proc/PID/stat (start time in clock ticks since
# boot).  A process whose main thread exited counts as gone only once no other
# thread is left (a daemon's threads keep its sockets while exit is under way).
start_time() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }            # drop "pid (comm) "; comm may contain spaces
  local -a f
  read -ra f <<<"$rest"
  if [ "${f[0]}" = Z ]; then
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

# running_pid NAME PIDFILE: print the PID from PIDFILE if that process is alive and is NAME.
running_pid() {
  local name=$1 pidfile=$2 pid comm
  [ -r "$pidfile" ] || return 1
  pid=$(head -n1 "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ] || return 1
  start_time "$pid" >/dev/null || return 1
  printf '%s\n' "$pid"
}

# close_fds: close every descriptor above 2 of the current (sub)shell.
close_fds() {
  local fd n
  for fd in /proc/self/fd/*; do
    n=${fd##*/}
    case "$n" in ''|*[!0-9]*) continue ;; esac
    [ "$n" -gt 2 ] && eval "exec $n>&-"
  done 2>/dev/null
}

# detached CMD...: run a daemonising command with only stdin/stdout/stderr
# open.  The daemons keep inherited descriptors, and a test runner (bats)
# waits for EOF on its pipes: a daemon started from a test must not hold them.
# (A command that stays in the foreground is started in the background the same
# way with `( close_fds; exec CMD... </dev/null >/dev/null 2>&1 ) &`: $! is then CMD.)
detached() {
  (
    close_fds
    exec "$@" </dev/null >/dev/null 2>&1
  )
}

# record DIR WHO PID: remember that we started this daemon.
record_in() {
  local st
  st=$(start_time "$3") || die "$2 (pid $3) exited right after start"
  printf '%s %s\n' "$3" "$st" >"$1/$2.started.tmp"
  mv -f "$1/$2.started.tmp" "$1/$2.started"
}

# recorded_pid DIR WHO COMM: print the PID recorded in DIR/WHO.started if it still runs.
recorded_pid() {
  local file="$1/$2.started" pid st extra
  [ -f "$file" ] || return 1
  read -r pid st extra <"$file" || true
  [[ "${pid:-}" =~ ^[0-9]+$ && "${st:-}" =~ ^[0-9]+$ && -z "${extra:-}" ]] || return 1
  same_process "$3" "$pid" "$st" || return 1
  printf '%s\n' "$pid"
}

# stop_recorded DIR WHO COMM TIMEOUT: SIGTERM the recorded daemon, SIGKILL
# after TIMEOUT seconds; forget the record.  Returns 1 if it survived.
stop_recorded() {
  local file="$1/$2.started" name=$3 timeout=$4 pid st extra
  [ -f "$file" ] || return 0
  read -r pid st extra <"$file" || true
  if ! [[ "${pid:-}" =~ ^[0-9]+$ && "${st:-}" =~ ^[0-9]+$ && -z "${extra:-}" ]]; then
    echo "$DAEMON_LOG_PREFIX: ignoring malformed $file" >&2
    rm -f "$file"
    return 0
  fi
  if ! same_process "$name" "$pid" "$st"; then
    rm -f "$file"              # already gone (or PID reused by something else)
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while same_process "$name" "$pid" "$st"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$DAEMON_LOG_PREFIX: ${name}[$pid] ignored SIGTERM for ${timeout}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        same_process "$name" "$pid" "$st" || break
        sleep 0.1
      done
      if same_process "$name" "$pid" "$st"; then
        echo "$DAEMON_LOG_PREFIX: ${name}[$pid] still alive after SIGKILL" >&2
        return 1
      fi
      break
    fi
    sleep 0.1
  done
  rm -f "$file"
}

# await_pid NAME PIDFILE: print the PID of the daemon NAME once its PIDFILE
# names a live NAME; fails after 10 s.
await_pid() {
  local pid
  for _ in $(seq 1 100); do
    pid=$(running_pid "$1" "$2") && { printf '%s\n' "$pid"; return 0; }
    sleep 0.1
  done
  return 1
}
