# shellcheck shell=bash
# hosts-lib.sh: what the multi-host rig's scripts share (hosts-up.sh,
# hosts-down.sh, hosts-kill.sh, hosts-exec.sh).  Sourced, never run.
#
# A rig lives in one directory, $CLOUDFS_TEST_STATE/rig-TAG (default
# /run/cloudfs-test/rig-TAG):
#   rig.env        shell assignments: RIG_TAG RIG_DIR RIG_BRIDGE RIG_NFT_TABLE
#                  RIG_SUBNET RIG_GATEWAY RIG_SHARED RIG_CEPH_CONF RIG_HOSTS
#   hosts          one line per host: NAME ADDRESS URI
#   shared/        the directory every host sees at the same path (dir pools)
#   hN/            one host: run/ etc/ lib/ log/ cache/ (its /run, /etc/libvirt,
#                  /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt),
#                  init.started and unshare.started ("PID STARTTIME" of its
#                  namespace init and of the unshare parent), ns (the inodes of
#                  its net, pid and mnt namespaces), uri, address
# Every process of a host is in the host's PID namespace, whose init is
# hN/init.started: SIGKILL to that init ends the whole host at once.
#
# The sourcing script defines die() and sets DAEMON_LOG_PREFIX.

# shellcheck source=scripts/daemon-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"

RIG_STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"

# rig_load RIG: RIG is a rig directory or a tag; sets RIG_DIR and loads rig.env.
rig_load() {
  local arg=$1
  case "$arg" in
    */*) RIG_DIR=$arg ;;
    *)
      [[ "$arg" =~ ^[a-z0-9]{1,6}$ ]] || die "'$arg' is neither a rig directory nor a tag"
      RIG_DIR="$RIG_STATE_DIR/rig-$arg" ;;
  esac
  [ -f "$RIG_DIR/rig.env" ] || die "no rig at $RIG_DIR (no rig.env)"
  # shellcheck source=/dev/null
  . "$RIG_DIR/rig.env"
}

# rig_host_dir H: the directory of host H (h1, h2, ...) of the loaded rig.
rig_host_dir() {
  [[ "$1" =~ ^h[0-9]{1,2}$ ]] || die "'$1' is not a host name (h1, h2, ...)"
  [ -d "$RIG_DIR/$1" ] || die "the rig $RIG_TAG has no host $1"
  printf '%s\n' "$RIG_DIR/$1"
}

# host_init_pid HDIR: the root-namespace PID of the host's namespace init, if alive.
host_init_pid() { recorded_pid "$1" init bash; }

# host_pids HDIR: root-namespace PIDs of every process in the host's PID namespace.
host_pids() {
  local ns
  ns=$(sed -n 's/^pid pid:\[\([0-9]*\)\]$/\1/p' "$1/ns" 2>/dev/null) || return 0
  [ -n "$ns" ] || return 0
  ps -e -o pid= -o pidns= | awk -v ns="$ns" '$2 == ns { print $1 }'
}

# host_wait_empty HDIR SECONDS: wait until no process is left in the host's PID namespace.
host_wait_empty() {
  local deadline=$((SECONDS + $2))
  while [ -n "$(host_pids "$1")" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# host_kill HDIR: SIGKILL the host's namespace init, which makes the kernel kill
# every process of its PID namespace; wait for all of them (and the unshare
# parent) to be gone.  Returns 1 if some process survived 15 s.
host_kill() {
  local pid
  if pid=$(host_init_pid "$1"); then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  host_wait_empty "$1" 15 || return 1
  # The unshare parent exits as soon as its child (the init) is gone.
  for _ in $(seq 1 50); do
    recorded_pid "$1" unshare unshare >/dev/null || break
    sleep 0.1
  done
  if recorded_pid "$1" unshare unshare >/dev/null; then
    stop_recorded "$1" unshare unshare 2 || return 1
  fi
  rm -f "$1/init.started" "$1/unshare.started"
}

# proc_state PID: the state letter of /proc/PID/stat (R, S, T, Z, ...), or nothing.
proc_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }              # comm may contain spaces and parentheses
  printf '%s\n' "${stat%% *}"
}

# host_signal HDIR SIG: send SIG to every process of the host (STOP, CONT).  For
# STOP, repeated until every process is stopped (a process may fork meanwhile).
host_signal() {
  local hdir=$1 sig=$2 p pending deadline=$((SECONDS + 10))
  host_init_pid "$hdir" >/dev/null || die "host ${hdir##*/} is not running"
  while :; do
    pending=0
    for p in $(host_pids "$hdir"); do
      kill "-$sig" "$p" 2>/dev/null || continue
      if [ "$sig" = STOP ]; then
        case "$(proc_state "$p")" in
          T|t|Z|X|"") ;;
          *) pending=1 ;;
        esac
      fi
    done
    [ "$pending" = 1 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] || die "some process of ${hdir##*/} did not stop"
    sleep 0.05
  done
}
