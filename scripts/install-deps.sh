#!/usr/bin/env bash
# Install everything cloudfs needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped by apt-get.
# Usage: scripts/install-deps.sh [--with-ceph]
set -euo pipefail

want_ceph=0
for a in "$@"; do
  case "$a" in
    --with-ceph) want_ceph=1 ;;
    *) echo "usage: $0 [--with-ceph]" >&2; exit 2 ;;
  esac
done

pkgs=(
  build-essential pkg-config
  libfuse3-dev fuse3
  libsqlite3-dev sqlite3
  libconfig-dev
  libvirt-dev libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
  libxml2-dev         # reading libvirt's XML (domains, capabilities, networks)
  # libvirt's network side: dnsmasq for DHCP/DNS, the firewall tools it
  # probes when libvirtd starts (so libvirtd must start after they exist),
  # nwfilter's default filters.
  dnsmasq-base iptables ebtables nftables iproute2 libvirt-daemon-config-nwfilter
  librados-dev librbd-dev nettle-dev
  libcurl4-openssl-dev  # alarm notifications: webhooks posted through libcurl
  qemu-system-x86 qemu-utils
  bats inotify-tools rsync attr procps psmisc vim
  # busybox: udhcpc, ping and nc inside the network namespaces that stand in
  # for guests and hosts in tests/64-network-dataplane.bats (a fresh Debian 12
  # has no DHCP client and no ping).
  busybox-static
  genisoimage   # the VMs' cloud-init seed CDs (src/reconcile/vm_seed.c)
  prometheus  # promtool: the independent parser of /metrics in the tests
)
if [ "$want_ceph" = 1 ]; then
  # A throwaway Ceph cluster for the RBD tests, and QEMU's rbd driver.
  pkgs+=(ceph-mon ceph-osd ceph-mgr ceph-common qemu-block-extra)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
