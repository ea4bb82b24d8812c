#!/usr/bin/env bats
# Public IPs: eip-pools and EIPs through the tree, one-to-one NAT in the VPC router
# (src/drivers/eip_linux.c), proven with real packets between a network namespace
# standing in for the outside (203.0.113.0/24, its router .1 on a veth whose host end
# is the pool's uplink) and real TCG tiny guests answering on TCP port 80 with their
# own name ("hello from g1 ...").  Observers: nc and ping in the outside namespace,
# nft list in the router namespace, ip (links, addresses), virsh (the guests kept
# running across a move).

load net_helpers
load checks

setup_file() {
  net_setup
  export NETSTATE=/run/cloudfs/net
  CFS_DEFAULT_SUBNET=10.0.0.0/24 RESYNC=5 compute_start
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering small 128M
  export Z="$MNT/zones/default"
  # The zone's default security group lets in ICMP and SSH only: the guests'
  # port 80 too, here.
  mkdir "$Z/security-groups/default/rules/http"
  echo 80 > "$Z/security-groups/default/rules/http/ports"
  export OUT="eipout-$TAG" UP="e77u$$"
  # The outside: its router 203.0.113.1 and a client 203.0.113.200, one veth away.
  ip netns add "$OUT"
  ip link add "$UP" type veth peer name ext0 netns "$OUT"
  ip -n "$OUT" addr add 203.0.113.1/24 dev ext0
  ip -n "$OUT" addr add 203.0.113.200/24 dev ext0
  ip -n "$OUT" link set ext0 up
  ip -n "$OUT" link set lo up
}

teardown_file() {
  local pools vpcs
  pools=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='eip-pool'" 2>/dev/null || true)
  vpcs=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc'" 2>/dev/null || true)
  net_store_teardown
  vpc_dataplane_purge $vpcs
  for u in $pools; do h=${u//-/}; ip link del "cfsp${h:0:11}" 2>/dev/null || true; done
  ip link del "$UP" 2>/dev/null || true
  ip netns del "$OUT" 2>/dev/null || true
}

vpc_uuid() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='$1' AND deleted=0"; }
router() { echo "cfs-vpc-$(vpc_uuid default)"; }
status_is() { [ "$(cat "$1")" = "$2" ]; }
as_bob() { runuser -u cfs-bob -- "$@"; }
# hello: what port 80 at ADDR answers the outside with (one line, "" for nothing).
hello() { ip netns exec "$OUT" timeout 8 busybox nc -w 5 "${1:-203.0.113.10}" 80 </dev/null 2>/dev/null | head -n 1; }
answers() { hello "$2" | grep -q "^hello from $1 "; }
silent() { [ -z "$(hello "$1")" ]; }
outside_ping() { ip netns exec "$OUT" busybox ping -c 1 -W 2 "$1" >/dev/null; }
listening() { grep -aq "TINYGUEST LISTEN 80" "$(cat "$C/vms/$1/status/console")"; }
diag() {
  set +e
  local r; r=$(router)
  ip -n "$r" -4 addr; ip -n "$r" route; ip -n "$r" link; ip netns exec "$r" nft list ruleset
  ip -n "$OUT" -4 addr; ip -n "$OUT" neigh; ip link show master "$(cat "$Z/eip-pools/p1/status/bridge")"
  ip netns exec "$OUT" busybox ping -c 2 -W 1 203.0.113.10
  ip netns exec "$OUT" busybox nc -w 3 203.0.113.10 80 </dev/null
  cat "$(cat "$C/vms/g1/status/console")" | grep TINYGUEST
  sysctl net.bridge.bridge-nf-call-iptables; ip netns exec "$r" sysctl net.ipv4.ip_forward
  iptables -S FORWARD | head -5
}
# flood_loss: % of 300 pings of 1428 bytes, 2 ms apart, to the EIP lost.
flood_loss() {
  ip netns exec "$OUT" busybox ping -q -c 300 -i 0.002 -s 1400 -W 2 203.0.113.10 2>/dev/null |
    sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p'
}
nat_table() { ip netns exec "$(router)" nft list table ip cfs_eip; }

guest() {
  mkdir "$C/vms/$1"
  echo small > "$C/vms/$1/offering"
  echo "$GUEST/vmlinuz" > "$C/vms/$1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/$1/initrd"
  echo "console=ttyS0 panic=-1 cfs.run=dhcp:eth0,listen:80" > "$C/vms/$1/cmdline"
}

@test "eip-pools are the operator's; hostile pool and EIP values are refused with a reason" {
  local P="$Z/eip-pools/p1" E="$Z/eips"
  refused "$E_ACCES" as_bob mkdir "$Z/eip-pools/bobs"
  mkdir "$P"
  refused "$E_INVAL" write_value "$P/cidr" 1.2.3.4/40
  refused "$E_INVAL" write_value "$P/cidr" 203.0.113.5/24
  echo 203.0.113.0/24 > "$P/cidr"
  refused "$E_INVAL" write_value "$P/gateway" 198.51.100.1
  reason_has "$P" "gateway: 198.51.100.1 is not a host address of 203.0.113.0/24"
  echo 203.0.113.1 > "$P/gateway"
  refused "$E_INVAL" write_value "$P/range" 203.0.113.90-203.0.113.10
  refused "$E_INVAL" write_value "$P/range" 203.0.113.10-203.0.114.20
  refused "$E_INVAL" write_value "$P/range" 203.0.113.1-203.0.113.20
  reason_has "$P" "holds the gateway"
  refused "$E_INVAL" write_value "$P/range" "203.0.113.10-203.0.113.20;reboot"
  echo 203.0.113.10-203.0.113.80 > "$P/range"
  echo "$UP" > "$P/uplink"
  wait_until 30 status_is "$P/status/state" available
  br=$(cat "$P/status/bridge")
  # Observer: the pool's bridge exists and the uplink is its port.
  ip -o link show "$UP" | grep -q "master $br"
  # EIPs: an address at once; fixed ones in range and unique; no passthrough mode.
  mkdir "$E/e1" "$E/e2"
  [ -z "$(cat "$E/e1/status/ip")" ]
  refused "$E_NOENT" write_value "$E/e1/pool" nopool
  echo p1 > "$E/e1/pool"
  [ "$(cat "$E/e1/status/ip")" = 203.0.113.10 ]
  [ "$(cat "$E/e1/status/state")" = unbound ]
  echo p1 > "$E/e2/pool"
  [ "$(cat "$E/e2/status/ip")" = 203.0.113.11 ]
  refused "$E_INVAL" write_value "$E/e2/ip" 203.0.113.99
  reason_has "$E/e2" "ip: 203.0.113.99 is outside pool p1's range 203.0.113.10-203.0.113.80"
  refused "$E_EXIST" write_value "$E/e2/ip" 203.0.113.10
  reason_has "$E/e2" "ip: 203.0.113.10 is already held by eip e1"
  echo 203.0.113.12 > "$E/e2/ip"
  [ "$(cat "$E/e2/status/ip")" = 203.0.113.12 ]
  refused "$E_INVAL" write_value "$E/e2/mode" passthrough
  refused "$E_INVAL" write_value "$E/e2/bandwidth" -1
  # nic: a NIC of a VM of this zone, by CLUSTER/VM/NIC; nothing else.
  guest g1
  guest g2
  refused "$E_NOENT" write_value "$E/e1/nic" default/nosuch/eth0
  refused "$E_NOENT" write_value "$E/e1/nic" default/default/eth0
  refused "$E_INVAL" write_value "$E/e1/nic" default/g1
  refused "$E_INVAL" write_value "$E/e1/nic" "../../../g1/nics/eth0"
  # The pool's range is fixed while EIPs use it; a pool in use stays.
  refused "$E_BUSY" write_value "$P/range" 203.0.113.10-203.0.113.30
  refused "$E_BUSY" rmdir "$P"
  rmdir "$E/e2"
}

@test "at most 50 EIPs per VM: the 51st is refused with EDQUOT and a reason" {
  local E="$Z/eips" i
  for i in $(seq 1 50); do
    mkdir "$E/q$i"
    echo p1 > "$E/q$i/pool"
    echo default/g2/eth0 > "$E/q$i/nic"
  done
  mkdir "$E/q51"
  echo p1 > "$E/q51/pool"
  refused "$E_DQUOT" write_value "$E/q51/nic" default/g2/eth0
  reason_has "$E/q51" "at most 50 IPv4 EIPs per VM"
  for i in $(seq 1 51); do rmdir "$E/q$i"; done
  wait_until 60 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind='eip' AND name LIKE 'q%'\")\" ]"
}

@test "a bound EIP makes the guest reachable from outside at the EIP; nft shows the NAT" {
  local E="$Z/eips/e1"
  echo running > "$C/vms/g1/state"
  echo running > "$C/vms/g2/state"
  echo default/g1/eth0 > "$E/nic"
  wait_until 60 status_is "$E/status/state" bound || { cat "$E/status/state" "$E/status/error"; false; }
  [ "$(cat "$E/status/vm")" = default/g1 ]
  [ "$(cat "$E/status/nic")" = "$(cat "$C/vms/g1/nics/eth0/status/ip")" ]
  # Independent observers: the router's table and its external side.
  nat_table | grep -q "ip daddr 203.0.113.10 dnat to $(cat "$C/vms/g1/nics/eth0/status/ip")"
  nat_table | grep -q "snat to 203.0.113.10"
  ip -n "$(router)" -4 addr show dev eip0 | grep -q "203.0.113.10/24"
  wait_until 300 listening g1
  wait_until 300 listening g2
  wait_until 60 answers g1 || { diag; false; }
  outside_ping 203.0.113.10
}

@test "moving the EIP to another VM's NIC is one write; the guests keep running" {
  local E="$Z/eips/e1" d1 d2
  d1=$(vm_domain g1) d2=$(vm_domain g2)
  id1=$($VIRSH domid "$d1") id2=$($VIRSH domid "$d2")
  wait_until 30 answers g1
  t0=$(date +%s%N)
  echo default/g2/eth0 > "$E/nic"
  wait_until 30 answers g2
  echo "# the move: g2 answers at the EIP $(( ($(date +%s%N) - t0) / 1000000 )) ms after the write" >&3
  [ "$(cat "$E/status/vm")" = default/g2 ]
  nat_table | grep -q "dnat to $(cat "$C/vms/g2/nics/eth0/status/ip")"
  ! nat_table | grep -q "dnat to $(cat "$C/vms/g1/nics/eth0/status/ip")"
  # Neither guest was restarted: the same domain ids.
  [ "$($VIRSH domid "$d1")" = "$id1" ]
  [ "$($VIRSH domid "$d2")" = "$id2" ]
}

@test "drift: a NAT table deleted behind cloudfs's back is put back" {
  local E="$Z/eips/e1"
  [ -z "$(cat "$E/status/repaired")" ]
  ip netns exec "$(router)" nft delete table ip cfs_eip
  ! nat_table >/dev/null 2>&1
  silent
  wait_until 30 nat_table
  wait_until 30 answers g2
  # Reported: status/repaired has the time, and the reconciler's log says so.
  [ -n "$(cat "$E/status/repaired")" ]
  grep -q "NAT table of VPC default's router had been changed behind cloudfs's back" "$T/reconcile.log"
}

@test "bandwidth: an nftables limit per direction that drops what exceeds it" {
  local E="$Z/eips/e1"
  echo 1 > "$E/bandwidth"
  wait_until 30 sh -c "ip netns exec $(router) nft list table ip cfs_eip | grep -q 'limit rate over 125000 bytes/second'"
  # 400 KB of pings in about half a second, far above 1 Mbit/s: the limit drops
  # (its counter in the kernel), and the outside sees most of them lost.
  capped=$(flood_loss)
  nat_table | grep "limit rate over" | grep -Eq "counter packets [1-9][0-9]+ "
  echo 0 > "$E/bandwidth"
  wait_until 30 sh -c "! ip netns exec $(router) nft list table ip cfs_eip | grep -q 'limit rate'"
  free=$(flood_loss)
  echo "# loss of 300 pings of 1428 bytes: $capped% with 1 Mbit/s, $free% without a cap" >&3
  [ "$capped" -ge 25 ]
  answers g2
}

@test "unbinding (an empty write) removes the reachability, the address and the table" {
  local E="$Z/eips/e1"
  echo "" > "$E/nic"
  wait_until 30 status_is "$E/status/state" unbound
  wait_until 30 silent 203.0.113.10
  ! outside_ping 203.0.113.10
  ! nat_table >/dev/null 2>&1
  ! ip -n "$(router)" link show eip0 >/dev/null 2>&1
  [ "$(cat "$E/status/ip")" = 203.0.113.10 ]
  br=$(cat "$Z/eip-pools/p1/status/bridge")
  [ -n "$br" ]
  rmdir "$E"
  rmdir "$Z/eip-pools/p1"
  wait_until 30 sh -c "! ip link show $br >/dev/null 2>&1"
}
