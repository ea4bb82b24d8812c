#!/usr/bin/env bats
# Security groups through the tree, enforced by the kernel's netfilter (one nftables
# table per VPC, secgroup_nft.c) and proven with real packets: a TCG tiny guest with a
# NIC in VPC sgv listens on tcp/80 and tcp/7777 and connects out to the VPC router's
# namespace, which stands in for a peer (ping, busybox nc).  Observers: nft list table,
# the guest's serial console, sqlite3 (the store).

load net_helpers

setup_file() {
  net_setup
  export NETSTATE=/run/cloudfs/net
  RESYNC=5 compute_start
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering small 128M
  export Z="$MNT/zones/default"
  export V="$Z/vpcs/sgv" SG="$Z/security-groups"
}

teardown_file() {
  [ -z "${PEER_PID:-}" ] || kill "$PEER_PID" 2>/dev/null || true
  [ ! -f "$W/peer.pid" ] || kill "$(cat "$W/peer.pid")" 2>/dev/null || true
  local u
  for u in $(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc'" 2>/dev/null); do
    echo "$u" >> "$W/vpcs"
  done
  net_store_teardown
  for u in $(cat "$W/vpcs" 2>/dev/null); do
    nft delete table inet "cfs_sg_${u//-/}" 2>/dev/null || true
  done
}

vpc_uuid() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc' AND name='$1' AND deleted=0"; }
table() { local u; u=$(vpc_uuid sgv); echo "cfs_sg_${u//-/}"; }
router() { echo "cfs-vpc-$(vpc_uuid sgv)"; }
console_of() { cat "$C/vms/$1/status/console"; }
has_gmarker() { grep -aq "TINYGUEST $2" "$(console_of "$1")" 2>/dev/null; }
status_is() { [ "$(cat "$1")" = "$2" ]; }
gip() { cat "$C/vms/g1/nics/eth0/status/ip"; }
# From the peer (the VPC's router namespace): ping, and a TCP connection that must
# be answered by the guest's greeting.
peer_ping() { ip netns exec "$(router)" busybox ping -c 1 -W 2 "$(gip)" >/dev/null; }
peer_tcp() { ip netns exec "$(router)" timeout 4 busybox nc -w 2 "$(gip)" "$1" </dev/null 2>/dev/null | grep -q "hello from"; }
nft_has() { nft list table inet "$(table)" | grep -q -- "$1"; }
# rule GROUP NAME DIRECTION PROTOCOL PORTS ACTION PRIORITY
rule() {
  local r="$SG/$1/rules/$2"
  mkdir "$r"
  echo "$3" > "$r/direction"; echo "$4" > "$r/protocol"; echo "$5" > "$r/ports"
  echo "$6" > "$r/action"; echo "$7" > "$r/priority"
}

@test "every zone has a default group (ICMP and SSH in, all out); a guest gets it and boots" {
  ls "$SG/default/rules" | sort | tr '\n' ' ' | grep -qx "all-out icmp-in ssh-in "
  [ "$(cat "$SG/default/rules/ssh-in/ports")" = 22 ]
  [ "$(cat "$SG/default/rules/all-out/direction")" = out ]
  mkdir "$MNT/zones/sgz2"
  [ -d "$MNT/zones/sgz2/security-groups/default/rules/icmp-in" ]
  mkdir "$V"
  mkdir "$V/subnets/s1"
  echo 10.0.1.0/24 > "$V/subnets/s1/cidr"
  wait_until 120 status_is "$V/subnets/s1/status/state" available
  # The peer: a TCP service in the router's namespace the guest connects out to.
  printf '#!/bin/sh\necho hello from peer\n' > "$W/peer-hello"
  chmod 0755 "$W/peer-hello"
  ip netns exec "$(router)" busybox nc -ll -p 9000 -e "$W/peer-hello" </dev/null >/dev/null 2>&1 3>&- &
  echo $! > "$W/peer.pid"
  mkdir "$C/vms/g1"
  echo small > "$C/vms/g1/offering"
  echo "$GUEST/vmlinuz" > "$C/vms/g1/kernel"
  echo "$GUEST/initrd.gz" > "$C/vms/g1/initrd"
  mkdir "$C/vms/g1/nics/eth0"
  [ "$(cat "$C/vms/g1/nics/eth0/security-groups")" = default ]
  echo sgv/s1 > "$C/vms/g1/nics/eth0/subnet"
  echo "console=ttyS0 panic=-1 cfs.run=dhcp:eth0,listen:80,listen:7777,connect:10.0.1.1:9000:240" > "$C/vms/g1/cmdline"
  echo running > "$C/vms/g1/state"
  wait_until 120 nft_has "ip daddr $(gip) jump i_"
  wait_until 300 has_gmarker g1 "LISTEN 7777"
  wait_until 60 status_is "$SG/default/status/state" active
  [ "$(cat "$SG/default/status/nics")" = 1 ]
  [ "$(cat "$SG/default/status/rules")" = 3 ]
}

@test "with the default group the peer can ping but not connect to tcp/80" {
  wait_until 60 peer_ping
  ! peer_tcp 80 || false
  nft list table inet "$(table)"
  nft_has "tcp dport 22 accept"
}

@test "stateful: replies to the guest's own connection pass, unsolicited inbound does not" {
  wait_until 300 has_gmarker g1 "CONNECT 10.0.1.1:9000"
  grep -a "TINYGUEST CONNECT" "$(console_of g1)"
  has_gmarker g1 "CONNECT 10.0.1.1:9000 OK hello from peer"
  ! peer_tcp 7777 || false
}

@test "an inbound tcp/80 rule on a running VM lets the peer in within a second" {
  mkdir "$SG/web"
  rule web http-in in tcp 80 accept medium
  t0=$(date +%s%N)
  echo "default web" > "$C/vms/g1/nics/eth0/security-groups"
  wait_until 5 nft_has "tcp dport 80 accept"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "in the kernel after $ms ms"
  [ "$ms" -lt 1000 ]
  peer_tcp 80
  ! peer_tcp 7777 || false
  [ "$(cat "$SG/web/status/nics")" = 1 ]
}

@test "a drop rule of higher priority beats a lower-priority accept" {
  rule web deny80 in tcp 80 drop high
  wait_until 5 nft_has "tcp dport 80 drop"
  ! peer_tcp 80 || false
  # In the chain, the drop (priority 100) comes before the accept (500).
  nft list table inet "$(table)" | grep -E "tcp dport 80 (drop|accept)" | head -1 | grep -q drop
  echo low > "$SG/web/rules/deny80/priority"
  wait_until 5 sh -c "nft list table inet $(table) | grep -E 'tcp dport 80 (drop|accept)' | head -1 | grep -q accept"
  peer_tcp 80
  rmdir "$SG/web/rules/deny80"
  wait_until 5 sh -c "! nft list table inet $(table) | grep -q 'tcp dport 80 drop'"
}

@test "hostile values are refused with an errno and a reason, and the store is unchanged" {
  mkdir "$SG/web/rules/bad"
  before=$(spec_dump)
  r="$SG/web/rules/bad"
  write_fails "Invalid argument" "$r/ports" 0
  grep -q "1..65535" "$r/status/error"
  write_fails "Invalid argument" "$r/ports" 65536
  write_fails "Invalid argument" "$r/ports" 80-20
  grep -q "ascend" "$r/status/error"
  write_fails "Invalid argument" "$r/protocol" tcpx
  write_fails "Invalid argument" "$r/remote" 1.2.3.4/40
  grep -q "prefix" "$r/status/error"
  write_fails "Invalid argument" "$r/remote" sgz2/default
  grep -q "another zone" "$r/status/error"
  write_fails "No such file or directory" "$r/remote" nosuchgroup
  write_fails "Invalid argument" "$r/priority" 0
  write_fails "Invalid argument" "$r/priority" urgent
  write_fails "Invalid argument" "$r/action" allow
  write_fails "Invalid argument" "$C/vms/g1/nics/eth0/security-groups" "a b c d e f"
  write_fails "Invalid argument" "$C/vms/g1/nics/eth0/security-groups" "web web"
  write_fails "No such file or directory" "$C/vms/g1/nics/eth0/security-groups" "default nope"
  [ "$(spec_dump)" = "$before" ]
  # A group reference of the same zone is fine, by name or ZONE/NAME.
  echo web > "$r/remote"
  echo default/web > "$r/remote"
  rmdir "$r"
}

@test "a group in use cannot be removed (EBUSY, with the reason); a removed group leaves nothing behind" {
  run rmdir "$SG/web"
  [ "$status" -ne 0 ]
  [[ "$output" == *"busy"* ]]
  grep -q "in use by nic eth0 of vm g1" "$SG/web/status/error"
  run rmdir "$SG/default"
  [ "$status" -ne 0 ]
  # NICs name their groups: a group in use keeps its name.
  run mv "$SG/web" "$SG/web2"
  [ "$status" -ne 0 ]
  [ -d "$SG/web" ]
  echo default > "$C/vms/g1/nics/eth0/security-groups"
  wait_until 5 sh -c "! nft list table inet $(table) | grep -q 'tcp dport 80'"
  mv "$SG/web" "$SG/web2"
  rm -r "$SG/web2"
  [ ! -e "$SG/web2" ]
  wait_until 30 sh -c "[ -z \"\$(sqlite3 '$DB' \"SELECT 1 FROM resources WHERE kind='secgroup' AND name LIKE '.deleted-%'\")\" ]"
  ! peer_tcp 80 || false
}

# sg_check: cloudfs check's lines about the NIC's security groups (the machine is shared:
# other stores' lines are not ours).
sg_check() {
  "$CLOUDFS_BIN" -c "$CONF" check 2>"$BATS_TEST_TMPDIR/check.err" | grep "vms/g1/nics/eth0" || true
  ! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$BATS_TEST_TMPDIR/check.err" >&2
}

@test "cloudfs check compares the kernel's rules with the tree" {
  wait_until 10 nft_has "ip daddr $(gip) jump i_"
  out=$(sg_check)
  echo "$out"
  ! echo "$out" | grep -q "nftables\|security groups" || false
  # Behind cloudfs's back (the reconciler puts it back within seconds: try a few times).
  for i in 1 2 3; do
    nft flush table inet "$(table)"
    out=$(sg_check)
    echo "$out" | grep -q "does not send $(gip) to the NIC's rules" && break
  done
  echo "$out" | grep -q "does not send $(gip) to the NIC's rules"
  wait_until 15 nft_has "ip daddr $(gip) jump i_"
}

@test "drift: a flushed or deleted table is put back and reported" {
  nft flush table inet "$(table)"
  ! nft_has "jump i_" || false
  wait_until 15 nft_has "ip daddr $(gip) jump i_"
  wait_until 5 grep -q "changed behind cloudfs's back" "$SG/default/status/drift"
  nft delete table inet "$(table)"
  wait_until 15 nft_has "ip daddr $(gip) jump i_"
  wait_until 5 grep -q "deleted behind" "$SG/default/status/drift"
  peer_ping
  ! peer_tcp 80 || false
}

@test "removal: the VM and the VPC go, and with them the table" {
  rm -r "$C/vms/g1"
  wait_until 60 sh -c "! nft list table inet $(table) 2>/dev/null | grep -q 'jump i_'"
  t=$(table)
  rmdir "$V/subnets/s1"
  rmdir "$V"
  wait_until 60 sh -c "! nft list table inet $t >/dev/null 2>&1"
  rmdir "$MNT/zones/sgz2"
}
