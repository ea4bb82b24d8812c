#!/usr/bin/env bats
# The default network: a new store (default-subnet in cloudfs.conf) has VPC "default"
# with subnet "default", every VM made in the zone gets NIC eth0 in it with an address
# of its own, and the guest gets that address by DHCP; rmdir of the VM takes its NIC.

load net_helpers

setup_file() {
  net_setup     # the tiny guest with network steps, and net_tool for the teardown
  export NETSTATE=/run/cloudfs/net
  CFS_DEFAULT_SUBNET=10.0.0.0/24 RESYNC=5 compute_start
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering small 128M
  export D="$MNT/zones/default/vpcs/default"
}

teardown_file() {
  net_store_teardown
}

status_is() { [ "$(cat "$1")" = "$2" ]; }

@test "the default cloud has a default VPC and subnet, built on this host" {
  [ "$(cat "$D/cidr")" = 10.0.0.0/16 ]
  [ "$(cat "$D/subnets/default/cidr")" = 10.0.0.0/24 ]
  wait_until 120 status_is "$D/subnets/default/status/state" available
  u=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='default'")
  ip netns list | grep -q "^cfs-vpc-$u"
  ip -n "cfs-vpc-$u" -4 addr | grep -q "10.0.0.1/24"
}

@test "a new VM gets eth0 with an address at once, and its guest gets it by DHCP" {
  mkdir "$C/vms/g1" "$C/vms/g2"
  [ "$(cat "$C/vms/g1/nics/eth0/subnet")" = default/default ]
  [ "$(cat "$C/vms/g1/nics/eth0/status/ip")" = 10.0.0.2 ]
  [ "$(cat "$C/vms/g2/nics/eth0/status/ip")" = 10.0.0.3 ]
  echo small > "$C/vms/g1/offering"
  echo "$GUEST/vmlinuz" > "$C/vms/g1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/g1/initrd"
  echo "console=ttyS0 panic=-1 cfs.run=dhcp:eth0,ping:10.0.0.1" > "$C/vms/g1/cmdline"
  echo running > "$C/vms/g1/state"
  wait_until 120 domstate_is "$(vm_domain g1)" running
  $VIRSH domiflist "$(vm_domain g1)" | grep -q "$(cat "$C/vms/g1/nics/eth0/status/mac")"
  console=$(cat "$C/vms/g1/status/console")
  wait_until 400 grep -aq "TINYGUEST PING 10.0.0.1" "$console"
  grep -a "TINYGUEST" "$console"
  grep -a "TINYGUEST LEASE eth0" "$console" | grep -q "ip=10.0.0.2/24 router=10.0.0.1 .*hostname=g1"
  grep -aq "TINYGUEST PING 10.0.0.1 OK" "$console"
}

@test "cloudfs check: NIC addresses inside their subnet and unique" {
  rc=0; out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; false; }
  nic2=$(sqlite3 "$DB" "SELECT r.id FROM resources r JOIN resources v ON v.id = r.parent
                        WHERE r.kind = 'nic' AND v.name = 'g2'")
  sqlite3 "$DB" "UPDATE status SET value = '10.0.0.2' WHERE res = $nic2 AND name = 'ip'"
  rc=0; out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>&1) || rc=$?
  echo "$out"
  [ "$rc" != 0 ]
  echo "$out" | grep -q "vms/g.*/nics/eth0: status ip 10.0.0.2 is held by another NIC of subnet default too"
  sqlite3 "$DB" "UPDATE status SET value = '10.0.9.9' WHERE res = $nic2 AND name = 'ip'"
  rc=0; out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>&1) || rc=$?
  echo "$out" | grep -q "vms/g2/nics/eth0: status ip '10.0.9.9' is not a host address of subnet default"
  sqlite3 "$DB" "UPDATE status SET value = '10.0.0.3' WHERE res = $nic2 AND name = 'ip'"
  rc=0; out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; false; }
}

@test "rmdir of a VM takes its NICs; their addresses return to the subnet" {
  echo stopped > "$C/vms/g1/state"
  wait_until 120 domstate_is "$(vm_domain g1)" "shut off"
  rmdir "$C/vms/g1"
  rmdir "$C/vms/g2"
  wait_until 120 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind IN ('vm','nic')\")\" ]"
  mkdir "$C/vms/g3"
  [ "$(cat "$C/vms/g3/nics/eth0/status/ip")" = 10.0.0.2 ]
  wait_until 60 status_is "$D/subnets/default/status/used-ips" 1
  rmdir "$C/vms/g3"
}
