#!/usr/bin/env bash
# Start a throwaway single-node Ceph cluster for tests (librados / librbd / QEMU rbd disks).
#
# One ceph-mon ("a", on 127.0.0.1:$CEPH_PORT, msgr v1 only), one ceph-mgr ("x", for
# pool statistics) and one ceph-osd (osd.0,
# objectstore memstore: RAM-backed, nothing survives a restart), no ceph-mgr, no cephx
# (auth none), pool default size 1. Everything lives under one directory:
#   $CLOUDFS_TEST_STATE/ceph   (default /run/cloudfs-test/ceph)
#     ceph.conf  mon/  osd/  run/ (pid files, admin sockets)  log/  crash/  *.started
# The conf path is stable: $CLOUDFS_TEST_STATE/ceph/ceph.conf. Use it explicitly:
#   ceph -c CONF -s;  rbd -c CONF ls rbd;  rados -c CONF df
# After start it waits (bounded) until the monitor answers and the OSD is up and in, then
# creates the pool "rbd" (8 PGs, `rbd pool init`) if absent.
#
# QEMU (started by libvirtd) reads /etc/ceph/ceph.conf: if that file does not exist, a
# minimal copy (mon host 127.0.0.1:PORT, auth none) is written and recorded so that
# scripts/ceph-down.sh removes it again. An existing file that is not ours is left alone
# (with a warning).
#
# Daemons are recorded as "PID STARTTIME" in $STATE/ceph/{mon,osd}.started; ceph-down.sh
# stops exactly those. Idempotent: when our cluster already runs, prints nothing. A partly
# running or stale cluster is torn down (by ceph-down.sh) and started afresh.
#
# Prints one line when it started the cluster:
#   ceph-up: started mon[PID] osd[PID] conf=PATH
# With --print-conf it prints only the conf path (after making sure the cluster is up).
# Exits non-zero with a message on stderr on failure.
#
# Environment: CLOUDFS_TEST_STATE (state dir), CEPH_PORT (default 6789),
# CEPH_MEMSTORE_BYTES (default 2147483648), CEPH_UP_TIMEOUT (seconds, default 60).
set -euo pipefail

STATE_DIR="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"
CEPH_DIR="$STATE_DIR/ceph"
CONF="$CEPH_DIR/ceph.conf"
PORT="${CEPH_PORT:-6789}"
MEMSTORE_BYTES="${CEPH_MEMSTORE_BYTES:-2147483648}"
TIMEOUT="${CEPH_UP_TIMEOUT:-60}"
ETC_CONF=/etc/ceph/ceph.conf
MARKER="# written by cloudfs scripts/ceph-up.sh"
POOL=rbd
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "ceph-up: $*" >&2; exit 1; }

DAEMON_LOG_PREFIX=ceph-up
# shellcheck source=scripts/daemon-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
record() { record_in "$CEPH_DIR" "$@"; }
recorded_alive() { recorded_pid "$CEPH_DIR" "$@"; }

print_conf=0
case "${1:-}" in
  "") ;;
  --print-conf) print_conf=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: ceph-up.sh [--print-conf])" ;;
esac
[ "$#" -le 1 ] || die "too many arguments (usage: ceph-up.sh [--print-conf])"

[ "$(id -u)" = 0 ] || die "must run as root"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "CEPH_UP_TIMEOUT must be a number of seconds"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  die "CEPH_PORT must be a TCP port number"
fi
if ! [[ "$MEMSTORE_BYTES" =~ ^[0-9]+$ ]] || [ "$MEMSTORE_BYTES" -lt 268435456 ]; then
  die "CEPH_MEMSTORE_BYTES must be a number of bytes >= 256 MiB"
fi
for b in ceph ceph-mon ceph-osd ceph-mgr monmaptool rbd rados uuidgen flock; do
  command -v "$b" >/dev/null 2>&1 ||
    die "$b not found (run scripts/install-deps.sh --with-ceph: ceph-mon ceph-osd ceph-common)"
done

# --- helpers -----------------------------------------------------------------------







# left: seconds left before the deadline (at least 1).
left() {
  local l=$((deadline - SECONDS))
  [ "$l" -ge 1 ] || l=1
  printf '%s\n' "$l"
}

# c ARGS...: run the ceph CLI against our cluster, bounded by the time left. Retried:
# in the first seconds after the monitor forms its quorum a client now and then gets
# EPERM "wrong fsid" (its command went out with a zero fsid); every command used here is
# idempotent.
c() {
  local l try
  for try in 1 2 3 4 5; do
    l=$(left)
    timeout "$l" ceph -c "$CONF" --connect-timeout "$l" "$@" && return 0
    [ "$SECONDS" -lt "$deadline" ] && [ "$try" -lt 5 ] || return 1
    sleep 0.5
  done
}

# port_listening PORT: true if some socket listens on TCP PORT (any address, v4 or v6).
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
                    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# --- 0. one ceph-up/ceph-down at a time ---------------------------------------------
mkdir -p "$STATE_DIR"
chmod 0755 "$STATE_DIR"
exec 9>"$STATE_DIR/ceph.lock"
flock -w "$((TIMEOUT + 30))" 9 || die "another ceph-up/ceph-down holds $STATE_DIR/ceph.lock"

# --- 1. already running? -----------------------------------------------------------
if mon_pid=$(recorded_alive mon ceph-mon) && osd_pid=$(recorded_alive osd ceph-osd) &&
  recorded_alive mgr ceph-mgr >/dev/null && [ -f "$CONF" ]; then
  if [ -f "$CEPH_DIR/port" ] && [ "$(cat "$CEPH_DIR/port")" != "$PORT" ]; then
    echo "ceph-up: warning: cluster already running on port $(cat "$CEPH_DIR/port")," \
      "not $PORT (run scripts/ceph-down.sh first to change it)" >&2
  fi
  [ "$print_conf" = 0 ] || printf '%s\n' "$CONF"
  exit 0
fi

# Partly running or stale: clean up whatever we recorded (never anything else).
if [ -e "$CEPH_DIR" ]; then
  _CLOUDFS_CEPH_LOCKED=1 "$SCRIPT_DIR/ceph-down.sh" || die "cleanup of a stale $CEPH_DIR failed"
fi

if port_listening "$PORT"; then
  who=$(ss -Hltnp "sport = :$PORT" 2>/dev/null | head -n2 || true)
  die "TCP port $PORT is already in use by something else${who:+: $who} (set CEPH_PORT)"
fi

deadline=$((SECONDS + TIMEOUT))

# --- 2. configuration --------------------------------------------------------------
mkdir -p "$CEPH_DIR"/{mon,osd/ceph-0,mgr/ceph-x,run,log,crash}
chmod 0755 "$CEPH_DIR"
printf '%s\n' "$PORT" >"$CEPH_DIR/port"
FSID=$(uuidgen)
HOSTNAME_SHORT=$(hostname -s 2>/dev/null || echo localhost)

cat >"$CONF" <<EOF
$MARKER (throwaway test cluster; removed by scripts/ceph-down.sh)
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$PORT
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr2 = false
ms bind ipv6 = false

auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
keyring = $CEPH_DIR/keyring

run dir = $CEPH_DIR/run
admin socket = \$run_dir/\$cluster-\$name.asok
pid file = \$run_dir/\$cluster-\$name.pid
log file = $CEPH_DIR/log/\$cluster-\$name.log
mon cluster log file = $CEPH_DIR/log/\$cluster.log
crash dir = $CEPH_DIR/crash
log to stderr = false
err to stderr = false

osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 0
# Commit monitor changes sooner (default 1 s): start-up takes ~1.7 s instead of ~8.5 s.
paxos propose interval = 0.05

[mon]
mon data = $CEPH_DIR/mon/\$cluster-\$id

[osd]
osd data = $CEPH_DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd crush update on start = false
# No "osd crush set-device-class" at start: when that command hits the fsid race above,
# osd init fails and the daemon exits.
osd class update on start = false
osd max object name len = 256
osd max object namespace len = 64

[client]
admin socket =
log file =
EOF

# Clients (rbd, rados, ceph) have no key; an empty keyring file silences the lookup.
: >"$CEPH_DIR/keyring"

# --- 3. monitor --------------------------------------------------------------------
monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$PORT]" "$CEPH_DIR/monmap" \
  >"$CEPH_DIR/log/monmaptool.log" 2>&1 || die "monmaptool failed (see $CEPH_DIR/log/monmaptool.log)"
ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
  >"$CEPH_DIR/log/mon-mkfs.log" 2>&1 </dev/null ||
  die "ceph-mon --mkfs failed (see $CEPH_DIR/log/mon-mkfs.log)"
detached ceph-mon -c "$CONF" -i a || die "ceph-mon failed to start (see $CEPH_DIR/log/ceph-mon.a.log)"
mon_pid=$(await_pid ceph-mon "$CEPH_DIR/run/ceph-mon.a.pid") ||
  die "ceph-mon did not come up (see $CEPH_DIR/log/ceph-mon.a.log)"
record mon "$mon_pid"

until c health >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] ||
    die "ceph-mon does not answer after ${TIMEOUT}s (see $CEPH_DIR/log/ceph-mon.a.log)"
  recorded_alive mon ceph-mon >/dev/null || die "ceph-mon died (see $CEPH_DIR/log/ceph-mon.a.log)"
  sleep 0.2
done

# --- 4. OSD ------------------------------------------------------------------------
OSD_UUID=$(uuidgen)
osd_id=$(c osd new "$OSD_UUID" 2>"$CEPH_DIR/log/osd-new.log") ||
  die "ceph osd new failed: $(head -c 300 "$CEPH_DIR/log/osd-new.log")"
[ "$osd_id" = 0 ] || die "ceph osd new returned id '$osd_id', expected 0"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" \
  >"$CEPH_DIR/log/osd-mkfs.log" 2>&1 </dev/null ||
  die "ceph-osd --mkfs failed (see $CEPH_DIR/log/osd-mkfs.log)"
{
  c osd crush add-bucket "$HOSTNAME_SHORT" host &&
    c osd crush move "$HOSTNAME_SHORT" root=default &&
    c osd crush add osd.0 1.0 host="$HOSTNAME_SHORT"
} >"$CEPH_DIR/log/crush.log" 2>&1 || die "crush setup failed (see $CEPH_DIR/log/crush.log)"
detached ceph-osd -c "$CONF" -i 0 || die "ceph-osd failed to start (see $CEPH_DIR/log/ceph-osd.0.log)"
osd_pid=$(await_pid ceph-osd "$CEPH_DIR/run/ceph-osd.0.pid") ||
  die "ceph-osd did not come up (see $CEPH_DIR/log/ceph-osd.0.log)"
record osd "$osd_pid"

# --- 5. wait for the OSD to be up and in -------------------------------------------
until stat=$(c osd stat -f json 2>/dev/null) &&
  [[ "$stat" =~ \"num_up_osds\":1[,}] ]] && [[ "$stat" =~ \"num_in_osds\":1[,}] ]]; do
  [ "$SECONDS" -lt "$deadline" ] ||
    die "osd.0 not up/in after ${TIMEOUT}s (see $CEPH_DIR/log/ceph-osd.0.log)"
  recorded_alive osd ceph-osd >/dev/null || die "ceph-osd died (see $CEPH_DIR/log/ceph-osd.0.log)"
  sleep 0.2
done

# --- 5b. manager -------------------------------------------------------------------
# Pool and cluster statistics (ceph df, the capacity librados reports) come
# from ceph-mgr; RBD itself would work without it.
detached ceph-mgr -c "$CONF" -i x --mgr-data "$CEPH_DIR/mgr/ceph-x" ||
  die "ceph-mgr failed to start (see $CEPH_DIR/log/ceph-mgr.x.log)"
mgr_pid=$(await_pid ceph-mgr "$CEPH_DIR/run/ceph-mgr.x.pid") ||
  die "ceph-mgr did not come up (see $CEPH_DIR/log/ceph-mgr.x.log)"
record mgr "$mgr_pid"
until timeout "$(left)" ceph -c "$CONF" mgr stat 2>/dev/null | grep -q '"available": true'; do
  [ "$SECONDS" -lt "$deadline" ] || die "ceph-mgr not available after ${TIMEOUT}s"
  sleep 0.2
done

# --- 6. pool "rbd" -----------------------------------------------------------------
if ! c osd pool ls 2>/dev/null | grep -qx "$POOL"; then
  c osd pool create "$POOL" 8 8 >"$CEPH_DIR/log/pool.log" 2>&1 ||
    die "ceph osd pool create $POOL failed (see $CEPH_DIR/log/pool.log)"
  until timeout "$(left)" rbd -c "$CONF" pool init "$POOL" >>"$CEPH_DIR/log/pool.log" 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] ||
      die "rbd pool init $POOL failed or timed out (see $CEPH_DIR/log/pool.log)"
    sleep 0.5
  done
fi

# --- 7. /etc/ceph/ceph.conf for QEMU -----------------------------------------------
# libvirt passes mon_host to QEMU, but librbd still reads the default conf; give it one.
if [ ! -e "$ETC_CONF" ] || head -n1 "$ETC_CONF" 2>/dev/null | grep -qF "$MARKER"; then
  mkdir -p "$(dirname "$ETC_CONF")"
  cat >"$ETC_CONF.cloudfs.tmp" <<EOF
$MARKER (state: $CEPH_DIR; removed by scripts/ceph-down.sh)
[global]
mon host = v1:127.0.0.1:$PORT
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
EOF
  chmod 0644 "$ETC_CONF.cloudfs.tmp"
  mv -f "$ETC_CONF.cloudfs.tmp" "$ETC_CONF"
  cksum <"$ETC_CONF" >"$CEPH_DIR/etc-ceph-conf.created"
else
  echo "ceph-up: warning: $ETC_CONF exists and is not ours; left alone (QEMU rbd disks" \
    "may need it to point at 127.0.0.1:$PORT with auth none)" >&2
fi

if [ "$print_conf" = 1 ]; then
  printf '%s\n' "$CONF"
else
  echo "ceph-up: started mon[$mon_pid] osd[$osd_pid] mgr[$mgr_pid] conf=$CONF"
fi
