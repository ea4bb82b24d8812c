#!/usr/bin/env bash
# Self-check for scripts/libvirt-up.sh, scripts/tiny-guest.sh and scripts/libvirt-down.sh
# against a real qemu:///system.
#
#   1. libvirt-up.sh;
#   2. tiny-guest.sh /tmp/tinyguest (cached after the first build);
#   3. defines a TCG domain (scripts/tiny-guest-domain.sh --no-counter: type 'qemu',
#      128 MiB, direct kernel boot, ACPI, serial console to /tmp/tinyguest/console.log,
#      no disk, no network), starts it, waits for
#      "TINYGUEST READY", runs `virsh shutdown` and requires "shut off" within 15 s
#      without any destroy;
#   4. defines a KVM domain (type 'kvm', 64 MiB, no OS), requires domstate "running",
#      destroys it;
#   5. undefines both and runs libvirt-down.sh (also on failure, via trap).
# Exits 0 only if everything worked. Prints timings.
#
# Environment: TINYGUEST_DIR (default /tmp/tinyguest), BOOT_TIMEOUT (default 60 s).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
URI="qemu:///system"
GDIR="${TINYGUEST_DIR:-/tmp/tinyguest}"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-60}"
SHUTDOWN_TIMEOUT=15
TAG="$$-$(date +%s)"
TCG_DOM="cfs-selftest-tcg-$TAG"
KVM_DOM="cfs-selftest-kvm-$TAG"
CONSOLE="$GDIR/console.log"

[[ "$BOOT_TIMEOUT" =~ ^[0-9]+$ ]] || { echo "BOOT_TIMEOUT must be a number" >&2; exit 2; }

v() { virsh -q -c "$URI" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

defined=()
up_done=0
XMLDIR=$(mktemp -d /tmp/cfs-selftest.XXXXXX)

cleanup() {
  local rc=$? d
  set +e
  for d in "${defined[@]}"; do
    if [ "$(v domstate "$d" 2>/dev/null)" != "shut off" ]; then
      v destroy "$d" >/dev/null 2>&1
    fi
    v undefine "$d" >/dev/null 2>&1 || echo "warning: could not undefine $d" >&2
  done
  rm -rf "$XMLDIR"
  if [ "$up_done" = 1 ]; then
    "$HERE/libvirt-down.sh" || rc=1
  fi
  if [ "$rc" = 0 ]; then echo "PASS"; else echo "FAILED (rc=$rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. libvirt -----------------------------------------------------------------------
t0=$(now)
up_done=1               # libvirt-down.sh only stops what libvirt-up.sh recorded
"$HERE/libvirt-up.sh"
echo "libvirt-up: $(elapsed "$t0" "$(now)") s"

# --- 2. guest ---------------------------------------------------------------------------
t0=$(now)
"$HERE/tiny-guest.sh" "$GDIR"
echo "tiny-guest: $(elapsed "$t0" "$(now)") s"
if [ ! -s "$GDIR/vmlinuz" ] || [ ! -s "$GDIR/initrd.gz" ]; then fail "guest files missing in $GDIR"; fi

# --- 3. TCG guest: boot, graceful ACPI shutdown --------------------------------------------
rm -f "$CONSOLE"
"$HERE/tiny-guest-domain.sh" --no-counter "$TCG_DOM" "$GDIR" "$CONSOLE" >"$XMLDIR/tcg.xml"
v define "$XMLDIR/tcg.xml" >/dev/null
defined+=("$TCG_DOM")

t_start=$(now)
v start "$TCG_DOM" >/dev/null
t_started=$(now)
deadline=$((SECONDS + BOOT_TIMEOUT))
until grep -q "TINYGUEST READY" "$CONSOLE" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "--- last console lines:" >&2
    tail -n 20 "$CONSOLE" >&2 2>/dev/null || true
    fail "guest did not print TINYGUEST READY within ${BOOT_TIMEOUT}s (state: $(v domstate "$TCG_DOM" 2>&1))"
  fi
  sleep 0.1
done
t_ready=$(now)
echo "tcg guest: virsh start $(elapsed "$t_start" "$t_started") s, start->READY $(elapsed "$t_start" "$t_ready") s"

t_shut=$(now)
v shutdown "$TCG_DOM" >/dev/null
deadline=$((SECONDS + SHUTDOWN_TIMEOUT))
while [ "$(v domstate "$TCG_DOM")" != "shut off" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "--- last console lines:" >&2
    tail -n 20 "$CONSOLE" >&2 2>/dev/null || true
    fail "guest not shut off ${SHUTDOWN_TIMEOUT}s after virsh shutdown (state: $(v domstate "$TCG_DOM" 2>&1))"
  fi
  sleep 0.1
done
t_off=$(now)
grep -q "TINYGUEST POWER BUTTON" "$CONSOLE" || fail "guest shut off but did not log the power button"
reason=$(v domstate --reason "$TCG_DOM")
echo "tcg guest: virsh shutdown -> shut off $(elapsed "$t_shut" "$t_off") s ($reason)"
case "$reason" in
  *shutdown*) ;;
  *) fail "unexpected shut-off reason: $reason" ;;
esac

# --- 4. KVM domain without OS: just running -------------------------------------------------
[ -c /dev/kvm ] || fail "/dev/kvm missing: cannot test a 'kvm' domain"
cat >"$XMLDIR/kvm.xml" <<EOF
<domain type='kvm'>
  <name>$KVM_DOM</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features><acpi/></features>
  <devices/>
</domain>
EOF
v define "$XMLDIR/kvm.xml" >/dev/null
defined+=("$KVM_DOM")
t0=$(now)
v start "$KVM_DOM" >/dev/null
t1=$(now)
state=$(v domstate "$KVM_DOM")
[ "$state" = "running" ] || fail "kvm domain state is '$state', expected running"
echo "kvm domain: virsh start $(elapsed "$t0" "$t1") s, state $state"
v destroy "$KVM_DOM" >/dev/null
state=$(v domstate "$KVM_DOM")
[ "$state" = "shut off" ] || fail "kvm domain state after destroy is '$state'"

# --- 5. undefine (cleanup() runs libvirt-down.sh) ------------------------------------------
for d in "${defined[@]}"; do
  v undefine "$d" >/dev/null
done
defined=()
