#!/usr/bin/env bats
# Editors and sync tools: their temporary files live in memory, renaming one
# onto an attribute is a validated write, multi-line values commit on close,
# and an rsync round trip (GitOps) applies exactly the edits.

load helpers
load checks

setup_file() {
  cfs_start
  mkdir "$C/vms/t1"
  export V="$C/vms/t1"
  ls -A "$V" > "$T/t1.files"
}
teardown_file() { cfs_stop; }

# No temporary file was left behind in the vm directory.
no_leftovers() {
  if ! diff "$T/t1.files" <(ls -A "$V") >&2; then
    echo "temporary files left in $V" >&2
    return 1
  fi
}

@test "vim -es with -u NONE -i NONE rewrites a value" {
  vim -u NONE -i NONE -es -c '%s/stopped/running/' -c 'wq' "$V/state"
  [ "$(cat "$V/state")" = running ]
  [ "$(db_attr vm t1 state)" = running ]
  no_leftovers
}

@test "vim -N -es with its default backup settings, backupcopy=no and backup" {
  vim -u NONE -i NONE -N -es -c '%s/running/paused/' -c 'wq' "$V/state"
  [ "$(db_attr vm t1 state)" = paused ]
  no_leftovers
  # The mount is under /tmp, which vim's default 'backupskip' exempts from the
  # write backup; empty it to get what a user elsewhere gets: the 4913 probe,
  # state renamed to state~, a new state written, state~ removed.
  vim -u NONE -i NONE -N -es -c 'set backupskip=' -c '%s/paused/running/' -c 'wq' "$V/state"
  [ "$(db_attr vm t1 state)" = running ]
  no_leftovers
  vim -u NONE -i NONE -N -es -c 'set backupskip= backupcopy=no' -c '%s/running/paused/' -c 'wq' "$V/state"
  [ "$(db_attr vm t1 state)" = paused ]
  no_leftovers
  # a kept backup holds the old value, in memory only
  vim -u NONE -i NONE -N -es -c 'set backupskip= backup' -c '%s/paused/stopped/' -c 'wq' "$V/state"
  [ "$(db_attr vm t1 state)" = stopped ]
  [ "$(cat "$V/state~")" = paused ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM attrs WHERE name LIKE '%~'")" = 0 ]
  rm "$V/state~"
  no_leftovers
}

@test "vim writing an invalid value fails and changes nothing" {
  before="$(spec_dump)"
  run vim -u NONE -i NONE -N -es -c '%s/stopped/bogus/' -c 'wq' "$V/state"
  [ "$status" -ne 0 ]
  [ "$(cat "$V/state")" = stopped ]
  [ "$(spec_dump)" = "$before" ]
  reason_has "$V" "'bogus' is not one of"
  run vim -u NONE -i NONE -N -es -c 'set backupskip=' -c '%s/stopped/bogus/' -c 'wq' "$V/state"
  [ "$status" -ne 0 ]
  [ "$(cat "$V/state")" = stopped ]
  [ "$(spec_dump)" = "$before" ]
  rm -f "$V/state~"
  no_leftovers
}

@test "sed -i edits through a temporary file and a rename" {
  sed -i 's/stopped/paused/' "$V/state"
  [ "$(db_attr vm t1 state)" = paused ]
  sed -i 's/40G/51200M/' "$V/root-size"
  [ "$(cat "$V/root-size")" = 50G ]
  [ "$(stat -c %s "$V/root-size")" = 4 ]
  before="$(spec_dump)"
  run sed -i 's/paused/bogus/' "$V/state"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Invalid argument"* ]]
  [ "$(spec_dump)" = "$before" ]
  no_leftovers
}

@test "cp and cp -p write values" {
  echo "copied by cp" > "$T/desc"
  cp "$T/desc" "$V/description"
  [ "$(db_attr vm t1 description)" = "copied by cp" ]
  echo "copied by cp -p" > "$T/desc"
  chmod 600 "$T/desc"
  cp -p "$T/desc" "$V/description"
  [ "$(db_attr vm t1 description)" = "copied by cp -p" ]
  [ "$(stat -c %a "$V/description")" = 644 ]   # modes come from the layout
  echo 2C4G > "$T/off"
  cp "$T/off" "$V/offering"
  [ "$(db_attr vm t1 offering)" = 2C4G ]
  echo bogus > "$T/state"
  before="$(spec_dump)"
  run cp "$T/state" "$V/state"
  [ "$status" -ne 0 ]
  [ "$(spec_dump)" = "$before" ]
  no_leftovers
}

@test "rsync -a writes through a temporary file; an invalid value fails and changes nothing" {
  echo "from rsync" > "$T/desc"
  rsync -a "$T/desc" "$V/description"
  [ "$(db_attr vm t1 description)" = "from rsync" ]
  echo 61440M > "$T/rs"
  rsync -a "$T/rs" "$V/root-size"
  [ "$(cat "$V/root-size")" = 60G ]
  [ "$(stat -c %s "$V/root-size")" = 4 ]
  echo bogus > "$T/state"
  before="$(spec_dump)"
  run rsync -a "$T/state" "$V/state"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Invalid argument"* ]]
  [ "$(cat "$V/state")" = paused ]
  [ "$(spec_dump)" = "$before" ]
  reason_has "$V" "'bogus' is not one of"
  no_leftovers
}

@test "mv of a temporary file onto an attribute is an atomic validated write" {
  echo running > "$V/.state.new"
  [ -z "$(db_attr vm t1 .state.new)" ]   # temporary files never reach the store
  mv "$V/.state.new" "$V/state"
  [ "$(db_attr vm t1 state)" = running ]
  [ ! -e "$V/.state.new" ]
  echo 4C8G > "$V/offering.tmp"
  mv "$V/offering.tmp" "$V/offering"
  [ "$(db_attr vm t1 offering)" = 4C8G ]
  echo 99C1G > "$V/.offering.new"
  before="$(spec_dump)"
  run mv "$V/.offering.new" "$V/offering"
  [ "$status" -ne 0 ]
  [ "$(spec_dump)" = "$before" ]
  reason_has "$V" "offering '99C1G' does not exist"
  [ "$(cat "$V/.offering.new")" = 99C1G ]   # the refused file is still there
  rm "$V/.offering.new"
  no_leftovers
}

@test "user-data: multi-line content commits on close, whole" {
  printf '#cloud-config\npackages:\n  - nginx\n' | cat > "$V/user-data"
  [ "$(sqlite3 "$DB" "SELECT hex(value) FROM attrs WHERE name = 'user-data'")" = \
    "$(printf '#cloud-config\npackages:\n  - nginx\n' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)" ]
  [ "$(stat -c %s "$V/user-data")" = 34 ]
  # two writers on one descriptor: the first one's exit must not cut the value
  printf 'part one\n' > "$T/a"
  printf 'part two\n' > "$T/b"
  (cat "$T/a"; cat "$T/b") > "$V/user-data"
  [ "$(cat "$V/user-data")" = "$(printf 'part one\npart two')" ]
  echo "part three" >> "$V/user-data"
  [ "$(cat "$V/user-data")" = "$(printf 'part one\npart two\npart three')" ]
  [ "$(sqlite3 "$DB" "SELECT length(value) FROM attrs WHERE name = 'user-data'")" = 29 ]
  : > "$V/user-data"
  [ "$(sqlite3 "$DB" "SELECT length(value) FROM attrs WHERE name = 'user-data'")" = 0 ]
  head -c 1048576 /dev/zero | tr '\0' u > "$T/1m"
  cat "$T/1m" > "$V/user-data"
  [ "$(sqlite3 "$DB" "SELECT length(value) FROM attrs WHERE name = 'user-data'")" = 1048576 ]
  printf 'small\n' > "$V/user-data"
}

@test "user-data over 1M is refused with an error and changes nothing" {
  before="$(spec_dump)"
  # one byte over: refused when the file is closed
  head -c 1048577 /dev/zero | tr '\0' u > "$T/big"
  run sh -c "cat '$T/big' > '$V/user-data'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"File too large"* ]]
  reason_has "$V" "user-data: 1048577 bytes, at most 1048576"
  [ "$(cat "$V/user-data")" = small ]
  [ "$(spec_dump)" = "$before" ]
  # far over: refused while writing, and the close must not commit a part
  head -c 3000000 /dev/zero | tr '\0' u > "$T/big"
  run sh -c "cat '$T/big' > '$V/user-data'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"File too large"* ]]
  [ "$(cat "$V/user-data")" = small ]
  [ "$(spec_dump)" = "$before" ]
  rm -f "$T/big" "$T/1m"
}

@test "values still at their mkdir default report mtime 1, so rsync never takes them as up to date" {
  mkdir "$C/vms/m1"
  # rsync compares whole seconds and sizes: "running" over the default
  # "stopped", written in the second of the mkdir, must still be sent.
  [ "$(stat -c %Y "$C/vms/m1/state")" = 1 ]
  [ "$(stat -c %Y "$C/vms/m1/offering")" = 1 ]
  echo stopped > "$C/vms/m1/state"          # rewriting the default changes nothing
  [ "$(stat -c %Y "$C/vms/m1/state")" = 1 ]
  mkdir -p "$T/m1"
  echo running > "$T/m1/state"
  echo 2C4G > "$T/m1/offering"
  rsync -a "$T/m1/" "$C/vms/m1/"
  [ "$(db_attr vm m1 state)" = running ]
  [ "$(db_attr vm m1 offering)" = 2C4G ]
  ns=$(sqlite3 "$DB" "SELECT a.mtime FROM attrs a JOIN resources r ON r.id = a.res
                      WHERE r.name = 'm1' AND a.name = 'state'")
  [ "$(stat -c %Y "$C/vms/m1/state")" = $((ns / 1000000000)) ]
  rm -r "$C/vms/m1"
}

@test "gitops: rsync out, edit, rsync back applies exactly the edits; twice changes nothing" {
  mkdir "$C/vms/g1" "$C/vms/g2" "$C/volumes/gd1" "$C/volumes/gd3"
  ln -s ../../../volumes/gd1 "$C/vms/g1/volumes/"
  echo pw-g1 > "$C/vms/g1/password"
  printf 'line 1\nline 2\n' > "$C/vms/g1/user-data"
  D="$T/gitops"
  mkdir "$D"
  rsync -a --exclude status/ "$MNT/zones/" "$D/"
  G="$D/default/clusters/default"
  [ ! -e "$G/vms/g1/status" ]
  [ "$(readlink "$G/vms/g1/volumes/gd1")" = ../../../volumes/gd1 ]
  [ "$(cat "$G/vms/g1/user-data")" = "$(printf 'line 1\nline 2')" ]
  [ ! -s "$G/vms/g1/password" ]
  [ "$(stat -c %a "$G/vms/g1/password")" = 200 ]

  seq0=$(last_seq)
  echo running > "$G/vms/g1/state"
  echo 60G > "$G/vms/g1/root-size"
  echo "from git" > "$G/vms/g2/description"
  echo 2.5 > "$G/cpu-overcommit"
  mkdir -p "$G/vms/g3/volumes"
  echo 4C8G > "$G/vms/g3/offering"
  echo running > "$G/vms/g3/state"
  echo "new from git" > "$G/vms/g3/description"
  echo local > "$G/vms/g3/pool"
  ln -s ../../../volumes/gd3 "$G/vms/g3/volumes/gd3"
  rsync -a --exclude status/ "$D/" "$MNT/zones/"

  [ "$(db_attr vm g1 state)" = running ]
  [ "$(db_attr vm g1 root-size)" = 60G ]
  [ "$(db_attr vm g2 description)" = "from git" ]
  [ "$(db_attr cluster default cpu-overcommit)" = 2.5 ]
  [ "$(db_attr vm g3 offering)" = 4C8G ]
  [ "$(db_attr vm g3 state)" = running ]
  [ "$(db_attr vm g3 description)" = "new from git" ]
  [ "$(db_attr vm g3 pool)" = local ]
  [ "$(db_attr vm g3 root-size)" = 40G ]   # not in git: the default
  [ "$(readlink "$C/vms/g3/volumes/gd3")" = ../../../volumes/gd3 ]
  # exactly these changes, nothing else
  run sqlite3 "$DB" "SELECT path || ' ' || op || ' ' || coalesce(attr, '') || ' ' || coalesce(new, '')
                     FROM changes WHERE seq > $seq0 AND op NOT IN ('status', 'create', 'chmod')
                     ORDER BY path, op, attr"
  [ "$output" = "zones/default/clusters/default set cpu-overcommit 2.5
zones/default/clusters/default/vms/g1 set root-size 60G
zones/default/clusters/default/vms/g1 set state running
zones/default/clusters/default/vms/g2 set description from git
zones/default/clusters/default/vms/g3 link volumes gd3
zones/default/clusters/default/vms/g3 set description new from git
zones/default/clusters/default/vms/g3 set offering 4C8G
zones/default/clusters/default/vms/g3 set pool local
zones/default/clusters/default/vms/g3 set state running" ]
  [ "$(sqlite3 "$DB" "SELECT group_concat(path) FROM changes WHERE seq > $seq0 AND op = 'create'")" = \
    zones/default/clusters/default/vms/g3 ]
  [ "$(spec_changes_since "$seq0")" = 10 ]

  # the same rsync again: nothing to do
  seq1=$(last_seq)
  dump1="$(spec_dump)"
  rsync -a --exclude status/ "$D/" "$MNT/zones/"
  [ "$(spec_changes_since "$seq1")" = 0 ]
  [ "$(spec_dump)" = "$dump1" ]
  # the secret read back empty; pushing that empty file must not clear it
  touch -d '2001-02-03 04:05:06' "$G/vms/g1/password"   # make rsync send it
  run rsync -ai --exclude status/ "$D/" "$MNT/zones/"
  [ "$status" -eq 0 ]
  [[ "$output" == *"vms/g1/password"* ]]   # it was sent
  pw_hash_of "$(db_attr vm g1 password)" pw-g1
  [ "$(spec_changes_since "$seq1")" = 0 ]
  # every file pushed reads back as pushed
  (cd "$D" && find . -type f) | while read -r f; do
    cmp "$D/$f" "$MNT/zones/$f" || exit 1
  done
}
