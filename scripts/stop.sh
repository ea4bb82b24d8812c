#!/usr/bin/env bash
# Stop a cloud started by scripts/setup.sh: the reconciler, then the mount.
# Leaves no cloudfs process and no mount behind; VMs keep running (the
# control plane stops, not the guests), and the next setup.sh picks up
# where this left off.
#
#   scripts/stop.sh [MOUNTPOINT]        (default /mnt/cloud)
#
# Environment: CLOUDFS_RUN (pid files, default /run/cloudfs).
# Installed clouds use systemd instead: systemctl stop cloudfs-reconcile cloudfs-mount.
set -uo pipefail
mnt="${1:-/mnt/cloud}"
run="${CLOUDFS_RUN:-/run/cloudfs}"

# stop_pid NAME: SIGTERM the daemon of $run/NAME.pid, wait up to 10 s, then
# SIGKILL; only a process whose command line is cloudfs is signalled (a
# stale pid file must not kill whatever reuses the number).
stop_pid() {
  local f="$run/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "cloudfs.* $1"; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop: $1 daemon $pid did not exit in 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$f"
}

stop_pid reconcile
# The mount daemon unmounts on SIGTERM.  fusermount3 -u first, so that
# nothing new starts on the mount while it stops; QEMU processes started while
# the mount existed may still hold a copy of it in their own mount namespace
# (libvirt's default where / is not shared), which the SIGTERM also ends.
if mountpoint -q "$mnt" 2>/dev/null; then
  fusermount3 -u "$mnt" 2>/dev/null || true
fi
stop_pid mount
# A daemon that died without unmounting leaves ENOTCONN behind.
if grep -qs " $(realpath -m "$mnt") fuse" /proc/self/mounts; then
  fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
fi
echo "cloudfs: stopped ($mnt)"
