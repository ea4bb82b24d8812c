#!/usr/bin/env bash
# Bring up a rig of N real libvirt hosts on this one machine, for multi-host tests
# (live migration, maintenance, HA) and benchmarks.
#
# Usage: scripts/hosts-up.sh [--tag TAG] N          (N = 1..16; TAG = 1-6 of [a-z0-9])
# Prints the rig's directory on stdout (one line); everything else is in it:
#   RIG=$(scripts/hosts-up.sh 3); . "$RIG/rig.env"; cat "$RIG/hosts"
#   virsh -c "$(cat "$RIG/h1/uri")" list
#   scripts/hosts-kill.sh "$RIG" h2 [--stop|--cont]     scripts/hosts-exec.sh "$RIG" h1 CMD
#   scripts/hosts-down.sh "$RIG"
# On any failure the part already built is torn down (scripts/hosts-down.sh).
#
# What a host is, and why:
#   - A PID namespace whose init is a small bash reaper (`unshare --fork`), so that
#     every process of the host (virtlogd, libvirtd, QEMU, their helpers) is in it and
#     SIGKILL to that one init kills the whole host at once (a host failure), while
#     SIGSTOP to all of them freezes it (hosts-kill.sh --stop / --cont).
#   - A network namespace: lo plus eth0, one end of a veth pair whose other end is a
#     port of the rig's bridge in the root namespace (cfrb-TAG, 10.239.X.1/24, the
#     controller's address on it). Host hI is 10.239.X.(10+I). QEMU listens for
#     incoming migrations there (qemu.conf migration_address/migration_host), so
#     `virsh migrate --live` moves the guest over TCP across the bridge. The bridge
#     has no uplink, and the rig's nft table drops forwarding between it and any
#     other interface and, in the root namespace, everything from the hosts but
#     Ceph's ports and replies: hosts reach each other, Ceph, and answer the
#     controller; nothing else.
#   - A UTS namespace (hostname rig-TAG-hI, which every host resolves through its own
#     /etc/hosts, $RIG/etc-hosts; the controller is rig-TAG-ctl) and an IPC namespace.
#   - A mount namespace (private propagation: nothing leaks to the root namespace)
#     with its own /run (= /var/run), /etc/libvirt, /var/lib/libvirt,
#     /var/log/libvirt, /var/cache/libvirt (bind mounts of hI/run, hI/etc, ...), a
#     tmpfs /dev/shm and a sysfs of its own network namespace: pid files, sockets
#     (virtlogd's too), domain state and logs never meet another host's or the
#     machine's own libvirtd's. Everything else
#     (/tmp, /etc/ceph, the kernels and images tests use) is the machine's, so the
#     same paths work on every host, like shared storage.
#   - Its own virtlogd and libvirtd (monolithic, as the machine's own), started in
#     all these namespaces; QEMU, their child, runs in them too.
#   - /etc/libvirt/libvirtd.conf with its own host_uuid (libvirt refuses to migrate
#     to a host with the same UUID) and only unix sockets; qemu.conf with
#     cgroup_controllers = [ ] (two libvirtds on one kernel would both manage the
#     same cgroup hierarchy; the rig's hosts make no cgroups), its own migration,
#     VNC and websocket port ranges (in its own network namespace they could not
#     clash, but a port then says which host it is), and the machine's user/group
#     (root). No libvirt network is defined or autostarted; the network and
#     nwfilter drivers only see the host's own network namespace.
#   - The controller (the root namespace, where cloudfs's reconciler runs) reaches
#     the host's libvirtd through its socket, which is visible from the root
#     namespace because the host's /run is hI/run:
#       qemu+unix:///system?socket=$RIG/hI/run/libvirt/libvirt-sock   (hI/uri)
#     Every host sees every host's socket directory at that same path too, so the
#     same URIs work there (`virsh migrate --p2p`: the source libvirtd calls the target).
# Shared storage:
#   - $RIG/shared is mounted at the same path in every host: a dir pool there is
#     seen by all hosts. libvirt 9.0 calls a file disk shared only on a network or
#     cluster filesystem (statfs: NFS, CephFS, GFS2, ...), and this kernel has none:
#     live migration of such a disk needs `virsh migrate --unsafe` (VIR_MIGRATE_UNSAFE),
#     with cache='none' so that no page cache stands between the two QEMUs.
#   - The throwaway Ceph cluster (scripts/ceph-up.sh: monitor and OSD listen on
#     127.0.0.1 in the root namespace) is reached from every host with the same
#     addresses: the host's nft table sends its 127.0.0.1:6789 and :6800-7300
#     (monitor, OSD, manager) to the controller's bridge address, masqueraded as the
#     host's address; the rig's table in the root namespace sends those ports
#     arriving from the bridge on to 127.0.0.1 (route_localnet on the bridge).
#     The cluster itself is not touched. Its directory is mounted read-only at the
#     same path in every host, so `rbd -c /run/cloudfs-test/ceph/ceph.conf` and
#     /etc/ceph/ceph.conf work there unchanged. Ceph sees each host's clients at
#     the host's own address (what blocklisting a host will need).
#
# Names carry the tag (random unless --tag), so two rigs never collide: the rig
# directory rig-TAG, bridge cfrb-TAG, veths cfr-TAG-hI, nft table cfsrig_TAG,
# hostnames rig-TAG-hI; a free 10.239.X.0/24 is chosen under a lock.
# The machine's own libvirtd (qemu:///system) is not touched.
#
# Needs: root, unshare/nsenter (util-linux), ip, nft, libvirtd, virtlogd, virsh, and
# the user libvirt-qemu (scripts/libvirt-up.sh makes it).
# Environment: CLOUDFS_TEST_STATE (default /run/cloudfs-test), HOSTS_UP_TIMEOUT
# (seconds per host for libvirtd to answer, default 60).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT="${HOSTS_UP_TIMEOUT:-60}"
CEPH_PORTS="6789, 6800-7300"     # ceph-mon, and the OSD/manager range (ms_bind_port_min/max)

die() { echo "hosts-up: $*" >&2; exit 1; }
DAEMON_LOG_PREFIX=hosts-up
# shellcheck source=scripts/hosts-lib.sh
. "$HERE/hosts-lib.sh"

usage() { echo "usage: $0 [--tag TAG] N" >&2; exit 2; }
TAG=""
N=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --tag) [ "$#" -ge 2 ] || usage; TAG=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) [ -z "$N" ] || usage; N=$1; shift ;;
  esac
done
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ] || [ "$N" -gt 16 ]; then usage; fi
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "HOSTS_UP_TIMEOUT must be a number of seconds"
[ "$(id -u)" = 0 ] || die "must run as root"
for b in unshare nsenter ip nft sysctl libvirtd virtlogd virsh uuidgen flock; do
  command -v "$b" >/dev/null 2>&1 || die "$b not found (scripts/install-deps.sh)"
done
getent passwd libvirt-qemu >/dev/null ||
  die "user libvirt-qemu missing (libvirtd needs it; scripts/libvirt-up.sh makes it)"

if [ -z "$TAG" ]; then
  TAG=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
fi
[[ "$TAG" =~ ^[a-z0-9]{1,6}$ ]] || die "tag must be 1-6 characters of [a-z0-9]"

mkdir -p "$RIG_STATE_DIR"
chmod 0755 "$RIG_STATE_DIR"
RIG_DIR="$RIG_STATE_DIR/rig-$TAG"
BR="cfrb-$TAG"
TABLE="cfsrig_$TAG"
SOCK_TAIL="/h16/run/libvirt/libvirt-sock"
[ "$((${#RIG_DIR} + ${#SOCK_TAIL}))" -lt 108 ] ||
  die "$RIG_DIR is too long for a unix socket path under it (CLOUDFS_TEST_STATE)"

# --- 1. claim the tag and a subnet (one hosts-up at a time for this part) ---------------
exec 9>"$RIG_STATE_DIR/rig.lock"
flock -w 60 9 || die "another hosts-up holds $RIG_STATE_DIR/rig.lock"
[ ! -e "$RIG_DIR" ] || die "a rig with tag $TAG exists already ($RIG_DIR)"
ip link show "$BR" >/dev/null 2>&1 && die "bridge $BR exists already"

# subnet_free X: nothing in the root namespace uses 10.239.X.0/24 (another rig's bridge).
subnet_free() {
  [ -z "$(ip -4 route show root "10.239.$1.0/24" 2>/dev/null)" ] &&
    ! ip -4 -o addr show | grep -q " 10\.239\.$1\."
}
start=$(( $(printf '%s' "$TAG" | cksum | cut -d' ' -f1) % 250 + 1 ))
NET=""
for i in $(seq 0 249); do
  x=$(( (start + i - 1) % 250 + 1 ))
  if subnet_free "$x"; then NET="10.239.$x"; break; fi
done
[ -n "$NET" ] || die "no free 10.239.X.0/24 subnet"
GW="$NET.1"

mkdir -m 0755 "$RIG_DIR"
# From here on, a failure tears down whatever was built.
built=0
on_exit() {
  local rc=$?
  if [ "$built" = 0 ]; then
    "$HERE/hosts-down.sh" "$RIG_DIR" >&2 || true
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

CEPH_DIR="$RIG_STATE_DIR/ceph"
CEPH_CONF=""
[ -f "$CEPH_DIR/ceph.conf" ] && CEPH_CONF="$CEPH_DIR/ceph.conf"
HOSTS=""
for i in $(seq 1 "$N"); do HOSTS="$HOSTS${HOSTS:+ }h$i"; done
mkdir -m 0755 "$RIG_DIR/shared"
cat >"$RIG_DIR/rig.env" <<EOF
RIG_TAG=$TAG
RIG_DIR=$RIG_DIR
RIG_BRIDGE=$BR
RIG_NFT_TABLE=$TABLE
RIG_SUBNET=$NET.0/24
RIG_GATEWAY=$GW
RIG_SHARED=$RIG_DIR/shared
RIG_CEPH_CONF=$CEPH_CONF
RIG_HOSTS="$HOSTS"
EOF

# --- 2. the bridge and the root namespace's part of the plumbing ---------------------------
ip link add "$BR" type bridge
ip addr add "$GW/24" dev "$BR"
ip link set "$BR" up
flock -u 9           # the bridge's route now marks the subnet as taken
# Let packets DNAT-ed to 127.0.0.1 in, and their replies out, through the bridge only.
sysctl -qw "net.ipv4.conf.$BR.route_localnet=1"
# The hosts may reach, in the root namespace, Ceph's ports and nothing else (replies to
# connections the controller opens to them excepted), over IPv4 or IPv6; nothing is
# routed between the bridge and any other interface.
nft -f - <<EOF
table inet $TABLE {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$BR" ip daddr $GW tcp dport { $CEPH_PORTS } dnat ip to 127.0.0.1
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$BR" ct state established,related accept
    iifname "$BR" ip daddr 127.0.0.1 tcp dport { $CEPH_PORTS } accept
    iifname "$BR" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "$BR" oifname != "$BR" drop
    oifname "$BR" iifname != "$BR" drop
  }
}
EOF

# --- 3. the hosts ----------------------------------------------------------------------------
# Run inside the host's new mount namespace (via nsenter): its private directories.
# $1 = host dir, $2 = shared dir, $3 = Ceph dir or "", $4 = the rig's hosts file, then
# every host's libvirt socket directory. Paths under /run are mounted again inside the
# host's own /run so that they keep their names: every host reaches every host's
# libvirtd by the same URI as the controller (peer-to-peer migration, virsh -c there).
# A fresh sysfs shows the host's own network namespace in /sys/class/net (libvirt looks
# there for interfaces and bridges) and no cgroup hierarchy: the host's libvirtd cannot
# touch the machine's cgroups even by mistake.
# shellcheck disable=SC2016
MOUNT_SCRIPT='
hd=$1 shared=$2 ceph=$3 hosts=$4
shift 4
keep() {        # keep PATH [ro]: PATH stays visible at the same path after /run is replaced
  case "$1" in /run/*) ;; *) return 0 ;; esac
  t="$hd/run/${1#/run/}"
  mkdir -p "$t"
  mount --bind "$1" "$t"
  [ "${2:-}" != ro ] || mount -o remount,bind,ro "$t"
}
mkdir -p /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
mount --bind "$hd/etc" /etc/libvirt
mount --bind "$hd/lib" /var/lib/libvirt
mount --bind "$hd/log" /var/log/libvirt
mount --bind "$hd/cache" /var/cache/libvirt
mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm
mount -t sysfs sysfs /sys
mount --bind "$hosts" /etc/hosts
keep "$shared"
[ -z "$ceph" ] || keep "$ceph" ro
for sockdir in "$@"; do keep "$sockdir"; done
mount --rbind "$hd/run" /run      # last: $hd itself is under /run
'

# host_conf I HDIR ADDR: the host's /etc/libvirt and caches.
host_conf() {
  local i=$1 hd=$2 addr=$3
  mkdir -p "$hd/run" "$hd/etc/qemu/networks/autostart" "$hd/etc/storage" "$hd/lib" \
    "$hd/log/qemu" "$hd/cache/qemu/capabilities"
  mkdir -m 0700 "$hd/etc/secrets" "$hd/etc/nwfilter"
  # nwfilter's default filters, as on the machine (libvirt-daemon-config-nwfilter).
  if [ -d /etc/libvirt/nwfilter ]; then
    find /etc/libvirt/nwfilter -maxdepth 1 -name '*.xml' -exec cp -p {} "$hd/etc/nwfilter/" \;
  fi
  # QEMU's capabilities, probed once by the machine's libvirtd for the same binaries:
  # saves each host ~8 s of probing (libvirt re-probes by itself if they are stale).
  if [ -d /var/cache/libvirt/qemu/capabilities ]; then
    find /var/cache/libvirt/qemu/capabilities -maxdepth 1 -name '*.xml' \
      -exec cp -p {} "$hd/cache/qemu/capabilities/" \;
  fi
  cat >"$hd/etc/libvirtd.conf" <<EOF
# written by cloudfs scripts/hosts-up.sh for host h$i of rig $TAG
host_uuid = "$(uuidgen)"
listen_tls = 0
listen_tcp = 0
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  local mig=$((49152 + (i - 1) * 64)) vnc=$((5900 + (i - 1) * 100)) ws=$((5700 + (i - 1) * 10))
  cat >"$hd/etc/qemu.conf" <<EOF
# written by cloudfs scripts/hosts-up.sh for host h$i of rig $TAG
user = "root"
group = "root"
cgroup_controllers = [ ]
migration_address = "$addr"
migration_host = "$addr"
migration_port_min = $mig
migration_port_max = $((mig + 63))
vnc_listen = "$addr"
spice_listen = "$addr"
remote_display_port_min = $vnc
remote_display_port_max = $((vnc + 99))
remote_websocket_port_min = $ws
remote_websocket_port_max = $((ws + 9))
EOF
  printf '%s\n' "$addr" >"$hd/address"
}

# host_up I: make host hI and wait until its libvirtd answers.
host_up() {
  local i=$1 name="h$1" hd="$RIG_DIR/h$1" addr="$NET.$((10 + $1))" veth="cfr-$TAG-h$1"
  local upid init uri ns
  host_conf "$i" "$hd" "$addr"

  # The namespaces and their init (PID 1 there: reaps the daemons' orphans).
  # shellcheck disable=SC2016
  ( close_fds
    exec unshare --net --uts --ipc --mount --pid --fork --mount-proc --propagation private \
      -- bash -c 'while :; do sleep 1000 & wait $!; done' "rig-$TAG-$name" \
      </dev/null >/dev/null 2>&1 ) &
  upid=$!
  record_in "$hd" unshare "$upid"
  for _ in $(seq 1 100); do
    init=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null || true)
    init=${init%% *}
    [ -n "$init" ] && [ "$(readlink "/proc/$init/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] &&
      [ "$(cat "/proc/$init/comm" 2>/dev/null)" = bash ] && break
    init=""
    sleep 0.05
  done
  [ -n "$init" ] || die "$name: the namespace init did not start"
  record_in "$hd" init "$init"
  for ns in net pid mnt; do
    printf '%s %s\n' "$ns" "$(readlink "/proc/$init/ns/$ns")"
  done >"$hd/ns"

  nsenter -t "$init" -u -- hostname "rig-$TAG-$name"

  # Network: eth0 on the bridge; Ceph's loopback ports sent to the controller.
  ip link add "$veth" type veth peer name eth0 netns "/proc/$init/ns/net"
  ip link set "$veth" master "$BR" up
  # shellcheck disable=SC2016
  nsenter -t "$init" -n -- sh -euc '
    ip link set lo up
    ip addr add "$1/24" dev eth0
    ip link set eth0 up
    sysctl -qw net.ipv4.conf.eth0.route_localnet=1' sh "$addr"
  nsenter -t "$init" -n -- nft -f - <<EOF
table ip cfsrig {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.1 tcp dport { $CEPH_PORTS } dnat to $GW
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "eth0" ip saddr 127.0.0.0/8 masquerade
  }
}
EOF

  nsenter -t "$init" -m -n -- sh -euc "$MOUNT_SCRIPT" sh "$hd" "$RIG_DIR/shared" \
    "${CEPH_CONF:+$CEPH_DIR}" "$RIG_DIR/etc-hosts" "$RIG_DIR"/h*/run/libvirt

  # The daemons (they daemonise; their orphans are the init's).
  detached nsenter -t "$init" -m -u -n -i -p -- virtlogd -d || die "$name: virtlogd -d failed"
  for _ in $(seq 1 100); do
    [ -S "$hd/run/libvirt/virtlogd-sock" ] && break
    sleep 0.05
  done
  [ -S "$hd/run/libvirt/virtlogd-sock" ] || die "$name: virtlogd made no socket"
  detached nsenter -t "$init" -m -u -n -i -p -- libvirtd -d ||
    die "$name: libvirtd -d failed (see $hd/log/libvirtd.log)"

  uri="qemu+unix:///system?socket=$hd/run/libvirt/libvirt-sock"
  printf '%s\n' "$uri" >"$hd/uri"
  local deadline=$((SECONDS + TIMEOUT))
  # `version` answers only once the QEMU driver is ready (see libvirt-up.sh).
  until timeout 10 virsh -c "$uri" version >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] ||
      die "$name: libvirtd does not answer after ${TIMEOUT}s (see $hd/log/libvirtd.log)"
    host_init_pid "$hd" >/dev/null || die "$name: its namespace init died"
    sleep 0.2
  done
  printf '%s %s %s\n' "$name" "$addr" "$uri" >>"$RIG_DIR/hosts"
}

# Every host resolves every host's name (libvirt looks up its own hostname).
{
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  printf '%s\trig-%s-ctl\n' "$GW" "$TAG"
  for i in $(seq 1 "$N"); do printf '%s\trig-%s-h%s\n' "$NET.$((10 + i))" "$TAG" "$i"; done
} >"$RIG_DIR/etc-hosts"
chmod 0644 "$RIG_DIR/etc-hosts"
: >"$RIG_DIR/hosts"
# Every host's libvirt socket directory exists before the first host mounts them all.
for i in $(seq 1 "$N"); do
  mkdir -m 0755 "$RIG_DIR/h$i"
  mkdir -p "$RIG_DIR/h$i/run/libvirt"
done
for i in $(seq 1 "$N"); do
  host_up "$i"
done

built=1
printf '%s\n' "$RIG_DIR"
