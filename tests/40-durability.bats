#!/usr/bin/env bats
# Acknowledged means durable: a remount shows the same tree, a kill -9 right
# after a write loses nothing, and parallel writers lose no acknowledged write.

load helpers
load checks

setup_file() { cfs_start; }
teardown_file() { cfs_stop; }

# Everything a reader sees: every path with its type, mode, owner, size and
# link target, then the content of every file, in a fixed order.  /last-error
# is left out: it is each user's last refusal in this mount's memory, gone
# with the mount by design.
tree_digest() {
  (
    cd "$MNT" || exit 1
    find . -path ./last-error -prune -o -printf '%y %p %m %u:%g %s %l\n' | LC_ALL=C sort
    find . -path ./last-error -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
  ) | sha256sum | cut -d' ' -f1
}

@test "unmount and remount give an identical tree" {
  mkdir "$C/vms/p1" "$C/vms/p2" "$C/volumes/pd1" "$MNT/offerings/p-off" "$MNT/images/p-img"
  mkdir -p "$MNT/zones/pz/clusters/pc/hosts/ph"
  echo running > "$C/vms/p1/state"
  echo p-off > "$C/vms/p1/offering"
  echo 2 > "$MNT/offerings/p-off/cpus"
  echo 30G > "$C/vms/p1/root-size"
  echo secret > "$C/vms/p1/password"
  printf '#cloud-config\nhostname: p1\n' > "$C/vms/p1/user-data"
  echo "qemu+ssh://root@ph/system" > "$MNT/zones/pz/clusters/pc/hosts/ph/uri"
  ln -s ../../../volumes/pd1 "$C/vms/p1/volumes/"
  chown 1000:1000 "$C/vms/p2"
  echo bogus > "$C/vms/p2/state" || true     # leaves a status/error
  grep -q 'vms/p2' "$MNT/last-error"
  d1="$(tree_digest)"
  [ "$(tree_digest)" = "$d1" ]               # deterministic
  dump1="$(spec_dump)"
  cfs_umount
  run mountpoint -q "$MNT"
  [ "$status" -ne 0 ]
  cfs_mount
  [ "$(tree_digest)" = "$d1" ]
  [ -z "$(cat "$MNT/last-error")" ]          # memory only: gone with the mount
  [ "$(spec_dump)" = "$dump1" ]
  [ "$(cat "$C/vms/p1/user-data")" = "$(printf '#cloud-config\nhostname: p1')" ]
  [ "$(readlink "$C/vms/p1/volumes/pd1")" = ../../../volumes/pd1 ]
  [ "$(stat -c %u "$C/vms/p2/state")" = 1000 ]
  pw_hash_of "$(db_attr vm p1 password)" secret
}

@test "kill -9 right after acknowledged writes loses none of them" {
  echo paused > "$C/vms/p1/state"
  echo "written before the crash" > "$C/vms/p2/description"
  mkdir "$C/vms/p3"
  mv "$C/vms/p3" "$C/vms/p4"
  echo 4C8G > "$C/vms/p4/.offering.tmp"
  mv "$C/vms/p4/.offering.tmp" "$C/vms/p4/offering"
  rm "$C/vms/p1/volumes/pd1"
  echo last > "$C/vms/p4/description"
  cfs_crash
  run mountpoint -q "$MNT"
  [ "$status" -ne 0 ]
  cfs_mount
  [ "$(cat "$C/vms/p1/state")" = paused ]
  [ "$(cat "$C/vms/p2/description")" = "written before the crash" ]
  [ ! -e "$C/vms/p3" ]
  [ "$(cat "$C/vms/p4/offering")" = 4C8G ]
  [ "$(cat "$C/vms/p4/description")" = last ]
  [ ! -e "$C/vms/p1/volumes/pd1" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM links")" = 0 ]
  # scratch files are memory only and are gone, nothing else is
  [ ! -e "$C/vms/p4/.offering.tmp" ]
  [ "$(db_attr vm p4 description)" = last ]
}

@test "32 parallel writers: all finish, no acknowledged write is lost, the mount answers" {
  for i in $(seq 1 16); do mkdir "$C/vms/c$i"; done
  mkdir "$C/vms/shared"
  pids=()
  for i in $(seq 1 32); do
    if [ "$i" -le 16 ]; then
      # own file: every value must stick, the last one must be the end state
      timeout 60 bash -c '
        for j in $(seq 1 100); do
          echo "w'"$i"'-$j" > "'"$C/vms/c$i/description"'" || exit 1
          if [ $((j % 25)) = 0 ]; then
            s=running; [ $((j % 50)) = 0 ] && s=stopped
            echo $s > "'"$C/vms/c$i/state"'" || exit 1
          fi
        done' &
    else
      # one shared file for sixteen writers
      timeout 60 bash -c '
        for j in $(seq 1 100); do
          echo "s'"$i"'-$j" > "'"$C/vms/shared/description"'" || exit 1
        done' &
    fi
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  [ "$failed" = 0 ]
  for i in $(seq 1 16); do
    [ "$(cat "$C/vms/c$i/description")" = "w$i-100" ] || { echo "c$i lost its last write" >&2; return 1; }
    [ "$(db_attr vm "c$i" description)" = "w$i-100" ]
    [ "$(db_attr vm "c$i" state)" = stopped ]
    # every acknowledged write is one change in the log
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE op = 'set' AND attr = 'description'
                        AND path LIKE '%/vms/c$i'")" = 100 ]
  done
  shared="$(cat "$C/vms/shared/description")"
  [[ "$shared" =~ ^s(1[7-9]|2[0-9]|3[0-2])-([1-9][0-9]?|100)$ ]]
  [ "$(db_attr vm shared description)" = "$shared" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE op = 'set' AND attr = 'description'
                      AND path LIKE '%/vms/shared'")" = 1600 ]
  # the mount still answers, and keeps taking writes
  [ "$(ls "$C/vms" | wc -l)" = 20 ]
  echo after > "$C/vms/c1/description"
  [ "$(db_attr vm c1 description)" = after ]
}

@test "parallel editors renaming temporary files onto one attribute all succeed" {
  mkdir "$C/vms/ed"
  pids=()
  for i in $(seq 1 8); do
    # like sed -i / rsync: write a temporary file, rename it over the value
    timeout 60 bash -c '
      for j in $(seq 1 30); do
        echo "e'"$i"'-$j" > "'"$C/vms/ed/.host.$i"'" || exit 1
        mv "'"$C/vms/ed/.host.$i"'" "'"$C/vms/ed/hostname"'" || exit 1
        stat "'"$C/vms/ed/hostname"'" > /dev/null || exit 1
      done' &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  [ "$failed" = 0 ]
  [[ "$(cat "$C/vms/ed/hostname")" =~ ^e[1-8]-([1-9]|[12][0-9]|30)$ ]]
  [ "$(db_attr vm ed hostname)" = "$(cat "$C/vms/ed/hostname")" ]
  [ "$(ls -A "$C/vms/ed" | grep -c '^\.host')" = 0 ]
}

@test "a store from before stored counts (schema 3) is upgraded with exact counts" {
  mkdir "$C/vms/up1" "$C/vms/up2" "$C/vms/up3" "$C/volumes/upv"
  rmdir "$C/vms/up2"
  n=$(sqlite3 "$DB" "SELECT count(*) FROM resources r JOIN resources c ON c.id = r.parent
                     WHERE r.kind='vm' AND r.deleted=0 AND c.name='default' AND c.kind='cluster'")
  schema=$(sqlite3 "$DB" 'PRAGMA user_version')
  cfs_umount
  # Back to schema 3 as an older cloudfs left it: no counts table, no triggers
  # (and none of the later migrations' tables).
  sqlite3 "$DB" "DROP INDEX resources_owner; ALTER TABLE resources DROP COLUMN mode;
                 DROP TRIGGER counts_insert; DROP TRIGGER counts_delete;
                 DROP TRIGGER counts_update; DROP TABLE counts;
                 DROP TABLE cursors; DROP TABLE audit_floor; DROP TABLE tags;
                 PRAGMA user_version = 3"
  cfs_mount
  [ "$(sqlite3 "$DB" 'PRAGMA user_version')" = "$schema" ]
  [ "$(stat -c %h "$C/vms")" = $((n + 2)) ]
  "$CLOUDFS_BIN" -c "$CONF" check -n
  mkdir "$C/vms/up4"
  [ "$(stat -c %h "$C/vms")" = $((n + 3)) ]
  rmdir "$C/vms/up1" "$C/vms/up3" "$C/vms/up4"
  [ "$(stat -c %h "$C/vms")" = "$n" ]
  "$CLOUDFS_BIN" -c "$CONF" check -n
}

@test "a store from before hashed passwords (schema 8) has its plain passwords hashed once, at open" {
  mkdir "$C/vms/pw1" "$C/vms/pw2"
  echo already-hashed > "$C/vms/pw2/password"
  local kept
  kept="$(db_attr vm pw2 password)"
  pw_hash_of "$kept" already-hashed
  schema=$(sqlite3 "$DB" 'PRAGMA user_version')
  cfs_umount
  # as an older cloudfs left it: the password in plain text
  sqlite3 "$DB" "UPDATE attrs SET value = 'old-plain-pw' WHERE name = 'password'
                   AND res = (SELECT id FROM resources WHERE kind = 'vm' AND name = 'pw1');
                 INSERT OR IGNORE INTO attrs SELECT id, 'password', 'old-plain-pw', 0 FROM resources
                   WHERE kind = 'vm' AND name = 'pw1';
                 PRAGMA user_version = 8"
  [ "$(db_attr vm pw1 password)" = old-plain-pw ]
  cfs_mount
  [ "$(sqlite3 "$DB" 'PRAGMA user_version')" = "$schema" ]
  pw_hash_of "$(db_attr vm pw1 password)" old-plain-pw
  [ "$(db_attr vm pw2 password)" = "$kept" ]        # a hash is not hashed again
  ! sqlite3 "$DB" .dump | grep -q old-plain-pw || false
  "$CLOUDFS_BIN" -c "$CONF" check -n
  local h1
  h1="$(db_attr vm pw1 password)"
  cfs_umount
  cfs_mount
  [ "$(db_attr vm pw1 password)" = "$h1" ]
  rmdir "$C/vms/pw1" "$C/vms/pw2"
}
