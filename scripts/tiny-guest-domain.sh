#!/usr/bin/env bash
# Print the libvirt domain XML of a tiny guest (scripts/tiny-guest.sh) in counter mode,
# for tests and benchmarks that drive libvirt directly (the multi-host rig,
# scripts/tiny-guest-test.sh).
#
# Usage: scripts/tiny-guest-domain.sh [--no-counter] NAME GUESTDIR CONSOLE [DISK]
#   NAME      domain name ([A-Za-z0-9_.-], at most 64)
#   GUESTDIR  where tiny-guest.sh put vmlinuz and initrd.gz
#   CONSOLE   file the serial console is appended to (append='on': the target of a
#             live migration opens the same file and goes on writing it)
#   DISK      rbd:POOL/IMAGE  a virtio disk on the Ceph cluster (monitor 127.0.0.1:6789)
#             file:PATH       a virtio qcow2 disk
#             (cache='none' for both, as live migration on shared storage wants)
# The guest: TCG (type 'qemu'), 128 MiB, 1 vCPU, direct kernel boot with
# `console=ttyS0 panic=-1 tinyguest.counter`, no network, no balloon; it prints
# "TINYGUEST COUNT n UPTIME s" once a second and writes that line to its disk's
# first sector. --no-counter leaves `tinyguest.counter` out (the plain guest).
# Paths may not hold quotes, '<', '>' or '&' (they go into XML as is).
set -euo pipefail

die() { echo "tiny-guest-domain: $*" >&2; exit 1; }
cmdline="console=ttyS0 panic=-1 tinyguest.counter"
if [ "${1:-}" = --no-counter ]; then
  cmdline="console=ttyS0 panic=-1"
  shift
fi
{ [ "$#" = 3 ] || [ "$#" = 4 ]; } ||
  { echo "usage: $0 [--no-counter] NAME GUESTDIR CONSOLE [DISK]" >&2; exit 2; }
name=$1 guest=$2 console=$3 disk=${4:-}
[[ "$name" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "bad domain name '$name'"
for p in "$guest" "$console" "$disk"; do
  case "$p" in *[\'\"\<\>\&]*) die "'$p' holds a character that cannot go into the XML" ;; esac
done
case "$guest" in /*) ;; *) die "GUESTDIR must be an absolute path" ;; esac
case "$console" in /*) ;; *) die "CONSOLE must be an absolute path" ;; esac

case "$disk" in
  "") disk_xml="" ;;
  rbd:*/*)
    [[ "${disk#rbd:}" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "bad rbd image '${disk#rbd:}'"
    disk_xml="<disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source protocol='rbd' name='${disk#rbd:}'><host name='127.0.0.1' port='6789'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>" ;;
  file:/*)
    disk_xml="<disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='${disk#file:}'/>
      <target dev='vda' bus='virtio'/>
    </disk>" ;;
  *) die "DISK must be rbd:POOL/IMAGE or file:/PATH" ;;
esac

cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.gz</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    $disk_xml
    <serial type='file'><source path='$console' append='on'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
