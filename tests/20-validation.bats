#!/usr/bin/env bats
# Acceptance of the mounted tree: every kind is created with its defaults,
# takes valid values, and refuses invalid ones with the fitting errno, a
# one-line reason in its status/error and an unchanged spec (checked in
# SQLite, not through the mount).

load helpers
load checks

setup_file() {
  cfs_start
  export ZT="$MNT/zones/zt" CT="$MNT/zones/zt/clusters/ct"
  # one resource of every kind, made by the first test
  export ALL="$ZT $CT $CT/hosts/h1 $MNT/offerings/o1 $MNT/images/i1 $CT/pools/p1 $CT/volumes/d1 $CT/vms/v1"
}
teardown_file() { cfs_stop; }

# Every attribute row SQLite holds for a resource shows up as a file with the
# same text (write-only ones read back empty).
files_match_store() {
  local dir="$1" kind="$2" name="$3" attr value got
  while IFS='|' read -r attr value; do
    got="$(cat "$dir/$attr")" || return 1
    case "$attr" in password) value="" ;; esac
    if [ "$got" != "$value" ]; then
      echo "$dir/$attr reads '$got', SQLite holds '$value'" >&2
      return 1
    fi
  done < <(sqlite3 "$DB" "SELECT a.name, a.value FROM attrs a JOIN resources r ON r.id = a.res
                          WHERE r.kind = '$kind' AND r.name = '$name' AND a.name != 'user-data'")
}

@test "mkdir of every kind pre-populates its attribute files at their defaults" {
  mkdir "$ZT" "$CT" "$CT/hosts/h1" "$MNT/offerings/o1" "$MNT/images/i1" \
        "$CT/pools/p1" "$CT/volumes/d1" "$CT/vms/v1"
  # path attribute default
  while read -r path attr value; do
    [ -f "$path/$attr" ] || { echo "missing $path/$attr" >&2; return 1; }
    [ "$(cat "$path/$attr")" = "$value" ] || {
      echo "$path/$attr: '$(cat "$path/$attr")' != '$value'" >&2; return 1; }
  done <<LIST
$ZT description
$CT cpu-overcommit 10.0
$CT memory-overcommit 1.0
$CT ha off
$CT/hosts/h1 uri qemu:///system
$CT/hosts/h1 state enabled
$CT/hosts/h1 domain-type auto
$MNT/offerings/o1 cpus 1
$MNT/offerings/o1 memory 2G
$MNT/images/i1 source
$MNT/images/i1 os linux
$MNT/images/i1 min-disk 0
$CT/pools/p1 type dir
$CT/pools/p1 path
$CT/pools/p1 rbd-pool
$CT/volumes/d1 size 10G
$CT/volumes/d1 pool
$CT/volumes/d1 image
$CT/vms/v1 state stopped
$CT/vms/v1 offering 1C2G
$CT/vms/v1 image
$CT/vms/v1 root-size 40G
$CT/vms/v1 host
$CT/vms/v1 ha off
$CT/vms/v1 hostname
$CT/vms/v1 password
$CT/vms/v1 user-data
$CT/vms/v1 ctl
LIST
  files_match_store "$ZT" zone zt
  files_match_store "$CT" cluster ct
  files_match_store "$CT/hosts/h1" host h1
  files_match_store "$MNT/offerings/o1" offering o1
  files_match_store "$MNT/images/i1" image i1
  files_match_store "$CT/pools/p1" pool p1
  files_match_store "$CT/volumes/d1" volume d1
  files_match_store "$CT/vms/v1" vm v1
  for d in "$ZT" "$CT" "$CT/hosts/h1" "$CT/vms/v1"; do
    [ -d "$d/status" ]
    [ -z "$(cat "$d/status/error")" ]
  done
  [ -d "$CT/vms/v1/volumes" ]
  [ -d "$CT/hosts" ]; [ -d "$CT/pools" ]; [ -d "$CT/volumes" ]; [ -d "$CT/vms" ]
}

@test "zone: description takes free text and refuses long, control or non-UTF-8 text" {
  accept "$ZT/description" "Rack 1, room B"
  reject "$E_INVAL" "$ZT/description" "$(printf 'x%.0s' {1..257})" "length 257"
  reject "$E_INVAL" "$ZT/description" "$(printf 'a\tb')" "control characters"
  reject "$E_INVAL" "$ZT/description" "$(printf 'bad \xc3\x28 utf8')" "is not valid UTF-8"
  reject "$E_INVAL" "$ZT/description" "$(printf 'a\xe2\x80\xaeb')" "bidirectional formatting"
  accept "$ZT/description" "$(printf 'caf\xc3\xa9 \xe4\xb8\xad')"
  accept "$ZT/description" "Rack 1, room B"
  [ "$(db_attr zone zt description)" = "Rack 1, room B" ]
}

@test "cluster: overcommit ratios 1.0..1000.0, ha on/off" {
  accept "$CT/cpu-overcommit" 1 1.0
  accept "$CT/cpu-overcommit" 1000 1000.0
  accept "$CT/cpu-overcommit" 4.50 4.5
  accept "$CT/memory-overcommit" 1.25
  reject "$E_INVAL" "$CT/cpu-overcommit" 0.99 "0.99 is out of range 1.0..1000.0"
  reject "$E_INVAL" "$CT/cpu-overcommit" 1000.01 "1000.01 is out of range"
  reject "$E_INVAL" "$CT/cpu-overcommit" 2.125 "'2.125' is not a decimal ratio"
  reject "$E_INVAL" "$CT/cpu-overcommit" -2 "'-2' is not a decimal ratio"
  reject "$E_INVAL" "$CT/memory-overcommit" 0 "0 is out of range"
  accept "$CT/ha" yes on
  accept "$CT/ha" OFF off
  reject "$E_INVAL" "$CT/ha" maybe "'maybe' is not on or off"
  [ "$(db_attr cluster ct cpu-overcommit)" = 4.5 ]
}

@test "host: uri, state and domain-type" {
  accept "$CT/hosts/h1/uri" "qemu+ssh://root@h1/system"
  reject "$E_INVAL" "$CT/hosts/h1/uri" "h1.example.com" "'h1.example.com' is not a URI"
  reject "$E_INVAL" "$CT/hosts/h1/uri" "qemu:///sys tem" "is not a URI"
  accept "$CT/hosts/h1/state" maintenance
  reject "$E_INVAL" "$CT/hosts/h1/state" broken "'broken' is not one of: enabled, disabled, maintenance"
  accept "$CT/hosts/h1/domain-type" kvm
  reject "$E_INVAL" "$CT/hosts/h1/domain-type" xen "'xen' is not one of"
  accept "$CT/hosts/h1/state" enabled
}

@test "offering: cpus 1..240, memory 64M..1024G; no gpus until passthrough exists" {
  accept "$MNT/offerings/o1/cpus" 240
  accept "$MNT/offerings/o1/cpus" 1
  reject "$E_INVAL" "$MNT/offerings/o1/cpus" 0 "0 is out of range 1..240"
  reject "$E_INVAL" "$MNT/offerings/o1/cpus" 241 "241 is out of range 1..240"
  reject "$E_INVAL" "$MNT/offerings/o1/cpus" 1.5 "'1.5' is not an integer"
  reject "$E_INVAL" "$MNT/offerings/o1/cpus" "" "'' is not an integer"
  accept "$MNT/offerings/o1/memory" 64M
  accept "$MNT/offerings/o1/memory" 65536K 64M
  accept "$MNT/offerings/o1/memory" 1024G 1T
  reject "$E_INVAL" "$MNT/offerings/o1/memory" 63M "63M is out of range 64M..1T"
  reject "$E_INVAL" "$MNT/offerings/o1/memory" 1025G "1025G is out of range 64M..1T"
  reject "$E_INVAL" "$MNT/offerings/o1/memory" 1.5G "'1.5G' is not a size"
  reject "$E_INVAL" "$MNT/offerings/o1/memory" lots "'lots' is not a size"
  [ ! -e "$MNT/offerings/o1/gpus" ]
  accept "$MNT/offerings/o1/memory" 4G
  [ "$(db_attr offering o1 memory)" = 4G ]
}

@test "image: absolute source path, os, min-disk" {
  # the file is opened as the writer when source is written (issue 13)
  printf 'raw disk' > "$T/debian.qcow2"
  accept "$MNT/images/i1/source" "$T/debian.qcow2"
  reject "$E_NOENT" "$MNT/images/i1/source" /var/lib/images/debian.qcow2 "No such file"
  reject "$E_INVAL" "$MNT/images/i1/source" images/debian.qcow2 "is not an absolute path"
  reject "$E_INVAL" "$MNT/images/i1/source" /var/../etc/shadow "is not an absolute path"
  accept "$MNT/images/i1/os" windows
  reject "$E_INVAL" "$MNT/images/i1/os" beos "'beos' is not one of: linux, windows"
  accept "$MNT/images/i1/min-disk" 20G
  reject "$E_INVAL" "$MNT/images/i1/min-disk" 64001G "64001G is out of range 0..64000G"
  reject "$E_INVAL" "$MNT/images/i1/min-disk" -1G "'-1G' is not a size"
}

@test "pool: type, path, rbd-pool length" {
  accept "$CT/pools/p1/path" /srv/pool1
  reject "$E_INVAL" "$CT/pools/p1/path" srv/pool1 "'srv/pool1' is not an absolute path"
  accept "$CT/pools/p1/type" rbd
  reject "$E_INVAL" "$CT/pools/p1/type" nfs "'nfs' is not one of: dir, rbd"
  accept "$CT/pools/p1/rbd-pool" "$(printf 'r%.0s' {1..63})"
  reject "$E_INVAL" "$CT/pools/p1/rbd-pool" "$(printf 'r%.0s' {1..64})" "length 64 is out of range 0..63"
  accept "$CT/pools/p1/type" dir
}

@test "volume: size 10G..64000G, pool and image must exist" {
  accept "$CT/volumes/d1/size" 10G
  accept "$CT/volumes/d1/size" 20480M 20G
  # Sizes only grow: shrinking would destroy data.
  reject "$E_INVAL" "$CT/volumes/d1/size" 10G "can only grow"
  mkdir "$CT/volumes/dmax"
  accept "$CT/volumes/dmax/size" 64000G
  rmdir "$CT/volumes/dmax"
  reject "$E_INVAL" "$CT/volumes/d1/size" 9G "9G is out of range 10G..64000G"
  reject "$E_INVAL" "$CT/volumes/d1/size" 64001G "64001G is out of range 10G..64000G"
  reject "$E_INVAL" "$CT/volumes/d1/size" 1.5T "'1.5T' is not a size"
  accept "$CT/volumes/d1/pool" p1
  reject "$E_NOENT" "$CT/volumes/d1/pool" nope "pool 'nope' does not exist in this cluster"
  reject "$E_INVAL" "$CT/volumes/d1/pool" 'bad name' "'bad name' is not a valid pool name"
  accept "$CT/volumes/d1/image" i1
  reject "$E_NOENT" "$CT/volumes/d1/image" nope "image 'nope' does not exist"
  [ "$(db_attr volume d1 pool)" = p1 ]
}

@test "vm: state, references, root-size 20G..2000G, hostname 2..63, secrets, verbs" {
  V="$CT/vms/v1"
  accept "$V/state" running
  accept "$V/state" paused
  accept "$V/state" stopped
  reject "$E_INVAL" "$V/state" bogus "state: 'bogus' is not one of: running, stopped, paused"
  reject "$E_INVAL" "$V/state" Running "'Running' is not one of"
  reject "$E_INVAL" "$V/state" "running " "'running ' is not one of"
  reject "$E_INVAL" "$V/state" "$(printf 'running\r')" "control characters"
  accept "$V/offering" 2C4G
  reject "$E_NOENT" "$V/offering" 16C64G "offering '16C64G' does not exist"
  accept "$V/image" i1
  reject "$E_NOENT" "$V/image" nope "image 'nope' does not exist"
  accept "$V/root-size" 20G
  accept "$V/root-size" 2000G
  reject "$E_INVAL" "$V/root-size" 19G "19G is out of range 20G..2000G"
  reject "$E_INVAL" "$V/root-size" 2001G "2001G is out of range 20G..2000G"
  accept "$V/pool" p1
  accept "$V/host" h1
  reject "$E_NOENT" "$V/host" h9 "host 'h9' does not exist in this cluster"
  accept "$V/ha" on
  accept "$V/hostname" ab
  accept "$V/hostname" "$(printf 'h%.0s' {1..63})"
  accept "$V/hostname" web-1.example.com
  reject "$E_INVAL" "$V/hostname" a "'a' is not a host name of 2..63"
  reject "$E_INVAL" "$V/hostname" "$(printf 'h%.0s' {1..64})" "is not a host name of 2..63"
  reject "$E_INVAL" "$V/hostname" -web "'-web' is not a host name"
  reject "$E_INVAL" "$V/hostname" web_1 "'web_1' is not a host name"
  accept "$V/description" "$(printf 'd%.0s' {1..256})"
  reject "$E_INVAL" "$V/description" "$(printf 'd%.0s' {1..257})" "length 257 is out of range 0..256"
  # password is write-only: stored as a SHA-512 crypt hash, never read back
  printf 's3cret\n' > "$V/password"
  [ "$(cat "$V/password")" = "" ]
  pw_hash_of "$(db_attr vm v1 password)" s3cret
  local h
  h="$(db_attr vm v1 password)"
  reject "$E_INVAL" "$V/password" "$(printf 'p%.0s' {1..129})" "password: length 129"
  [ "$(db_attr vm v1 password)" = "$h" ]
  # a hash is kept as it is (not hashed again); a malformed one is refused
  h="$(openssl passwd -6 -salt abcdefgh given-hash)"
  printf '%s\n' "$h" > "$V/password"
  [ "$(db_attr vm v1 password)" = "$h" ]
  reject "$E_INVAL" "$V/password" '$6$abc$not-a-hash' "password: starts like a SHA-512 crypt hash"
  [ "$(db_attr vm v1 password)" = "$h" ]
  # an empty write keeps it (rsync of the empty file)
  : > "$V/password"
  [ "$(db_attr vm v1 password)" = "$h" ]
  printf 's3cret\n' > "$V/password"
  pw_hash_of "$(db_attr vm v1 password)" s3cret
  # ctl is a one-shot verb: logged, not stored
  seq0=$(last_seq)
  echo reboot > "$V/ctl"
  [ "$(sqlite3 "$DB" "SELECT new FROM changes WHERE seq > $seq0 AND op = 'verb' AND attr = 'ctl'")" = reboot ]
  reject "$E_INVAL" "$V/ctl" explode "'explode' is not one of: reboot, reset, poweroff"
}

@test "references to a pool, host or volume of another cluster are ENOENT" {
  mkdir -p "$MNT/zones/z2/clusters/c2"
  mkdir "$MNT/zones/z2/clusters/c2/pools/p2" "$MNT/zones/z2/clusters/c2/hosts/h2" \
        "$MNT/zones/z2/clusters/c2/volumes/d2"
  reject "$E_NOENT" "$CT/vms/v1/pool" p2 "pool 'p2' does not exist in this cluster"
  reject "$E_NOENT" "$CT/vms/v1/host" h2 "host 'h2' does not exist in this cluster"
  reject "$E_NOENT" "$CT/volumes/d1/pool" p2 "pool 'p2' does not exist in this cluster"
  # the same names are fine in their own cluster
  mkdir "$MNT/zones/z2/clusters/c2/vms/w2"
  accept "$MNT/zones/z2/clusters/c2/vms/w2/pool" p2
  accept "$MNT/zones/z2/clusters/c2/vms/w2/host" h2
  # attaching another cluster's volume, by relative or absolute target
  refused "$E_NOENT" ln -s ../../../../../z2/clusters/c2/volumes/d2 "$CT/vms/v1/volumes/d2"
  reason_has "$CT/vms/v1" "is not a volume of this cluster"
  refused "$E_NOENT" ln -s "$MNT/zones/z2/clusters/c2/volumes/d2" "$CT/vms/v1/volumes/d2"
  refused "$E_NOENT" ln -s ../../../volumes/nope "$CT/vms/v1/volumes/nope"
  [ ! -e "$CT/vms/v1/volumes/d2" ]
}

@test "volumes: one holder at a time, at most 24 per vm, attached ones cannot go" {
  mkdir "$CT/vms/v2" "$CT/vms/v3"
  ln -s ../../../volumes/d1 "$CT/vms/v1/volumes/"
  [ "$(readlink "$CT/vms/v1/volumes/d1")" = ../../../volumes/d1 ]
  [ "$(cat "$CT/vms/v1/volumes/d1/size")" = 20G ]
  refused "$E_BUSY" ln -s ../../../volumes/d1 "$CT/vms/v2/volumes/"
  reason_has "$CT/vms/v2" "volume d1 is already attached to vm v1"
  refused "$E_BUSY" rmdir "$CT/volumes/d1"
  reason_has "$CT/volumes/d1" "in use by vm v1"
  refused "$E_BUSY" rm -r "$CT/volumes/d1"
  [ -d "$CT/volumes/d1" ]
  refused "$E_INVAL" ln -s ../../../volumes/d1 "$CT/vms/v3/volumes/other-name"
  reason_has "$CT/vms/v3" "the link must be named after the volume (d1)"
  for i in $(seq 1 25); do mkdir "$CT/volumes/q$i"; done
  for i in $(seq 1 24); do ln -s "../../../volumes/q$i" "$CT/vms/v3/volumes/"; done
  refused "$E_DQUOT" ln -s ../../../volumes/q25 "$CT/vms/v3/volumes/"
  reason_has "$CT/vms/v3" "at most 24"
  [ "$(ls "$CT/vms/v3/volumes" | wc -l)" = 24 ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM links l JOIN resources r ON r.id = l.res WHERE r.name = 'v3'")" = 24 ]
  # detaching frees the volume for another vm
  rm "$CT/vms/v3/volumes/q24"
  ln -s ../../../volumes/q24 "$CT/vms/v2/volumes/"
  rm -r "$CT/vms/v3"
  for i in $(seq 1 25); do [ "$i" = 24 ] || rmdir "$CT/volumes/q$i"; done
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM links")" = 2 ]
}

@test "resources in use cannot be deleted or renamed (EBUSY), and say by whom" {
  mkdir "$MNT/offerings/busy1"
  echo busy1 > "$CT/vms/v2/offering"
  refused "$E_BUSY" rmdir "$MNT/offerings/busy1"
  reason_has "$MNT/offerings/busy1" "offering busy1 is in use by vm v2"
  refused "$E_BUSY" mv "$MNT/offerings/busy1" "$MNT/offerings/busy2"
  reason_has "$MNT/offerings/busy1" "referred to by vm v2"
  refused "$E_BUSY" rmdir "$MNT/images/i1"
  reason_has "$MNT/images/i1" "in use by"
  refused "$E_BUSY" rmdir "$CT/pools/p1"
  reason_has "$CT/pools/p1" "in use by"
  refused "$E_BUSY" rmdir "$CT/hosts/h1"
  reason_has "$CT/hosts/h1" "in use by vm v1"
  refused "$E_BUSY" mv "$CT/hosts/h1" "$CT/hosts/h9"
  # once nothing refers to it, it can be renamed and deleted
  echo 1C2G > "$CT/vms/v2/offering"
  mv "$MNT/offerings/busy1" "$MNT/offerings/busy2"
  rmdir "$MNT/offerings/busy2"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE name LIKE 'busy%'")" = 0 ]
}

@test "zones, clusters and collections with children are ENOTEMPTY" {
  refused "$E_NOTEMPTY" rmdir "$ZT"
  reason_has "$ZT" "zone zt still holds cluster ct"
  refused "$E_NOTEMPTY" rmdir "$CT"
  reason_has "$CT" "cluster ct still holds"
  refused "$E_NOTEMPTY" rmdir "$CT/vms"
  reason_has "$CT" "vms/ still holds"
  refused "$E_NOTEMPTY" rmdir "$MNT/offerings"
  [ -d "$CT/vms/v1" ]
  # an empty zone goes
  mkdir "$MNT/zones/zempty"
  rmdir "$MNT/zones/zempty"
  [ ! -e "$MNT/zones/zempty" ]
}

@test "mkdir: invalid names are EINVAL with a reason, existing names EEXIST" {
  long64="$(printf 'n%.0s' {1..64})"
  long200="$(printf 'n%.0s' {1..200})"
  for name in .hidden -dash "with space" 'dollar$' 'a:b' 'a*b' "quo'te" 'é' '名前' \
              "$long64" "$long200" "$(printf 'new\nline')" "$(printf 'tab\there')"; do
    refused "$E_INVAL" mkdir "$CT/vms/$name"
    reason_has "$CT" "'$(printf '%.64s' "$name" | tr '\n' ' ')' is not a valid name"
  done
  refused "$E_INVAL" mkdir "$MNT/offerings/.x"
  refused "$E_INVAL" mkdir "$MNT/zones/-z"
  # 63 characters is the longest name
  mkdir "$CT/vms/$(printf 'n%.0s' {1..63})"
  rmdir "$CT/vms/$(printf 'n%.0s' {1..63})"
  for r in $ALL; do
    refused "$E_EXIST" mkdir "$r"
  done
  refused "$E_EXIST" mkdir "$MNT/offerings/1C2G"
  refused "$E_EXIST" mv -T "$CT/vms/v2" "$CT/vms/v1"
  reason_has "$CT/vms/v2" "vm 'v1' already exists"
  # rename(2) itself: mv words EINVAL as "a subdirectory of itself"
  refused "$E_INVAL" perl -e 'rename($ARGV[0], $ARGV[1]) or die "$!\n"' \
    "$CT/vms/v2" "$CT/vms/bad name"
  reason_has "$CT/vms/v2" "is not a valid name"
}

@test "not allowed: unknown files, status files, odd places are refused" {
  for r in $ALL; do
    kind="$(basename "$(dirname "$r")")"
    refused "$E_PERM" write_value "$r/bogus" x
    reason_has "$r" "${kind%s} has no attribute 'bogus'"
    refused "$E_ACCES" write_value "$r/status/error" x
    refused "$E_PERM" mkdir "$r/sub"
    reason_has "$r" "directories are created only inside collections"
  done
  V="$CT/vms/v1"
  refused "$E_PERM" write_value "$V/bogus" x
  reason_has "$V" "vm has no attribute 'bogus'"
  [ ! -e "$V/bogus" ]
  refused "$E_ACCES" write_value "$V/status/state" running
  refused "$E_ACCES" write_value "$V/status/error" ""
  refused "$E_ACCES" truncate -s 0 "$V/status/state"
  refused "$E_PERM" write_value "$V/status/new" x
  refused "$E_PERM" mkdir "$V/subdir"
  reason_has "$V" "directories are created only inside collections"
  refused "$E_PERM" mkdir "$MNT/toplevel"
  refused "$E_PERM" touch "$V/volumes/file"
  refused "$E_PERM" ln -s ../../volumes/d1 "$V/d1"
  refused "$E_PERM" mv "$V" "$MNT/zones/z2/clusters/c2/vms/v1"
  reason_has "$V" "can only be renamed within its own vms/"
  [ ! -e "$MNT/zones/z2/clusters/c2/vms/v1" ]
  refused "$E_PERM" mv "$V/description" "$CT/vms/v2/description"
  refused "$E_PERM" mv "$V/state" "$V/description"
  refused "$E_ACCES" write_value "$MNT/version" x
}

@test "echo bogus > state prints a shell error and exits non-zero" {
  run bash -c "echo bogus > '$CT/vms/v1/state'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"write error: Invalid argument"* ]]
  run sh -c "echo bogus > '$CT/vms/v1/state'"
  [ "$status" -ne 0 ]
  [ -n "$output" ]
  [ "$(cat "$CT/vms/v1/state")" = stopped ]
  [ "$(db_attr vm v1 state)" = stopped ]
}

@test "stat: sizes are content lengths, modes follow spec/status/secret, link counts" {
  V="$CT/vms/v1"
  for f in state offering root-size hostname description status/error status/state \
           "$ZT/description" "$CT/cpu-overcommit" "$MNT/offerings/o1/memory" "$MNT/version"; do
    case "$f" in /*) p="$f" ;; *) p="$V/$f" ;; esac
    [ "$(stat -c %s "$p")" = "$(cat "$p" | wc -c)" ] || { echo "size of $p" >&2; return 1; }
  done
  # a value normalised on write has the size of what reads back
  echo 30720M > "$V/root-size"
  [ "$(stat -c %s "$V/root-size")" = 4 ]
  [ "$(stat -c %a "$V/state")" = 644 ]
  [ "$(stat -c %a "$V/status/state")" = 444 ]
  [ "$(stat -c %a "$V/password")" = 200 ]
  [ "$(stat -c %s "$V/password")" = 0 ]
  [ "$(stat -c %a "$V/status")" = 555 ]
  [ "$(stat -c %F "$V/volumes/d1")" = "symbolic link" ]
  [ "$(stat -c %s "$V/volumes/d1")" = "$(readlink "$V/volumes/d1" | tr -d '\n' | wc -c)" ]
  # directories: . .. and one per subdirectory
  for d in "$MNT" "$ZT" "$CT" "$V" "$V/status" "$V/volumes" "$CT/vms" "$MNT/offerings" \
           "$CT/hosts/h1"; do
    n=$(find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l)
    [ "$(stat -c %h "$d")" = $((n + 2)) ] || { echo "nlink of $d" >&2; return 1; }
  done
  # mtime is the time of the last change of the value, as SQLite has it
  echo "changed $$" > "$V/description"
  ns=$(sqlite3 "$DB" "SELECT a.mtime FROM attrs a JOIN resources r ON r.id = a.res
                      WHERE r.name = 'v1' AND a.name = 'description'")
  [ "$(stat -c %.9Y "$V/description")" = "$((ns / 1000000000)).$(printf '%09d' $((ns % 1000000000)))" ]
  m1=$(stat -c %.9Y "$V/description")
  echo "changed $$" > "$V/description"
  [ "$(stat -c %.9Y "$V/description")" = "$m1" ]
  echo "changed again" > "$V/description"
  [ "$(stat -c %.9Y "$V/description")" != "$m1" ]
}
