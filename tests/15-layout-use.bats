#!/usr/bin/env bats
# Every attribute of the layout does something: a reconciler pass reads it
# (declared in its rc_kind row, which the reconciler checks against what the
# pass really reads while the suite runs), the mount's preconditions read it,
# the mount turns it into a link, or the layout marks it spec-only with a
# reason.  The few that do nothing yet are listed in tests/layout-inert.txt
# with the issue that will make them work; the list can only shrink.  And
# the reconciler refuses to start when its table and the layout disagree.
# No mount, no libvirt.

REPO="$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)"
CLOUDFS_BIN="${CLOUDFS_BIN:-$REPO/build/cloudfs}"
INERT="$REPO/tests/layout-inert.txt"

# Attribute names the mount's preconditions read (precond.c, precond_net.c, quota.c,
# pool_cap.c), one per line.
# They are read by name (store_attr_text/store_attr_get on a resource of
# whatever kind the rule looks at), so a name counts for every kind that
# has an attribute of that name.
# quota.c reads a quota's limits by the names of its table of items.
precond_reads() {
  { grep -ohE 'store_attr_(text|get)\([^,]+,[^,]+, "[a-z0-9-]+"' "$REPO/src/fs/precond.c" "$REPO/src/fs/precond_net.c" "$REPO/src/fs/quota.c" "$REPO/src/store/pool_cap.c"
    grep -ohE '\[Q_[A-Z]+\] = \{"[a-z0-9-]+"' "$REPO/src/fs/quota.c"
  } | sed -E 's/.*"([a-z0-9-]+)"$/\1/' | sort -u
}

# KIND/ATTR<TAB>READERS for every attribute, the mount's preconditions added.
uses() {
  "$CLOUDFS_BIN" -c /dev/null layout-use > "$BATS_TEST_TMPDIR/uses" || return 1
  precond_reads > "$BATS_TEST_TMPDIR/precond"
  [ -s "$BATS_TEST_TMPDIR/precond" ] || { echo "found no attribute read in precond.c" >&2; return 1; }
  awk -F'\t' 'NR == FNR { p[$1] = 1; next }
    { split($1, ka, "/"); r = $2
      if (ka[2] in p) r = (r == "-" ? "precond" : r " precond")
      print $1 "\t" r }' "$BATS_TEST_TMPDIR/precond" "$BATS_TEST_TMPDIR/uses"
}

@test "layout-use lists every attribute of fs-layout once" {
  [ -x "$CLOUDFS_BIN" ] || { echo "no $CLOUDFS_BIN: run make" >&2; return 1; }
  run "$CLOUDFS_BIN" -c /dev/null layout-use
  [ "$status" -eq 0 ]
  want=0
  for cfg in "$REPO"/fs-layout/*.cfg; do
    want=$((want + $(grep -cE '^[[:space:]]*\{ name = "[a-z0-9-]+"; type = ' "$cfg" || true)))
  done
  [ "${#lines[@]}" -eq "$want" ]
  [ "$(printf '%s\n' "${lines[@]}" | cut -f1 | sort -u | wc -l)" -eq "$want" ]
  # The readers the reconciler declares are there (a sample of each kind).
  printf '%s\n' "${lines[@]}" | grep -qE $'^vm/state\t(.* )?reconcile:vm( |$)'
  printf '%s\n' "${lines[@]}" | grep -qE $'^host/uri\treconcile:host( |$)'
  printf '%s\n' "${lines[@]}" | grep -qx $'vm/attach\tmount:link'
  printf '%s\n' "${lines[@]}" | grep -qx $'zone/description\tspec-only'
}

@test "every attribute nobody reads is in layout-inert.txt, and every one listed there is unread" {
  uses > "$BATS_TEST_TMPDIR/all" || return 1
  awk -F'\t' '$2 == "-" { print $1 }' "$BATS_TEST_TMPDIR/all" | sort > "$BATS_TEST_TMPDIR/unread"
  grep -vE '^[[:space:]]*(#|$)' "$INERT" | awk '{ print $1 }' | sort > "$BATS_TEST_TMPDIR/listed"
  # Each line of the list names its issue.
  if grep -vE '^[[:space:]]*(#|$)' "$INERT" | grep -vE '^[a-z0-9-]+/[a-z0-9-]+ [0-9]+$' >&2; then
    echo "layout-inert.txt: lines are 'kind/attr ISSUE'" >&2
    return 1
  fi
  missing=$(comm -23 "$BATS_TEST_TMPDIR/unread" "$BATS_TEST_TMPDIR/listed")
  stale=$(comm -13 "$BATS_TEST_TMPDIR/unread" "$BATS_TEST_TMPDIR/listed")
  if [ -n "$missing" ]; then
    echo "read by no pass, no precondition and not spec-only (make them work, mark them" >&2
    echo "spec-only with a reason, or list them in tests/layout-inert.txt with the issue):" >&2
    echo "$missing" >&2
  fi
  if [ -n "$stale" ]; then
    echo "listed in tests/layout-inert.txt but read, or not in the layout (remove the line):" >&2
    for a in $stale; do grep -F "$a"$'\t' "$BATS_TEST_TMPDIR/all" >&2 || echo "$a: not in the layout" >&2; done
  fi
  [ -z "$missing" ] && [ -z "$stale" ]
}

@test "an attribute marked spec-only is read by nobody" {
  uses > "$BATS_TEST_TMPDIR/all" || return 1
  if awk -F'\t' '$2 ~ /spec-only/ && $2 != "spec-only"' "$BATS_TEST_TMPDIR/all" | grep . >&2; then
    echo "marked spec-only but read: drop spec-only from its layout entry" >&2
    return 1
  fi
}

# A copy of the layout, changed by a sed expression on one file, and a
# configuration that uses it.
layout_with() {
  local file="$1" expr="$2"
  mkdir -p "$BATS_TEST_TMPDIR/layout"
  cp "$REPO"/fs-layout/*.cfg "$BATS_TEST_TMPDIR/layout/"
  sed -i -e "$expr" "$BATS_TEST_TMPDIR/layout/$file"
  cat > "$BATS_TEST_TMPDIR/conf" <<CONF
store = "$BATS_TEST_TMPDIR/store.db";
hypervisor = "test:///default";
pool-path = "$BATS_TEST_TMPDIR/pool";
layout = "$BATS_TEST_TMPDIR/layout";
CONF
}

# The reconciler must stop at once with status 1 and this one-line reason.
reconcile_refuses() {
  run timeout 20 "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/conf" reconcile -f
  echo "$output" >&2
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "${lines[0]}" == "cloudfs reconcile: $1" ]]
}

@test "the reconciler refuses a reconciled kind without a pass" {
  layout_with zone.cfg 's/^order = 10;/order = 10;\nreconciled = true;/'
  reconcile_refuses "kind zone is reconciled in the layout but the reconciler has no pass for it"
}

@test "the reconciler refuses a pass for a kind the layout does not reconcile" {
  layout_with host.cfg '/^reconciled = true;/d'
  reconcile_refuses "the reconciler has a pass for kind host, which the layout marks neither reconciled nor system"
}

@test "the reconciler refuses a declared attribute or status the layout does not have" {
  layout_with vm.cfg '/name = "kernel"/,+1d'
  reconcile_refuses "the vm row declares attribute vm/kernel, which the layout does not have"
  layout_with volume.cfg '/name = "attached-to"/d'
  reconcile_refuses "the volume row declares status volume/attached-to, which the layout does not have"
}

@test "spec-only needs a reason" {
  layout_with zone.cfg 's/spec-only = "[^"]*"/spec-only = ""/'
  run "$CLOUDFS_BIN" -c "$BATS_TEST_TMPDIR/conf" layout-use
  [ "$status" -ne 0 ]
  [[ "$output" == *"zone.description: spec-only needs the reason nothing acts on it"* ]]
}
