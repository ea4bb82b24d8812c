#!/usr/bin/env bash
# Mount a working cloud on the embedded default, on a fresh Debian 12
# machine, as root: installs the dependencies, builds, starts libvirtd and
# virtlogd when they are not running, writes /etc/cloudfs/cloudfs.conf when it
# does not exist, then mounts the tree and starts the reconciler.
#
#   scripts/setup.sh [MOUNTPOINT]        (default /mnt/cloud)
#
# Stop with: fusermount3 -u MOUNTPOINT; kill "$(cat /run/cloudfs/reconcile.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
mnt="${1:-/mnt/cloud}"

scripts/install-deps.sh
make -s
# Its own record of what it started: the test suite stops only what it
# started itself, never the libvirtd this cloud runs on.
CLOUDFS_TEST_STATE=/run/cloudfs scripts/libvirt-up.sh

conf=/etc/cloudfs/cloudfs.conf
if [ ! -e "$conf" ]; then
  mkdir -p /etc/cloudfs /var/lib/cloudfs
  cat > "$conf" <<CONF
# cloudfs configuration: see cloudfs.conf(5).
store = "/var/lib/cloudfs/store.db";
hypervisor = "qemu:///system";
pool-path = "/var/lib/cloudfs/pools/local";
console-dir = "/var/lib/cloudfs/console";
CONF
fi
mkdir -p "$mnt" /run/cloudfs /var/lib/cloudfs

if ! mountpoint -q "$mnt"; then
  build/cloudfs -c "$conf" mount "$mnt"
fi
if ! { [ -f /run/cloudfs/reconcile.pid ] && kill -0 "$(cat /run/cloudfs/reconcile.pid)" 2>/dev/null; }; then
  build/cloudfs -c "$conf" reconcile -f >>/var/log/cloudfs-reconcile.log 2>&1 &
  echo $! > /run/cloudfs/reconcile.pid
  disown
fi
echo "cloudfs: mounted at $mnt (reconciler pid $(cat /run/cloudfs/reconcile.pid)); try: ls $mnt"
