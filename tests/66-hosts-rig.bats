#!/usr/bin/env bats
# The multi-host rig (scripts/hosts-up.sh): three real libvirtd hosts on this machine,
# each in its own namespaces, proven with libvirt's own tools and independent
# observers (ps, ip, nft, findmnt, rbd, qemu-io). A TCG guest (scripts/tiny-guest.sh,
# counter mode) with an RBD disk on the throwaway Ceph cluster live-migrates h1 -> h2
# and goes on counting; killing h2 leaves h1 and h3 working (a guest on the shared
# directory starts on h3 and migrates to h1); a frozen host resumes where it was; the
# rig leaves nothing behind and the machine's own libvirtd is untouched.

load compute_helpers

# A cache of its own: tiny-guest.sh rebuilds a cache that another version of it made,
# and other suites boot the common one (/var/cache/cloudfs-test/tinyguest) meanwhile.
GUEST=/var/cache/cloudfs-test/tinyguest-counter

# machine_libvirtd: "PID STARTTIME" of the machine's own libvirtd, or nothing.
machine_libvirtd() {
  local pid
  pid=$(cat /run/libvirtd.pid 2>/dev/null) || return 0
  [ -r "/proc/$pid/stat" ] || return 0
  echo "$pid $(start_ticks "$pid")"
}

setup_file() {
  "$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null
  CEPH_CONF="$("$REPO/scripts/ceph-up.sh" --print-conf)"
  W="$(mktemp -d /tmp/cfs-rig.XXXXXX)"
  MACHINE_LIBVIRTD="$(machine_libvirtd)"
  export CEPH_CONF W MACHINE_LIBVIRTD
  rig_up 3
  # A Ceph pool of this file's own: deleting it at the end works even while a killed
  # host's watcher still lingers on the image.
  export RPOOL="cfsrig$RIG_TAG"
  ceph_retry osd pool create "$RPOOL" 8
  rbd -c "$CEPH_CONF" pool init "$RPOOL"
  rbd -c "$CEPH_CONF" create --size 16M "$RPOOL/disk"
  qemu-img create -q -f qcow2 "$RIG_SHARED/g2.qcow2" 16M
}

teardown_file() {
  rig_down || true
  [ -n "${RPOOL:-}" ] && ceph_retry osd pool delete "$RPOOL" "$RPOOL" --yes-i-really-really-mean-it
  [ -n "${W:-}" ] && rm -rf "$W"
}

v() { local h=$1; shift; timeout 60 virsh -q -c "$(rig_uri "$h")" "$@"; }

# host_procs H [COMM]: root-namespace PIDs of host H's processes (by its PID namespace).
host_procs() {
  local ns
  ns=$(sed -n 's/^pid pid:\[\([0-9]*\)\]$/\1/p' "$RIG/$1/ns")
  ps -e -o pid= -o pidns= -o comm= | awk -v ns="$ns" -v c="${2:-}" '$2 == ns && (c == "" || $3 == c) { print $1 }'
}
# guest_pid NAME: the QEMU process of guest NAME, wherever it runs.
guest_pid() { ps -e -o pid= -o comm= -o args= | awk -v g="guest=$1," '$2 == "qemu-system-x86" && index($0, g) { print $1 }'; }
ns_of() { readlink "/proc/$1/ns/$2"; }
# start_ticks PID: the process's start time (field 22 of its stat), or nothing.
start_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
host_ns() { sed -n "s/^$2 //p" "$RIG/$1/ns"; }

# define_guest NAME H [DISK]: a tiny guest in counter mode (scripts/tiny-guest-domain.sh:
# DISK is rbd:POOL/IMAGE or file:PATH; console appended to $W/NAME.log), defined on H.
define_guest() {
  "$REPO/scripts/tiny-guest-domain.sh" "cfsrig-$RIG_TAG-$1" "$GUEST" "$W/$1.log" ${3:+"$3"} >"$W/$1.xml"
  v "$2" define "$W/$1.xml" >/dev/null
}

# last_count NAME: the guest's last count on its console (0 before the first).
last_count() {
  local n
  n=$(grep -a '^TINYGUEST COUNT ' "$W/$1.log" 2>/dev/null | tail -n1 | cut -d' ' -f3)
  echo "${n:-0}"
}
count_above() { [ "$(last_count "$1")" -gt "$2" ]; }
# counted_once NAME: one boot only, and every count one more than the one before, with
# a growing uptime: the guest never restarted.
counted_once() {
  [ "$(grep -ac '^TINYGUEST COUNTER START' "$W/$1.log")" = 1 ] || return 1
  grep -a '^TINYGUEST COUNT ' "$W/$1.log" | awk '
    { if (NR > 1 && ($3 + 0 != n + 1 || $5 + 0 < up)) { print "count " $3 " after " n " (uptime " $5 ")"; bad = 1 }
      n = $3 + 0; up = $5 + 0 }
    END { exit bad }' >&2
}
# disk_count: the count the guest last wrote in sector 0 of its RBD disk.
rbd_disk_count() {
  rbd -c "$CEPH_CONF" export --no-progress "$RPOOL/disk" - 2>/dev/null | head -c 512 |
    tr -d '\0' | awk '$1 == "TINYGUEST" && $2 == "COUNT" { print $3 }'
}
rbd_watchers() { rbd -c "$CEPH_CONF" status "$RPOOL/disk" | sed -n 's/.*watcher=\([0-9.]*\):.*/\1/p'; }

@test "three hosts: own namespaces, hostname, host UUID and libvirtd, reached by URI" {
  [ "$(wc -l <"$RIG/hosts")" = 3 ]
  # The machine's own host UUID, when its libvirtd runs: the hosts' must differ from it.
  uuids=$(timeout 30 virsh -c qemu:///system capabilities 2>/dev/null |
    sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n1 || true)
  want=3
  [ -z "$uuids" ] || want=4
  for h in h1 h2 h3; do
    [ "$(rig_uri $h)" = "qemu+unix:///system?socket=$RIG/$h/run/libvirt/libvirt-sock" ]
    [ "$(v $h hostname)" = "rig-$RIG_TAG-$h" ]
    uuids="$uuids $(v $h capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n1)"
    # Its daemons run in its namespaces, none of which is the machine's.
    for d in libvirtd virtlogd; do
      pid=$(host_procs $h $d)
      [ -n "$pid" ]; [ "$(wc -w <<<"$pid")" = 1 ]
      for ns in net mnt pid; do
        [ "$(ns_of "$pid" $ns)" = "$(host_ns $h $ns)" ]
        [ "$(ns_of "$pid" $ns)" != "$(ns_of $$ $ns)" ]
      done
      [ "$(ns_of "$pid" uts)" != "$(ns_of $$ uts)" ]
    done
    # Its address on the rig's bridge, and qemu:///system inside it is its own libvirtd.
    addr=$(awk -v h=$h '$1 == h { print $2 }' "$RIG/hosts")
    "$REPO/scripts/hosts-exec.sh" "$RIG" $h ip -4 -o addr show dev eth0 | grep -q " $addr/24 "
    [ "$("$REPO/scripts/hosts-exec.sh" "$RIG" $h virsh -c qemu:///system hostname)" = "rig-$RIG_TAG-$h" ]
    # Shared storage: the Ceph cluster through the same conf, the shared directory.
    "$REPO/scripts/hosts-exec.sh" "$RIG" $h rbd -c "$CEPH_CONF" ls "$RPOOL" | grep -qx disk
    "$REPO/scripts/hosts-exec.sh" "$RIG" $h test -f "$RIG_SHARED/g2.qcow2"
  done
  # All different: the three hosts' (and the machine's).
  [ "$(tr ' ' '\n' <<<"$uuids" | grep -c .)" = "$want" ]
  [ "$(tr ' ' '\n' <<<"$uuids" | grep . | sort -u | wc -l)" = "$want" ]
}

@test "a TCG guest with an RBD disk starts on h1 from the controller and runs in h1's namespaces" {
  define_guest g1 h1 "rbd:$RPOOL/disk"
  v h1 start "cfsrig-$RIG_TAG-g1"
  wait_until 90 count_above g1 2
  pid=$(guest_pid "cfsrig-$RIG_TAG-g1")
  [ -n "$pid" ]
  # (libvirt gives each QEMU a mount namespace of its own, made inside the host's.)
  for ns in net pid; do [ "$(ns_of "$pid" $ns)" = "$(host_ns h1 $ns)" ]; done
  [ "$(ns_of "$pid" uts)" = "$(ns_of "$(host_procs h1 libvirtd)" uts)" ]
  # Ceph sees the guest's disk client at h1's address; the guest writes its disk.
  [ "$(rbd_watchers)" = "$(awk '$1 == "h1" { print $2 }' "$RIG/hosts")" ]
  wait_until 20 bash -c "[ \"\$(rbd -c '$CEPH_CONF' export --no-progress '$RPOOL/disk' - 2>/dev/null | head -c 64 | tr -d '\0' | cut -d' ' -f1-2)\" = 'TINYGUEST COUNT' ]"
}

@test "virsh migrate --live h1 -> h2: running on h2, gone from h1, still counting without a restart" {
  dom="cfsrig-$RIG_TAG-g1"
  n0=$(last_count g1)
  v h1 migrate --live --persistent --undefinesource "$dom" "$(rig_uri h2)"
  [ "$(v h2 domstate "$dom")" = running ]
  run v h1 dominfo "$dom"
  [ "$status" -ne 0 ]                       # neither running nor defined on h1
  [ -z "$(v h1 list --all --name)" ]
  pid=$(guest_pid "$dom")
  [ "$(wc -w <<<"$pid")" = 1 ]
  [ "$(ns_of "$pid" pid)" = "$(host_ns h2 pid)" ]
  [ "$(ns_of "$pid" net)" = "$(host_ns h2 net)" ]
  [ -z "$(host_procs h1 qemu-system-x86)" ]
  # The same guest goes on: more counts, one boot, no count or uptime going back.
  wait_until 60 count_above g1 $((n0 + 3))
  counted_once g1
  # Its disk client is now h2's, and the counts it writes there go on rising.
  [ "$(rbd_watchers)" = "$(awk '$1 == "h2" { print $2 }' "$RIG/hosts")" ]
  d1=$(rbd_disk_count)
  wait_until 30 bash -c "[ \"\$(rbd -c '$CEPH_CONF' export --no-progress '$RPOOL/disk' - 2>/dev/null | head -c 64 | tr -d '\0' | cut -d' ' -f3)\" -gt '$d1' ]"
  # libvirt measured the migration (shown with --verbose / -v -v).
  v h2 domjobinfo --completed "$dom" | grep -E "Time elapsed:|Total downtime:" >&3 || true
}

@test "killing h2 ends every process of h2; h1 and h3 keep working and migrate (peer to peer) a guest on the shared directory" {
  [ -n "$(host_procs h2 qemu-system-x86)" ]
  "$REPO/scripts/hosts-kill.sh" "$RIG" h2
  [ -z "$(host_procs h2)" ]
  [ -z "$(guest_pid "cfsrig-$RIG_TAG-g1")" ]
  run ip link show "cfr-$RIG_TAG-h2"
  [ "$status" -ne 0 ]                       # its eth0 went with its namespace
  run timeout 10 virsh -c "$(rig_uri h2)" list
  [ "$status" -ne 0 ]
  v h1 list >/dev/null
  v h3 list >/dev/null
  # A guest with a qcow2 disk on the shared directory: starts on h3, moves to h1.
  define_guest g2 h3 "file:$RIG_SHARED/g2.qcow2"
  v h3 start "cfsrig-$RIG_TAG-g2"
  wait_until 90 count_above g2 2
  [ "$(ns_of "$(guest_pid "cfsrig-$RIG_TAG-g2")" net)" = "$(host_ns h3 net)" ]
  n0=$(last_count g2)
  # --unsafe: libvirt 9.0 calls a file disk shared only on a network or cluster
  # filesystem (NFS, CephFS, GFS2, ...; statfs), none of which this kernel has; the
  # shared directory is one filesystem that every host sees (README, "A multi-host rig").
  # --p2p: h3's libvirtd itself calls h1's, by the same URI as here.
  v h3 migrate --live --p2p --unsafe --persistent --undefinesource "cfsrig-$RIG_TAG-g2" "$(rig_uri h1)"
  [ "$(v h1 domstate "cfsrig-$RIG_TAG-g2")" = running ]
  [ -z "$(v h3 list --all --name)" ]
  [ "$(ns_of "$(guest_pid "cfsrig-$RIG_TAG-g2")" net)" = "$(host_ns h1 net)" ]
  wait_until 60 count_above g2 $((n0 + 2))
  counted_once g2
  # (qemu-io shows the bytes of the first sector, spaces as dots)
  qemu-io -r -U -f qcow2 -c "read -v 0 32" "$RIG_SHARED/g2.qcow2" | grep -q "TINYGUEST.COUNT"
}

@test "a frozen host stops answering and resumes where it was" {
  "$REPO/scripts/hosts-kill.sh" "$RIG" h1 --stop
  for p in $(host_procs h1); do
    [ "$(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f1)" = T ]
  done
  run timeout 3 virsh -c "$(rig_uri h1)" list
  [ "$status" -eq 124 ]                     # connected, but nobody answers
  c1=$(last_count g2)
  sleep 2
  [ "$(last_count g2)" = "$c1" ]
  "$REPO/scripts/hosts-kill.sh" "$RIG" h1 --cont
  [ "$(v h1 domstate "cfsrig-$RIG_TAG-g2")" = running ]
  wait_until 30 count_above g2 "$c1"
  counted_once g2
}

@test "the rig comes down leaving no process, namespace, link, mount or file; the machine's libvirtd untouched" {
  # The live hosts' namespaces (h2's went with it, in an earlier test) are held open
  # by this shell while we look, so that no namespace made meanwhile by anybody can
  # reuse their inode numbers.
  : >"$W/ns"
  fds=()
  for h in h1 h3; do
    read -r init _ <"$RIG/$h/init.started"
    for ns in net pid mnt; do
      exec {fd}<"/proc/$init/ns/$ns"
      fds+=("$fd")
      [ "$(readlink "/proc/self/fd/$fd")" = "$(host_ns $h $ns)" ]
      host_ns $h $ns | sed 's/^[a-z]*:\[\([0-9]*\)\]$/\1/' >>"$W/ns"
    done
    for p in $(host_procs $h); do echo "$p $(start_ticks "$p")"; done >>"$W/procs"
  done
  [ "$(wc -l <"$W/ns")" = 6 ]
  [ "$(wc -l <"$W/procs")" -ge 8 ]          # init, its sleep, virtlogd, libvirtd, QEMU...
  "$REPO/scripts/hosts-down.sh" "$RIG"
  # None of the hosts' processes is left, none in their namespaces, none named after
  # the rig; nothing but this shell holds a namespace (no nsfs bind mount).
  while read -r p st; do
    [ "$(start_ticks "$p")" != "$st" ]
  done <"$W/procs"
  ps -e -o pid= -o netns= -o pidns= -o mntns= |
    awk 'NR == FNR { ns[$1] = 1; next } ($2 in ns) || ($3 in ns) || ($4 in ns) { print }' \
      "$W/ns" - >"$W/in-ns"
  [ ! -s "$W/in-ns" ] || { cat "$W/in-ns" >&2; false; }
  [ -z "$(findmnt -rn -t nsfs -o SOURCE | grep -Ff "$W/ns")" ]
  for fd in "${fds[@]}"; do exec {fd}<&-; done
  ps -e -o args= >"$W/ps"
  [ -z "$(grep -F -e "rig-$RIG_TAG" -e "cfsrig-$RIG_TAG-" "$W/ps")" ]
  # Nothing mounted, no link, no table, no file.
  [ -z "$(findmnt -rn -o TARGET,SOURCE | grep -F "rig-$RIG_TAG")" ]
  [ -z "$(ip -o link show | grep -F -e "cfrb-$RIG_TAG" -e "cfr-$RIG_TAG-")" ]
  run nft list table inet "cfsrig_$RIG_TAG"
  [ "$status" -ne 0 ]
  [ ! -e "$RIG" ]
  # The machine's libvirtd is the same process as before, and answers.
  if [ -n "$MACHINE_LIBVIRTD" ]; then
    [ "$(machine_libvirtd)" = "$MACHINE_LIBVIRTD" ]
    virsh -c qemu:///system list >/dev/null
  fi
}
