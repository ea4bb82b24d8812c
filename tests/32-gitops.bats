#!/usr/bin/env bats
# GitOps end to end: the spec of the cloud lives in a git work tree and is
# synced with the two rsync commands of cloudfs(7) ("GitOps").  VMs created,
# edited, stopped and deleted in git reach libvirt; a resource removed from
# the work tree is removed from the cloud (pruning); an identical second sync
# writes nothing (not one line in /audit).

load compute_helpers

setup_file() {
  STOP_TIMEOUT=2 compute_start
  make_tiny_offering tiny 64M
  export WT="$T/wt" ORIGIN="$T/origin.git"
  git init -q --bare "$ORIGIN"
  git -C "$T" clone -q "$ORIGIN" wt 2>/dev/null
  git -C "$WT" config user.email test@example.org
  git -C "$WT" config user.name test
}

teardown_file() { compute_stop; }

# The filters of cloudfs(7): the spec collections only, status/ and the
# directory markers left out (both perishable: ignored inside a directory
# being deleted, so that a deleted resource goes with its status/).
FILTERS=(--filter='+ /zones/' --filter='+ /offerings/' --filter='+ /images/'
         --filter='- /*' --filter='-p status/' --filter='-p .keep')

# In: the work tree onto the mount.  Out: the mount back into the work
# tree, then a marker in every empty directory so that git keeps it.
sync_in() { rsync -rlc --delete "${FILTERS[@]}" "$WT/" "$MNT/"; }
sync_out() {
  rsync -a --delete "${FILTERS[@]}" "$MNT/" "$WT/"
  find "$WT" -name .git -prune -o -type d -empty -exec touch {}/.keep \;
}
sync_both() { sync_in && sync_out; }

audit_count() { sqlite3 "$DB" "SELECT count(*) FROM audit"; }
wt_vm() { echo "$WT/zones/default/clusters/default/vms/$1"; }

@test "the spec syncs out into git; the empty directories come back as markers" {
  sync_out
  [ -f "$WT/zones/default/clusters/default/vms/.keep" ]
  [ ! -e "$WT/zones/default/clusters/default/hosts/local/status" ]
  [ ! -e "$WT/README" ]; [ ! -e "$WT/audit" ]; [ ! -e "$WT/tasks" ]
  [ "$(cat "$WT/offerings/tiny/memory")" = 64M ]
  git -C "$WT" add -A
  git -C "$WT" commit -qm "cloud as found"
  git -C "$WT" push -q origin HEAD 2>/dev/null
}

@test "a fresh clone creates three VMs; they run, as virsh sees" {
  rm -rf "$WT"
  git -C "$T" clone -q "$ORIGIN" wt 2>/dev/null
  for v in g1 g2 g3; do
    mkdir -p "$(wt_vm $v)"
    echo tiny > "$(wt_vm $v)/offering"
    echo running > "$(wt_vm $v)/state"
  done
  git -C "$WT" add -A
  git -C "$WT" -c user.email=t@e -c user.name=t commit -qm "three VMs"
  sync_both
  for v in g1 g2 g3; do
    timeout 60 cat "$C/vms/$v/wait"
    domstate_is "$(vm_domain $v)" running
  done
  # Out-sync filled in the defaults; git records them.
  [ "$(cat "$(wt_vm g1)/root-size")" = 40G ]
  git -C "$WT" add -A
  git -C "$WT" -c user.email=t@e -c user.name=t commit -qm "as the cloud filled them in"
}

@test "edit, stop and delete in git; one sync; tree, store and virsh agree with git" {
  dom3=$(vm_domain g3)
  echo "web front" > "$(wt_vm g1)/description"
  echo stopped > "$(wt_vm g2)/state"
  git -C "$WT" rm -rq "$(wt_vm g3)"
  [ ! -e "$(wt_vm g3)" ]
  git -C "$WT" -c user.email=t@e -c user.name=t commit -aqm "edit, stop, delete"
  sync_both
  timeout 60 cat "$C/vms/g2/wait"
  [ "$(cat "$C/vms/g1/description")" = "web front" ]
  [ "$(sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res
                      WHERE r.kind = 'vm' AND r.name = 'g1' AND a.name = 'description'")" = "web front" ]
  domstate_is "$(vm_domain g1)" running
  domstate_is "$(vm_domain g2)" "shut off"
  [ ! -e "$C/vms/g3" ]
  # g3's domain goes with it (the reconciler's teardown).
  wait_until 60 bash -c "! $VIRSH dominfo $dom3"
  [ "$(ls "$C/vms")" = "$(printf 'g1\ng2')" ]
  # The work tree after the out-sync is what git has: nothing to commit.
  [ -z "$(git -C "$WT" status --porcelain)" ] || { git -C "$WT" status --porcelain; false; }
}

@test "an identical second sync writes nothing: not one line in /audit" {
  before=$(audit_count)
  seq_before=$(last_seq)
  sync_both
  sync_both
  [ "$(audit_count)" = "$before" ] || {
    sqlite3 "$DB" "SELECT op, path, result FROM audit WHERE id > (SELECT max(id) FROM audit) - 20"; false; }
  [ "$(spec_changes_since "$seq_before")" = 0 ]
}

@test "spec files unlinked in the work tree of a kept resource change nothing" {
  before=$(sqlite3 "$DB" "SELECT count(*) FROM attrs")
  rm "$(wt_vm g1)/description"
  sync_in
  [ "$(cat "$C/vms/g1/description")" = "web front" ]
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM attrs")" = "$before" ]
  domstate_is "$(vm_domain g1)" running
  sync_out
  [ "$(cat "$(wt_vm g1)/description")" = "web front" ]
}
