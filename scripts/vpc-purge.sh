#!/usr/bin/env bash
# Remove every trace a VPC's data plane leaves on this machine, by the VPC's
# UUID: its libvirt network, bridge and router links, nftables tables, the
# router namespace and its dnsmasq, and cloudfs's state files for it.
# For tests and benches that stop a cloud without removing its VPCs through
# the tree.  Idempotent; silent.
#   scripts/vpc-purge.sh UUID...
# Environment: NETSTATE (cloudfs's network state directory, default
# /run/cloudfs/net).
set -u
st=${NETSTATE:-/run/cloudfs/net}
V="virsh -q -c qemu:///system"
for u in "$@"; do
  [[ "$u" =~ ^[0-9a-f-]{36}$ ]] || { echo "vpc-purge: not a UUID: $u" >&2; continue; }
  h=${u//-/}
  $V net-destroy "cfs-vpc-$u" >/dev/null 2>&1
  $V net-undefine "cfs-vpc-$u" >/dev/null 2>&1
  ip link del "cfsb${h:0:11}" 2>/dev/null
  ip link del "cfsr${h:0:11}" 2>/dev/null
  nft delete table netdev "cfs_vpc_$h" 2>/dev/null
  nft delete table inet "cfs_sg_$h" 2>/dev/null     # its security groups
  pid=$(cat "$st/$u/dnsmasq.pid" 2>/dev/null)
  [ -z "$pid" ] || kill "$pid" 2>/dev/null
  ip netns pids "cfs-vpc-$u" 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del "cfs-vpc-$u" 2>/dev/null
  rm -rf "${st:?}/$u" "$st/$u.lock"
done
exit 0
