#!/usr/bin/env bash
# Kill, freeze or thaw one host of a rig made by scripts/hosts-up.sh.
#
# Usage: scripts/hosts-kill.sh RIG H [--kill|--stop|--cont]     (H = h1, h2, ...)
#   --kill (default)  a host failure: SIGKILL to the host's namespace init, so the
#                     kernel kills every process of its PID namespace at once
#                     (libvirtd, virtlogd, every QEMU); waits until none is left. Its
#                     network namespace, and so its eth0 and address, go with them;
#                     its directory stays for scripts/hosts-down.sh.
#   --stop            a frozen host: SIGSTOP to every process of the host, repeated
#                     until all are stopped. Its sockets stay open and its address
#                     answers ARP, but nothing replies (libvirt keepalives time out,
#                     its Ceph clients stop renewing). For fencing tests.
#   --cont            SIGCONT to every process of the host: it resumes where it was.
# RIG is the directory hosts-up.sh printed, or its tag.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "hosts-kill: $*" >&2; exit 1; }
DAEMON_LOG_PREFIX=hosts-kill
# shellcheck source=scripts/hosts-lib.sh
. "$HERE/hosts-lib.sh"

{ [ "$#" = 2 ] || [ "$#" = 3 ]; } || { echo "usage: $0 RIG H [--kill|--stop|--cont]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"
rig_load "$1"
hd=$(rig_host_dir "$2")
case "${3:---kill}" in
  --kill)
    host_init_pid "$hd" >/dev/null || die "host $2 is not running"
    host_kill "$hd" || die "$2: processes left: $(host_pids "$hd" | tr '\n' ' ')" ;;
  --stop) host_signal "$hd" STOP ;;
  --cont) host_signal "$hd" CONT ;;
  *) echo "usage: $0 RIG H [--kill|--stop|--cont]" >&2; exit 2 ;;
esac
