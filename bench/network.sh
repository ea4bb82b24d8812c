#!/usr/bin/env bash
# Networks on qemu:///system, side by side in one run:
#  (a) 100 NICs with fixed addresses made through the tree (mkdir nics/ethN,
#      echo VPC/SUBNET > subnet, echo ADDRESS > ip; 8 NICs a VM, the limit, on
#      stopped VMs) until every one is in its domain's libvirt configuration
#      and in dnsmasq's host entries, against virsh attach-interface --config
#      of as many NICs to plain domains, alone and with virsh net-update
#      add ip-dhcp-host of each address on a hand-made libvirt network;
#  (b) echo running > state until the tiny guest's first DHCP lease (its
#      console line), against the same guest defined by hand on a hand-made
#      libvirt network with the same static host entry and virsh start.
#   bench/network.sh [RUNS]     (default 3; quick: 1); needs libvirtd
#   (scripts/libvirt-up.sh) and builds the tiny guest (scripts/tiny-guest.sh)
set -uo pipefail
. "$(dirname "$0")/common.sh"
RUNS="${1:-$(quick && echo 1 || echo 3)}"
NICS=100
csv_init network
V="virsh -q -c qemu:///system"
TAG="cfsbn$$"
NET="$TAG-net"
GUEST=/var/cache/cloudfs-test/tinyguest-net
NETSTATE=/run/cloudfs/net
PLAIN_N=$(( (NICS + 7) / 8 ))

cleanup() {
  local i u h
  $V destroy "$TAG-g" >/dev/null 2>&1; $V undefine "$TAG-g" >/dev/null 2>&1
  for i in $(seq 1 "$PLAIN_N"); do $V undefine "$TAG-d$i" >/dev/null 2>&1; done
  $V net-destroy "$NET" >/dev/null 2>&1; $V net-undefine "$NET" >/dev/null 2>&1
  if [ -n "${BT:-}" ] && [ -f "$BT/store.db" ]; then
    for u in $(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vm'"); do
      $V destroy "cfs-$u" >/dev/null 2>&1; $V undefine "cfs-$u" >/dev/null 2>&1
    done
    vpcs=$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vpc'")
  fi
  bench_cleanup
  # The VPC's data plane (the reconciler is gone): through libvirt and ip.
  for u in ${vpcs:-}; do
    h=${u//-/}
    $V net-destroy "cfs-vpc-$u" >/dev/null 2>&1; $V net-undefine "cfs-vpc-$u" >/dev/null 2>&1
    ip link del "cfsb${h:0:11}" 2>/dev/null; ip link del "cfsr${h:0:11}" 2>/dev/null
    nft delete table netdev "cfs_vpc_$h" 2>/dev/null
    [ -f "$NETSTATE/$u/dnsmasq.pid" ] && kill "$(cat "$NETSTATE/$u/dnsmasq.pid")" 2>/dev/null
    ip netns del "cfs-vpc-$u" 2>/dev/null
    rm -rf "${NETSTATE:?}/$u" "$NETSTATE/$u.lock"
  done
}
trap cleanup EXIT

"$REPO/scripts/libvirt-up.sh" || exit 1
"$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null || exit 1
# TCG for both sides: the tiny guest needs no KVM, and nested KVM is not on
# every machine (nor reliable where it is).
dtype=qemu
bench_mount "qemu:///system" "stop-timeout = 1; resync-interval = 30; default-subnet = \"\";"
bench_reconciler
Z="$BT/mnt/zones/default"
echo "$dtype" > "$BC/hosts/local/domain-type"
mkdir "$BT/mnt/offerings/small"
echo 128M > "$BT/mnt/offerings/small/memory"
mkdir "$Z/vpcs/bv"
echo 10.20.0.0/16 > "$Z/vpcs/bv/cidr"
mkdir "$Z/vpcs/bv/subnets/bs"
echo 10.20.0.0/16 > "$Z/vpcs/bv/subnets/bs/cidr"
for _ in $(seq 1 1200); do [ "$(cat "$Z/vpcs/bv/subnets/bs/status/state")" = available ] && break; sleep 0.1; done
U=$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vpc' AND name='bv'")

# The hand-made network of the baselines: libvirt's own DHCP, static hosts only.
cat > "$BT/net.xml" <<XML
<network><name>$NET</name><bridge name='$TAG'/>
  <ip address='10.30.0.1' netmask='255.255.0.0'><dhcp><range start='10.30.0.2' end='10.30.0.2'/></dhcp></ip>
</network>
XML
$V net-define "$BT/net.xml" >/dev/null && $V net-start "$NET" >/dev/null || exit 1

# ---- (a) 100 NICs with fixed addresses ----
for i in $(seq 1 "$PLAIN_N"); do
  mkdir "$BC/vms/n$i"
  echo small > "$BC/vms/n$i/offering"
  cat > "$BT/plain$i.xml" <<XML
<domain type='$dtype'><name>$TAG-d$i</name><memory unit='MiB'>128</memory>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
  $V define "$BT/plain$i.xml" >/dev/null
done
# Every VM's domain defined (started once, then stopped) before the clock starts.
wait_states() { local f; for f in "$@"; do for _ in $(seq 1 1200); do [ "$(cat "$f")" = "$WANT" ] && break; sleep 0.1; done; done; }
for i in $(seq 1 "$PLAIN_N"); do echo running > "$BC/vms/n$i/state"; done
WANT=running wait_states "$BC"/vms/n*/status/state
for i in $(seq 1 "$PLAIN_N"); do echo stopped > "$BC/vms/n$i/state"; done
WANT=stopped wait_states "$BC"/vms/n*/status/state
doms() { for i in $(seq 1 "$PLAIN_N"); do echo "cfs-$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vm' AND name='n$i' AND deleted=0")"; done; }
for d in $(doms); do
  for _ in $(seq 1 600); do $V domstate "$d" >/dev/null 2>&1 && break; sleep 0.1; done
done
ifaces() { local n=0 d; for d in "$@"; do n=$((n + $($V dumpxml --inactive "$d" 2>/dev/null | grep -c "<interface "))); done; echo "$n"; }
hostlines() { cat "$NETSTATE/$U"/hosts/* 2>/dev/null | grep -c ' 10\.20\.1\.'; }

a=$(now_ns)
k=0
for i in $(seq 1 "$PLAIN_N"); do
  for n in 0 1 2 3 4 5 6 7; do
    [ "$k" -lt "$NICS" ] || break
    mkdir "$BC/vms/n$i/nics/eth$n"
    echo bv/bs > "$BC/vms/n$i/nics/eth$n/subnet"
    echo "10.20.1.$((k + 10))" > "$BC/vms/n$i/nics/eth$n/ip"
    k=$((k + 1))
  done
done
b=$(now_ns)
mapfile -t D < <(doms)
until [ "$(ifaces "${D[@]}")" -ge "$NICS" ] && [ "$(hostlines)" -ge "$NICS" ]; do sleep 0.2; done
c=$(now_ns)
tree_ack=$(( (b - a) / 1000000 )); tree_done=$(( (c - a) / 1000000 ))

a=$(now_ns)
k=0
for i in $(seq 1 "$PLAIN_N"); do
  for n in 0 1 2 3 4 5 6 7; do
    [ "$k" -lt "$NICS" ] || break
    $V attach-interface "$TAG-d$i" network "$NET" --model virtio --config \
       --mac "$(printf '52:54:00:bb:%02x:%02x' "$i" "$n")" >/dev/null
    k=$((k + 1))
  done
done
b=$(now_ns)
k=0
for i in $(seq 1 "$PLAIN_N"); do
  for n in 0 1 2 3 4 5 6 7; do
    [ "$k" -lt "$NICS" ] || break
    $V net-update "$NET" add ip-dhcp-host --live --config \
       "<host mac='$(printf '52:54:00:bb:%02x:%02x' "$i" "$n")' ip='10.30.1.$((k + 10))'/>" >/dev/null
    k=$((k + 1))
  done
done
c=$(now_ns)
[ "$(ifaces $(for i in $(seq 1 "$PLAIN_N"); do echo "$TAG-d$i"; done))" = "$NICS" ] || echo "baseline: not every interface attached" >&2
base_attach=$(( (b - a) / 1000000 )); base_both=$(( (c - a) / 1000000 ))

header
row "$NICS NICs with fixed IPs through the tree (writes acked)" "$tree_ack" "virsh attach-interface --config" "$base_attach" ms
row "$NICS NICs with fixed IPs through the tree (in libvirt + DHCP)" "$tree_done" "attach-interface + net-update dhcp" "$base_both" ms

# ---- (b) echo running until the guest's first DHCP lease ----
G="$BC/vms/g"
mkdir "$G"
echo small > "$G/offering"
echo "$GUEST/vmlinuz" > "$G/kernel"
echo "$GUEST/initrd.gz" > "$G/initrd"
echo "console=ttyS0 panic=-1 cfs.run=dhcp:eth0" > "$G/cmdline"
mkdir "$G/nics/eth0"
echo bv/bs > "$G/nics/eth0/subnet"
echo 10.20.2.10 > "$G/nics/eth0/ip"
cat > "$BT/guest.xml" <<XML
<domain type='$dtype'><name>$TAG-g</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>$GUEST/vmlinuz</kernel>
    <initrd>$GUEST/initrd.gz</initrd><cmdline>console=ttyS0 panic=-1 cfs.run=dhcp:eth0</cmdline></os>
  <features><acpi/></features><on_poweroff>destroy</on_poweroff>
  <devices><serial type='file'><source path='$BT/plain-console.log'/><target port='0'/></serial>
    <interface type='network'><source network='$NET'/><mac address='52:54:00:bb:ee:01'/><model type='virtio'/></interface>
  </devices></domain>
XML
$V define "$BT/guest.xml" >/dev/null
$V net-update "$NET" add ip-dhcp-host --live --config "<host mac='52:54:00:bb:ee:01' ip='10.30.2.10'/>" >/dev/null
leases() { local n; n=$(grep -ac "TINYGUEST LEASE eth0" "$1" 2>/dev/null); echo "${n:-0}"; }
ours=() base=() ours_run=() base_run=()
gdom="cfs-$(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vm' AND name='g' AND deleted=0")"
# Run 0 warms up (defines the VM's domain, fills the page cache) and is not counted.
for r in $(seq 0 "$RUNS"); do
  # Each start counts the lease lines of an emptied console (whether libvirt
  # appends to the file or truncates it).
  con=$(cat "$G/status/console" 2>/dev/null)
  [ -z "$con" ] || : > "$con"
  a=$(now_ns); echo running > "$G/state"
  until [ "$($V domstate "$gdom" 2>/dev/null)" = running ]; do sleep 0.05; done
  m=$(now_ns)
  ours_run+=($(( (m - a) / 1000000 )))
  con=""; until [ -n "$con" ]; do con=$(cat "$G/status/console"); done
  until [ "$(leases "$con")" -gt 0 ]; do sleep 0.05; done
  b=$(now_ns)
  ours+=($(( (b - a) / 1000000 )))
  grep -a "TINYGUEST LEASE eth0" "$con" | tail -n1 | grep -q "ip=10.20.2.10/16" || echo "run $r: the guest's lease is not its status/ip" >&2
  echo stopped > "$G/state"
  for _ in $(seq 1 600); do [ "$(cat "$G/status/state")" = stopped ] && break; sleep 0.1; done

  : > "$BT/plain-console.log"
  a=$(now_ns); $V start "$TAG-g" >/dev/null
  m=$(now_ns)
  base_run+=($(( (m - a) / 1000000 )))
  until [ "$(leases "$BT/plain-console.log")" -gt 0 ]; do sleep 0.05; done
  b=$(now_ns)
  base+=($(( (b - a) / 1000000 )))
  $V destroy "$TAG-g" >/dev/null
  if [ "$r" = 0 ]; then ours=() base=() ours_run=() base_run=(); fi
done
echo "runs: ours ${ours[*]} ms (domain running after ${ours_run[*]} ms); baseline ${base[*]} ms (virsh start returned after ${base_run[*]} ms)"
row "echo running > state -> guest's first DHCP lease" "$(printf '%s\n' "${ours[@]}" | median)" \
    "own libvirt network + virsh start" "$(printf '%s\n' "${base[@]}" | median)" ms
