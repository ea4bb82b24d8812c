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

DAEMON_LOG_PREFIX=libvirt-down
# shellcheck source=scripts/daemon-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "LIBVIRT_DOWN_TIMEOUT must be a number of seconds"
[ -d "$STATE_DIR" ] || exit 0

rc=0
stop() { stop_recorded "$STATE_DIR" "$1" "$1" "$TIMEOUT" || rc=1; }

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
