#!/usr/bin/env bats
# Tags (issue 13): a tags file on every resource (key=value lines, at most 50
# of 127 characters, one value per key, as the UCloudStack whitepaper) and
# the read-only index /tags/KEY/VALUE/ of symlinks to the tagged resources a
# reader may reach.  Two unprivileged users, cfs-t-ann and cfs-t-ben; the
# store is observed with sqlite3.

load helpers
load checks

E_ROFS="Read-only file system"
USERS=(cfs-t-ann cfs-t-ben)

setup_file() {
  local u
  for u in "${USERS[@]}"; do
    id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$u"
  done
  cfs_start
  # mktemp made $T private; the tenants have to reach the mount point.
  chmod 755 "$T"
  mkdir "$C/vms/pub" "$C/vms/priv"
  chmod 700 "$C/vms/priv"
  runuser -u cfs-t-ann -- mkdir -m 700 "$C/vms/annvm"
  runuser -u cfs-t-ben -- mkdir -m 700 "$C/vms/benvm"
}
teardown_file() {
  local u rc=0
  cfs_stop || rc=$?
  for u in "${USERS[@]}"; do userdel "$u" 2>/dev/null || true; done
  return $rc
}

as_ann() { runuser -u cfs-t-ann -- "$@"; }
as_ben() { runuser -u cfs-t-ben -- "$@"; }

# The tags table as SQLite has it: KEY|VALUE|RESOURCE-NAME, sorted.
tag_rows() {
  sqlite3 "$DB" "SELECT t.key, t.value, r.name FROM tags t JOIN resources r ON r.id = t.res
                 ORDER BY 1, 2, 3"
}

# put_tags FILE TEXT: the text (printf format) as one write and one close.
put_tags() {
  printf "$2" | cat > "$1"
}

@test "tags are stored in normal form and indexed in the same transaction" {
  put_tags "$C/vms/pub/tags" 'env=prod\n team = web \n\n'
  [ "$(cat "$C/vms/pub/tags")" = "$(printf 'env=prod\nteam=web')" ]
  [ "$(db_attr vm pub tags)" = "$(printf 'env=prod\nteam=web')" ]
  [ "$(tag_rows)" = "$(printf 'env|prod|pub\nteam|web|pub')" ]
  # one change entry for the write, and the table beside it
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM changes WHERE op = 'set' AND attr = 'tags' AND path LIKE '%/vms/pub'")" = 1 ]
  # echo >> adds a tag: the file is checked whole when it is closed
  echo "tier=front" >> "$C/vms/pub/tags"
  [ "$(tag_rows)" = "$(printf 'env|prod|pub\nteam|web|pub\ntier|front|pub')" ]
}

@test "bad tags are refused with EINVAL and a reason, and the store is unchanged" {
  local V="$C/vms/pub" before_tags long
  before_tags="$(tag_rows)"
  # 51 tags
  refused "$E_INVAL" bash -c "for i in \$(seq 1 51); do echo k\$i=v; done | cat > '$V/tags'"
  reason_has "$V" "tags: more than 50 tags"
  # 50 are fine (checked below, then put back)
  # a line of 128 characters
  long="k=$(head -c 126 /dev/zero | tr '\0' v)"
  [ "${#long}" = 128 ]
  refused "$E_INVAL" bash -c "echo '$long' | cat > '$V/tags'"
  reason_has "$V" "tags: line 1 has 128 characters, at most 127"
  last_error_has root "line 1 has 128 characters"
  # no '='
  refused "$E_INVAL" bash -c "printf 'env=prod\nnoequals\n' | cat > '$V/tags'"
  reason_has "$V" "tags: line 2 'noequals' is not key=value"
  # a key twice
  refused "$E_INVAL" bash -c "printf 'env=prod\nenv=test\n' | cat > '$V/tags'"
  reason_has "$V" "tags: key env appears twice"
  # appending a key it already has
  refused "$E_INVAL" bash -c "echo env=test | cat >> '$V/tags'"
  # names of /tags directories: no '/', no empty value
  refused "$E_INVAL" bash -c "echo 'a/b=c' | cat > '$V/tags'"
  refused "$E_INVAL" bash -c "echo 'a=' | cat > '$V/tags'"
  [ "$(tag_rows)" = "$before_tags" ]
  [ "$(cat "$V/tags")" = "$(printf 'env=prod\nteam=web\ntier=front')" ]
  # 50 tags and a 127-character line are accepted
  for i in $(seq 1 50); do echo "k$i=v"; done | cat > "$C/vms/priv/tags"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM tags t JOIN resources r ON r.id = t.res WHERE r.name = 'priv'")" = 50 ]
  echo "${long%v}" | cat > "$C/vms/priv/tags"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM tags t JOIN resources r ON r.id = t.res WHERE r.name = 'priv'")" = 1 ]
}

@test "the index lists keys, values and links that resolve to the resources" {
  put_tags "$C/vms/priv/tags" 'env=prod\nsecret=yes\n'
  as_ann bash -c "printf 'env=prod\nowner=ann\n' | cat > '$C/vms/annvm/tags'"
  as_ben bash -c "printf 'env=prod\nowner=ben\n' | cat > '$C/vms/benvm/tags'"
  run ls "$MNT/tags"
  [ "$output" = "$(printf 'env\nowner\nsecret\nteam\ntier')" ]
  run ls "$MNT/tags/env"
  [ "$output" = prod ]
  run ls "$MNT/tags/env/prod"
  [ "$output" = "$(printf 'vm:default:default:annvm\nvm:default:default:benvm\nvm:default:default:priv\nvm:default:default:pub')" ]
  local link="$MNT/tags/env/prod/vm:default:default:pub"
  [ -L "$link" ]
  [ "$(readlink "$link")" = "../../../zones/default/clusters/default/vms/pub" ]
  [ "$(readlink -f "$link")" = "$(readlink -f "$C/vms/pub")" ]
  [ "$(cat "$link/state")" = stopped ]
  [ "$(ls "$link/" | grep -c '^tags$')" = 1 ]
  # every link of the index resolves to a directory
  for l in "$MNT"/tags/*/*/*; do
    [ -d "$l" ] || { echo "$l does not resolve" >&2; return 1; }
  done
  # the index is not the store's: a key nobody has is not there
  run stat "$MNT/tags/nokey"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_NOENT"* ]]
  # volumes and images are tagged too, named after their path
  mkdir "$C/volumes/d1" "$MNT/images/img1"
  echo env=prod > "$C/volumes/d1/tags"
  echo env=prod > "$MNT/images/img1/tags"
  run ls "$MNT/tags/env/prod"
  [[ "$output" == *"image:img1"* ]]
  [[ "$output" == *"volume:default:default:d1"* ]]
  [ "$(readlink -f "$MNT/tags/env/prod/volume:default:default:d1")" = "$(readlink -f "$C/volumes/d1")" ]
  [ "$(readlink "$MNT/tags/env/prod/image:img1")" = "../../../images/img1" ]
}

@test "a tenant sees only its own tagged resources and those it may reach" {
  # The kernel keeps root's lookups for a second (entry_timeout) for every
  # user: let them expire so each name is asked for again.
  sleep 1.2
  run as_ann ls "$MNT/tags/env/prod"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'image:img1\nvm:default:default:annvm\nvm:default:default:pub\nvolume:default:default:d1')" ]
  run as_ben ls "$MNT/tags/env/prod"
  [ "$output" = "$(printf 'image:img1\nvm:default:default:benvm\nvm:default:default:pub\nvolume:default:default:d1')" ]
  # keys and values only others' hidden resources have are not there
  run as_ann ls "$MNT/tags"
  [ "$output" = "$(printf 'env\nowner\nteam\ntier')" ]
  run as_ann ls "$MNT/tags/owner"
  [ "$output" = ann ]
  run as_ben ls "$MNT/tags/owner"
  [ "$output" = ben ]
  # naming them does not find them either
  run as_ann stat "$MNT/tags/env/prod/vm:default:default:benvm"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_NOENT"* ]]
  run as_ann stat "$MNT/tags/secret"
  [[ "$output" == *"$E_NOENT"* ]]
  run as_ben readlink "$MNT/tags/owner/ann/vm:default:default:annvm"
  [ "$status" -ne 0 ]
  # her own link resolves, as her
  [ "$(as_ann readlink -f "$MNT/tags/owner/ann/vm:default:default:annvm")" = "$(readlink -f "$C/vms/annvm")" ]
  [ "$(as_ann cat "$MNT/tags/owner/ann/vm:default:default:annvm/tags")" = "$(printf 'env=prod\nowner=ann')" ]
  # making a VM private takes it out of others' view
  chmod 700 "$C/vms/pub"
  sleep 1.2
  run as_ben ls "$MNT/tags/env/prod"
  [[ "$output" != *"vm:default:default:pub"* ]]
  chmod 755 "$C/vms/pub"
}

@test "writes under /tags fail with EROFS (root) or EACCES (others) and change nothing" {
  local P="$MNT/tags/env/prod" before
  before="$(tag_rows)"
  refused "$E_ROFS" mkdir "$MNT/tags/new"
  refused "$E_ROFS" mkdir "$P/new"
  refused "$E_ROFS" rmdir "$P"
  refused "$E_ROFS" rm "$P/vm:default:default:pub"
  refused "$E_ROFS" ln -s ../../../zones/default/clusters/default/vms/priv "$P/x"
  refused "$E_ROFS" touch "$P/file"
  refused "$E_ROFS" bash -c "echo x > '$MNT/tags/file'"
  refused "$E_ROFS" mv "$C/vms/priv" "$P/priv"
  refused "$E_ROFS" mv "$P/vm:default:default:pub" "$C/vms/pub2"
  last_error_has root "/tags is a read-only index"
  # through the link, the resource itself is written as usual
  echo "a VM" > "$P/vm:default:default:pub/description"
  [ "$(db_attr vm pub description)" = "a VM" ]
  # tenants are stopped by the mode (0555) before the mount is asked
  [ "$(stat -c %a "$MNT/tags" "$P" | sort -u)" = 555 ]
  refused "$E_ACCES" as_ann mkdir "$MNT/tags/new"
  refused "$E_ACCES" as_ann rm "$P/vm:default:default:annvm"
  [ "$(tag_rows)" = "$before" ]
  [ -d "$C/vms/priv" ] && [ -d "$C/vms/pub" ]
}

@test "removing a tag removes its link; removing the last one removes the key" {
  # looked up (the kernel keeps the entry), then gone at once after the write
  [ -L "$MNT/tags/env/prod/vm:default:default:pub" ]
  [ -d "$MNT/tags/tier/front" ]
  put_tags "$C/vms/pub/tags" 'env=test\nteam=web\n'
  [ ! -L "$MNT/tags/env/prod/vm:default:default:pub" ]
  [ ! -e "$MNT/tags/tier/front" ]
  [ ! -e "$MNT/tags/tier" ]
  [ -L "$MNT/tags/env/test/vm:default:default:pub" ]
  run ls "$MNT/tags/env/prod"
  [[ "$output" != *"vm:default:default:pub"* ]]
  run ls "$MNT/tags/env/test"
  [ "$output" = "vm:default:default:pub" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM tags t JOIN resources r ON r.id = t.res
                      WHERE r.name = 'pub' AND t.key = 'env' AND t.value = 'prod'")" = 0 ]
  : > "$C/vms/pub/tags"
  [ -z "$(cat "$C/vms/pub/tags")" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM tags t JOIN resources r ON r.id = t.res WHERE r.name = 'pub'")" = 0 ]
  run ls "$MNT/tags"
  [[ "$output" != *tier* ]] && [[ "$output" != *team* ]]
  run ls "$MNT/tags/env"
  [ "$output" = prod ]
  # a deleted resource leaves the index with its tags, at once
  [ -L "$MNT/tags/env/prod/volume:default:default:d1" ]
  rmdir "$C/volumes/d1"
  [ ! -L "$MNT/tags/env/prod/volume:default:default:d1" ]
  run ls "$MNT/tags/env/prod"
  [[ "$output" != *volume:* ]]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM tags WHERE res NOT IN (SELECT id FROM resources WHERE deleted = 0)")" = 0 ]
}

@test "renaming a resource moves its link" {
  [ -L "$MNT/tags/secret/yes/vm:default:default:priv" ]
  mv "$C/vms/priv" "$C/vms/priv2"
  [ ! -L "$MNT/tags/secret/yes/vm:default:default:priv" ]
  run ls "$MNT/tags/secret/yes"
  [ "$output" = "vm:default:default:priv2" ]
  [ "$(readlink -f "$MNT/tags/secret/yes/vm:default:default:priv2")" = "$(readlink -f "$C/vms/priv2")" ]
  [ "$(tag_rows | grep -c priv2)" = 2 ]
  as_ann mv "$C/vms/annvm" "$C/vms/annvm2"
  [ "$(as_ann ls "$MNT/tags/owner/ann")" = "vm:default:default:annvm2" ]
}

@test "migration 8 fills the tags table from the tags already stored" {
  local before schema
  before="$(tag_rows)"
  [ -n "$before" ]
  schema=$(sqlite3 "$DB" 'PRAGMA user_version')
  [ "$schema" -ge 8 ]
  cfs_umount
  # A version-7 store: no tags table.  The later migrations run again too
  # (9 hashes only passwords not hashed yet: nothing here).
  sqlite3 "$DB" "DROP TABLE tags; PRAGMA user_version = 7;"
  cfs_mount
  [ "$(sqlite3 "$DB" 'PRAGMA user_version')" = "$schema" ]
  [ "$(tag_rows)" = "$before" ]
  run ls "$MNT/tags/owner"
  [ "$output" = "$(printf 'ann\nben')" ]
}

@test "cloudfs check finds the tags index out of step with the tags files" {
  local out rc=0 pub
  out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; false; }
  [ -z "$out" ]
  pub=$(sqlite3 "$DB" "SELECT id FROM resources WHERE kind='vm' AND name='priv2'")
  sqlite3 -cmd ".timeout 30000" "$DB" "DELETE FROM tags WHERE res=$pub AND key='secret';
                                        INSERT INTO tags VALUES('ghost', 'x', $pub)"
  rc=0
  out=$("$CLOUDFS_BIN" -c "$CONF" check -n 2>/dev/null) || rc=$?
  sqlite3 -cmd ".timeout 30000" "$DB" "DELETE FROM tags WHERE key='ghost';
                                        INSERT INTO tags VALUES('secret', 'yes', $pub)"
  [ "$rc" = 1 ]
  grep -qx "zones/default/clusters/default/vms/priv2: tag secret=yes is missing from the tags index, not as its tags file says" <<<"$out"
  grep -qx "zones/default/clusters/default/vms/priv2: tag ghost=x is in the tags index, not as its tags file says" <<<"$out"
  [ "$(wc -l <<<"$out")" = 2 ] || { echo "$out"; false; }
}
