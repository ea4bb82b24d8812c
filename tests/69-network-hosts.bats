#!/usr/bin/env bats
# VPCs carried between hosts by VXLAN, made by the reconciler from the tree, on the
# multi-host rig (scripts/hosts-up.sh: three real libvirtd hosts, each in its own
# network namespace, named here with `ip netns attach` and given to the hosts as
# their test-only netns attribute). One host with a vtep: no VXLAN device. Three:
# each host's VPC bridge gets a VXLAN port (VNI 4096 + the VPC's id, local = its
# vtep, port 4789, no learning) with one all-zero forwarding entry per other host,
# MTU 1450 on the bridge and in each NIC's <interface>; an endpoint on h1's bridge pings
# one on h2's through the tunnel; a host removed leaves the others' entries and its
# own devices gone. Observers: ip -d link, bridge fdb, virsh net-list, ping and
# the VXLAN device's counters, inside the hosts' namespaces.

load net_helpers

setup_file() {
  net_setup     # net_tool for the teardown
  rig_up 3
  . "$REPO/scripts/hosts-lib.sh"
  rig_load "$RIG"
  local h
  for h in h1 h2 h3; do
    ip netns attach "$TAG-$h" "$(host_init_pid "$(rig_host_dir "$h")")"
  done
  export A1=$(cat "$RIG/h1/address") A2=$(cat "$RIG/h2/address") A3=$(cat "$RIG/h3/address")
  CFS_TEST_URI=test:///default RESYNC=5 compute_start
  export Z="$MNT/zones/default" V="$MNT/zones/default/vpcs/vx"
}

teardown_file() {
  local u h
  for h in h1 h2; do
    ip netns del "$TAG-e$h" 2>/dev/null || true
    ip -n "$TAG-$h" link del "ep$h" 2>/dev/null || true
  done
  u=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='vx'" 2>/dev/null || true)
  compute_stop || true
  for h in h1 h2 h3; do
    [ -n "$u" ] && "$W/net_tool" -n "$TAG-$h" -s "/run/cloudfs/net/ns-$TAG-$h" \
      -c "$(rig_uri $h)" rm-vpc "$u" >/dev/null 2>&1
    rm -rf "/run/cloudfs/net/ns-$TAG-$h"
    ip netns del "$TAG-$h" 2>/dev/null || true     # the name only: the host keeps its namespace
  done
  rig_down || true
  rm -rf "$RUNDIR"
}

status_is() { [ "$(cat "$1")" = "$2" ]; }
vpc_uuid() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='$1' AND deleted=0"; }
vxlan_of() { local h=${1//-/}; echo "cfsx${h:0:11}"; }
bridge_of() { local h=${1//-/}; echo "cfsb${h:0:11}"; }
# fdb_dsts H DEV: the remote addresses of DEV's all-zero entries on host H, sorted.
fdb_dsts() {
  bridge -netns "$TAG-$1" fdb show dev "$2" | awk '$1 == "00:00:00:00:00:00" { print $3 }' | sort | tr '\n' ' '
}
fdb_is() { [ "$(fdb_dsts "$1" "$2")" = "$3" ]; }
no_link() { ! ip -n "$TAG-$1" link show dev "$2" >/dev/null 2>&1; }
# add_host H [VTEP]: host H of the rig in the tree, reached in its own namespace.
add_host() {
  mkdir "$C/hosts/$1"
  rig_uri "$1" > "$C/hosts/$1/uri"
  echo "$TAG-$1" > "$C/hosts/$1/netns"
  [ -z "${2:-}" ] || echo "$2" > "$C/hosts/$1/vtep"
  wait_until 60 status_is "$C/hosts/$1/status/connection" connected
}

@test "a bad vtep is refused with EINVAL or EEXIST and a reason; the store is unchanged" {
  add_host h1 "$A1"
  [ "$(cat "$C/hosts/h1/vtep")" = "$A1" ]
  for bad in 300.1.1.1 10.0.0 127.0.0.1 224.0.0.5 0.0.0.0 255.255.255.255 "$A1 x"; do
    run bash -c "echo '$bad' > '$C/hosts/local/vtep'"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "vtep" "$C/hosts/local/status/error"
  done
  run bash -c "echo '$A1' > '$C/hosts/local/vtep'"     # h1's
  [[ "$output" == *"File exists"* ]]
  grep -q "host h1" "$C/hosts/local/status/error"
  [ -z "$(cat "$C/hosts/local/vtep")" ]
  [ -z "$(sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res WHERE r.kind='host' AND r.name='local' AND a.name='vtep'")" ]
}

@test "one host with a vtep: the VPC stays on it, no VXLAN device" {
  mkdir "$V"
  echo 10.1.0.0/16 > "$V/cidr"
  mkdir "$V/subnets/s1"
  echo 10.1.1.0/24 > "$V/subnets/s1/cidr"
  wait_until 60 status_is "$V/subnets/s1/status/state" available
  u=$(vpc_uuid vx)
  ip -n "$TAG-h1" link show dev "$(bridge_of "$u")" | grep -q "mtu 1500"
  [ -z "$(ip -n "$TAG-h1" -d link show type vxlan)" ]
  grep -q "^$(rig_uri h1) $(bridge_of "$u")$" "$V/status/bridge"
  # Nothing of it in the machine's own namespace (the test-driver host has no network).
  ! ip link show dev "$(bridge_of "$u")" 2>/dev/null || false
}

@test "three hosts with vteps: a VXLAN port per host with the VPC's VNI, its vtep and the others' entries" {
  add_host h2 "$A2"
  add_host h3 "$A3"
  u=$(vpc_uuid vx); vx=$(vxlan_of "$u"); br=$(bridge_of "$u")
  vni=$(cat "$V/status/vni")
  id=$(sqlite3 "$DB" "SELECT id FROM resources WHERE uuid='$u'")
  [ "$vni" = $((4096 + id)) ]
  wait_until 60 fdb_is h1 "$vx" "$A2 $A3 "
  wait_until 60 fdb_is h2 "$vx" "$A1 $A3 "
  wait_until 60 fdb_is h3 "$vx" "$A1 $A2 "
  for h in h1 h2 h3; do
    a=$(cat "$RIG/$h/address")
    ip -n "$TAG-$h" -d link show dev "$vx" | grep -q "vxlan id $vni local $a .*dstport 4789 .*nolearning"
    ip -n "$TAG-$h" link show dev "$vx" | grep -q "mtu 1450 .*master $br"
    ip -n "$TAG-$h" link show dev "$br" | grep -q "mtu 1450"
    bridge -netns "$TAG-$h" fdb show dev "$vx" | grep "^00:00:00:00:00:00" | grep -q "self permanent"
    virsh -q -c "$(rig_uri $h)" net-list | grep -q "cfs-vpc-$u *active"
    # libvirt takes no <mtu> for a network in bridge mode: each NIC's <interface> has it.
    "$W/net_tool" -n "$TAG-$h" -s "/run/cloudfs/net/ns-$TAG-$h" -c "$(rig_uri $h)" \
      nic-xml "$u" "$(uuid)" 52:54:00:69:00:01 | grep -q "<mtu size='1450'/>"
  done
  wait_until 60 status_is "$V/status/state" available
  [ "$(grep -c " $br$" "$V/status/bridge")" = 3 ]
}

# endpoint H ADDR: a namespace $TAG-eH whose eth0 (MTU 1450, ADDR/24) is a port of
# the VPC's bridge on host H: a stand-in for a guest.
endpoint() {
  local u br
  u=$(vpc_uuid vx); br=$(bridge_of "$u")
  ip netns add "$TAG-e$1"
  ip -n "$TAG-$1" link add "ep$1" mtu 1450 type veth peer name eth0 netns "$TAG-e$1" mtu 1450
  ip -n "$TAG-$1" link set "ep$1" master "$br" up
  ip -n "$TAG-e$1" addr add "$2/24" dev eth0
  ip -n "$TAG-e$1" link set eth0 up
}
vx_rx() { ip -n "$TAG-$1" -s -j link show dev "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }

@test "traffic crosses between hosts through the tunnel: h1's endpoint pings h2's" {
  u=$(vpc_uuid vx); vx=$(vxlan_of "$u")
  endpoint h1 10.1.1.201
  endpoint h2 10.1.1.202
  before=$(vx_rx h2 "$vx")
  ip netns exec "$TAG-eh1" busybox ping -c 3 -W 2 -s 1400 10.1.1.202
  ip netns exec "$TAG-eh2" busybox ping -c 2 -W 2 10.1.1.201
  after=$(vx_rx h2 "$vx")
  [ "$after" -ge $((before + 3)) ]      # arrived by VXLAN on h2
  # h3 has no endpoint: the frames it got (flooding, no learning) went nowhere.
  ! ip -n "$TAG-h3" neigh show | grep -q 10.1.1.20 || false
}

@test "a host removed: the others drop its entry, its VPC devices go" {
  u=$(vpc_uuid vx); vx=$(vxlan_of "$u"); br=$(bridge_of "$u")
  rmdir "$C/hosts/h3"
  wait_until 60 fdb_is h1 "$vx" "$A2 "
  wait_until 60 fdb_is h2 "$vx" "$A1 "
  wait_until 60 no_link h3 "$br"
  no_link h3 "$vx"
  # The router's namespace goes last, and the VPC's record of h3 with it.
  wait_until 60 sh -c "! ip netns list | grep -q '^$TAG-h3-vpc-$u'"
  ! virsh -q -c "$(rig_uri h3)" net-list --all | grep -q "$u" || false
  wait_until 60 sh -c "! grep -qF '$(rig_uri h3)' '$V/status/bridge'"
  # Still carried between h1 and h2.
  ip netns exec "$TAG-eh1" busybox ping -c 2 -W 2 10.1.1.202
}

@test "a vtep changed: the peers follow it" {
  u=$(vpc_uuid vx); vx=$(vxlan_of "$u")
  # A second address of h2's underlay interface becomes its vtep.
  A2b=${A2%.*}.$(( ${A2##*.} + 100 ))
  ip -n "$TAG-h2" addr add "$A2b/24" dev eth0
  echo "$A2b" > "$C/hosts/h2/vtep"
  wait_until 60 fdb_is h1 "$vx" "$A2b "
  wait_until 60 bash -c "ip -n '$TAG-h2' -d link show dev '$vx' | grep -q 'local $A2b '"
  ip netns exec "$TAG-eh1" busybox ping -c 2 -W 2 10.1.1.202
}

@test "the VPC removed: every host's VXLAN port, bridge and router go" {
  u=$(vpc_uuid vx); vx=$(vxlan_of "$u"); br=$(bridge_of "$u")
  for h in h1 h2; do
    ip netns del "$TAG-e$h"
  done
  rmdir "$V/subnets/s1"
  rmdir "$V"
  for h in h1 h2; do
    wait_until 60 no_link "$h" "$br"
    no_link "$h" "$vx"
    ! virsh -q -c "$(rig_uri $h)" net-list --all | grep -q "$u" || false
  done
  # The router's namespace goes after the links (remove_vpc's order): wait for it too.
  wait_until 30 sh -c "! ip netns list | grep -q 'vpc-$u'"
  rc_check_log
}

@test "netns is test only: refused with EPERM and a reason without allow-test-uri" {
  rc_stop
  cfs_umount
  sed -i 's/^allow-test-uri = .*/allow-test-uri = false;/' "$CONF"
  cfs_mount
  run bash -c "echo '$TAG-h2' > '$C/hosts/local/netns'"
  sed -i 's/^allow-test-uri = .*/allow-test-uri = true;/' "$CONF"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Operation not permitted"* ]]
  grep -q "netns: test only (cloudfs.conf allow-test-uri)" "$C/hosts/local/status/error"
  [ -z "$(cat "$C/hosts/local/netns")" ]
  # A vtep needs no opt-in.
  echo 192.0.2.69 > "$C/hosts/local/vtep"
  [ "$(cat "$C/hosts/local/vtep")" = 192.0.2.69 ]
}
