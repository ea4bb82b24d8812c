#!/usr/bin/env bash
# Tear down a rig made by scripts/hosts-up.sh, and only that rig.
#
# Usage: scripts/hosts-down.sh RIG        (RIG = the directory hosts-up.sh printed, or its tag)
#
# For each host still alive: SIGCONT to all its processes (a frozen host must be able
# to stop its guests), `virsh destroy` of each running domain (bounded; QEMU then
# closes its RBD images cleanly, so no watcher lingers on them), then SIGKILL to the
# host's namespace init, which ends every process of its PID namespace; it waits
# until none is left. The namespaces go with their last process (nothing pins them:
# no `ip netns` names, no bind mounts in the root namespace), taking the host's mounts
# and its eth0 with them. Then the root namespace's part: any veth cfr-TAG-hI left,
# the bridge cfrb-TAG, the nft table cfsrig_TAG, and the rig directory (only if
# nothing is mounted under it). Processes are only ever found through the rig's
# records ("PID STARTTIME") and the PID namespace inode recorded at start.
# Idempotent; exits 1 if something could not be removed (and says what).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "hosts-down: $*" >&2; exit 1; }
DAEMON_LOG_PREFIX=hosts-down
# shellcheck source=scripts/hosts-lib.sh
. "$HERE/hosts-lib.sh"

[ "$#" = 1 ] || { echo "usage: $0 RIG" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"
case "$1" in
  */*) [ -d "$1" ] || exit 0 ;;
  *) [[ "$1" =~ ^[a-z0-9]{1,6}$ ]] || die "'$1' is neither a rig directory nor a tag"
     [ -d "$RIG_STATE_DIR/rig-$1" ] || exit 0 ;;
esac
if [ -f "${1%/}/rig.env" ] || [ -f "$RIG_STATE_DIR/rig-$1/rig.env" ]; then
  rig_load "$1"
else
  # hosts-up.sh failed before writing rig.env: only the directory is there.
  RIG_DIR=${1%/}
  [ "${RIG_DIR##*/}" != "${RIG_DIR##*/rig-}" ] || die "$RIG_DIR is not a rig directory"
  RIG_TAG=${RIG_DIR##*/rig-}
  [[ "$RIG_TAG" =~ ^[a-z0-9]{1,6}$ ]] || die "$RIG_DIR is not a rig directory"
  RIG_BRIDGE="cfrb-$RIG_TAG" RIG_NFT_TABLE="cfsrig_$RIG_TAG"
fi

rc=0
for hd in "$RIG_DIR"/h[0-9]*; do
  [ -d "$hd" ] || continue
  if host_init_pid "$hd" >/dev/null; then
    host_signal "$hd" CONT
    uri=$(cat "$hd/uri" 2>/dev/null || true)
    if [ -n "$uri" ]; then
      for dom in $(timeout 10 virsh -c "$uri" list --name 2>/dev/null || true); do
        timeout 20 virsh -c "$uri" destroy "$dom" >/dev/null 2>&1 ||
          echo "hosts-down: ${hd##*/}: could not destroy $dom (killed with the host)" >&2
      done
    fi
  fi
  host_kill "$hd" || { echo "hosts-down: ${hd##*/}: processes left: $(host_pids "$hd" | tr '\n' ' ')" >&2; rc=1; }
done

# Root-namespace leftovers. A veth goes away with its namespace; one made just before
# hosts-up.sh failed may not have moved its peer yet.
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//'); do
  case "$l" in "cfr-$RIG_TAG-h"*) ip link del "$l" 2>/dev/null || true ;; esac
done
if ip link show "$RIG_BRIDGE" >/dev/null 2>&1; then
  ip link del "$RIG_BRIDGE" || { echo "hosts-down: cannot delete bridge $RIG_BRIDGE" >&2; rc=1; }
fi
if nft list table inet "$RIG_NFT_TABLE" >/dev/null 2>&1; then
  nft delete table inet "$RIG_NFT_TABLE" || { echo "hosts-down: cannot delete nft table $RIG_NFT_TABLE" >&2; rc=1; }
fi

if [ "$rc" = 0 ]; then
  if findmnt -rn -o TARGET | grep -q "^$RIG_DIR\(/\|$\)"; then
    echo "hosts-down: something is mounted under $RIG_DIR; left in place" >&2
    rc=1
  else
    rm -rf --one-file-system "$RIG_DIR"
  fi
fi
exit "$rc"
