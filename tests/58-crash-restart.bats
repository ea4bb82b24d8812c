#!/usr/bin/env bats
# kill -9 of the reconciler in the middle of 50 concurrent starts and stops:
# after a restart every VM converges, with exactly one domain per VM.

load compute_helpers

N=50

setup_file() {
  STOP_TIMEOUT=2 compute_start
  make_tiny_offering tiny 64M
  echo 100 > "$C/cpu-overcommit"      # 50 vCPUs on a 2-core test machine
  for i in $(seq 1 $N); do
    mkdir "$C/vms/c$i"
    echo tiny > "$C/vms/c$i/offering"
  done
}

teardown_file() {
  local f
  for f in "$T"/standby*.pid; do      # a standby left by a failed test
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  compute_stop
}

# One virsh call per poll: how many of our domains are in a state.
all_state() {
  local flag=--state-running
  [ "$1" = running ] || flag=--state-shutoff
  sqlite3 "$DB" "SELECT 'cfs-' || uuid FROM resources WHERE kind='vm'" > "$T/doms"
  [ "$($VIRSH list --all --name $flag | grep -cxFf "$T/doms")" = "$N" ]
}

our_domains() {
  # Domains on the host named after one of this store's VMs.
  local all
  all=$($VIRSH list --all --name)
  for u in $(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm'"); do
    grep -c "^cfs-$u\$" <<<"$all" || true
  done | awk '{s += $1} END {print s + 0}'
}

@test "kill -9 during 50 starts: everything runs after the restart" {
  for i in $(seq 1 $N); do echo running > "$C/vms/c$i/state" & done
  wait
  sleep 1.5
  rc_crash
  rc_start
  wait_until 180 all_state running
  [ "$(our_domains)" = $N ]
  for i in $(seq 1 $N); do
    wait_until 20 file_is "$C/vms/c$i/status/state" running
  done
}

@test "kill -9 during 50 stops: everything stops after the restart" {
  for i in $(seq 1 $N); do echo stopped > "$C/vms/c$i/state" & done
  wait
  sleep 1
  rc_crash
  rc_start
  wait_until 180 all_state "shut off"
  [ "$(our_domains)" = $N ]
  for i in $(seq 1 $N); do
    wait_until 20 file_is "$C/vms/c$i/status/state" stopped
  done
}

@test "no orphans: the host reports none of ours" {
  wait_until 20 file_is "$C/hosts/local/status/connection" connected
  for u in $(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm'"); do
    ! grep -q "$u" "$C/hosts/local/status/orphans" || false
  done
}

@test "a domain defined behind cloudfs's back is reported as an orphan, never destroyed" {
  cat > "$T/foreign.xml" <<XML
<domain type='$(host_domain_type)'><name>cfs-test-foreign-$$</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
  $VIRSH define "$T/foreign.xml" >/dev/null
  wait_until 30 grep -q "^cfs-test-foreign-$$\$" "$C/hosts/local/status/orphans"
  $VIRSH dominfo "cfs-test-foreign-$$" >/dev/null
  $VIRSH undefine "cfs-test-foreign-$$" >/dev/null
}

@test "deleting all 50 removes all their domains" {
  uuids=$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm'")
  for i in $(seq 1 $N); do rmdir "$C/vms/c$i"; done
  wait_until 120 bash -c "[ \$(sqlite3 '$DB' \"select count(*) from resources where kind='vm'\") = 0 ]"
  all=$($VIRSH list --all --name)
  for u in $uuids; do
    ! grep -q "^cfs-$u\$" <<<"$all" || false
  done
}

@test "SIGHUP starts a full resync at once and does not stop the reconciler" {
  before=$(grep -c 'resync of' "$T/reconcile.log")
  kill -HUP "$(cat "$T/reconcile.pid")"
  wait_until 60 bash -c "[ \$(grep -c 'resync of' '$T/reconcile.log') -gt $before ]"
  kill -0 "$(cat "$T/reconcile.pid")"
  grep 'resync of' "$T/reconcile.log" | tail -n1 | grep -Eq 'resync of [0-9]+ resources took [0-9]+ ms'
}

@test "a second reconciler on the same store stands by, and takes over when the first is killed" {
  local first second
  first=$(cat "$T/reconcile.pid")
  "$CLOUDFS_BIN" -c "$CONF" reconcile -f >"$T/standby.log" 2>&1 &
  second=$!
  echo "$second" > "$T/standby.pid"
  wait_until 20 grep -q "standby: the reconciler with PID $first holds" "$T/standby.log"
  [ "$(cat "$DB.reconciler")" = "$first" ]
  # Only the first acts: the standby has not even opened the store's changes.
  mkdir "$C/vms/sb1"
  echo tiny > "$C/vms/sb1/offering"
  echo running > "$C/vms/sb1/state"
  wait_until 60 file_is "$C/vms/sb1/status/state" running
  ! grep -q 'resync of' "$T/standby.log" || false
  # The first dies: the standby takes over, and acts.
  rc_crash
  wait_until 20 grep -q "active: took over" "$T/standby.log"
  [ "$(cat "$DB.reconciler")" = "$second" ]
  mv "$T/standby.pid" "$T/reconcile.pid"
  cat "$T/standby.log" >> "$T/reconcile.log"
  echo stopped > "$C/vms/sb1/state"
  wait_until 60 file_is "$C/vms/sb1/status/state" stopped
  $VIRSH domstate "cfs-$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE kind='vm' AND name='sb1'")" | grep -q 'shut off'
  rmdir "$C/vms/sb1"
}

@test "a standby reconciler stops on SIGTERM without taking over" {
  "$CLOUDFS_BIN" -c "$CONF" reconcile -f >"$T/standby2.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$T/standby2.pid"
  wait_until 20 grep -q "standby:" "$T/standby2.log"
  kill "$pid"
  reap_pid "$pid"
  rm -f "$T/standby2.pid"
  ! grep -q "active:" "$T/standby2.log" || false
  kill -0 "$(cat "$T/reconcile.pid")"
}
