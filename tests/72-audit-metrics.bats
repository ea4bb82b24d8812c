#!/usr/bin/env bats
# /audit and /metrics on real libvirt (qemu:///system).  Observers: sqlite3
# for the audit table, promtool (Debian's prometheus) as the independent
# parser of the exposition, virsh for the numbers.

load compute_helpers

setup_file() {
  CFS_EXTRA_CONF="metrics-interval = 1;" compute_start
  make_tiny_offering tiny 64M
  mkdir "$C/vms/m1"
  echo tiny > "$C/vms/m1/offering"
}

teardown_file() { compute_stop; }

@test "/audit records accepted and refused writes with who made them" {
  echo "audited value" > "$C/vms/m1/description"
  run bash -c "echo bogus > '$C/vms/m1/state'"
  [ "$status" -ne 0 ]
  run mkdir "$C/vms/-bad"
  [ "$status" -ne 0 ]
  run cat "$MNT/audit"
  [ "$status" -eq 0 ]
  p="/zones/default/clusters/default/vms/m1"
  echo "$output" | grep -E "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z uid=0 pid=[0-9]+ comm=\"bash\" op=write path=\"$p/description\" value=\"audited value\" result=ok$"
  echo "$output" | grep -E "comm=\"bash\" op=write path=\"$p/state\" value=\"bogus\" result=EINVAL$"
  echo "$output" | grep -E "comm=\"mkdir\" op=mkdir path=\"/zones/default/clusters/default/vms/-bad\" result=EINVAL$"
  # The independent observer agrees.
  [ "$(sqlite3 "$DB" "SELECT result FROM audit WHERE path = '$p/state' AND value = 'bogus'")" = EINVAL ]
  [ "$(sqlite3 "$DB" "SELECT result FROM audit WHERE path = '$p/description' AND value = 'audited value'")" = ok ]
}

@test "/audit masks secrets" {
  echo 'pw-Xy9-secret' > "$C/vms/m1/password"
  ! grep -q 'pw-Xy9-secret' "$MNT/audit" || false
  [ "$(sqlite3 "$DB" "SELECT value FROM audit WHERE path LIKE '%/vms/m1/password' ORDER BY id DESC LIMIT 1")" = '***' ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE value LIKE '%pw-Xy9%'")" = 0 ]
}

@test "/audit is append-only: no write, truncation or removal, even by root" {
  [ "$(stat -c %a "$MNT/audit")" = 444 ]
  cat "$MNT/audit" > "$T/audit.before"
  run bash -c "echo forged >> '$MNT/audit'"
  [ "$status" -ne 0 ]
  run truncate -s 0 "$MNT/audit"
  [ "$status" -ne 0 ]
  run rm -f "$MNT/audit"
  [ "$status" -ne 0 ]
  cat "$MNT/audit" > "$T/audit.after"
  # What was there is still there, unchanged; the attempts were added.
  n=$(wc -c < "$T/audit.before")
  cmp -n "$n" "$T/audit.before" "$T/audit.after"
  grep -q 'path="/audit" result=EACCES' "$T/audit.after"
  ! grep -q forged "$T/audit.after" || false
  # The store refuses it too.
  ! sqlite3 "$DB" "DELETE FROM audit" 2>/dev/null || false
  ! sqlite3 "$DB" "UPDATE audit SET result = 'ok'" 2>/dev/null || false
}

host_memory_agrees() {
  local b
  b=$(numfmt --from=iec "$(cat "$C/hosts/local/status/memory")")
  grep -qx "cloudfs_host_memory_bytes{zone=\"default\",cluster=\"default\",host=\"local\"} $b" "$MNT/metrics"
}

metrics_has_vm() { grep -q '^cloudfs_vm_cpu_seconds_total{zone="default",cluster="default",vm="m1",host="local"} ' "$MNT/metrics"; }

@test "/metrics passes promtool and agrees with virsh" {
  echo running > "$C/vms/m1/state"
  [ "$(timeout 60 cat "$C/vms/m1/wait")" = running ]
  wait_until 30 metrics_has_vm
  cat "$MNT/metrics" > "$T/metrics"
  run promtool check metrics < "$T/metrics"
  echo "$output"
  [ "$status" -eq 0 ]
  grep -qx 'cloudfs_vms{zone="default",cluster="default",state="running"} 1' "$T/metrics"
  grep -qx 'cloudfs_reconciler_up 1' "$T/metrics"
  grep -Eq '^cloudfs_reconciler_queue_depth [0-9]+$' "$T/metrics"
  grep -Eq '^cloudfs_reconciler_pass_seconds_count [1-9][0-9]*$' "$T/metrics"
  # Host capacity as libvirt reports it.
  cpus=$($VIRSH nodeinfo | awk -F: '/^CPU\(s\)/ {gsub(/ /, "", $2); print $2}')
  grep -qx "cloudfs_host_cpus{zone=\"default\",cluster=\"default\",host=\"local\"} $cpus" "$T/metrics"
  # Memory as status/memory says (the host's own size moves with its balloon).
  wait_until 10 host_memory_agrees
  grep -qx 'cloudfs_host_allocated_memory_bytes{zone="default",cluster="default",host="local"} 67108864' "$T/metrics"
  # The VM's memory is its balloon size per virsh; CPU time is counting.
  actual=$($VIRSH dommemstat "$(vm_domain m1)" | awk '$1 == "actual" {print $2}')
  grep -qx "cloudfs_vm_memory_bytes{zone=\"default\",cluster=\"default\",vm=\"m1\",host=\"local\"} $((actual * 1024))" "$T/metrics"
  awk '$1 ~ /^cloudfs_vm_cpu_seconds_total\{.*vm="m1"/ {exit !($2 > 0)}' "$T/metrics"
}

@test "/metrics with the reconciler down says so and drops its stale counters" {
  rc_stop
  wait_until 20 grep -qx 'cloudfs_reconciler_up 0' "$MNT/metrics"
  cat "$MNT/metrics" > "$T/metrics"
  ! grep -q '^cloudfs_vm_cpu_seconds_total' "$T/metrics" || false
  promtool check metrics < "$T/metrics"
  rc_start
  wait_until 30 metrics_has_vm
}
