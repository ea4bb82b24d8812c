#!/usr/bin/env bats
# One VPC carried by VXLAN between two real libvirt hosts of the multi-host rig
# (scripts/hosts-up.sh), built by the network driver on each host (in the host's own
# network namespace, with the host's libvirtd), with real TCG guests on both hosts:
# ra (h1, subnet 1), rb (h2, subnet 1), rc (h2, subnet 2). Their serial consoles show
# the DHCP answers of their own host's dnsmasq (MTU 1450 for the encapsulation) and
# reach across hosts at layer 2 (ra <-> rb) and routed (ra <-> rc, routed on the
# sender's host by the distributed router). Observers: ip -d link, bridge fdb, virsh
# net-list on each host, the routers' neighbour tables, the leases on each host.

load net_helpers

setup_file() {
  net_setup
  rig_up 2
  export V=$(uuid) S1=$(uuid) S2=$(uuid)
  export MA=52:54:00:65:00:0a MB=52:54:00:65:00:0b MC=52:54:00:65:00:0c
  # The driver finds a host by the name of its network namespace.
  . "$REPO/scripts/hosts-lib.sh"
  rig_load "$RIG"
  local h
  for h in h1 h2; do
    ip netns attach "$TAG-$h" "$(host_init_pid "$(rig_host_dir "$h")")"
  done
  export H1="$W/net_tool -n $TAG-h1 -s $RUNDIR/h1 -c $(rig_uri h1) -v $(cat "$RIG/h1/address") -d eth0"
  export H2="$W/net_tool -n $TAG-h2 -s $RUNDIR/h2 -c $(rig_uri h2) -v $(cat "$RIG/h2/address") -d eth0"
}

teardown_file() {
  guests_destroy
  $H1 rm-vpc "$V" >/dev/null 2>&1 || true
  $H2 rm-vpc "$V" >/dev/null 2>&1 || true
  ip netns del "$TAG-h1" 2>/dev/null || true      # the name only: the host keeps its namespace
  ip netns del "$TAG-h2" 2>/dev/null || true
  rig_down || true
  rm -rf "$RUNDIR"
}

@test "a VPC on two rig hosts: a VXLAN port, flooding to the peer, a libvirt network each" {
  a1=$(cat "$RIG/h1/address"); a2=$(cat "$RIG/h2/address")
  $H1 vpc "$V" vni=6565 "peer=$a2" domain=rig.internal
  $H2 vpc "$V" vni=6565 "peer=$a1" domain=rig.internal
  for H in "$H1" "$H2"; do
    $H subnet "$V" "$S1" cidr=10.0.1.0/24 gateway=10.0.1.1
    $H subnet "$V" "$S2" cidr=10.0.2.0/24 gateway=10.0.2.1
    $H nics "$V" "$S1" "$MA,10.0.1.10,ra" "$MB,10.0.1.11,rb"
    $H nics "$V" "$S2" "$MC,10.0.2.10,rc"
  done
  br=$($H1 attach "$V" | sed 's/.*bridge=//')
  vx="cfsx${br#cfsb}"
  ip -n "$TAG-h1" -d link show dev "$vx" | grep -q "vxlan id 6565 local $a1 dev eth0 .*dstport 4789"
  ip -n "$TAG-h2" -d link show dev "$vx" | grep -q "vxlan id 6565 local $a2 dev eth0 .*dstport 4789"
  bridge -netns "$TAG-h1" fdb show dev "$vx" | grep -q "00:00:00:00:00:00 dst $a2 self permanent"
  bridge -netns "$TAG-h2" fdb show dev "$vx" | grep -q "00:00:00:00:00:00 dst $a1 self permanent"
  for h in h1 h2; do
    virsh -q -c "$(rig_uri $h)" net-list | grep -q "cfs-vpc-$V *active"
    ip -n "$TAG-$h" link show dev "$br" | grep -q "mtu 1450"
  done
  # The machine's own namespace has none of it.
  ! ip link show dev "$br" 2>/dev/null || false
}

@test "guests on two hosts: their own host's DHCP, layer 2 and routed reach across hosts" {
  $H1 nic-xml "$V" "$(uuid)" "$MA" > "$W/ra-nic.xml"
  $H2 nic-xml "$V" "$(uuid)" "$MB" > "$W/rb-nic.xml"
  $H2 nic-xml "$V" "$(uuid)" "$MC" > "$W/rc-nic.xml"
  guest_start ra "$(rig_uri h1)" "$W/ra-nic.xml" "dhcp:eth0,listen:7777,ping:10.0.1.11:180,ping:10.0.2.10:120,connect:10.0.2.10:7777,dns:rb"
  guest_start rb "$(rig_uri h2)" "$W/rb-nic.xml" "dhcp:eth0,listen:7777,ping:10.0.1.10:180,connect:10.0.1.10:7777"
  guest_start rc "$(rig_uri h2)" "$W/rc-nic.xml" "dhcp:eth0,listen:7777,ping:10.0.1.10:180,connect:10.0.1.10:7777"
  for g in ra rb rc; do wait_until 300 has_marker "$g" "RUN DONE"; done
  for g in ra rb rc; do echo "--- $g"; grep -a TINYGUEST "$(log_of $g)"; done

  marker ra "LEASE eth0" | grep -q "ip=10.0.1.10/24 router=10.0.1.1 .*hostname=ra domain=rig.internal .*mtu=1450"
  marker rb "LEASE eth0" | grep -q "ip=10.0.1.11/24 router=10.0.1.1 .*hostname=rb .*mtu=1450"
  marker rc "LEASE eth0" | grep -q "ip=10.0.2.10/24 router=10.0.2.1 .*hostname=rc .*mtu=1450"
  marker ra "PING 10.0.1.11 OK"                   # same subnet, through the tunnel
  marker rb "CONNECT 10.0.1.10:7777 OK hello from ra 10.0.1.10/24"
  marker ra "PING 10.0.2.10 OK"                   # routed on h1, then through the tunnel
  marker ra "CONNECT 10.0.2.10:7777 OK hello from rc 10.0.2.10/24"
  marker rc "CONNECT 10.0.1.10:7777 OK hello from ra 10.0.1.10/24"   # routed on h2
  marker ra "DNS rb 10.0.1.11"

  # Each host's dnsmasq answered (the leases it recorded), and left the routers'
  # permanent neighbours alone.
  $H1 leases "$V" | grep -q "^$MA 10.0.1.10 ra "
  $H2 leases "$V" | grep -q "^$MC 10.0.2.10 rc "
  [ "$(permanent_neighbours "$TAG-h1-vpc-$V")" = 3 ]
  [ "$(permanent_neighbours "$TAG-h2-vpc-$V")" = 3 ]
  # The guests' taps are on their host's VPC bridge; the gateway MAC stays pinned
  # to each host's own router port.
  br=$($H1 attach "$V" | sed 's/.*bridge=//')
  virsh -q -c "$(rig_uri h1)" domiflist "$(dom ra)" | grep -q "cfs-vpc-$V *virtio *$MA"
  [ "$(bridge -netns "$TAG-h2" link | grep -c "master $br")" = 4 ]   # rb, rc, router, VXLAN
  for h in h1 h2; do
    bridge -netns "$TAG-$h" fdb show br "$br" | grep "^02:${V:0:2}:" | grep -q "dev cfsr.*sticky.*static"
  done
}

@test "removal on each host leaves nothing" {
  guests_destroy
  $H1 rm-vpc "$V"
  $H2 rm-vpc "$V"
  for h in h1 h2; do
    ! ip -n "$TAG-$h" -d link show | grep -q "cfs-vpc:$V" || false
    ! virsh -q -c "$(rig_uri $h)" net-list --all | grep -q "$V" || false
  done
  ! ip netns list | grep -q "vpc-$V" || false
  [ -z "$($H1 list)" ]; [ -z "$($H2 list)" ]
}
