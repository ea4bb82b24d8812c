#!/usr/bin/env bats
# cloudfs check against the networks: a clean cloud passes; drift made behind
# cloudfs's back with virsh and ip (a libvirt network destroyed or undefined, a
# bridge or a router's gateway address deleted, a foreign cfs- network or bridge)
# and damage to the store's NIC addresses (sqlite3) are each reported on one line.
# The reconciler is stopped while the drift is looked at (it would repair it), then
# restarted: it repairs the drift and the check passes again.

load compute_helpers

setup_file() {
  export NETSTATE=/run/cloudfs/net
  export W="$BATS_FILE_TMPDIR"
  RESYNC=3 compute_start
  export V="$MNT/zones/default/vpcs/nv"
  mkdir "$V" "$V/subnets/ns"
  echo 10.0.1.0/24 > "$V/subnets/ns/cidr"
  mkdir "$C/vms/n1" "$C/vms/n1/nics/eth0" "$C/vms/n1/nics/eth1"
  echo nv/ns > "$C/vms/n1/nics/eth0/subnet"
  echo nv/ns > "$C/vms/n1/nics/eth1/subnet"
  echo 10.0.1.50 > "$C/vms/n1/nics/eth1/ip"
  wait_until 120 file_is "$V/subnets/ns/status/state" available
  wait_until 60 file_is "$V/status/state" available
  export U=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='nv'")
  H=${U//-/}
  export BR="cfsb${H:0:11}" NET="cfs-vpc-$U" NS="cfs-vpc-$U"
}

teardown_file() {
  for f in "$W"/foreign.*; do
    [ -f "$f" ] || continue
    case "$f" in
      *.net) $VIRSH net-destroy "$(cat "$f")" >/dev/null 2>&1 || true
             $VIRSH net-undefine "$(cat "$f")" >/dev/null 2>&1 || true ;;
      *.br) ip link del "$(cat "$f")" 2>/dev/null || true ;;
    esac
  done
  local u vpcs
  vpcs=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc'" 2>/dev/null || true)
  compute_stop
  # What the reconciler may not have finished: through libvirt and ip directly.
  vpc_dataplane_purge $vpcs
}

# check [ARGS]: run cloudfs check; output in $out, exit in $rc.  A sanitizer
# report (the sanitizer run) fails the test whatever the exit code.
check() {
  rc=0
  out=$("$CLOUDFS_BIN" -c "$CONF" check "$@" 2>"$T/check.err") || rc=$?
  if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/check.err" >&2; then return 1; fi
}

# The machine is shared: other stores' domains, VPCs and bridges show up as
# orphans.  Keep every line except orphans of UUIDs neither this store nor
# this file's foreign objects know.
ours() {
  local keep u
  keep=$(sqlite3 "$DB" "SELECT uuid FROM resources"; cat "$W"/foreign.uuid 2>/dev/null || true)
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    case "$line" in
      *": orphan "*" has UUID "*)
        u=${line##* has UUID }
        grep -qxF "$u" <<<"$keep" && printf '%s\n' "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <<<"$out"
}

# The reconciler converged on the VPC again: the check passes for it.
clean_again() {
  check
  [ -z "$(ours)" ]
}

@test "a clean cloud with a VPC, a subnet and NICs passes" {
  [ "$(cat "$C/vms/n1/nics/eth1/status/ip")" = 10.0.1.50 ]
  ip link show "$BR" >/dev/null
  $VIRSH net-list --name | grep -qx "$NET"
  check
  [ -z "$(ours)" ] || { ours; cat "$T/check.err"; false; }
  if [ -z "$out" ]; then [ "$rc" = 0 ]; else [ "$rc" = 1 ]; fi
  check -n
  [ "$rc" = 0 ] || { echo "$out"; false; }
}

@test "virsh net-destroy: the VPC's libvirt network is not active" {
  rc_stop
  $VIRSH net-destroy "$NET" >/dev/null
  check
  rc_start
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/vpcs/nv: libvirt network $NET is not active on host local" ] || { ours; false; }
  wait_until 60 clean_again
  $VIRSH net-list --name | grep -qx "$NET"
}

@test "virsh net-destroy and net-undefine: the VPC's libvirt network is missing" {
  rc_stop
  $VIRSH net-destroy "$NET" >/dev/null
  $VIRSH net-undefine "$NET" >/dev/null
  check
  rc_start
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/vpcs/nv: libvirt network $NET is missing on host local" ] || { ours; false; }
  wait_until 60 clean_again
  $VIRSH net-list --name | grep -qx "$NET"
}

@test "ip link del of the VPC's bridge: the bridge is missing" {
  rc_stop
  ip link del "$BR"
  check
  rc_start
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/vpcs/nv: bridge $BR is missing on host local" ] || { ours; false; }
  wait_until 60 clean_again
  ip link show "$BR" >/dev/null
}

@test "ip addr del of a subnet's gateway on the router: the route is missing" {
  rc_stop
  ip -n "$NS" addr del 10.0.1.1/24 dev vpc0
  check
  rc_start
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/vpcs/nv/subnets/ns: gateway 10.0.1.1/24 is missing from the router (network namespace $NS) of host local" ] || { ours; false; }
  wait_until 60 clean_again
  ip -n "$NS" -4 addr show dev vpc0 | grep -q "10.0.1.1/24"
}

@test "a foreign cfs- libvirt network and a foreign cfs- bridge are orphans" {
  fu=$(cat /proc/sys/kernel/random/uuid)
  fh=${fu//-/}
  echo "$fu" > "$W/foreign.uuid"
  fbr="cfsb${fh:0:11}"
  cat > "$W/foreign.xml" <<XML
<network><name>cfs-vpc-$fu</name><bridge name='$fbr'/></network>
XML
  echo "cfs-vpc-$fu" > "$W/foreign.net"
  echo "$fbr" > "$W/foreign.br"
  $VIRSH net-define "$W/foreign.xml" >/dev/null
  check
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/clusters/default/hosts/local: orphan libvirt network cfs-vpc-$fu: no VPC has UUID $fu" ] || { ours; false; }
  $VIRSH net-undefine "cfs-vpc-$fu" >/dev/null
  ip link add "$fbr" type bridge
  ip link set dev "$fbr" alias "cfs-vpc:$fu"
  check
  ip link del "$fbr"
  [ "$rc" = 1 ]
  [ "$(ours)" = "zones/default/clusters/default/hosts/local: orphan bridge $fbr: no VPC has UUID $fu" ] || { ours; false; }
  check
  [ -z "$(ours)" ] || { ours; false; }
}

@test "NIC addresses: outside the subnet, the gateway, held twice" {
  nic() { sqlite3 "$DB" "SELECT r.id FROM resources r JOIN resources v ON v.id = r.parent
                         WHERE r.kind = 'nic' AND r.name = '$1' AND v.name = 'n1'"; }
  e0=$(nic eth0) e1=$(nic eth1)
  ip0=$(cat "$C/vms/n1/nics/eth0/status/ip")
  set_ip() { sqlite3 -cmd ".timeout 30000" "$DB" "UPDATE status SET value = '$2' WHERE res = $1 AND name = 'ip'"; }
  set_ip "$e1" 10.0.2.7
  check -n
  [ "$rc" = 1 ]
  [ "$out" = "zones/default/clusters/default/vms/n1/nics/eth1: status ip '10.0.2.7' is not a host address of subnet ns (10.0.1.0/24)" ] || { echo "$out"; false; }
  set_ip "$e1" 10.0.1.1
  check -n
  [ "$out" = "zones/default/clusters/default/vms/n1/nics/eth1: status ip 10.0.1.1 is the gateway of subnet ns" ] || { echo "$out"; false; }
  set_ip "$e1" "$ip0"
  check -n
  [ "$rc" = 1 ]
  grep -q "vms/n1/nics/eth[01]: status ip $ip0 is held by another NIC of subnet ns too" <<<"$out"
  [ "$(wc -l <<<"$out")" = 1 ]
  set_ip "$e1" 10.0.1.50
  check -n
  [ "$rc" = 0 ] || { echo "$out"; false; }
}
