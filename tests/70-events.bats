#!/usr/bin/env bats
# Watching the cloud: inotify for changes made elsewhere, the /events
# stream, status/events, on real libvirt (qemu:///system).  Observers:
# inotifywait, virsh, sqlite3 and python3's json module.

load compute_helpers

setup_file() {
  CFS_EXTRA_CONF="metrics-interval = 1;" STOP_TIMEOUT=2 compute_start
  make_tiny_offering tiny 64M
  mkdir "$C/vms/vm1"
  echo tiny > "$C/vms/vm1/offering"
  # A second mount of the same store: "another shell on another machine".
  M2="$T/mnt2"
  mkdir -p "$M2"
  "$CLOUDFS_BIN" -c "$CONF" mount -f "$M2" >>"$T/mount2.log" 2>&1 3>&- &
  echo $! > "$T/mount2.pid"
  wait_until 10 test -e "$M2/version"
}

teardown_file() {
  bg_stop_all
  if [ -n "${T:-}" ] && [ -f "$T/mount2.pid" ]; then
    fusermount3 -u "$T/mnt2" 2>/dev/null || fusermount3 -uz "$T/mnt2" 2>/dev/null || true
    reap_pid "$(cat "$T/mount2.pid")"
  fi
  local bad=0
  if [ -n "${T:-}" ] && grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/mount2.log" >&2; then
    bad=1
  fi
  compute_stop || bad=1
  return $bad
}

C2() { echo "$T/mnt2/zones/default/clusters/default"; }

# Background observers, stopped by PID at the end of each test and file.
bg_start() {
  "$@" 3>&- &
  echo $! >> "$T/bg.pids"
}
bg_stop_all() {
  [ -n "${T:-}" ] && [ -f "$T/bg.pids" ] || return 0
  local p
  for p in $(cat "$T/bg.pids"); do kill "$p" 2>/dev/null || true; done
  for p in $(cat "$T/bg.pids"); do reap_pid "$p"; done
  rm -f "$T/bg.pids"
}
teardown() { bg_stop_all; }

# watch DIR LOG: inotifywait -m -r on DIR, one "PATH EVENTS" line per event.
watch() {
  rm -f "$2" "$2.err"
  bg_start inotifywait -m -r --format '%w%f %e' "$1" >"$2" 2>"$2.err"
  wait_until 10 grep -q "Watches established" "$2.err"
}

# events_of LOG FILE EVENT: how many EVENT lines LOG has for FILE.
events_of() { grep -E "^$2 (.*,)?$3(,|\$)" "$1" | wc -l; }

# vm1 running, whatever happened to it before (a destroyed VM with state
# "running" needs a new spec to be started again: ha is off).
vm_running() {
  if [ "$(cat "$C/vms/vm1/status/state")" != running ]; then
    echo stopped > "$C/vms/vm1/state"
    timeout 60 cat "$C/vms/vm1/wait" >/dev/null
  fi
  echo running > "$C/vms/vm1/state"
  [ "$(timeout 60 cat "$C/vms/vm1/wait")" = running ]
}

# Status files of vm1 changed since seq $1, per the changes log.
status_changed_since() {
  sqlite3 "$DB" "SELECT DISTINCT attr FROM changes c JOIN resources r ON r.id = c.res
                 WHERE r.kind = 'vm' AND r.name = 'vm1' AND c.seq > $1 AND c.op = 'status'
                 AND attr NOT LIKE '\\_%' ESCAPE '\\' ORDER BY attr"
}
# Status files of vm1 with an IN_MODIFY in LOG.
status_modified() {
  sed -n "s|^$C/vms/vm1/status/\([^ ]*\) MODIFY.*|\1|p" "$1" | sort -u
}
same_status_sets() { [ "$(status_changed_since "$1")" = "$(status_modified "$2")" ]; }

@test "inotifywait on a VM directory reports status/state after an out-of-band virsh destroy" {
  vm_running
  dom=$(vm_domain vm1)
  # The kernel has the vnc file's size cached from this stat.
  [ "$(stat -c %s "$C/vms/vm1/status/vnc")" -gt 1 ]
  watch "$C/vms/vm1" "$T/inw.log"
  seq0=$(last_seq)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 20 grep -q "^$C/vms/vm1/status/state MODIFY" "$T/inw.log"
  grep -q "^$C/vms/vm1/status/state CLOSE_WRITE" "$T/inw.log"
  [ "$(cat "$C/vms/vm1/status/state")" = stopped ]
  wait_until 10 grep -q "^$C/vms/vm1/status/vnc CLOSE_WRITE" "$T/inw.log"
  # Caches dropped: the size the kernel reports is the new (empty) one.
  [ "$(stat -c %s "$C/vms/vm1/status/vnc")" = 0 ]
  # Exactly the status files the reconciler changed got events ...
  wait_until 10 same_status_sets "$seq0" "$T/inw.log"
  # ... one per logical change, at most (no storms).
  n_state=$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE seq > $seq0 AND op='status' AND attr='state' AND path LIKE '%/vms/vm1'")
  n_ev=$(events_of "$T/inw.log" "$C/vms/vm1/status/state" MODIFY)
  [ "$n_ev" -ge 1 ]; [ "$n_ev" -le "$n_state" ]
  # Volatile counters raise nothing; the test wrote nothing to the tree.
  [ "$(events_of "$T/inw.log" "$C/vms/vm1/status/cpu-time" MODIFY)" = 0 ]
  [ "$(spec_changes_since "$seq0")" = 0 ]
}

@test "changes through another mount: IN_MODIFY on the file, IN_CREATE/IN_DELETE on the parent" {
  watch "$C/vms" "$T/inw.log"
  echo "set elsewhere" > "$(C2)/vms/vm1/description"
  mkdir "$(C2)/vms/other"
  wait_until 10 grep -q "^$C/vms/other CREATE,ISDIR" "$T/inw.log"
  wait_until 10 grep -q "^$C/vms/vm1/description MODIFY" "$T/inw.log"
  grep -q "^$C/vms/vm1/description CLOSE_WRITE" "$T/inw.log"
  [ "$(cat "$C/vms/vm1/description")" = "set elsewhere" ]
  [ -d "$C/vms/other" ]
  rmdir "$(C2)/vms/other"
  wait_until 10 grep -q "^$C/vms/ DELETE,ISDIR other\|^$C/vms/other DELETE,ISDIR" "$T/inw.log"
  [ ! -e "$C/vms/other" ]
  # A relation made elsewhere appears as a new symlink.
  mkdir "$C/volumes/d1"
  ln -s ../../../volumes/d1 "$(C2)/vms/vm1/volumes/d1"
  wait_until 10 grep -q "^$C/vms/vm1/volumes/d1 CREATE" "$T/inw.log"
  [ -L "$C/vms/vm1/volumes/d1" ]
  rm "$(C2)/vms/vm1/volumes/d1"
  wait_until 10 grep -q "^$C/vms/vm1/volumes/d1 DELETE" "$T/inw.log"
  rmdir "$C/volumes/d1"
}

@test "resources the reconciler makes raise IN_CREATE: an import's task; its status IN_MODIFY" {
  qemu-img create -q -f qcow2 "$T/small.qcow2" 64M
  bg_start inotifywait -m -r --format '%w%f %e' "$MNT/tasks" "$MNT/images" >"$T/inw.log" 2>"$T/inw.log.err"
  wait_until 10 grep -q "Watches established" "$T/inw.log.err"
  mkdir "$MNT/images/small"
  echo "$T/small.qcow2" > "$MNT/images/small/source"
  [ "$(timeout 60 cat "$MNT/images/small/wait")" = available ]
  t=$(grep -l images/small "$MNT"/tasks/*/target | head -n1 | xargs dirname | xargs basename)
  [ -n "$t" ]
  wait_until 10 grep -q "^$MNT/tasks/$t CREATE,ISDIR" "$T/inw.log"
  wait_until 10 grep -q "^$MNT/images/small/status/state MODIFY" "$T/inw.log"
}

@test "the reconciler applying ctl poweroff raises IN_MODIFY on the spec file state" {
  vm_running
  watch "$C/vms/vm1" "$T/inw.log"
  echo poweroff > "$C/vms/vm1/ctl"
  wait_until 20 grep -q "^$C/vms/vm1/state MODIFY" "$T/inw.log"
  [ "$(cat "$C/vms/vm1/state")" = stopped ]
  [ "$(sqlite3 "$DB" "SELECT actor FROM changes WHERE op='set' AND attr='state' ORDER BY seq DESC LIMIT 1")" = reconciler ]
}

@test "a write through this mount gets the kernel's events only, no echo from the daemon" {
  watch "$C/vms/vm1" "$T/inw.log"
  echo "mine" > "$C/vms/vm1/description"
  # A later change made elsewhere is a barrier: the notifier handles the
  # log in order, so once its event is seen an echo would have been too.
  echo "barrier" > "$(C2)/vms/vm1/hostname"
  wait_until 10 grep -q "^$C/vms/vm1/hostname MODIFY" "$T/inw.log"
  # The shell opened and closed it once (its O_TRUNC and write may each
  # count as a MODIFY): an echo by the daemon would add another pair.
  [ "$(events_of "$T/inw.log" "$C/vms/vm1/description" OPEN)" = 1 ]
  [ "$(events_of "$T/inw.log" "$C/vms/vm1/description" CLOSE_WRITE)" = 1 ]
  # A refused write changes status/error: that file gets its event.
  run bash -c "echo bogus > '$C/vms/vm1/state'"
  [ "$status" -ne 0 ]
  wait_until 10 grep -q "^$C/vms/vm1/status/error MODIFY" "$T/inw.log"
}

# reader_start NAME: a cat of /events whose output goes to $T/NAME; returns
# once the reader is known to be open (a marker write reached it).
reader_start() {
  bg_start cat "$1/events" > "$T/$2"
  wait_until 10 reader_has_mark "$2" "mark-$2"
}
reader_reached() { [ "$(python3 "$T/seqs.py" "$2" "$3" "$T/$1" | tail -n1)" = "$3" ]; }
reader_has_mark() {
  # A new value each time: rewriting the same one is no change.
  echo "$2-$RANDOM$RANDOM" > "$C/vms/vm1/description"
  grep -q "\"new\":\"$2-" "$T/$1"
}

@test "/events: two readers each get all 1,000 changes of 8 parallel writers, in seq order" {
  for k in 1 2 3 4 5 6 7 8; do mkdir "$C/vms/w$k"; done
  reader_start "$MNT" r1
  reader_start "$MNT" r2
  seq0=$(last_seq)
  pids=()
  for k in 1 2 3 4 5 6 7 8; do
    (for i in $(seq 1 125); do echo "w$k-$i" > "$C/vms/w$k/description"; done) 3>&- &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  last=$(last_seq)
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE seq > $seq0 AND op='set' AND attr='description' AND new LIKE 'w%-%'")" = 1000 ]
  # The reconciler may log more (status of the new VMs) meanwhile: compare
  # everything up to the last change of the writers.
  sqlite3 "$DB" "SELECT seq FROM changes WHERE seq > $seq0 AND seq <= $last ORDER BY seq" > "$T/expected"
  cat > "$T/seqs.py" <<'PY'
import json, sys
seq0, last, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for line in open(path):
    if line.endswith("\n"):
        ev = json.loads(line)
        if seq0 < ev["seq"] <= last:
            print(ev["seq"])
PY
  for r in r1 r2; do
    wait_until 60 reader_reached "$r" "$seq0" "$last"
    python3 "$T/seqs.py" "$seq0" "$last" "$T/$r" > "$T/$r.seqs"
    diff "$T/expected" "$T/$r.seqs"
  done
  for k in 1 2 3 4 5 6 7 8; do rmdir "$C/vms/w$k"; done
}

@test "/events: JSON lines carry path, attribute, old/new, actor; secrets are masked" {
  reader_start "$MNT" r3
  printf '%s\n' 'a "quoted" \back\slash é' > "$C/vms/vm1/description"
  echo 'Sup3r-s3cret!' > "$C/vms/vm1/password"
  wait_until 10 grep -q '"attribute":"password"' "$T/r3"
  python3 - "$T/r3" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
d = [e for e in evs if e["attribute"] == "description"][-1]
assert d["new"] == 'a "quoted" \\back\\slash é', d
assert d["path"] == "/zones/default/clusters/default/vms/vm1", d
assert d["kind"] == "vm" and d["op"] == "set", d
assert d["actor"]["comm"] == "bash" and d["actor"]["uid"] == 0 and d["actor"]["pid"] > 0, d
import re
assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", d["time"]), d
p = [e for e in evs if e["attribute"] == "password"][-1]
assert p["new"] == "***" and p["old"] == "***", p
seqs = [e["seq"] for e in evs]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
PY
  ! grep -q 'Sup3r-s3cret' "$T/r3" || false
  # Status changes made by the reconciler name it as the actor.
  echo running > "$C/vms/vm1/state"
  wait_until 30 grep -q '"attribute":"status/state","old":"[a-z]*","new":"running","actor":"reconciler"' "$T/r3"
}

@test "/events: O_NONBLOCK, select, and an interrupted read returning promptly" {
  python3 - "$MNT/events" "$C/vms/vm1/description" <<'PY'
import errno, json, os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 4096)
    raise SystemExit("non-blocking read of an idle stream returned data")
except BlockingIOError:
    pass
r, _, _ = select.select([fd], [], [], 0)
assert not r, "idle stream reported readable"
with open(sys.argv[2], "w") as f:
    f.write("poll-me\n")
r, _, _ = select.select([fd], [], [], 30)
assert r, "select did not report the new event"
# The write may be preceded by other events of the VM (the mount clearing
# a standing status/error before it stores the value): find it.
seen, buf = [], b""
while not any(e.get("attribute") == "description" for e in seen):
    r, _, _ = select.select([fd], [], [], 30)
    assert r, "no description event: %r" % seen
    buf += os.read(fd, 65536)
    *done, buf = buf.split(b"\n")
    seen += [json.loads(l) for l in done if l]
d = [e for e in seen if e.get("attribute") == "description"][0]
assert d["new"] == "poll-me", d
while True:
    try:
        if not os.read(fd, 65536):
            break
    except BlockingIOError:
        break
p = select.poll()
p.register(fd, select.POLLIN)
assert p.poll(0) == [], "idle stream reported POLLIN"
PY
  # A blocked read ends with the signal (124 from timeout), not by SIGKILL (137).
  run timeout -k 10 1 cat "$MNT/events"
  [ "$status" -eq 124 ]
}

@test "/events is not listed, so recursive readers never block on it" {
  ! ls -a "$MNT" | grep -qx events || false
  [ -e "$MNT/events" ]
  ls "$MNT" | grep -qx audit
  ls "$MNT" | grep -qx metrics
  # grep -r reads every listed file; a blocking one would end in timeout's 124.
  run timeout 60 grep -r -l no-such-text-anywhere "$MNT"
  [ "$status" -eq 1 ]
}

@test "status/events lists the resource's last changes" {
  for i in 1 2 3; do echo "rev$i" > "$C/vms/vm1/description"; done
  run cat "$C/vms/vm1/status/events"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -le 20 ]
  python3 - "$C/vms/vm1/status/events" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert evs[-1]["new"] == "rev3" and evs[-2]["new"] == "rev2", evs[-2:]
assert all(e["path"].endswith("/vms/vm1") for e in evs)
PY
  ls "$C/vms/vm1/status" | grep -qx events
  run bash -c "echo x > '$C/vms/vm1/status/events'"
  [ "$status" -ne 0 ]
}

@test "status/events folds identical events into one line with a count and the first time" {
  # A value flapping between two states: two kinds of event, 30 times each.
  for i in $(seq 1 30); do
    echo flip > "$C/vms/vm1/description"
    echo flop > "$C/vms/vm1/description"
  done
  python3 - "$C/vms/vm1/status/events" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
flips = [e for e in evs if e.get("attribute") == "description" and e["new"] in ("flip", "flop")]
# flip->flop and flop->flip repeat; the first flip came from rev3 and is its own line.
folded = {(e["old"], e["new"]): e for e in flips}
assert folded[("flip", "flop")]["count"] == 30, folded
assert folded[("flop", "flip")]["count"] == 29, folded
assert folded[("flip", "flop")]["first"] < folded[("flip", "flop")]["time"], folded
assert evs[-1]["new"] == "flop" and len(evs) <= 20, evs[-1]
PY
  # The stream itself is not folded: every change is its own line there.
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE attr='description' AND new='flop'")" -ge 30 ]
}

@test "restart of the reconciler: inotify and the event stream keep working" {
  vm_running
  watch "$C/vms/vm1" "$T/inw.log"
  reader_start "$MNT" r4
  rc_stop
  rc_start
  # The reader's marker changed the spec: let the new reconciler converge on
  # it first, or the destroy below would look like a spec not yet acted on.
  timeout 60 cat "$C/vms/vm1/wait" >/dev/null
  dom=$(vm_domain vm1)
  $VIRSH destroy "$dom" >/dev/null
  wait_until 30 grep -q "^$C/vms/vm1/status/state MODIFY" "$T/inw.log"
  wait_until 10 grep -q '"attribute":"status/state","old":"[a-z]*","new":"stopped"' "$T/r4" || { cat "$T/r4" >&2; false; }
}

@test "restart of the mount: inotify and the event stream keep working" {
  # Stopped first: a QEMU process keeps a copy of the mount in its own mount
  # namespace, which would keep the old daemon serving it.
  echo stopped > "$C/vms/vm1/state"
  timeout 60 cat "$C/vms/vm1/wait"
  cfs_umount
  cfs_mount
  vm_running
  watch "$C/vms/vm1" "$T/inw.log"
  reader_start "$MNT" r5
  # The reader's marker changed the spec: converge on it before the destroy
  # (see the reconciler restart test).
  timeout 60 cat "$C/vms/vm1/wait" >/dev/null
  $VIRSH destroy "$(vm_domain vm1)" >/dev/null
  wait_until 30 grep -q "^$C/vms/vm1/status/state MODIFY" "$T/inw.log"
  wait_until 10 grep -q '"attribute":"status/state","old":"[a-z]*","new":"stopped"' "$T/r5"
}
