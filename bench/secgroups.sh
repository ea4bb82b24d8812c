#!/usr/bin/env bash
# Security groups on this machine's netfilter: 1,000 rules across 100 NICs (100
# groups of 10 inbound tcp rules, one group a NIC; the NICs have fixed addresses in
# one VPC, on stopped VMs: the rules are built from the tree, no guest is needed)
# written through the tree (mkdir + echo) until every rule is in the kernel (nft
# list table, polled), against the floor: the same table loaded with one nft -f.
#   bench/secgroups.sh      needs libvirtd (scripts/libvirt-up.sh) and root;
#   quick: 10 NICs, 100 rules
set -uo pipefail
. "$(dirname "$0")/common.sh"
NICS=$(quick && echo 10 || echo 100)
PER=10
csv_init secgroups
FLOOR="cfs_sg_bench$$"

cleanup() {
  nft delete table inet "$FLOOR" 2>/dev/null
  bench_cleanup     # the VPC's data plane and its security groups' table too
}
trap cleanup EXIT

"$REPO/scripts/libvirt-up.sh" || exit 1
bench_mount "qemu:///system" "stop-timeout = 1; resync-interval = 30; default-subnet = \"\";"
bench_reconciler
Z="$BT/mnt/zones/default"
mkdir "$Z/vpcs/sb"
echo 10.40.0.0/16 > "$Z/vpcs/sb/cidr"
mkdir "$Z/vpcs/sb/subnets/s"
echo 10.40.0.0/16 > "$Z/vpcs/sb/subnets/s/cidr"
for _ in $(seq 1 1200); do [ "$(cat "$Z/vpcs/sb/subnets/s/status/state")" = available ] && break; sleep 0.1; done
U=$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vpc' AND name='sb'")
T="cfs_sg_${U//-/}"

# The NICs (8 a VM, the limit) with their groups, still empty, before the clock.
k=0
for i in $(seq 1 $(( (NICS + 7) / 8 ))); do
  mkdir "$BC/vms/b$i"
  for n in 0 1 2 3 4 5 6 7; do
    [ "$k" -lt "$NICS" ] || break
    k=$((k + 1))
    mkdir "$Z/security-groups/g$k" "$BC/vms/b$i/nics/eth$n"
    echo "g$k" > "$BC/vms/b$i/nics/eth$n/security-groups"
    echo sb/s > "$BC/vms/b$i/nics/eth$n/subnet"
    echo "10.40.1.$((k + 10))" > "$BC/vms/b$i/nics/eth$n/ip"
  done
done
jumps() { nft list table inet "$T" 2>/dev/null | grep -c "jump i_"; }
rules() { nft list table inet "$T" 2>/dev/null | grep -c "tcp dport .* accept"; }
until [ "$(jumps)" -ge "$NICS" ]; do sleep 0.2; done

a=$(now_ns)
for k in $(seq 1 "$NICS"); do
  for j in $(seq 1 "$PER"); do
    r="$Z/security-groups/g$k/rules/r$j"
    mkdir "$r"
    echo $((1000 + j)) > "$r/ports"
    echo 10.40.0.0/16 > "$r/remote"
  done
done
b=$(now_ns)
until [ "$(rules)" -ge $((NICS * PER)) ]; do sleep 0.1; done
c=$(now_ns)
tree_ack=$(( (b - a) / 1000000 )); tree_done=$(( (c - a) / 1000000 ))

# The floor: the very table the reconciler made, under another name, one nft -f.
nft list table inet "$T" | sed "1s/table inet $T/table inet $FLOOR/" > "$BT/floor.nft"
a=$(now_ns)
nft -f "$BT/floor.nft"
b=$(now_ns)
floor=$(( (b - a) / 1000000 ))
[ "$(nft list table inet "$FLOOR" | grep -c "tcp dport .* accept")" -ge $((NICS * PER)) ] || { echo "floor table incomplete" >&2; exit 1; }
echo "tree: writes acknowledged after $tree_ack ms, all $((NICS * PER)) rules in the kernel after $tree_done ms; one nft -f: $floor ms"
row "$((NICS * PER)) SG rules on $NICS NICs: tree -> kernel" "$tree_done" "the same table with one nft -f" "$floor" ms
