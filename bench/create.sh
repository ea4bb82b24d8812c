#!/usr/bin/env bash
# Creating N VMs (default 1000; quick: 100) from a shell loop through the
# tree until libvirt has every domain defined (mkdir, offering, host: the
# reconciler defines the domain of a VM pinned to a host), against the same
# number of minimal domains defined through the libvirt C API on one
# connection (bench/lvdefine.c: the limit) and through `virsh define`.
# On qemu:///system; needs libvirtd (scripts/libvirt-up.sh).
#   bench/create.sh [N]
set -uo pipefail
. "$(dirname "$0")/common.sh"
csv_init create
N="${1:-$(quick && echo 100 || echo 1000)}"
V="virsh -q -c qemu:///system"
PREFIX="cfsbench-$$"
cleanup() {
  if [ -n "${BT:-}" ] && [ -f "$BT/store.db" ]; then
    for u in $(sqlite3 "$BT/store.db" "SELECT uuid FROM resources WHERE kind='vm'"); do
      $V undefine "cfs-$u" >/dev/null 2>&1
    done
  fi
  "$BUILD/lvdefine" qemu:///system "$PREFIX-c" "$N" -u >/dev/null 2>&1
  "$BUILD/lvdefine" qemu:///system "$PREFIX-v" "$N" -u >/dev/null 2>&1
  bench_cleanup
}
trap cleanup EXIT

"$REPO/scripts/libvirt-up.sh" || exit 1
bench_mount "qemu:///system" "resync-interval = 60;"
bench_reconciler
mkdir "$BT/mnt/offerings/tiny"
echo 64M > "$BT/mnt/offerings/tiny/memory"
echo 100 > "$BC/cpu-overcommit"
for _ in $(seq 1 100); do [ "$(cat "$BC/hosts/local/status/connection")" = connected ] && break; sleep 0.1; done

all_defined() {
  sqlite3 "$BT/store.db" "SELECT 'cfs-' || uuid FROM resources WHERE kind='vm' AND deleted=0" > "$BT/want"
  [ "$(wc -l < "$BT/want")" = "$N" ] && [ "$($V list --all --name | grep -cxFf "$BT/want")" = "$N" ]
}

a=$(now_ns)
for i in $(seq 1 "$N"); do
  mkdir "$BC/vms/c$i" && echo tiny > "$BC/vms/c$i/offering" && echo local > "$BC/vms/c$i/host" || exit 1
done
b=$(now_ns)
until all_defined; do sleep 0.1; done
c=$(now_ns)
ours=$(( (c - a) / 1000000 ))

api=$("$BUILD/lvdefine" qemu:///system "$PREFIX-c" "$N") || exit 1

mkdir -p "$BT/xml"
for i in $(seq 1 "$N"); do
  echo "<domain type='kvm'><name>$PREFIX-v-$i</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>" > "$BT/xml/$i.xml"
done
d=$(now_ns)
for i in $(seq 1 "$N"); do $V define "$BT/xml/$i.xml" >/dev/null || exit 1; done
e=$(now_ns)
vdef=$(( (e - d) / 1000000 ))

row "create $N VMs through the tree until defined" "$ours" "libvirt C API define (one conn)" "$api" ms
row "create $N VMs through the tree until defined" "$ours" "virsh define x $N" "$vdef" ms
row "  of which the shell loop (mkdir+2 writes)" "$(( (b - a) / 1000000 ))" "-" 0 ms

# Delete them through the tree as well (the reconciler undefines).
for i in $(seq 1 "$N"); do rmdir "$BC/vms/c$i"; done
for _ in $(seq 1 600); do
  [ "$(sqlite3 "$BT/store.db" "SELECT count(*) FROM resources WHERE kind='vm'")" = 0 ] && break
  sleep 0.2
done
