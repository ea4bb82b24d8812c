#!/usr/bin/env bash
# Build a tiny bootable Linux guest for tests: OUTDIR/vmlinuz + OUTDIR/initrd.gz.
#
# Usage: scripts/tiny-guest.sh OUTDIR
#
# The kernel is Debian's current linux-image-<abi>-amd64 (the package that the
# linux-image-amd64 metapackage depends on; override with TINYGUEST_KERNEL_PKG), fetched
# with `apt-get download`. The initramfs (cpio newc, gzip) holds static busybox
# (busybox-static) and an /init that:
#   - mounts /proc, /sys and devtmpfs on /dev;
#   - loads button.ko and evdev.ko (plus any dependencies, from modules.dep or from the
#     modules' own "depends=" info; .ko.xz/.ko.zst modules are decompressed at build time);
#   - opens the input device whose name is "Power Button", then prints
#     "TINYGUEST READY" on the console (boot with console=ttyS0 to see it on the serial
#     port), waits for one event from that device (an ACPI power button press, e.g. from
#     `virsh shutdown`) and runs `poweroff -f`;
#   - with `tinyguest.counter` on the kernel command line, also loads virtio_pci and
#     virtio_blk and counts, once a second, for as long as it runs: it prints
#     "TINYGUEST COUNTER START <boot id>" once, then "TINYGUEST COUNT <n> UPTIME <s>"
#     on the console, and writes the same line (padded to 512 bytes, fsync-ed) to the
#     first sector of /dev/vda when the guest has a virtio disk. A guest that goes on
#     counting with no second START line has not restarted (live migration tests); the
#     disk shows which instance wrote last (fencing tests).
#   - with `tinyguest.seed`, also loads ahci, sr_mod and isofs, mounts the CD-ROM that
#     holds meta-data (a cloud-init NoCloud seed) and prints each line of its meta-data,
#     user-data, vendor-data and network-config as "TINYGUEST SEED FILE: LINE", after
#     "TINYGUEST SEED LABEL <volume label>", then "TINYGUEST SEED DONE" (or "TINYGUEST
#     SEED NONE" when no CD holds a seed within 30 s);
#   - with `tinyguest.agent`, also loads virtio_console and answers on the
#     org.qemu.guest_agent.0 port as a minimal guest agent ("TINYGUEST AGENT READY",
#     then "TINYGUEST AGENT PASSWORD user=U crypted=C" for each password set);
#   - with cfs.run=STEP,STEP,... on the kernel command line, also loads virtio_pci and
#     virtio_net and runs those network steps in the background (the power button keeps
#     working meanwhile), each printing one "TINYGUEST ..." line on the console:
#       dhcp:IF[:SECS]          wait up to SECS (30) for IF (a hot-plugged NIC appears
#                               later), run udhcpc on it: "TINYGUEST LEASE IF ip=A/P
#                               router=R dns=D,.. hostname=H domain=N routes=.. mtu=M"
#                               (the options as received) or "TINYGUEST NOLEASE IF"
#       ping:ADDR[:SECS]        "TINYGUEST PING ADDR OK" at the first answer, or FAIL
#                               after SECS (60)
#       listen:PORT             TCP server answering "hello from HOSTNAME IP/PREFIX"
#       connect:ADDR:PORT[:SECS] "TINYGUEST CONNECT ADDR:PORT OK hello from ..." or FAIL
#       dns:NAME                "TINYGUEST DNS NAME ADDR" (first A record) or FAIL
#       arping:ADDR[:IF]        "TINYGUEST ARPING ADDR REPLY" or NOREPLY
#     then "TINYGUEST RUN DONE". Addresses, ports and names are checked in the guest.
# The guest needs no disk and no network; 64-128 MiB of RAM is plenty. It boots under
# TCG (domain type 'qemu'); under nested KVM this kernel is known to hang early.
#
# Cached: exits 0 at once when OUTDIR/vmlinuz and OUTDIR/initrd.gz exist and OUTDIR/format
# says they were built by this version of the script (delete them to rebuild). All
# downloads and unpacking happen in a temp dir that is removed.
# Needs root only if cpio is missing (it is then installed with apt-get).
set -euo pipefail

die() { echo "tiny-guest: $*" >&2; exit 1; }

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUTDIR=$1
# What the cached files must have been built with; bump when /init or its modules change.
FORMAT="tiny-guest 7 (counter, virtio_blk; cfs.run network steps, virtio_net; tinyguest.seed; tinyguest.agent)"

cached() {
  [ -f "$OUTDIR/vmlinuz" ] && [ -f "$OUTDIR/initrd.gz" ] &&
    [ "$(cat "$OUTDIR/format" 2>/dev/null)" = "$FORMAT" ]
}
if cached; then
  exit 0
fi

mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

# Serialise concurrent builds into the same OUTDIR, then re-check the cache.
exec 9>"$OUTDIR/.tiny-guest.lock"
flock 9
if cached; then
  exit 0
fi

for b in apt-get apt-cache dpkg dpkg-deb gzip find; do
  command -v "$b" >/dev/null 2>&1 || die "$b not found"
done

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v cpio >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends cpio >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null 2>&1 || true
    as_root apt-get install -y -q --no-install-recommends cpio >/dev/null ||
      die "could not install cpio"
  fi
fi

TMP=$(mktemp -d /tmp/tiny-guest.XXXXXX)
cleanup() { rm -rf "$TMP"; rm -f "$OUTDIR/.vmlinuz.tmp.$$" "$OUTDIR/.initrd.gz.tmp.$$" "$OUTDIR/.format.tmp.$$"; }
trap cleanup EXIT
chmod 0755 "$TMP"   # apt-get download drops privileges to _apt; let it write here
LOG="$TMP/log"

# --- 1. which kernel package ------------------------------------------------------------
kernel_pkg_name() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
KPKG=${TINYGUEST_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
  KPKG=$(kernel_pkg_name || true)
  if [ -z "$KPKG" ]; then
    as_root apt-get update -q >/dev/null 2>&1 || true
    KPKG=$(kernel_pkg_name || true)
  fi
  [ -n "$KPKG" ] || die "cannot find the kernel package (apt-cache depends linux-image-amd64)"
fi
[[ "$KPKG" =~ ^linux-image-[A-Za-z0-9.+~-]+$ ]] || die "bad kernel package name: $KPKG"

# --- 2. download and unpack ---------------------------------------------------------------
mkdir -p "$TMP/deb" "$TMP/k" "$TMP/bb" "$TMP/root"
chmod 0755 "$TMP/deb"
if ! (cd "$TMP/deb" && apt-get download "$KPKG" busybox-static) >"$LOG" 2>&1; then
  cat "$LOG" >&2
  die "apt-get download $KPKG busybox-static failed"
fi
kdeb=$(find "$TMP/deb" -maxdepth 1 -name 'linux-image-*.deb' | head -n1)
bdeb=$(find "$TMP/deb" -maxdepth 1 -name 'busybox-static_*.deb' | head -n1)
if [ -z "$kdeb" ] || [ -z "$bdeb" ]; then die "downloaded .deb files not found"; fi
dpkg -x "$kdeb" "$TMP/k"
dpkg -x "$bdeb" "$TMP/bb"

BUSYBOX="$TMP/bb/bin/busybox"
[ -x "$BUSYBOX" ] || die "busybox-static has no bin/busybox"

vmlinuz=$(find "$TMP/k/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
[ -n "$vmlinuz" ] || die "$KPKG contains no /boot/vmlinuz-*"
KVER=${vmlinuz##*/vmlinuz-}
MODDIR=""
for d in "$TMP/k/lib/modules/$KVER" "$TMP/k/usr/lib/modules/$KVER"; do
  [ -d "$d" ] && MODDIR=$d && break
done
[ -n "$MODDIR" ] || die "$KPKG contains no modules for $KVER"

# --- 3. modules: resolve dependencies, decompress --------------------------------------
# find_module NAME: path (relative to MODDIR) of module NAME ('-' and '_' are equivalent).
find_module() {
  local n1=${1//-/_} n2=${1//_/-} p
  p=$(cd "$MODDIR" || exit 1; find kernel updates extra -type f \
        \( -name "$n1.ko" -o -name "$n1.ko.*" -o -name "$n2.ko" -o -name "$n2.ko.*" \) \
        2>/dev/null | LC_ALL=C sort | head -n1 || true)
  [ -n "$p" ] || return 1
  printf '%s\n' "$p"
}

# decompress REL DEST: write the plain .ko for MODDIR/REL to DEST.
decompress() {
  local src="$MODDIR/$1"
  case "$src" in
    *.ko) cp "$src" "$2" ;;
    *.ko.xz)
      if command -v xz >/dev/null 2>&1; then xz -dc "$src" >"$2"; else "$BUSYBOX" xzcat "$src" >"$2"; fi ;;
    *.ko.gz) gzip -dc "$src" >"$2" ;;
    *.ko.zst)
      command -v zstd >/dev/null 2>&1 || die "zstd needed to unpack $1"
      zstd -qdc "$src" >"$2" ;;
    *) die "unknown module format: $1" ;;
  esac
}

# deps_of REL: dependency paths (relative to MODDIR) of module REL.
deps_of() {
  local rel=$1
  if [ -f "$MODDIR/modules.dep" ]; then
    awk -v m="$rel:" '$1 == m { for (i = 2; i <= NF; i++) print $i; exit }' "$MODDIR/modules.dep"
    return 0
  fi
  # No modules.dep (Debian generates it at install time): use the module's own modinfo.
  local plain="$TMP/modinfo.ko" deps d p
  decompress "$rel" "$plain"
  deps=$(tr '\0' '\n' <"$plain" | LC_ALL=C sed -n 's/^depends=//p' | head -n1 || true)
  rm -f "$plain"
  [ -n "$deps" ] || return 0
  local IFS=,
  for d in $deps; do
    p=$(find_module "$d") || die "dependency $d of $rel not found"
    printf '%s\n' "$p"
  done
}

declare -A seen=()
order=()
add_module() {          # add_module REL: depth-first, dependencies before the module
  local rel=$1 deps dep
  [ -n "${seen[$rel]:-}" ] && return 0
  seen[$rel]=1
  deps=$(deps_of "$rel") || die "cannot resolve dependencies of $rel"
  for dep in $deps; do          # module paths contain no whitespace
    add_module "$dep"
  done
  order+=("$rel")
}

# modules_for NAME...: set order to NAME... and their dependencies, minus what is built
# into this kernel.
modules_for() {
  local m rel
  order=()
  seen=()         # each list stands alone (load_modules skips what is loaded)
  for m in "$@"; do
    if grep -Eq "/$m\.ko$" "$MODDIR/modules.builtin" 2>/dev/null; then
      continue            # built into this kernel: nothing to load
    fi
    rel=$(find_module "$m") || die "module $m not found in $KPKG"
    add_module "$rel"
  done
}
modules_for button evdev
base_modules=("${order[@]}")
modules_for virtio_pci virtio_blk    # loaded in counter mode only
disk_modules=("${order[@]}")
modules_for virtio_pci virtio_net    # loaded with cfs.run only: the guest's NICs
net_modules=("${order[@]}")
modules_for ahci sr_mod isofs        # loaded with tinyguest.seed only: the seed CD
seed_modules=("${order[@]}")
modules_for virtio_pci virtio_console  # loaded with tinyguest.agent only: the agent's port
agent_modules=("${order[@]}")

# --- 4. initramfs tree ------------------------------------------------------------------
R="$TMP/root"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/proc" "$R/sys" "$R/dev" \
  "$R/lib/modules" "$R/etc" "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
# put_modules LIST REL...: decompress the modules into the tree, names in order in LIST.
put_modules() {
  local list=$1 rel base
  shift
  : >"$list"
  for rel in "$@"; do
    base=${rel##*/}
    base=${base%%.ko*}.ko
    decompress "$rel" "$R/lib/modules/$base"
    printf '%s\n' "$base" >>"$list"
  done
}
put_modules "$R/etc/tinyguest-modules" ${base_modules[@]+"${base_modules[@]}"}
put_modules "$R/etc/tinyguest-disk-modules" ${disk_modules[@]+"${disk_modules[@]}"}
put_modules "$R/etc/tinyguest-net-modules" ${net_modules[@]+"${net_modules[@]}"}
put_modules "$R/etc/tinyguest-seed-modules" ${seed_modules[@]+"${seed_modules[@]}"}
put_modules "$R/etc/tinyguest-agent-modules" ${agent_modules[@]+"${agent_modules[@]}"}

cat >"$R/init" <<'INIT'
#!/bin/busybox sh
# tiny-guest /init (generated by cloudfs scripts/tiny-guest.sh)
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
exec </dev/console >/dev/console 2>&1

# load_modules LIST: insmod the modules named in LIST, in order, but those loaded already.
load_modules() {
  while read -r m; do
    [ -n "$m" ] || continue
    [ -d "/sys/module/${m%.ko}" ] && continue     # loaded by an earlier list
    insmod "/lib/modules/$m" || echo "tinyguest: insmod $m failed"
  done <"$1"
}
load_modules /etc/tinyguest-modules

# counter: once a second, the count and uptime on the console and in sector 0 of vda.
counter() {
  echo "TINYGUEST COUNTER START $(cat /proc/sys/kernel/random/boot_id)"
  n=0
  while :; do
    n=$((n + 1))
    line="TINYGUEST COUNT $n UPTIME $(cut -d' ' -f1 /proc/uptime)"
    echo "$line"
    if [ -b /dev/vda ]; then
      echo "$line" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null ||
        echo "tinyguest: write to /dev/vda failed"
    fi
    sleep 1
  done
}
case " $(cat /proc/cmdline) " in
  *" tinyguest.counter "*)
    load_modules /etc/tinyguest-disk-modules
    counter &
    ;;
esac

# Network steps asked for on the kernel command line (cfs.run=...), in the
# background so that the power button below keeps working.
case " $(cat /proc/cmdline) " in
  *" cfs.run="*)
    load_modules /etc/tinyguest-net-modules
    /etc/cfs-run &
    ;;
esac

# The cloud-init seed CD, read as cloud-init would find it (tinyguest.seed).
case " $(cat /proc/cmdline) " in
  *" tinyguest.seed "*)
    load_modules /etc/tinyguest-seed-modules
    /etc/cfs-seed &
    ;;
esac

# A stand-in for qemu-guest-agent (tinyguest.agent).
case " $(cat /proc/cmdline) " in
  *" tinyguest.agent "*)
    load_modules /etc/tinyguest-agent-modules
    /etc/cfs-agent &
    ;;
esac

# find_power_button: print /dev/input/eventN of the "Power Button" input device.
find_power_button() {
  for e in /sys/class/input/event*; do
    [ -r "$e/device/name" ] || continue
    if [ "$(cat "$e/device/name")" = "Power Button" ] && [ -c "/dev/input/${e##*/}" ]; then
      echo "/dev/input/${e##*/}"
      return 0
    fi
  done
  return 1
}

tries=0
while :; do
  dev=$(find_power_button) && break
  tries=$((tries + 1))
  [ "$tries" = 50 ] && echo "tinyguest: still no 'Power Button' input device"
  sleep 0.1
done

# Open the device before announcing readiness so that no press is lost.
exec 3<"$dev"
echo "TINYGUEST READY"
while :; do
  # One input_event (24 bytes on x86_64) is one event: any event means "pressed".
  if dd bs=24 count=1 of=/dev/null <&3 2>/dev/null; then
    break
  fi
  sleep 0.1
done
echo "TINYGUEST POWER BUTTON: powering off"
poweroff -f
while :; do sleep 3600; done
INIT
chmod 0755 "$R/init"

# The network steps (see the header), the DHCP client's event script, the TCP greeter.
cat >"$R/etc/cfs-run" <<'RUN'
#!/bin/sh
# cfs-run: network steps from cfs.run=STEP,STEP,... (generated by scripts/tiny-guest.sh)
say() { echo "TINYGUEST $*"; }
is_ip() { echo "$1" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$'; }
is_num() { echo "$1" | grep -Eq '^[0-9]{1,5}$'; }
is_name() { echo "$1" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$'; }

run=""
for w in $(cat /proc/cmdline); do
  case "$w" in cfs.run=*) run=${w#cfs.run=} ;; esac
done

step_dhcp() {       # IF [SECS]
  local ifc=$1 secs=${2:-30} i=0
  echo "$ifc" | grep -Eq '^eth[0-9]{1,2}$' || { say "BADSTEP dhcp:$ifc"; return; }
  while [ ! -e "/sys/class/net/$ifc" ] && [ "$i" -lt $((secs * 10)) ]; do
    sleep 0.1; i=$((i + 1))
  done
  ip link set lo up
  ip link set "$ifc" up 2>/dev/null
  if ! udhcpc -i "$ifc" -q -n -t 20 -T 1 -s /etc/udhcpc.script -O staticroutes -O mtu \
       >/dev/null 2>&1; then
    say "NOLEASE $ifc"
  fi
}

step_ping() {       # ADDR [SECS]
  local addr=$1 secs=${2:-60} end
  is_ip "$addr" || { say "BADSTEP ping:$addr"; return; }
  end=$(($(date +%s) + secs))
  while [ "$(date +%s)" -lt "$end" ]; do
    if ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then say "PING $addr OK"; return; fi
    sleep 0.5
  done
  say "PING $addr FAIL"
}

step_listen() {     # PORT
  is_num "$1" || { say "BADSTEP listen:$1"; return; }
  nc -ll -p "$1" -e /etc/cfs-hello &
  say "LISTEN $1"
}

step_connect() {    # ADDR PORT [SECS]
  local addr=$1 port=$2 secs=${3:-60} end out
  is_ip "$addr" && is_num "$port" || { say "BADSTEP connect:$addr:$port"; return; }
  end=$(($(date +%s) + secs))
  while [ "$(date +%s)" -lt "$end" ]; do
    out=$(nc -w 2 "$addr" "$port" </dev/null 2>/dev/null | head -n 1)
    case "$out" in "hello from "*) say "CONNECT $addr:$port OK $out"; return ;; esac
    sleep 0.5
  done
  say "CONNECT $addr:$port FAIL"
}

step_dns() {        # NAME
  local addr
  is_name "$1" || { say "BADSTEP dns:$1"; return; }
  addr=$(nslookup -type=a "$1" 2>/dev/null | awk '/^Name:/ { n = 1; next } n && /^Address/ { print $NF; exit }')
  if [ -n "$addr" ]; then say "DNS $1 $addr"; else say "DNS $1 FAIL"; fi
}

step_arping() {     # ADDR [IF]
  local ifc=${2:-eth0}
  is_ip "$1" || { say "BADSTEP arping:$1"; return; }
  if arping -c 2 -w 3 -I "$ifc" "$1" >/dev/null 2>&1; then say "ARPING $1 REPLY"; else say "ARPING $1 NOREPLY"; fi
}

IFS_SAVE=$IFS
IFS=,
set -- $run
IFS=$IFS_SAVE
for s in "$@"; do
  IFS=:
  set -- $s
  IFS=$IFS_SAVE
  case "$1" in
    dhcp) step_dhcp "$2" "$3" ;;
    ping) step_ping "$2" "$3" ;;
    listen) step_listen "$2" ;;
    connect) step_connect "$2" "$3" "$4" ;;
    dns) step_dns "$2" ;;
    arping) step_arping "$2" "$3" ;;
    *) say "BADSTEP $1" ;;
  esac
done
say "RUN DONE"
RUN

cat >"$R/etc/cfs-seed" <<'SEED'
#!/bin/sh
# cfs-seed: print the NoCloud seed CD (label cidata) line by line (generated by
# scripts/tiny-guest.sh): "TINYGUEST SEED LABEL L", "TINYGUEST SEED FILE: LINE",
# then "TINYGUEST SEED DONE", or "TINYGUEST SEED NONE" when no CD holds meta-data.
say() { echo "TINYGUEST SEED $*"; }
mkdir -p /seed
found=
i=0
while [ -z "$found" ] && [ "$i" -lt 60 ]; do
  for d in /dev/sr*; do
    [ -b "$d" ] || continue
    mount -t iso9660 -o ro "$d" /seed 2>/dev/null || continue
    if [ -f /seed/meta-data ]; then found=$d; break; fi
    umount /seed
  done
  [ -n "$found" ] || { i=$((i + 1)); sleep 0.5; }
done
[ -n "$found" ] || { say NONE; exit 0; }
# The volume identifier: bytes 40..71 of the primary volume descriptor (sector 16).
say "LABEL $(dd if="$found" bs=1 skip=32808 count=32 2>/dev/null | tr -d ' ')"
for f in meta-data user-data vendor-data network-config; do
  [ -f "/seed/$f" ] || continue
  head -n 200 "/seed/$f" | while IFS= read -r line; do say "$f: $line"; done
done
say DONE
SEED
chmod 0755 "$R/etc/cfs-seed"

cat >"$R/etc/cfs-agent" <<'AGENT'
#!/bin/sh
# cfs-agent: a minimal qemu-guest-agent on the org.qemu.guest_agent.0 port
# (generated by scripts/tiny-guest.sh).  Answers guest-sync(-delimited) with
# its id, guest-set-user-password by printing "TINYGUEST AGENT PASSWORD
# user=U crypted=C", guest-network-get-interfaces with the IPv4 addresses of
# `ip -o -4 addr`, every other command with an empty return.
say() { echo "TINYGUEST AGENT $*"; }
port=
i=0
while [ -z "$port" ] && [ "$i" -lt 60 ]; do
  for n in /sys/class/virtio-ports/*; do
    [ -r "$n/name" ] && [ "$(cat "$n/name")" = org.qemu.guest_agent.0 ] && port=/dev/${n##*/}
  done
  [ -n "$port" ] || { i=$((i + 1)); sleep 0.5; }
done
[ -n "$port" ] && [ -c "$port" ] || { say NONE; exit 0; }
exec 3<>"$port"
say "READY $port"
while :; do
  IFS= read -r line <&3 || { sleep 0.2; continue; }
  id=$(echo "$line" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
  case "$line" in
    *'"guest-sync-delimited"'*) printf '\377{"return": %s}\n' "${id:-0}" >&3 ;;
    *'"guest-sync"'*) printf '{"return": %s}\n' "${id:-0}" >&3 ;;
    *'"guest-set-user-password"'*)
      user=$(echo "$line" | sed -n 's/.*"username": *"\([A-Za-z0-9_-]*\)".*/\1/p')
      crypted=$(echo "$line" | sed -n 's/.*"crypted": *\([a-z]*\).*/\1/p')
      say "PASSWORD user=$user crypted=$crypted"
      printf '{"return": {}}\n' >&3 ;;
    *'"guest-network-get-interfaces"'*)
      list=
      for l in $(ip -o -4 addr show 2>/dev/null | awk '{print $2 "=" $4}'); do
        name=${l%%=*} addr=${l#*=}
        hw=$(cat "/sys/class/net/$name/address" 2>/dev/null || echo 00:00:00:00:00:00)
        list="$list${list:+,}{\"name\":\"$name\",\"hardware-address\":\"$hw\",\"ip-addresses\":[{\"ip-address-type\":\"ipv4\",\"ip-address\":\"${addr%/*}\",\"prefix\":${addr#*/}}]}"
      done
      printf '{"return": [%s]}\n' "$list" >&3 ;;
    *'"execute"'*) printf '{"return": {}}\n' >&3 ;;
  esac
done
AGENT
chmod 0755 "$R/etc/cfs-agent"

cat >"$R/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
# udhcpc event script: configure the interface and print what the server sent.
case "$1" in
  bound|renew) ;;
  *) exit 0 ;;
esac
ip addr flush dev "$interface"
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
metric=$((100 + $(cat "/sys/class/net/$interface/ifindex")))
if [ -n "$staticroutes" ]; then
  # RFC 3442: with option 121 the router option is ignored.
  set -- $staticroutes
  while [ "$#" -ge 2 ]; do
    ip route add "$1" via "$2" dev "$interface" metric "$metric"
    shift 2
  done
elif [ -n "$router" ]; then
  for r in $router; do ip route add default via "$r" dev "$interface" metric "$metric"; break; done
fi
if [ "$interface" = eth0 ]; then
  : >/etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
  [ -n "$hostname" ] && hostname "$hostname"
fi
echo "TINYGUEST LEASE $interface ip=$ip/${mask:-24} router=$router dns=$(echo $dns | tr ' ' ,) hostname=$hostname domain=$domain routes=$(echo $staticroutes | tr ' ' ,) mtu=$mtu" >/dev/console
DHCP

cat >"$R/etc/cfs-hello" <<'HELLO'
#!/bin/sh
# Greeting of the listen step; the connecting side prints it.
echo "hello from $(hostname) $(ip -4 -o addr show dev eth0 | awk '{ print $4; exit }')"
HELLO
chmod 0755 "$R/etc/cfs-run" "$R/etc/udhcpc.script" "$R/etc/cfs-hello"

# --- 5. output ----------------------------------------------------------------------------
(cd "$R" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner 0:0 --quiet) | gzip -9 >"$OUTDIR/.initrd.gz.tmp.$$"
cp "$vmlinuz" "$OUTDIR/.vmlinuz.tmp.$$"
chmod 0644 "$OUTDIR/.initrd.gz.tmp.$$" "$OUTDIR/.vmlinuz.tmp.$$"
mv -f "$OUTDIR/.initrd.gz.tmp.$$" "$OUTDIR/initrd.gz"
mv -f "$OUTDIR/.vmlinuz.tmp.$$" "$OUTDIR/vmlinuz"
printf '%s\n' "$FORMAT" >"$OUTDIR/.format.tmp.$$"
mv -f "$OUTDIR/.format.tmp.$$" "$OUTDIR/format"
all_modules=(${base_modules[@]+"${base_modules[@]}"} ${disk_modules[@]+"${disk_modules[@]}"} ${net_modules[@]+"${net_modules[@]}"} ${seed_modules[@]+"${seed_modules[@]}"} ${agent_modules[@]+"${agent_modules[@]}"})
echo "tiny-guest: built $OUTDIR/vmlinuz and $OUTDIR/initrd.gz ($KPKG, modules: ${all_modules[*]##*/})"
