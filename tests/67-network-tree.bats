#!/usr/bin/env bats
# Networks through the tree: VPCs, subnets and NICs made with mkdir and echo, built by
# the reconciler with the network driver on real bridges, router namespaces and
# dnsmasq (qemu:///system), and real TCG guests (the tiny guest's cfs.run steps print
# what they saw on the serial console).
#
# VPC v1 (subnets s1 10.0.1.0/24, s2 10.0.2.0/24) holds guests ga and gb; VPC v2 has
# the same CIDR and guest gc with ga's address.  Observers: sqlite3 (the store),
# virsh (domiflist, net-list), ip (links, namespaces), dnsmasq's host files.

load net_helpers

setup_file() {
  net_setup     # the tiny guest with network steps, and net_tool for the teardown
  export NETSTATE=/run/cloudfs/net
  RESYNC=5 compute_start
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering small 128M
  export Z="$MNT/zones/default"
  export V1="$Z/vpcs/v1" V2="$Z/vpcs/v2"
}

teardown_file() {
  net_store_teardown
}

vpc_uuid() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='$1' AND deleted=0"; }
bridge_name() { local h=${1//-/}; echo "cfsb${h:0:11}"; }
console_of() { cat "$C/vms/$1/status/console"; }
gmarker() { grep -a "TINYGUEST $2" "$(console_of "$1")"; }
has_gmarker() { grep -aq "TINYGUEST $2" "$(console_of "$1")" 2>/dev/null; }
status_is() { [ "$(cat "$1")" = "$2" ]; }

# guest NAME: a VM booting the tiny guest directly; its cfs.run steps are set later.
guest() {
  mkdir "$C/vms/$1"
  echo small > "$C/vms/$1/offering"
  echo "$GUEST/vmlinuz" > "$C/vms/$1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/$1/initrd"
}
steps() { echo "console=ttyS0 panic=-1 tinyguest.agent cfs.run=$2" > "$C/vms/$1/cmdline"; }

@test "VPCs and subnets are built on real bridges, router namespaces and dnsmasq" {
  mkdir "$V1" "$V2"
  [ "$(cat "$V1/cidr")" = 10.0.0.0/16 ]
  mkdir "$V1/subnets/s1" "$V1/subnets/s2" "$V2/subnets/s1"
  echo 10.0.1.0/24 > "$V1/subnets/s1/cidr"
  echo 10.0.2.0/24 > "$V1/subnets/s2/cidr"
  echo 10.0.1.0/24 > "$V2/subnets/s1/cidr"
  printf '192.0.2.53\n' > "$V1/subnets/s1/dns"
  wait_until 120 status_is "$V1/subnets/s1/status/state" available
  wait_until 120 status_is "$V1/subnets/s2/status/state" available
  wait_until 120 status_is "$V2/subnets/s1/status/state" available
  cat "$V1/status/bridge" "$V1/subnets/s1/status/bridge"
  [ "$(cat "$V1/subnets/s1/status/gateway")" = 10.0.1.1 ]
  [ "$(cat "$V1/subnets/s1/status/free-ips")" = 253 ]
  u1=$(vpc_uuid v1) u2=$(vpc_uuid v2)
  # Independent observers: the links, the router namespaces, libvirt's networks.
  ip link show "$(bridge_name "$u1")" >/dev/null
  ip link show "$(bridge_name "$u2")" >/dev/null
  ip netns list | grep -q "^cfs-vpc-$u1"
  ip netns list | grep -q "^cfs-vpc-$u2"
  $VIRSH net-list --name | grep -qx "cfs-vpc-$u1"
  ip -n "cfs-vpc-$u1" -4 addr | grep -q "10.0.1.1/24"
  ip -n "cfs-vpc-$u1" -4 addr | grep -q "10.0.2.1/24"
  [ -n "$(cat "$V1/status/vni")" ]
}

@test "hostile values are refused with an errno and a reason, and the spec is unchanged" {
  mkdir "$V1/subnets/bad"
  guest gx
  mkdir "$C/vms/gx/nics/eth0"
  echo v1/s1 > "$C/vms/gx/nics/eth0/subnet"
  before=$(spec_dump)
  write_fails "Invalid argument" "$V1/subnets/bad/cidr" 10.0.0.0/33
  grep -q "prefix" "$V1/subnets/bad/status/error"
  write_fails "Invalid argument" "$V1/subnets/bad/cidr" 300.1.1.1/24
  write_fails "Invalid argument" "$V1/subnets/bad/cidr" 10.0.1.5/24
  write_fails "File exists" "$V1/subnets/bad/cidr" 10.0.1.128/25
  grep -q "overlaps sibling subnet s1" "$V1/subnets/bad/status/error"
  write_fails "Invalid argument" "$V1/subnets/bad/cidr" 10.9.0.0/24
  write_fails "Invalid argument" "$V1/subnets/bad/cidr" 192.168.0.0/24
  grep -q "not inside vpc v1" "$V1/subnets/bad/status/error"
  write_fails "Invalid argument" "$V1/subnets/s1/gateway" 10.0.2.1
  write_fails "Invalid argument" "$V1/subnets/s1/gateway" 10.0.1.255
  write_fails "Invalid argument" "$V1/subnets/s1/dns" "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4"
  write_fails "Invalid argument" "$V1/subnets/s1/routes" "10.5.0.0/16 via 10.9.9.9"
  write_fails "Invalid argument" "$V1/cidr" 10.0.0.0/40
  write_fails "Device or resource busy" "$V1/cidr" 10.0.1.0/24
  [ "$(spec_dump)" = "$before" ]
  nic="$C/vms/gx/nics/eth0"
  taken=$(cat "$nic/status/ip")
  [ "$taken" = 10.0.1.2 ]
  mkdir "$C/vms/gx/nics/eth1"
  echo v1/s1 > "$C/vms/gx/nics/eth1/subnet"
  before=$(spec_dump)
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/ip" 10.0.1.0
  grep -q "network or broadcast" "$C/vms/gx/nics/eth1/status/error"
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/ip" 10.0.1.255
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/ip" 10.0.1.1
  grep -q "gateway" "$C/vms/gx/nics/eth1/status/error"
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/ip" 10.0.2.9
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/ip" 300.1.1.1
  write_fails "File exists" "$C/vms/gx/nics/eth1/ip" "$taken"
  grep -q "already held" "$C/vms/gx/nics/eth1/status/error"
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/mac" 01:00:5e:00:00:01
  grep -q "multicast" "$C/vms/gx/nics/eth1/status/error"
  write_fails "File exists" "$C/vms/gx/nics/eth1/mac" "$(cat "$nic/status/mac")"
  write_fails "No such file or directory" "$C/vms/gx/nics/eth1/subnet" v1/nope
  write_fails "Invalid argument" "$C/vms/gx/nics/eth1/subnet" s1
  [ "$(spec_dump)" = "$before" ]
  # At most 8 NICs per VM.
  for i in 2 3 4 5 6 7; do mkdir "$C/vms/gx/nics/eth$i"; done
  run mkdir "$C/vms/gx/nics/eth8"
  [ "$status" -ne 0 ]
  [[ "$output" == *"quota"* ]]
  [ "$(ls "$C/vms/gx/nics" | wc -l)" = 8 ]
  # Every address once in the store (the observer: sqlite3).
  dups=$(sqlite3 "$DB" "SELECT value FROM status WHERE name = 'ip' AND value != '' AND res IN
         (SELECT id FROM resources WHERE kind = 'nic' AND deleted = 0) GROUP BY value HAVING count(*) > 1")
  [ -z "$dups" ]
  rm -r "$C/vms/gx"
  rmdir "$V1/subnets/bad"
}

@test "auto addresses are allocated at once, one per NIC, and returned on rmdir" {
  guest gy
  for i in 0 1 2 3; do mkdir "$C/vms/gy/nics/eth$i"; done
  # Four writers at once: four different addresses.
  for i in 0 1 2 3; do (echo v1/s2 > "$C/vms/gy/nics/eth$i/subnet") & done
  wait
  ips=$(cat "$C/vms/gy/nics"/eth*/status/ip | sort -u)
  [ "$(echo "$ips" | wc -l)" = 4 ]
  echo "$ips" | grep -qx 10.0.2.2
  echo "$ips" | grep -qx 10.0.2.5
  rmdir "$C/vms/gy/nics/eth2"
  mkdir "$C/vms/gy/nics/eth9"
  echo v1/s2 > "$C/vms/gy/nics/eth9/subnet"
  [ -n "$(cat "$C/vms/gy/nics/eth9/status/ip")" ]
  ! cat "$C/vms/gy/nics"/eth[013]/status/ip | grep -qx "$(cat "$C/vms/gy/nics/eth9/status/ip")" || false
  rm -r "$C/vms/gy"
}

subnet_uuid() { sqlite3 "$DB" "SELECT s.uuid FROM resources s JOIN resources v ON v.id = s.parent
                              WHERE s.kind = 'subnet' AND v.name = '$1' AND s.name = '$2'"; }
hosts_has() { grep -qi "$3" "$NETSTATE/$(vpc_uuid "$1")/hosts/$(subnet_uuid "$1" "$2")"; }

@test "a NIC moved to another subnet leaves the old one's DHCP entries; referenced VPCs and subnets keep their names" {
  guest gz
  mkdir "$C/vms/gz/nics/eth0"
  echo v1/s2 > "$C/vms/gz/nics/eth0/subnet"
  mac=$(cat "$C/vms/gz/nics/eth0/status/mac")
  wait_until 60 hosts_has v1 s2 "$mac"
  echo v1/s1 > "$C/vms/gz/nics/eth0/subnet"
  [[ "$(cat "$C/vms/gz/nics/eth0/status/ip")" == 10.0.1.* ]]
  wait_until 60 hosts_has v1 s1 "$mac"
  wait_until 60 sh -c "! grep -qi $mac $NETSTATE/$(vpc_uuid v1)/hosts/$(subnet_uuid v1 s2)"
  # The NIC names v1/s1: neither may be renamed under it.
  run mv "$V1/subnets/s1" "$V1/subnets/s9"
  [ "$status" -ne 0 ]
  run mv "$V1" "$Z/vpcs/v9"
  [ "$status" -ne 0 ]
  [ -d "$V1/subnets/s1" ]
  # s2 has no NIC now: a rename is fine.
  mv "$V1/subnets/s2" "$V1/subnets/s3"
  mv "$V1/subnets/s3" "$V1/subnets/s2"
  rm -r "$C/vms/gz"
}

@test "two guests of one subnet get their addresses by DHCP and reach each other; the other VPC cannot" {
  guest ga
  guest gb
  guest gc
  mkdir "$C/vms/ga/nics/eth0" "$C/vms/gb/nics/eth0" "$C/vms/gc/nics/eth0"
  echo v1/s1 > "$C/vms/ga/nics/eth0/subnet"
  echo 10.0.1.11 > "$C/vms/gb/nics/eth0/ip"
  echo v1/s1 > "$C/vms/gb/nics/eth0/subnet"
  ipa=$(cat "$C/vms/ga/nics/eth0/status/ip")
  [ "$(cat "$C/vms/gb/nics/eth0/status/ip")" = 10.0.1.11 ]     # a fixed IP is honoured
  # gc: the same address as ga, in the other VPC.
  echo "$ipa" > "$C/vms/gc/nics/eth0/ip"
  echo v2/s1 > "$C/vms/gc/nics/eth0/subnet"
  [ "$(cat "$C/vms/gc/nics/eth0/status/ip")" = "$ipa" ]
  # The zone's default security group lets in ICMP and SSH only: 7777 too, here.
  mkdir "$Z/security-groups/default/rules/t7777"
  echo 7777 > "$Z/security-groups/default/rules/t7777/ports"
  steps ga "dhcp:eth0,listen:7777,ping:10.0.1.11:180,connect:10.0.1.11:7777:60,dns:gb,dhcp:eth1:600,ping:10.0.2.1"
  steps gb "dhcp:eth0,listen:7777,ping:$ipa:180,connect:$ipa:7777:60"
  steps gc "dhcp:eth0,ping:10.0.1.1,ping:10.0.1.11:15,connect:10.0.1.11:7777:10,dns:gb"
  echo running > "$C/vms/ga/state"
  echo running > "$C/vms/gb/state"
  wait_until 120 domstate_is "$(vm_domain ga)" running
  wait_until 120 domstate_is "$(vm_domain gb)" running
  # libvirt has the NIC with the tree's MAC, on the VPC's network.
  $VIRSH domiflist "$(vm_domain ga)"
  $VIRSH domiflist "$(vm_domain ga)" | grep -q "cfs-vpc-$(vpc_uuid v1) *virtio *$(cat "$C/vms/ga/nics/eth0/status/mac")"
  wait_until 60 status_is "$C/vms/ga/nics/eth0/status/state" attached
  [[ "$(cat "$C/vms/ga/nics/eth0/status/target")" == cfst* ]]
  # cloud-init's network-config on the seed CD matches the NIC by its MAC.
  seed="$T/seed/$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm' AND name='ga'").iso"
  isoinfo -R -i "$seed" -x /network-config > "$BATS_TEST_TMPDIR/netcfg"
  grep -qx '      macaddress: "'"$(cat "$C/vms/ga/nics/eth0/status/mac")"'"' "$BATS_TEST_TMPDIR/netcfg"
  grep -qx '    set-name: "eth0"' "$BATS_TEST_TMPDIR/netcfg"
  grep -qx '    dhcp4: true' "$BATS_TEST_TMPDIR/netcfg"
  # dnsmasq's host entries are exactly the NICs' addresses.
  grep -rq "$(cat "$C/vms/gb/nics/eth0/status/mac")" "$NETSTATE/$(vpc_uuid v1)"
  wait_until 400 has_gmarker gb "LEASE eth0"
  echo running > "$C/vms/gc/state"
  wait_until 400 has_gmarker gb "RUN DONE"
  wait_until 400 has_gmarker gc "RUN DONE"
  wait_until 400 has_gmarker ga "DNS gb"
  for g in ga gb gc; do echo "--- $g"; grep -a TINYGUEST "$(console_of $g)"; done
  gmarker ga "LEASE eth0" | grep -q "ip=$ipa/24 router=10.0.1.1 dns=10.0.1.1,192.0.2.53 hostname=ga"
  gmarker gb "LEASE eth0" | grep -q "ip=10.0.1.11/24 router=10.0.1.1 .*hostname=gb"
  gmarker gc "LEASE eth0" | grep -q "ip=$ipa/24 router=10.0.1.1"
  gmarker ga "PING 10.0.1.11 OK"
  gmarker gb "PING $ipa OK"
  gmarker ga "CONNECT 10.0.1.11:7777 OK hello from gb"
  gmarker gb "CONNECT $ipa:7777 OK hello from ga"
  gmarker ga "DNS gb 10.0.1.11"
  # The guest's own view through its agent (the tiny guest's stand-in).
  wait_until 120 grep -qx "eth0 10.0.1.11/24" "$C/vms/gb/status/ips"
  gmarker gc "PING 10.0.1.1 OK"
  gmarker gc "PING 10.0.1.11 FAIL"
  gmarker gc "CONNECT 10.0.1.11:7777 FAIL"
}

@test "a NIC made in a running VM is hot-plugged and gets its address" {
  mkdir "$C/vms/ga/nics/eth1"
  echo v1/s2 > "$C/vms/ga/nics/eth1/subnet"
  mac=$(cat "$C/vms/ga/nics/eth1/status/mac")
  ip1=$(cat "$C/vms/ga/nics/eth1/status/ip")
  wait_until 120 sh -c "$VIRSH domiflist $(vm_domain ga) | grep -q $mac"
  [ "$($VIRSH domiflist "$(vm_domain ga)" | grep -c "cfs-vpc-")" = 2 ]
  wait_until 60 status_is "$C/vms/ga/nics/eth1/status/state" attached
  wait_until 600 has_gmarker ga "PING 10.0.2.1"
  gmarker ga "LEASE eth1" | grep -q "ip=$ip1/24 router=10.0.2.1"
  gmarker ga "PING 10.0.2.1 OK"
}

@test "rmdir of a subnet with NICs is EBUSY; the NIC's removal unplugs it and frees its address" {
  run rmdir "$V1/subnets/s2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"busy"* ]]
  grep -q "eth1 of vm ga" "$V1/subnets/s2/status/error"
  mac=$(cat "$C/vms/ga/nics/eth1/status/mac")
  rmdir "$C/vms/ga/nics/eth1"
  wait_until 120 sh -c "! $VIRSH domiflist $(vm_domain ga) | grep -q $mac"
  rmdir "$V1/subnets/s2"
  wait_until 60 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind='subnet' AND name LIKE '.deleted-%'\")\" ]"
  ! ip -n "cfs-vpc-$(vpc_uuid v1)" -4 addr | grep -q "10.0.2.1/24" || false
}

@test "drift: a deleted bridge and a destroyed libvirt network are made again" {
  u1=$(vpc_uuid v1)
  ip link del "$(bridge_name "$u1")"
  $VIRSH net-destroy "cfs-vpc-$u1" >/dev/null 2>&1 || true
  wait_until 120 ip link show "$(bridge_name "$u1")"
  wait_until 120 sh -c "$VIRSH net-list --name | grep -qx cfs-vpc-$u1"
}

@test "removal: VMs, subnets and VPCs go, and with them their bridges, namespaces and networks" {
  u1=$(vpc_uuid v1) u2=$(vpc_uuid v2)
  for g in ga gb gc; do echo stopped > "$C/vms/$g/state"; done
  for g in ga gb gc; do rm -r "$C/vms/$g"; done
  wait_until 120 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind IN ('vm','nic')\")\" ]"
  rmdir "$V1/subnets/s1" "$V2/subnets/s1"
  rmdir "$V1" "$V2"
  wait_until 120 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind IN ('vpc','subnet')\")\" ]"
  ! ip link show "$(bridge_name "$u1")" 2>/dev/null || false
  ! ip link show "$(bridge_name "$u2")" 2>/dev/null || false
  ! ip netns list | grep -q "cfs-vpc-$u1" || false
  ! $VIRSH net-list --all --name | grep -q "cfs-vpc-$u1" || false
}
