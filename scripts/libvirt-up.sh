#!/usr/bin/env bash
# Make qemu:///system usable on a Debian 12 machine without systemd.
#
# Idempotent. Does, as needed:
#   - creates the user/group libvirt-qemu (the Debian build resolves its compiled-in
#     default QEMU user before qemu.conf is read, so it must exist);
#   - creates libvirt's log/run/lib/cache directories;
#   - sets user = "root" / group = "root" in /etc/libvirt/qemu.conf (other settings kept);
#   - starts `virtlogd -d` and `libvirtd -d` unless they already run;
#   - waits (bounded) until `virsh -c qemu:///system list` works.
#
# Daemons it starts are recorded (PID + kernel start time) under $CLOUDFS_TEST_STATE
# (default /run/cloudfs-test); scripts/libvirt-down.sh stops exactly those and nothing else.
# Daemons that were already running are left alone and not recorded.
#
# Prints nothing on success when there was nothing to do, one line when it started
# something. Exits non-zero with a message on stderr on failure.
#
# Environment: CLOUDFS_TEST_STATE (state dir), LIBVIRT_UP_TIMEOUT (seconds, default 30).
set -euo pipefail

URI="qemu:///system"
STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"
TIMEOUT="${LIBVIRT_UP_TIMEOUT:-30}"
QEMU_CONF=/etc/libvirt/qemu.conf
LIBVIRTD_LOG=/var/log/libvirt/libvirtd.log

die() { echo "libvirt-up: $*" >&2; exit 1; }

DAEMON_LOG_PREFIX=libvirt-up
# shellcheck source=scripts/daemon-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
record() { record_in "$STATE_DIR" "$@"; }

[ "$(id -u)" = 0 ] || die "must run as root (qemu:///system needs a privileged libvirtd)"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "LIBVIRT_UP_TIMEOUT must be a number of seconds"
for b in virsh libvirtd virtlogd; do
  command -v "$b" >/dev/null 2>&1 ||
    die "$b not found (run scripts/install-deps.sh: libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu)"
done

# --- helpers -----------------------------------------------------------------------





# virsh_ok ARGS...: run virsh against qemu:///system, quietly, bounded by the time left.
virsh_ok() {
  local left=10
  if [ -n "${deadline:-}" ]; then
    left=$((deadline - SECONDS))
    [ "$left" -ge 1 ] || left=1
  fi
  timeout "$left" virsh -c "$URI" "$@" >/dev/null 2>&1
}

started=()

# --- 1. user and group -------------------------------------------------------------
if ! getent group libvirt-qemu >/dev/null; then
  groupadd -r libvirt-qemu || die "groupadd libvirt-qemu failed"
fi
if ! getent passwd libvirt-qemu >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/bin/false
  useradd -r -g libvirt-qemu -d /var/lib/libvirt -s "$nologin" -c "Libvirt Qemu" libvirt-qemu ||
    die "useradd libvirt-qemu failed"
fi

# --- 2. directories ----------------------------------------------------------------
mkdir -p /var/log/libvirt/qemu /var/run/libvirt /var/lib/libvirt/qemu \
  /var/lib/libvirt/images /var/cache/libvirt/qemu /etc/libvirt/qemu "$STATE_DIR"
chmod 0755 "$STATE_DIR"

# --- 3. qemu.conf: user = "root", group = "root" -----------------------------------
conf_changed=0
set_conf() {          # set_conf KEY VALUE   (VALUE is a fixed literal, not user input)
  local key=$1 val=$2 line="$1 = \"$2\""
  if [ -f "$QEMU_CONF" ] && grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$QEMU_CONF"; then
    if grep -Eq "^[[:space:]]*${key}[[:space:]]*=[[:space:]]*\"${val}\"[[:space:]]*(#.*)?$" "$QEMU_CONF"; then
      return 0
    fi
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*$|${line}|" "$QEMU_CONF"
  else
    if [ -s "$QEMU_CONF" ] && [ -n "$(tail -c1 "$QEMU_CONF")" ]; then
      echo >>"$QEMU_CONF"
    fi
    printf '%s\n' "$line" >>"$QEMU_CONF"
  fi
  conf_changed=1
}
set_conf user root
set_conf group root

# --- 4. virtlogd -------------------------------------------------------------------
if ! running_pid virtlogd /run/virtlogd.pid >/dev/null; then
  detached virtlogd -d || die "virtlogd -d failed"
  pid=$(await_pid virtlogd /run/virtlogd.pid) ||
    die "virtlogd did not come up (no live pid in /run/virtlogd.pid)"
  record virtlogd "$pid"
  started+=("virtlogd[$pid]")
fi

# --- 5. libvirtd -------------------------------------------------------------------
if virsh_ok list --all; then
  # Something (a libvirtd or virtqemud we did not start) already serves qemu:///system.
  if [ "$conf_changed" = 1 ]; then
    echo "libvirt-up: warning: $QEMU_CONF changed but the running libvirt daemon was not" \
      "started by this script; restart it to apply" >&2
  fi
else
  if pid=$(running_pid libvirtd /run/libvirtd.pid); then
    # A libvirtd is alive but not answering yet (still starting?): just wait for it below.
    :
  else
    # No network is needed for tests: make sure no leftover config autostarts one.
    # (We only look; a "default" network autostart link belongs to libvirt-daemon-system.)
    if [ -e /etc/libvirt/qemu/networks/autostart/default.xml ]; then
      echo "libvirt-up: warning: the 'default' network is set to autostart;" \
        "it needs dnsmasq/iptables and may log errors" >&2
    fi
    detached libvirtd -d || die "libvirtd -d failed (see $LIBVIRTD_LOG)"
    pid=$(await_pid libvirtd /run/libvirtd.pid) ||
      die "libvirtd did not come up (no live pid in /run/libvirtd.pid; see $LIBVIRTD_LOG)"
    record libvirtd "$pid"
    started+=("libvirtd[$pid]")
  fi
fi

# --- 6. wait until qemu:///system answers ------------------------------------------
# `list` answers as soon as the daemon accepts connections; `version` (which reports the
# hypervisor version) blocks until the QEMU driver has probed QEMU's capabilities, which
# takes ~8 s the first time on a fresh machine (cached in /var/cache/libvirt/qemu later).
# Wait for both so that the first `virsh start` of a caller does not stall instead.
deadline=$((SECONDS + TIMEOUT))
until virsh_ok list --all && virsh_ok version; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    msg=$(timeout 10 virsh -c "$URI" version 2>&1 >/dev/null | head -n3 || true)
    die "qemu:///system not usable after ${TIMEOUT}s: ${msg:-no error text} (see $LIBVIRTD_LOG)"
  fi
  sleep 0.2
done

if [ "${#started[@]}" -gt 0 ]; then
  echo "libvirt-up: started ${started[*]}"
fi
