#!/usr/bin/env bats
# The network data plane through the network driver (src/drivers/network_linux.c),
# driven by tests/unit/net_tool.c, with real TCG guests (the tiny guest's cfs.run
# steps print what they saw on the serial console) and real observers: ip, bridge,
# nft, virsh, dnsmasq's files.
#
# Two VPCs with the same CIDR on this host; guests ga, gb (VPC 1) and gc (VPC 2,
# the same address as ga); a NIC hot-plugged into ga; drift repaired; one VPC
# carried by VXLAN between two network namespaces standing in for two hosts.
# Everything is named from fresh UUIDs and a per-run tag, and removed by name.

load net_helpers

setup_file() {
  net_setup
  export STATE="$RUNDIR/net"
  export NT="$W/net_tool -s $STATE -c qemu:///system"
  export V1=$(uuid) V2=$(uuid) S1=$(uuid) S1B=$(uuid) S2=$(uuid)
  export N1=$(uuid) N2=$(uuid) N3=$(uuid) N4=$(uuid)
  export MA=52:54:00:64:00:0a MB=52:54:00:64:00:0b MC=52:54:00:64:00:0c MD=52:54:00:64:00:0d
  # The host's own address, which no guest may reach (arping).
  export HOSTIP=$(ip -4 -o addr show scope global | awk '{ sub("/.*", "", $4); print $4; exit }')
}

teardown_file() {
  local v
  guests_destroy
  for v in "$V1" "$V2"; do $NT rm-vpc "$v" >/dev/null 2>&1 || true; done
  vx_cleanup
  rm -rf "$RUNDIR"
}

# A sanitizer report ends net_tool with a non-zero status, failing the step.
nt() { $NT "$@"; }

# start_guest NAME NIC-UUID MAC VPC STEPS: a guest on this host with one NIC in VPC.
start_guest() {
  nt nic-xml "$4" "$2" "$3" > "$W/$1-nic.xml"
  guest_start "$1" qemu:///system "$W/$1-nic.xml" "$5"
}

dnsmasq_pid_of() { cat "$STATE/$1/dnsmasq.pid"; }
dnsmasq_runs() {
  local pid
  pid=$(dnsmasq_pid_of "$1") && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "--conf-file=$STATE/$1/dnsmasq.conf"
}
bridge_of() { nt attach "$1" | sed 's/.*bridge=//'; }

@test "network values: strict parsers" {
  run "$W/netaddr_test"
  echo "$output"
  [ "$status" = 0 ]
}

@test "two VPCs with the same CIDR side by side on one host" {
  nt vpc "$V1" domain=one.internal
  nt vpc "$V2" domain=two.internal
  nt subnet "$V1" "$S1" cidr=10.0.1.0/24 gateway=10.0.1.1 dns=192.0.2.53 route=192.168.64.0/24,10.0.1.254
  nt subnet "$V1" "$S1B" cidr=10.0.2.0/24 gateway=10.0.2.1
  nt subnet "$V2" "$S2" cidr=10.0.1.0/24 gateway=10.0.1.1
  nt nics "$V1" "$S1" "$MA,10.0.1.10,ga" "$MB,10.0.1.11,gb"
  nt nics "$V2" "$S2" "$MC,10.0.1.10,gc"

  b1=$(bridge_of "$V1"); b2=$(bridge_of "$V2")
  [ "$b1" != "$b2" ]
  # The bridges: ours (alias), no address, the router port on them.
  ip -d link show dev "$b1" | grep -q "alias cfs-vpc:$V1"
  ip -d link show dev "$b2" | grep -q "alias cfs-vpc:$V2"
  [ -z "$(ip -4 addr show dev "$b1")" ]
  [ -z "$(ip -4 addr show dev "$b2")" ]
  bridge link | grep "master $b1" | grep -q "cfsr"
  # The same gateway address in two router namespaces; none in the host's routes.
  ip -n "cfs-vpc-$V1" -4 addr show dev vpc0 | grep -q "inet 10.0.1.1/24"
  ip -n "cfs-vpc-$V1" -4 addr show dev vpc0 | grep -q "inet 10.0.2.1/24"
  ip -n "cfs-vpc-$V2" -4 addr show dev vpc0 | grep -q "inet 10.0.1.1/24"
  ! ip -4 route show | grep -q "^10\.0\.1\.0/24" || false
  # The routers know every NIC (permanent neighbours).
  ip -n "cfs-vpc-$V1" neigh show dev vpc0 | grep -q "10.0.1.11 lladdr $MB PERMANENT"
  # The host does not listen on the bridges.
  nft list table netdev "cfs_vpc_${V1//-/}" | grep -q "hook ingress device \"$b1\".*policy drop"
  # libvirt networks over the bridges.
  $VIRSH net-list | grep -q "cfs-vpc-$V1 *active"
  [ "$($VIRSH net-dumpxml "cfs-vpc-$V1" | grep -c "<forward mode='bridge'/>")" = 1 ]
  $VIRSH net-dumpxml "cfs-vpc-$V1" | grep -q "<bridge name='$b1'/>"
  # dnsmasq per VPC, with exactly the host entries given.
  dnsmasq_runs "$V1"
  dnsmasq_runs "$V2"
  grep -q "^$MA,10.0.1.10,ga$" "$STATE/$V1/dhcp/$S1"
  grep -q "^$MC,10.0.1.10,gc$" "$STATE/$V2/dhcp/$S2"
  grep -q "classless-static-route,192.168.64.0/24,10.0.1.254,0.0.0.0/0,10.0.1.1" "$STATE/$V1/subnets/$S1.conf"

  # Again: nothing changes, dnsmasq is not restarted.
  pid=$(dnsmasq_pid_of "$V1")
  nt vpc "$V1" domain=one.internal
  nt subnet "$V1" "$S1" cidr=10.0.1.0/24 gateway=10.0.1.1 dns=192.0.2.53 route=192.168.64.0/24,10.0.1.254
  nt nics "$V1" "$S1" "$MA,10.0.1.10,ga" "$MB,10.0.1.11,gb"
  [ "$(dnsmasq_pid_of "$V1")" = "$pid" ]
  nt list | grep -q "^subnet $V1 $S1 subnet 10.0.1.0/24$"
}

@test "guests get exactly their DHCP addresses, reach each other, and nothing of the other VPC" {
  start_guest ga "$N1" "$MA" "$V1" "dhcp:eth0,listen:7777,ping:10.0.1.11:120,connect:10.0.1.11:7777:60,dns:gb,arping:10.0.1.1,arping:$HOSTIP,dhcp:eth1:400,ping:10.0.2.1"
  start_guest gb "$N2" "$MB" "$V1" "dhcp:eth0,listen:7777,ping:10.0.1.10:120,connect:10.0.1.10:7777:60"
  # gc starts once gb answers, so that its failures to reach gb are isolation.
  wait_until 240 has_marker gb "LEASE eth0"
  start_guest gc "$N3" "$MC" "$V2" "dhcp:eth0,listen:7777,ping:10.0.1.1,ping:10.0.1.11:15,connect:10.0.1.11:7777:10,dns:gb,arping:10.0.1.1,arping:$HOSTIP"

  wait_until 240 has_marker ga "ARPING $HOSTIP"
  wait_until 240 has_marker gb "RUN DONE"
  wait_until 240 has_marker gc "RUN DONE"
  for g in ga gb gc; do echo "--- $g"; grep -a TINYGUEST "$(log_of $g)"; done

  # Exactly the addresses chosen, with the subnet's options.
  marker ga "LEASE eth0" | grep -q "ip=10.0.1.10/24 router=10.0.1.1 dns=10.0.1.1,192.0.2.53 hostname=ga domain=one.internal routes=192.168.64.0/24,10.0.1.254,0.0.0.0/0,10.0.1.1"
  marker gb "LEASE eth0" | grep -q "ip=10.0.1.11/24 router=10.0.1.1 .*hostname=gb"
  marker gc "LEASE eth0" | grep -q "ip=10.0.1.10/24 router=10.0.1.1 dns=10.0.1.1 hostname=gc domain=two.internal"
  # ga and gb reach each other (ICMP and TCP) and know each other's names.
  marker ga "PING 10.0.1.11 OK"
  marker gb "PING 10.0.1.10 OK"
  marker ga "CONNECT 10.0.1.11:7777 OK hello from gb 10.0.1.11/24"
  # ... and gb reached ga, not gc, which has the same address in VPC 2.
  marker gb "CONNECT 10.0.1.10:7777 OK hello from ga 10.0.1.10/24"
  marker ga "DNS gb 10.0.1.11"
  # gc reaches its own router, and nothing of VPC 1.
  marker gc "PING 10.0.1.1 OK"
  marker gc "PING 10.0.1.11 FAIL"
  marker gc "CONNECT 10.0.1.11:7777 FAIL"
  marker gc "DNS gb FAIL"
  # The host answers nobody on a VPC bridge (its router does).
  marker ga "ARPING 10.0.1.1 REPLY"
  marker ga "ARPING $HOSTIP NOREPLY"
  marker gc "ARPING $HOSTIP NOREPLY"

  # Observers: libvirt, the bridges, dnsmasq's leases.
  $VIRSH domiflist "$(dom ga)" | grep -q "cfs-vpc-$V1 *virtio *$MA"
  $VIRSH domiflist "$(dom gc)" | grep -q "cfs-vpc-$V2 *virtio *$MC"
  tap=$($VIRSH domiflist "$(dom ga)" | awk 'NR == 1 { print $1 }')
  [[ "$tap" == cfst* ]]
  bridge link | grep "^[0-9]*: $tap" | grep -q "master $(bridge_of "$V1")"
  nt leases "$V1" | grep -q "^$MA 10.0.1.10 ga "
  nt leases "$V1" | grep -q "^$MB 10.0.1.11 gb "
  nt leases "$V2" | grep -q "^$MC 10.0.1.10 gc "
  ! nt leases "$V2" | grep -q "$MA" || false
  # The routers still hold their NICs as permanent neighbours after DHCP.
  [ "$(permanent_neighbours "cfs-vpc-$V1")" = 2 ]
  [ "$(permanent_neighbours "cfs-vpc-$V2")" = 1 ]
}

@test "a NIC hot-plugged into a running guest gets its address" {
  nt nics "$V1" "$S1B" "$MD,10.0.2.20,ga-eth1"
  nt nic-xml "$V1" "$N4" "$MD" > "$W/ga-eth1.xml"
  $VIRSH attach-device "$(dom ga)" "$W/ga-eth1.xml" --live
  wait_until 240 has_marker ga "PING 10.0.2.1"
  grep -a TINYGUEST "$(log_of ga)" | tail -n 3
  marker ga "LEASE eth1" | grep -q "ip=10.0.2.20/24 router=10.0.2.1"
  marker ga "PING 10.0.2.1 OK"
  [ "$($VIRSH domiflist "$(dom ga)" | grep -c "cfs-vpc-$V1")" = 2 ]
  $VIRSH domiflist "$(dom ga)" | grep -q "$MD"
  nt leases "$V1" | grep -q "^$MD 10.0.2.20 ga-eth1 "
  [ "$(permanent_neighbours "cfs-vpc-$V1")" = 3 ]
}

@test "drift: a deleted bridge, a killed dnsmasq, a destroyed libvirt network are repaired" {
  b1=$(bridge_of "$V1")
  ping_ga() { ip netns exec "cfs-vpc-$V1" busybox ping -c 1 -W 2 10.0.1.10; }
  ping_ga
  old=$(dnsmasq_pid_of "$V1")
  ip link del "$b1"
  kill "$old"
  $VIRSH net-destroy "cfs-vpc-$V1" >/dev/null
  ! ping_ga || false
  nt vpc "$V1" domain=one.internal
  # The guests' taps go back on the new bridge (the reconciler's NIC pass does this).
  for t in $($VIRSH domiflist "$(dom ga)" | awk '{ print $1 }') $($VIRSH domiflist "$(dom gb)" | awk '{ print $1 }'); do
    nt plug "$V1" "$t"
  done
  ping_ga
  ip -d link show dev "$b1" | grep -q "alias cfs-vpc:$V1"
  [ "$(bridge link | grep -c "master $b1")" = 4 ]      # router port, ga's two NICs, gb
  nft list table netdev "cfs_vpc_${V1//-/}" | grep -q "device \"$b1\""
  dnsmasq_runs "$V1"
  [ "$(dnsmasq_pid_of "$V1")" != "$old" ]
  $VIRSH net-list | grep -q "cfs-vpc-$V1 *active"
  # A device that is not a tap is never put on a VPC bridge.
  run nt plug "$V1" lo
  [ "$status" = 1 ]
  [[ "$output" == *"EINVAL"* ]]
}

@test "hostile values are refused with a reason and change nothing" {
  snap() { (cd "$STATE/$V1" && find . -type f ! -name leases ! -name dnsmasq.log -exec sha256sum {} + | sort); ip -n "cfs-vpc-$V1" addr; }
  before=$(snap)
  refused() {   # refused ERRNAME net_tool-args...
    local e=$1; shift
    run nt "$@"
    echo "$output"
    [ "$status" = 1 ] && [[ "$output" == *"net_tool: $e:"* ]]
  }
  S9=$(uuid)
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.0.0/33 gateway=10.0.0.1
  refused EINVAL subnet "$V1" "$S9" cidr=300.1.1.1/24 gateway=300.1.1.1
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.3.5/24 gateway=10.0.3.1
  refused EEXIST subnet "$V1" "$S9" cidr=10.0.1.128/25 gateway=10.0.1.129
  refused EEXIST subnet "$V1" "$S9" cidr=10.0.0.0/16 gateway=10.0.0.1
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.3.0/24 gateway=10.0.4.1
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.3.0/24 gateway=10.0.3.255
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.3.0/24 gateway=10.0.3.1 route=10.9.0.0/16,10.0.4.1
  refused EINVAL subnet "$V1" "$S9" cidr=10.0.3.0/24 gateway=10.0.3.1 dns=1.1.1.1 dns=2.2.2.2 dns=3.3.3.3 dns=4.4.4.4
  refused EINVAL nics "$V1" "$S1" "$MA,10.0.1.0,ga"
  refused EINVAL nics "$V1" "$S1" "$MA,10.0.1.255,ga"
  refused EINVAL nics "$V1" "$S1" "$MA,10.0.1.1,ga"
  refused EINVAL nics "$V1" "$S1" "$MA,10.0.9.10,ga"
  refused EINVAL nics "$V1" "$S1" "01:00:5e:00:00:01,10.0.1.10,ga"
  refused EINVAL nics "$V1" "$S1" "$MA,10.0.1.10,bad_name;rm"
  refused EEXIST nics "$V1" "$S1" "$MA,10.0.1.10,ga" "$MB,10.0.1.10,gb"
  refused EEXIST nics "$V1" "$S1" "$MA,10.0.1.10,ga" "$MA,10.0.1.11,gb"
  refused EEXIST nics "$V1" "$S1" "$MA,10.0.1.10,ga" "$MB,10.0.1.11,ga-eth1"
  refused ENOENT nics "$V1" "$S9" "$MA,10.0.1.10,ga"
  refused EINVAL vpc "../../etc"
  refused EINVAL vpc "$V1" vni=16777216
  refused EINVAL vpc "$V1" vni=42
  refused EINVAL vpc "$V1" domain="a..b"
  refused EINVAL nic-xml "$V1" "$N1" "$MA" "virtio'/><evil"
  refused EINVAL nic-xml "$V1" "$N1" 03:00:00:00:00:01
  [ "$(snap)" = "$before" ]
}

@test "removal: refused while guests are on the bridge, then leaves nothing" {
  run nt rm-vpc "$V1"
  [ "$status" = 1 ]
  [[ "$output" == *EBUSY* ]]
  dnsmasq_runs "$V1"
  for d in ga gb gc; do $VIRSH destroy "$(dom $d)" >/dev/null; done
  nt rm-subnet "$V1" "$S1B"
  ! ip -n "cfs-vpc-$V1" -4 addr show dev vpc0 | grep -q "10.0.2.1/24" || false
  ! ip -n "cfs-vpc-$V1" neigh show dev vpc0 | grep -q "10.0.2.20" || false
  nt rm-vpc "$V1"
  nt rm-vpc "$V2"
  nt rm-vpc "$V2"                      # again: nothing to do
  ! nt list | grep -E "$V1|$V2" || false
  ! ip -d link show | grep -E "cfs-vpc:($V1|$V2)" || false
  ! ip netns list | grep -E "$V1|$V2" || false
  ! nft list tables | grep -E "${V1//-/}|${V2//-/}" || false
  ! $VIRSH net-list --all | grep -E "$V1|$V2" || false
  [ ! -e "$STATE/$V1" ]; [ ! -e "$STATE/$V2" ]
}

# ---- VXLAN between two namespaces standing in for two hosts ----

vx_cleanup() {
  local e
  for e in ea eb ec; do ip netns del "$TAG-$e" 2>/dev/null || true; done
  if [ -f "$W/vx" ]; then
    local vx
    vx=$(cat "$W/vx")
    "$W/net_tool" -n "$TAG-hA" -s "$RUNDIR/hA" rm-vpc "$vx" >/dev/null 2>&1 || true
    "$W/net_tool" -n "$TAG-hB" -s "$RUNDIR/hB" rm-vpc "$vx" >/dev/null 2>&1 || true
  fi
  ip netns del "$TAG-hA" 2>/dev/null || true
  ip netns del "$TAG-hB" 2>/dev/null || true
}

@test "VXLAN: one VPC across two hosts (namespaces), layer 2 and routed, DHCP on each" {
  VX=$(uuid); echo "$VX" > "$W/vx"
  SX1=$(uuid); SX2=$(uuid)
  ip netns add "$TAG-hA"
  ip netns add "$TAG-hB"
  ip link add u0 netns "$TAG-hA" type veth peer name u0 netns "$TAG-hB"
  ip -n "$TAG-hA" addr add 172.31.0.1/30 dev u0
  ip -n "$TAG-hB" addr add 172.31.0.2/30 dev u0
  for h in hA hB; do ip -n "$TAG-$h" link set u0 up; ip -n "$TAG-$h" link set lo up; done
  A="$W/net_tool -n $TAG-hA -s $RUNDIR/hA -v 172.31.0.1 -d u0"
  B="$W/net_tool -n $TAG-hB -s $RUNDIR/hB -v 172.31.0.2 -d u0"
  $A vpc "$VX" vni=4242 peer=172.31.0.2
  $B vpc "$VX" vni=4242 peer=172.31.0.1
  for H in "$A" "$B"; do
    $H subnet "$VX" "$SX1" cidr=10.0.1.0/24 gateway=10.0.1.1
    $H subnet "$VX" "$SX2" cidr=10.0.2.0/24 gateway=10.0.2.1
    $H nics "$VX" "$SX1" "$MA,10.0.1.10,ea" "$MB,10.0.1.11,eb"
    $H nics "$VX" "$SX2" "$MC,10.0.2.10,ec"
  done
  br=$($A attach "$VX" | sed 's/.*bridge=//')
  vx="cfsx${br#cfsb}"
  # Observers: the VXLAN port and its flooding entry, on each host.
  ip -n "$TAG-hA" -d link show dev "$vx" | grep -q "vxlan id 4242 local 172.31.0.1 dev u0 .*dstport 4789"
  ip -n "$TAG-hA" link show dev "$vx" | grep -q "mtu 1450 .*master $br"
  bridge -netns "$TAG-hA" fdb show dev "$vx" | grep -q "00:00:00:00:00:00 dst 172.31.0.2 self permanent"
  bridge -netns "$TAG-hB" fdb show dev "$vx" | grep -q "00:00:00:00:00:00 dst 172.31.0.1 self permanent"

  cat > "$W/ep.script" <<'EOF'
#!/bin/sh
case "$1" in bound|renew) ;; *) exit 0 ;; esac
ip addr add "$ip/$mask" dev "$interface"
[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
ip route add default via "${router%% *}" dev "$interface"
echo "LEASE $interface ip=$ip/$mask router=$router mtu=$mtu hostname=$hostname"
EOF
  chmod +x "$W/ep.script"
  # An endpoint: a namespace with a veth on a host's VPC bridge, configured by DHCP.
  endpoint() {   # HOST NAME MAC
    ip netns add "$TAG-$2"
    ip -n "$TAG-$1" link add "p$2" type veth peer name eth0 netns "$TAG-$2"
    ip -n "$TAG-$2" link set eth0 address "$3"
    ip -n "$TAG-$1" link set "p$2" master "$br" up
    ip -n "$TAG-$2" link set lo up
    ip -n "$TAG-$2" link set eth0 up
    ip netns exec "$TAG-$2" busybox udhcpc -i eth0 -n -q -t 5 -T 2 -O mtu -s "$W/ep.script" 2>/dev/null
  }
  endpoint hA ea "$MA" | grep -q "LEASE eth0 ip=10.0.1.10/24 router=10.0.1.1 mtu=1450 hostname=ea"
  endpoint hB eb "$MB" | grep -q "LEASE eth0 ip=10.0.1.11/24 router=10.0.1.1 mtu=1450 hostname=eb"
  endpoint hB ec "$MC" | grep -q "LEASE eth0 ip=10.0.2.10/24 router=10.0.2.1 mtu=1450 hostname=ec"
  ping_from() { ip netns exec "$TAG-$1" busybox ping -c 2 -W 2 "$2"; }
  ping_from ea 10.0.1.11      # same subnet, through the tunnel
  ping_from ea 10.0.2.10      # routed on host A, delivered through the tunnel
  ping_from ec 10.0.1.10      # routed on host B, back through the tunnel
  ping_from ea 10.0.1.1       # the gateway answers on each host
  # Each router still knows every NIC as a permanent neighbour after DHCP: it
  # never has to ARP across the tunnel, where the answer would go to the other
  # host's router (same MAC).
  [ "$(permanent_neighbours "$TAG-hA-vpc-$VX")" = 3 ]
  [ "$(permanent_neighbours "$TAG-hB-vpc-$VX")" = 3 ]
  # The gateway MAC stays pinned to the local router port on both hosts.
  for h in hA hB; do
    bridge -netns "$TAG-$h" fdb show br "$br" | grep "^02:${VX:0:2}:" | grep -q "dev cfsr.*sticky.*static"
  done
  # Each host's dnsmasq leased to its own endpoints.
  $A leases "$VX" | grep -q "^$MA 10.0.1.10 ea "
  $B leases "$VX" | grep -q "^$MC 10.0.2.10 ec "
  vx_cleanup
  ! ip netns list | grep -q "$TAG-h" || false
  [ -z "$(ls "$RUNDIR/hA")" ]; [ -z "$(ls "$RUNDIR/hB")" ]
}
