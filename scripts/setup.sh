#!/usr/bin/env bash
# Mount a working cloud on the embedded default, on a fresh Debian 12
# machine, as root: installs the dependencies, builds, starts libvirtd and
# virtlogd when they are not running, writes /etc/cloudfs/cloudfs.conf when it
# does not exist, then mounts the tree and starts the reconciler.
#
#   scripts/setup.sh [MOUNTPOINT]        (default /mnt/cloud)
#
# Stop with scripts/stop.sh [MOUNTPOINT].  Environment: CLOUDFS_CONF (default
# /etc/cloudfs/cloudfs.conf), CLOUDFS_RUN (pid files, default /run/cloudfs),
# CLOUDFS_BIN (default build/cloudfs), CLOUDFS_LOG (log directory, default
# /var/log).
set -euo pipefail
cd "$(dirname "$0")/.."
mnt="${1:-/mnt/cloud}"
run="${CLOUDFS_RUN:-/run/cloudfs}"
bin="${CLOUDFS_BIN:-build/cloudfs}"
log="${CLOUDFS_LOG:-/var/log}"

scripts/install-deps.sh
make -s
# Its own record of what it started: the test suite stops only what it
# started itself, never the libvirtd this cloud runs on.
CLOUDFS_TEST_STATE=/run/cloudfs scripts/libvirt-up.sh

conf="${CLOUDFS_CONF:-/etc/cloudfs/cloudfs.conf}"
if [ ! -e "$conf" ]; then
  mkdir -p "$(dirname "$conf")" /var/lib/cloudfs
  cat > "$conf" <<CONF
# cloudfs configuration: see cloudfs.conf(5).
store = "/var/lib/cloudfs/store.db";
hypervisor = "qemu:///system";
pool-path = "/var/lib/cloudfs/pools/local";
console-dir = "/var/lib/cloudfs/console";
CONF
fi
mkdir -p "$mnt" "$run"

running() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }
# Both daemons run in the foreground of a background job, so that their pid
# files name them and scripts/stop.sh can stop exactly them.
if ! mountpoint -q "$mnt"; then
  # A mount left by a crashed daemon answers ENOTCONN: clear it first.
  fusermount3 -uz "$mnt" 2>/dev/null || true
  "$bin" -c "$conf" mount -f "$mnt" >>"$log/cloudfs-mount.log" 2>&1 &
  echo $! > "$run/mount.pid"
  disown
  for _ in $(seq 1 100); do
    [ -e "$mnt/version" ] && break
    running mount || { echo "cloudfs: the mount failed; see $log/cloudfs-mount.log" >&2; exit 1; }
    sleep 0.1
  done
fi
if ! running reconcile; then
  "$bin" -c "$conf" reconcile -f >>"$log/cloudfs-reconcile.log" 2>&1 &
  echo $! > "$run/reconcile.pid"
  disown
fi
echo "cloudfs: mounted at $mnt (reconciler pid $(cat "$run/reconcile.pid")); try: ls $mnt; stop: scripts/stop.sh $mnt"
