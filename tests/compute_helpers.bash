# Helpers for suites that run the reconciler against real libvirt.
load helpers

# Start the reconciler for this file's store; PID in $T/reconcile.pid.
rc_start() {
  "$CLOUDFS_BIN" -c "$CONF" reconcile -f >>"$T/reconcile.log" 2>&1 &
  echo $! > "$T/reconcile.pid"
}

rc_stop() {
  local pid
  pid="$(cat "$T/reconcile.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  reap_pid "$pid"
  rm -f "$T/reconcile.pid"
}

rc_crash() {
  local pid
  pid="$(cat "$T/reconcile.pid")"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$T/reconcile.pid"
}

# Fails on a sanitizer report, and on a pass that read or wrote something
# its rc_kind row does not declare (rc_store.c logs "undeclared:").
rc_check_log() {
  if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:|reconcile: undeclared:" "$T/reconcile.log" >&2; then
    return 1
  fi
}

# Poll until a command succeeds; usage: wait_until SECONDS CMD...
wait_until() {
  local limit="$1" i
  shift
  for i in $(seq 1 $((limit * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out after ${limit}s waiting for: $*" >&2
  return 1
}

# file_is FILE VALUE: the file's content is exactly VALUE.
file_is() { [ "$(cat "$1")" = "$2" ]; }

vm_uuid() { sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm' AND name='$1' AND deleted=0"; }
vm_domain() { echo "cfs-$(vm_uuid "$1")"; }

VIRSH="virsh -q -c qemu:///system"
# The domain type the host offers, as the product picks it (driver_libvirt.c's
# host_info): kvm where libvirt reports it, else qemu (TCG).  Machines of the
# CI pool may have no /dev/kvm.
host_domain_type() {
  if $VIRSH capabilities 2>/dev/null | grep -q "<domain type='kvm'"; then echo kvm; else echo qemu; fi
}
domstate() { $VIRSH domstate "$1" 2>/dev/null | head -n1; }
domstate_is() { [ "$(domstate "$1")" = "$2" ]; }

# Destroy and undefine every domain this file's store knows (pass or fail).
rc_cleanup_domains() {
  [ -f "$DB" ] || return 0
  local u
  for u in $(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm'"); do
    $VIRSH destroy "cfs-$u" >/dev/null 2>&1 || true
    $VIRSH undefine "cfs-$u" --nvram >/dev/null 2>&1 || $VIRSH undefine "cfs-$u" >/dev/null 2>&1 || true
  done
}

# node_xml FILE: a libvirt test:/// host file of one 4-CPU, 4 GiB node (the
# simulated hosts of placement tests).
node_xml() {
  cat > "$1" <<XML
<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
  <active>4</active><mhz>2000</mhz><model>i686</model></cpu>
  <memory>4194304</memory>
</node>
XML
}

# ceph_retry ARGS...: the ceph CLI on $CEPH_CONF, tried 5 times: now and then a
# command fails with EPERM "problem getting command descriptions" on a busy
# monitor (see ceph-up.sh).
ceph_retry() {
  local try
  for try in 1 2 3 4 5; do
    timeout 30 ceph -c "$CEPH_CONF" "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "ceph $* failed 5 times" >&2
  return 1
}

# vpc_dataplane_purge UUID...: remove what the reconciler made on this host for
# each VPC (scripts/vpc-purge.sh: libvirt network, bridge, router veth and
# namespace, nft tables, dnsmasq, its state directory, the EIP veth and NAT
# file), for a teardown after the reconciler is gone: a VPC still in
# the store when the test ends would otherwise outlive the test run.
vpc_dataplane_purge() {
  "$REPO/scripts/vpc-purge.sh" "$@"
}

# A small offering for test domains.
make_tiny_offering() {
  mkdir -p "$MNT/offerings/${1:-tiny}"
  echo 1 > "$MNT/offerings/${1:-tiny}/cpus"
  echo "${2:-64M}" > "$MNT/offerings/${1:-tiny}/memory"
}

compute_start() {
  export CFS_TEST_URI="${CFS_TEST_URI:-qemu:///system}"
  export CFS_EXTRA_CONF="stop-timeout = ${STOP_TIMEOUT:-3}; resync-interval = ${RESYNC:-5}; console-dir = \"@T@/console\"; image-dir = \"@T@/images\"; seed-dir = \"@T@/seed\"; ${CFS_EXTRA_CONF:-}"
  cfs_start
  rc_start
}

compute_stop() {
  [ -n "${T:-}" ] || return 0
  rc_stop
  rc_cleanup_domains
  local rc_log=0
  rc_check_log || rc_log=1
  cfs_stop || rc_log=1
  return $rc_log
}

# The multi-host rig (scripts/hosts-up.sh; README "A multi-host rig"): real libvirtd
# hosts h1..hN, each in its own namespaces, reached from here by URI.
# rig_up N: start N hosts; sets and exports RIG (the rig's directory) and the RIG_*
# variables of $RIG/rig.env (RIG_TAG, RIG_SHARED, RIG_CEPH_CONF, RIG_HOSTS, ...).
rig_up() {
  RIG=$("$REPO/scripts/hosts-up.sh" "$1") || return 1
  set -a
  # shellcheck source=/dev/null
  . "$RIG/rig.env"
  set +a
  export RIG
}
# rig_uri H: host H's libvirt URI (qemu+unix:///system?socket=...).
rig_uri() { cat "$RIG/$1/uri"; }
# rig_down: tear the rig down (teardown_file: pass or fail).
rig_down() {
  [ -n "${RIG:-}" ] || return 0
  "$REPO/scripts/hosts-down.sh" "$RIG"
}

# counted_once VM: the tiny counting guest (tests/75, 83) booted once, and every
# count is one more than the one before with a growing uptime: it never restarted.
counted_once() {
  local log
  log=$(cat "$C/vms/$1/status/console")
  [ "$(grep -ac '^TINYGUEST COUNTER START' "$log")" = 1 ] || { grep -a TINYGUEST "$log" | head -20 >&2; return 1; }
  grep -a '^TINYGUEST COUNT ' "$log" | awk '
    { if (NR > 1 && ($3 + 0 != n + 1 || $5 + 0 < up)) { print "count " $3 " after " n " (uptime " $5 ")"; bad = 1 }
      n = $3 + 0; up = $5 + 0 }
    END { exit bad }' >&2
}
