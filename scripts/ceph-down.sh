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

DAEMON_LOG_PREFIX=ceph-down
# shellcheck source=scripts/daemon-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "CEPH_DOWN_TIMEOUT must be a number of seconds"
[ -d "$CEPH_DIR" ] || exit 0

# One ceph-up/ceph-down at a time (ceph-up.sh calls us while holding the lock).
if [ -z "${_CLOUDFS_CEPH_LOCKED:-}" ]; then
  exec 9>"$STATE_DIR/ceph.lock"
  flock -w "$((TIMEOUT + 90))" 9 || die "another ceph-up/ceph-down holds $STATE_DIR/ceph.lock"
  [ -d "$CEPH_DIR" ] || exit 0
fi

rc=0
# stop WHO COMM: stop the daemon recorded in $CEPH_DIR/WHO.started.
stop() { stop_recorded "$CEPH_DIR" "$1" "$2" "$TIMEOUT" || rc=1; }

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
