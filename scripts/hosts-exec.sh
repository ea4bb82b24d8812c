#!/usr/bin/env bash
# Run a command on one host of a rig made by scripts/hosts-up.sh: in all of that
# host's namespaces (mount, UTS, network, IPC, PID), as a process of the host.
#
# Usage: scripts/hosts-exec.sh RIG H CMD [ARG...]       (H = h1, h2, ...)
#   scripts/hosts-exec.sh "$RIG" h1 virsh list           (qemu:///system there is h1's)
#   scripts/hosts-exec.sh "$RIG" h2 rbd -c /run/cloudfs-test/ceph/ceph.conf ls
#   scripts/hosts-exec.sh "$RIG" h3 ip -br addr
# A process started this way dies with the host (scripts/hosts-kill.sh).
# RIG is the directory hosts-up.sh printed, or its tag. Exits with CMD's status.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "hosts-exec: $*" >&2; exit 1; }
DAEMON_LOG_PREFIX=hosts-exec
# shellcheck source=scripts/hosts-lib.sh
. "$HERE/hosts-lib.sh"

[ "$#" -ge 3 ] || { echo "usage: $0 RIG H CMD [ARG...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"
rig_load "$1"
hd=$(rig_host_dir "$2")
shift 2
init=$(host_init_pid "$hd") || die "host ${hd##*/} is not running"
exec nsenter -t "$init" -m -u -n -i -p -- "$@"
