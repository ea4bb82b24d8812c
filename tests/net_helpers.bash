# Helpers for the network suites (64-network-dataplane, 65-network-rig): the network
# driver's test tool (tests/unit/net_tool.c) and tiny guests with NICs whose cfs.run
# steps print what they saw on the serial console (scripts/tiny-guest.sh).
load compute_helpers

# Its own cache: tiny-guest.sh rebuilds a cache that another version of it made, and
# other suites boot the common one (/var/cache/cloudfs-test/tinyguest) meanwhile.
GUEST=/var/cache/cloudfs-test/tinyguest-net

uuid() { cat /proc/sys/kernel/random/uuid; }

# net_setup: W (this file's temporary directory), TAG, RUNDIR (the driver's state:
# dnsmasq reads it after dropping root, so not under bats' private directory), the
# tools built into $W (with the sanitizers in the sanitizer run), the tiny guest.
net_setup() {
  export W="$BATS_FILE_TMPDIR"
  export TAG="n$$"
  export RUNDIR="/run/cfs-nettest-$TAG"
  local san=()
  case "$CLOUDFS_BIN" in *asan*) san=(-fsanitize=address,undefined -fno-omit-frame-pointer) ;; esac
  cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g "${san[@]}" \
     -I"$REPO/include/common" -I"$REPO/include/drivers" -o "$W/net_tool" \
     "$REPO/tests/unit/net_tool.c" "$REPO/src/drivers/network_linux.c" "$REPO/src/drivers/netlink.c" \
     "$REPO/src/drivers/nic_xml.c" "$REPO/src/drivers/xml.c" "$REPO/src/common/netaddr.c" \
     "$REPO/src/common/subprocess.c" "$REPO/src/common/error.c" "$REPO/src/common/textbuf.c" \
     $(pkg-config --cflags --libs libvirt) -lpthread
  cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "${san[@]}" -I"$REPO/include/common" \
     -o "$W/netaddr_test" "$REPO/tests/unit/netaddr_test.c" "$REPO/src/common/netaddr.c" \
     "$REPO/src/common/error.c"
  "$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null
  mkdir -m 0755 "$RUNDIR"
}

log_of() { echo "$W/$1.log"; }
marker() { grep -a "TINYGUEST $2" "$(log_of "$1")"; }
has_marker() { grep -aq "TINYGUEST $2" "$(log_of "$1")" 2>/dev/null; }
dom() { echo "nettest-$TAG-$1"; }

# guest_start NAME URI NIC-XML-FILE STEPS: a TCG tiny guest on libvirt URI with the
# NIC of the file (the driver's <interface> element), its console in $(log_of NAME).
guest_start() {
  local name=$1 uri=$2 nic=$3 steps=$4
  cat > "$W/$name.xml" <<EOF
<domain type='qemu'>
  <name>$(dom "$name")</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST/vmlinuz</kernel>
    <initrd>$GUEST/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 cfs.run=$steps</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='file'><source path='$(log_of "$name")'/><target port='0'/></serial>
$(cat "$nic")
  </devices>
</domain>
EOF
  echo "$uri" > "$W/uri-$name"
  virsh -q -c "$uri" create "$W/$name.xml" >/dev/null
}

# guests_destroy: every guest guest_start made (teardown: pass or fail).
guests_destroy() {
  local f
  for f in "$W"/uri-*; do
    [ -f "$f" ] || continue
    virsh -q -c "$(cat "$f")" destroy "$(dom "${f##*/uri-}")" >/dev/null 2>&1 || true
  done
}

# permanent_neighbours NETNS: how many NIC entries the VPC router in NETNS holds as
# permanent (dnsmasq's answers must not replace them).
permanent_neighbours() { ip -n "$1" neigh show dev vpc0 | grep -c PERMANENT; }

# net_store_teardown: stop the store's daemons, then remove the data plane of
# every VPC the store made (the reconciler may not have finished), and RUNDIR.
net_store_teardown() {
  local u vpcs
  vpcs=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vpc'" 2>/dev/null || true)
  compute_stop
  for u in $vpcs; do
    "$W/net_tool" -s "$NETSTATE" -c qemu:///system rm-vpc "$u" >/dev/null 2>&1 || true
  done
  rm -rf "$RUNDIR"
}
