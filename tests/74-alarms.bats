#!/usr/bin/env bats
# Alarms and notifications on real libvirt (qemu:///system, TCG guests):
# an alarm on a VM's CPU-time rate fires while the guest runs and goes back
# to ok when it stops, posting one JSON document to a webhook receiver on
# 127.0.0.1; an unreachable or hanging receiver is retried and reported
# without holding up the reconciler.  Observers: the receiver's own record
# of what it got, sqlite3 for status and the changes log, virsh.

load compute_helpers

# A webhook receiver on 127.0.0.1 (python3's http.server): appends each
# request's path and body to $1.posts and $1.paths; its port goes to
# $1.port, its PID to $1.pid.  Mode "hang" listens and never answers.
receiver_start() {
  local base="$1" mode="${2:-ok}"
  cat > "$T/receiver.py" <<'PY'
import http.server, socket, sys, time
base, mode = sys.argv[1], sys.argv[2]
if mode == "hang":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    open(base + ".port", "w").write(str(s.getsockname()[1]))
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)          # read nothing, answer nothing
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(base + ".posts", "ab") as f:
            f.write(body.rstrip(b"\n") + b"\n")
        with open(base + ".paths", "a") as f:
            f.write(self.path + " " + self.headers.get("Authorization", "-") + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(base + ".port", "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
  python3 "$T/receiver.py" "$base" "$mode" >"$base.log" 2>&1 &
  echo $! > "$base.pid"
  wait_until 10 test -s "$base.port"
}

receiver_stop() {
  local pid
  pid="$(cat "$1.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  reap_pid "$pid"
  rm -f "$1.pid"
}

# A loopback port nobody listens on.
closed_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# At least n failed attempts to post to notification $1 were reported.
attempts_are() {
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE path = 'notifications/$1' AND attr = 'last-error' AND new LIKE '%(attempt %'")" -ge "$2" ]
}
posts() { [ -f "$T/hook.posts" ] && wc -l < "$T/hook.posts" || echo 0; }
state_is() { file_is "$MNT/alarms/$1/status/state" "$2"; }
# The alarm was evaluated at least n more times since a mark (the store's
# mtime of its status/value, refreshed at each evaluation).
value_mtime() { sqlite3 "$DB" "SELECT s.mtime FROM status s JOIN resources r ON r.id = s.res WHERE r.kind = 'alarm' AND r.name = '$1' AND s.name = 'value'"; }
evaluated_since() { [ "$(value_mtime "$1")" -gt "$2" ]; }

setup_file() {
  CFS_EXTRA_CONF="metrics-interval = 1;" compute_start
  # A domain with no OS burns CPU (what the rate alarm watches) under TCG
  # only: under KVM its firmware just waits.
  echo qemu > "$C/hosts/local/domain-type"
  make_tiny_offering tiny 64M
  mkdir "$C/vms/m1" "$C/vms/m2"
  echo tiny > "$C/vms/m1/offering"
  echo tiny > "$C/vms/m2/offering"
  receiver_start "$T/hook"
}

teardown_file() {
  [ -n "${T:-}" ] || return 0
  receiver_stop "$T/hook"
  receiver_stop "$T/hang"
  compute_stop
}

@test "alarms and notifications refuse bad and hostile values and change nothing" {
  mkdir "$MNT/alarms/bad" "$MNT/notifications/nbad"
  before=$(sqlite3 "$DB" "SELECT group_concat(name || '=' || value, ';') FROM attrs WHERE res IN (SELECT id FROM resources WHERE name IN ('bad', 'nbad'))")
  write_fails "Invalid argument" "$MNT/alarms/bad/op" "=>"
  grep -q "op: '=>' is not one of" "$MNT/alarms/bad/status/error"
  write_fails "Invalid argument" "$MNT/alarms/bad/op" "=="
  # A refusal's reason is an event of level error.
  grep -q '"attribute":"status/error",.*"level":"error"}$' "$MNT/alarms/bad/status/events"
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" 'cloudfs_vms{state=running}'
  grep -q "metric: label state: a quoted value is expected" "$MNT/alarms/bad/status/error"
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" 'cloudfs_vms{state="a"} or vector(1)'
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" 'cloudfs_vms{state="a\q"}'
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" 'cloudfs_vms{state=~"("}'
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" '1cloudfs_vms'
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" 'rate(cloudfs_vms[5m])'
  write_fails "Invalid argument" "$MNT/alarms/bad/metric" $'cloudfs_vms{state="\x1b[31m"}'
  for t in nan inf -inf 1e9 0x10 1. .5 "1 0" "" ; do
    write_fails "Invalid argument" "$MNT/alarms/bad/threshold" "$t"
  done
  write_fails "Invalid argument" "$MNT/alarms/bad/for" "-1"
  write_fails "Invalid argument" "$MNT/alarms/bad/severity" "info"
  write_fails "Invalid argument" "$MNT/alarms/bad/rate" "maybe"
  run ln -s ../../../notifications/nope "$MNT/alarms/bad/notify/nope"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such file or directory"* ]]
  write_fails "Invalid argument" "$MNT/notifications/nbad/type" "exec"
  write_fails "Invalid argument" "$MNT/notifications/nbad/repeat-interval" "0"
  for u in "ftp://127.0.0.1/x" "file:///etc/passwd" "http://" "http://a b/" 'http://x/"' \
           "http://x/<script>" "https://[::1]:99999/" "http://h:0/" "gopher://127.0.0.1:70/"; do
    write_fails "Invalid argument" "$MNT/notifications/nbad/url" "$u"
  done
  # A refused URL is not repeated in the reason: it may hold a credential.
  write_fails "Invalid argument" "$MNT/notifications/nbad/url" "http://user:Sekr1t@bad host/x?token=T0ken"
  ! grep -q "Sekr1t\|T0ken" "$MNT/notifications/nbad/status/error" || false
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE new LIKE '%Sekr1t%' OR new LIKE '%T0ken%'")" = 0 ]
  # Nothing changed (the independent observer).
  after=$(sqlite3 "$DB" "SELECT group_concat(name || '=' || value, ';') FROM attrs WHERE res IN (SELECT id FROM resources WHERE name IN ('bad', 'nbad'))")
  [ "$before" = "$after" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM links WHERE res = (SELECT id FROM resources WHERE kind = 'alarm' AND name = 'bad')")" = 0 ]
  # Accepted values read back in canonical form.
  echo ' cloudfs_vm_cpu_seconds_total { vm = "m1" , host =~ "lo.*" , } ' > "$MNT/alarms/bad/metric"
  file_is "$MNT/alarms/bad/metric" 'cloudfs_vm_cpu_seconds_total{vm="m1",host=~"lo.*"}'
  echo -0.25 > "$MNT/alarms/bad/threshold"
  file_is "$MNT/alarms/bad/threshold" -0.25
  rmdir "$MNT/alarms/bad" "$MNT/notifications/nbad"
}

@test "an alarm on a VM's CPU-time rate fires while it runs, notifies once, and returns to ok when it stops" {
  port=$(cat "$T/hook.port")
  mkdir "$MNT/notifications/hook"
  echo "http://ops:S3cr3t-pw@127.0.0.1:$port/hook?token=T0k3n-q" > "$MNT/notifications/hook/url"
  file_is "$MNT/notifications/hook/repeat-interval" 1800
  mkdir "$MNT/alarms/cpu"
  echo 'cloudfs_vm_cpu_seconds_total{vm="m1"}' > "$MNT/alarms/cpu/metric"
  echo on > "$MNT/alarms/cpu/rate"
  echo '>' > "$MNT/alarms/cpu/op"
  echo 0.002 > "$MNT/alarms/cpu/threshold"
  echo 3 > "$MNT/alarms/cpu/for"
  echo critical > "$MNT/alarms/cpu/severity"
  ln -s ../../../notifications/hook "$MNT/alarms/cpu/notify/hook"
  [ "$(readlink "$MNT/alarms/cpu/notify/hook")" = ../../../notifications/hook ]
  # A stopped VM has no series: the alarm is ok.
  [ "$(timeout 30 cat "$MNT/alarms/cpu/wait")" = ok ]
  state_is cpu ok

  echo running > "$C/vms/m1/state"
  [ "$(timeout 120 cat "$C/vms/m1/wait")" = running ]
  domstate_is "$(vm_domain m1)" running
  # for (3 s) + a metrics interval or two (a rate needs two samples) + the
  # evaluation: generous, the machine is shared.
  wait_until 60 state_is cpu firing
  cat "$MNT/alarms/cpu/status/value" >&2
  awk '{ exit !($1 > 0.002) }' "$MNT/alarms/cpu/status/value"
  grep -qF 'vm="m1"' "$MNT/alarms/cpu/status/resources"
  # It went through pending first, and each change is one event.
  run sqlite3 "$DB" "SELECT new FROM changes WHERE kind = 'alarm' AND path = 'alarms/cpu' AND attr = 'state' ORDER BY seq"
  [ "$(echo "$output" | tr '\n' ' ')" = "ok pending firing " ]
  [ "$(sqlite3 "$DB" "SELECT s.value FROM status s JOIN resources r ON r.id = s.res WHERE r.kind = 'alarm' AND r.name = 'cpu' AND s.name = 'state'")" = firing ]
  grep -q '"attribute":"status/state","old":"pending","new":"firing","actor":"reconciler","level":"warning"}$' "$MNT/alarms/cpu/status/events"
  grep -q '"attribute":"status/state","old":"ok","new":"pending","actor":"reconciler","level":"normal"}$' "$MNT/alarms/cpu/status/events"

  # Exactly one document reached the receiver, with the credentials of the URL.
  wait_until 30 test "$(posts)" -ge 1
  [ "$(posts)" -eq 1 ]
  python3 - "$T/hook.posts" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
assert d["alarm"] == "cpu" and d["state"] == "firing" and d["severity"] == "critical", d
assert d["metric"] == 'cloudfs_vm_cpu_seconds_total{vm="m1"}' and d["op"] == ">", d
assert d["threshold"] == "0.002" and float(d["value"]) > 0.002, d
assert len(d["resources"]) == 1 and 'vm="m1"' in d["resources"][0], d
assert d["time"].endswith("Z") and d["since"].endswith("Z"), d
PY
  # Basic auth from the URL's user information, the query passed as written.
  grep -qx "/hook?token=T0k3n-q Basic $(printf 'ops:S3cr3t-pw' | base64)" "$T/hook.paths"
  wait_until 10 file_is "$MNT/notifications/hook/status/sent" 1
  [ -n "$(cat "$MNT/notifications/hook/status/last-sent")" ]
  [ -z "$(cat "$MNT/notifications/hook/status/last-error")" ]

  # Still firing a few evaluations later: no repeat within repeat-interval.
  mark=$(value_mtime cpu)
  wait_until 30 evaluated_since cpu "$mark"
  mark=$(value_mtime cpu)
  wait_until 30 evaluated_since cpu "$mark"
  state_is cpu firing ||
    { sqlite3 "$DB" "SELECT time, attr, new FROM changes WHERE path = 'alarms/cpu' AND op = 'status'" >&2; false; }
  [ "$(posts)" -eq 1 ]
  # Nor after a restart of the reconciler (what was sent is in the store).
  since=$(cat "$MNT/alarms/cpu/status/since")
  rc_stop
  rc_start
  mark=$(value_mtime cpu)
  wait_until 60 evaluated_since cpu "$mark"
  mark=$(value_mtime cpu)
  wait_until 30 evaluated_since cpu "$mark"
  state_is cpu firing
  file_is "$MNT/alarms/cpu/status/since" "$since"
  [ "$(posts)" -eq 1 ]

  echo stopped > "$C/vms/m1/state"
  [ "$(timeout 120 cat "$C/vms/m1/wait")" = stopped ]
  wait_until 60 state_is cpu ok
  [ -z "$(cat "$MNT/alarms/cpu/status/resources")" ]
  [ "$(posts)" -eq 1 ]
  [ "$(sqlite3 "$DB" "SELECT s.value FROM status s JOIN resources r ON r.id = s.res WHERE r.kind = 'notification' AND r.name = 'hook' AND s.name = 'sent'")" = 1 ]

  # The URL's credentials appear in no status, event or log.
  ! grep -rq "S3cr3t\|T0k3n" "$MNT/notifications/hook/status" "$MNT/alarms/cpu/status" || false
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE coalesce(old, '') || coalesce(new, '') LIKE '%S3cr3t%' OR coalesce(old, '') || coalesce(new, '') LIKE '%T0k3n%'")" = 0 ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM status WHERE value LIKE '%S3cr3t%' OR value LIKE '%T0k3n%'")" = 0 ]
  ! grep -q "S3cr3t\|T0k3n" "$T/reconcile.log" "$T/mount.log" || false
  grep -q '"new":"http://127.0.0.1:'"$port"'/hook"' "$MNT/notifications/hook/status/events"
  rm "$MNT/alarms/cpu/notify/hook"
  rmdir "$MNT/alarms/cpu" "$MNT/notifications/hook"
}

@test "an unreachable or hanging webhook is retried and reported, and never holds up the reconciler" {
  receiver_start "$T/hang" hang
  dead=$(closed_port)
  mkdir "$MNT/notifications/dead" "$MNT/notifications/hang"
  echo "http://127.0.0.1:$dead/x?token=Zz9-secret" > "$MNT/notifications/dead/url"
  echo "http://127.0.0.1:$(cat "$T/hang.port")/y" > "$MNT/notifications/hang/url"
  # Always true: the change log is never empty.
  mkdir "$MNT/alarms/always"
  echo cloudfs_changes_last_seq > "$MNT/alarms/always/metric"
  echo 0 > "$MNT/alarms/always/for"
  ln -s ../../../notifications/hang "$MNT/alarms/always/notify/hang"
  ln -s ../../../notifications/dead "$MNT/alarms/always/notify/dead"
  wait_until 30 state_is always firing

  # While deliveries fail or hang, other resources converge as usual.
  echo running > "$C/vms/m2/state"
  [ "$(timeout 120 cat "$C/vms/m2/wait")" = running ]
  domstate_is "$(vm_domain m2)" running

  # Refused at once, retried with backoff (5 s, then 10 s), each attempt
  # reported in status/last-error (the changes log keeps them all).
  wait_until 90 attempts_are dead 2
  cat "$MNT/notifications/dead/status/last-error" >&2
  grep -q "^alarm always: POST to http://127.0.0.1:$dead/x failed: .*(attempt [0-9]*, retried in [0-9]* s)$" "$MNT/notifications/dead/status/last-error"
  run sqlite3 "$DB" "SELECT new FROM changes WHERE path = 'notifications/dead' AND attr = 'last-error' ORDER BY seq LIMIT 2"
  [[ "${lines[0]}" == *"(attempt 1, retried in 5 s)" ]]
  [[ "${lines[1]}" == *"(attempt 2, retried in 10 s)" ]]
  # The hanging receiver is cut off by the request time-out, and retried too.
  wait_until 90 attempts_are hang 1
  cat "$MNT/notifications/hang/status/last-error" >&2
  grep -q "^alarm always: POST to http://127.0.0.1:$(cat "$T/hang.port")/y failed: .*(attempt [0-9]*, retried in [0-9]* s)$" "$MNT/notifications/hang/status/last-error"
  [ -z "$(cat "$MNT/notifications/dead/status/sent")" ]
  grep -q '"attribute":"status/last-error",.*"level":"warning"}$' "$MNT/notifications/dead/status/events"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE kind = 'notification' AND path = 'notifications/dead' AND attr = 'last-error'")" -ge 2 ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE coalesce(new, '') LIKE '%Zz9-secret%'")" = 0 ]

  # Pointed at a receiver that answers, the next retry gets through.
  before=$(posts)
  echo "http://127.0.0.1:$(cat "$T/hook.port")/fixed" > "$MNT/notifications/dead/url"
  wait_until 120 file_is "$MNT/notifications/dead/status/sent" 1
  [ -z "$(cat "$MNT/notifications/dead/status/last-error")" ]
  [ "$(posts)" -eq $((before + 1)) ]
  tail -n1 "$T/hook.posts" | grep -q '^{"alarm":"always",'
  tail -n1 "$T/hook.paths" | grep -q '^/fixed '
  # Still firing: sent again once repeat-interval has passed, not before.
  echo 10 > "$MNT/notifications/dead/repeat-interval"
  wait_until 60 file_is "$MNT/notifications/dead/status/sent" 2
  [ "$(posts)" -eq $((before + 2)) ]
  first=$(sqlite3 "$DB" "SELECT time FROM changes WHERE path = 'notifications/dead' AND attr = 'sent' AND new = '1'")
  second=$(sqlite3 "$DB" "SELECT time FROM changes WHERE path = 'notifications/dead' AND attr = 'sent' AND new = '2'")
  [ $(( (second - first) / 1000000000 )) -ge 9 ]

  echo stopped > "$C/vms/m2/state"
  [ "$(timeout 120 cat "$C/vms/m2/wait")" = stopped ]
  rm "$MNT/alarms/always/notify/hang" "$MNT/alarms/always/notify/dead"
  rmdir "$MNT/alarms/always"
  rmdir "$MNT/notifications/dead" "$MNT/notifications/hang"
  receiver_stop "$T/hang"
}
