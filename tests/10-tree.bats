#!/usr/bin/env bats
# The tree: shape, defaults, create/rename/delete of every kind.

load helpers

setup_file() { cfs_start; }
teardown_file() { cfs_stop; }

@test "root lists README, version, audit, metrics, last-error, tags, recycle and the top-level collections (not events)" {
  run ls "$MNT"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'README\nalarms\naudit\nimages\nlast-error\nmetrics\nnotifications\nofferings\nquotas\nrecycle\ntags\ntasks\nversion\nzones')" ]
  grep -q "cloudfs" "$MNT/README"
  [ "$(cat "$MNT/version")" = "cloudfs $("$CLOUDFS_BIN" --version | cut -d' ' -f2)" ]
}

@test "init created the embedded default cloud" {
  [ -d "$C/hosts/local" ]
  [ "$(cat "$C/hosts/local/uri")" = "test:///default" ]
  [ "$(cat "$C/pools/local/type")" = "dir" ]
  [ "$(cat "$C/pools/local/path")" = "$T/pool" ]
  run ls "$MNT/offerings"
  [ "$output" = "$(printf '16C32G\n1C2G\n2C4G\n4C8G\n64C128G\n8C16G')" ]
  [ "$(cat "$MNT/offerings/4C8G/cpus")" = 4 ]
  [ "$(cat "$MNT/offerings/4C8G/memory")" = 8G ]
}

@test "mkdir creates a vm pre-populated with its defaults" {
  mkdir "$C/vms/web1"
  [ "$(cat "$C/vms/web1/state")" = stopped ]
  [ "$(cat "$C/vms/web1/offering")" = 1C2G ]
  [ "$(cat "$C/vms/web1/root-size")" = 40G ]
  [ "$(cat "$C/vms/web1/ha")" = off ]
  [ -d "$C/vms/web1/status" ]
  [ -d "$C/vms/web1/volumes" ]
  [ "$(sqlite3 "$DB" "select count(*) from resources where kind='vm' and name='web1'")" = 1 ]
}

@test "valid writes read back normalised and reach the store" {
  echo running > "$C/vms/web1/state"
  [ "$(cat "$C/vms/web1/state")" = running ]
  echo 2C4G > "$C/vms/web1/offering"
  echo 20480M > "$C/vms/web1/root-size"
  [ "$(cat "$C/vms/web1/root-size")" = 20G ]
  echo yes > "$C/vms/web1/ha"
  [ "$(cat "$C/vms/web1/ha")" = on ]
  [ "$(sqlite3 "$DB" "select value from attrs a join resources r on r.id=a.res where r.name='web1' and a.name='root-size'")" = 20G ]
}

@test "create, write, rename and delete every kind" {
  # kind-dir attr value
  while read -r dir attr value; do
    mkdir "$dir/k1"
    echo "$value" > "$dir/k1/$attr"
    [ "$(cat "$dir/k1/$attr")" = "$value" ]
    mv "$dir/k1" "$dir/k2"
    [ ! -e "$dir/k1" ]
    [ "$(cat "$dir/k2/$attr")" = "$value" ]
    rmdir "$dir/k2"
    [ ! -e "$dir/k2" ]
  done <<LIST
$MNT/zones description a zone
$MNT/zones/default/clusters cpu-overcommit 4.5
$C/hosts uri qemu+ssh://root@h1/system
$MNT/offerings memory 512M
$MNT/images os windows
$C/pools type rbd
$C/volumes size 100G
$C/vms state paused
LIST
  [ "$(sqlite3 "$DB" "select count(*) from resources where name in ('k1','k2')")" = 0 ]
}

@test "rm -r deletes a vm and detaches (keeps) its volumes" {
  mkdir "$C/vms/gone" "$C/volumes/keep1"
  ln -s ../../../volumes/keep1 "$C/vms/gone/volumes/"
  rm -r "$C/vms/gone"
  [ ! -e "$C/vms/gone" ]
  [ -d "$C/volumes/keep1" ]
  [ "$(sqlite3 "$DB" "select count(*) from links")" = 0 ]
  rmdir "$C/volumes/keep1"
}

@test "stat: sizes match content, modes follow the layout, nlink counts subdirs" {
  [ "$(stat -c %s "$C/vms/web1/state")" = "$(cat "$C/vms/web1/state" | wc -c)" ]
  [ "$(stat -c %a "$C/vms/web1/state")" = 644 ]
  [ "$(stat -c %a "$C/vms/web1/password")" = 200 ]
  [ "$(stat -c %a "$C/vms/web1/ctl")" = 200 ]
  [ "$(stat -c %a "$C/vms/web1/status")" = 555 ]
  [ "$(stat -c %a "$C/vms/web1/status/state")" = 444 ]
  [ "$(stat -c %h "$C/vms/web1")" = 6 ]   # . .. status volumes nics snapshots
  n=$(ls "$C/vms" | wc -l)
  [ "$(stat -c %h "$C/vms")" = $((n + 2)) ]
}

@test "mtime changes when the value changes, not on a no-op rewrite" {
  f="$C/vms/web1/description"
  echo one > "$f"
  m1=$(stat -c %Y.%y "$f")
  sleep 1.1
  echo one > "$f"
  m2=$(stat -c %Y.%y "$f")
  [ "$m1" = "$m2" ]
  echo two > "$f"
  sleep 1.1   # attribute cache timeout
  m3=$(stat -c %Y.%y "$f")
  [ "$m1" != "$m3" ]
}

@test "find, ls -lR and grep -r walk the tree (wait files are not listed, so nothing blocks)" {
  ! ls "$C/vms/web1" | grep -qx wait || false
  [ -f "$C/vms/web1/wait" ]; [ "$(stat -c %a "$C/vms/web1/wait")" = 444 ]
  find "$MNT" > "$T/find.out"
  grep -q "/vms/web1/status/state$" "$T/find.out"
  ls -lR "$MNT" > /dev/null
  timeout 60 grep -rl '^2C4G$' "$MNT/zones" | grep -q "vms/web1/offering"
}

@test "a collection larger than one reply buffer: every entry once, with attributes, seekdir works" {
  seq 1 3000 | sed "s|^|$C/vms/big|" | xargs mkdir
  [ "$(ls -f "$C/vms" | grep -c '^big')" = 3000 ]
  [ "$(ls -f "$C/vms" | grep '^big' | sort -u | wc -l)" = 3000 ]
  # ls -l takes each entry's attributes from the directory read itself.
  [ "$(ls -l "$C/vms" | awk '$NF ~ /^big/ && $1 == "drwxr-xr-x" && $2 == 6' | wc -l)" = 3000 ]
  # telldir/seekdir in the middle of the listing return the same entries.
  perl -e 'opendir(my $d, $ARGV[0]) or die; my @a; push @a, scalar readdir($d) for 1..1500;
           my $pos = telldir($d); my @rest1 = readdir($d); seekdir($d, $pos); my @rest2 = readdir($d);
           die "seekdir" unless "@rest1" eq "@rest2"; rewinddir($d); my @all = readdir($d);
           die "rewind " . scalar(@all) unless @all == @a + @rest1;' "$C/vms"
  seq 1 3000 | sed "s|^|$C/vms/big|" | xargs rmdir
  [ "$(ls -f "$C/vms" | grep -c '^big')" = 0 ]
}
