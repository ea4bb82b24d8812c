#!/usr/bin/env bats
# The manual pages: the tree reference of cloudfs(7) is the layout's, every
# layout attribute and every cloudfs.conf key is documented, and the pages
# render without warnings.  No mount is needed.

REPO="$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)"
CLOUDFS_BIN="${CLOUDFS_BIN:-$REPO/build/cloudfs}"
MAN7="$REPO/man/cloudfs.7"
MAN5="$REPO/man/cloudfs.conf.5"
MAN1="$REPO/man/cloudfs.1"

# roff source with "\-" turned back into "-".
plain() {
  sed 's/\\-/-/g' "$1"
}

# The lines between the LAYOUT markers of cloudfs(7).
between_markers() {
  awk '
    $0 == ".\\\" BEGIN LAYOUT" { inside = 1; begins++; next }
    $0 == ".\\\" END LAYOUT"   { inside = 0; ends++; next }
    inside { print }
    END { if (begins != 1 || ends != 1) exit 1 }
  ' "$MAN7"
}

@test "cloudfs(7) holds each LAYOUT marker exactly once, BEGIN first" {
  [ "$(grep -cxF '.\" BEGIN LAYOUT' "$MAN7")" = 1 ]
  [ "$(grep -cxF '.\" END LAYOUT' "$MAN7")" = 1 ]
  b=$(grep -nxF '.\" BEGIN LAYOUT' "$MAN7" | cut -d: -f1)
  e=$(grep -nxF '.\" END LAYOUT' "$MAN7" | cut -d: -f1)
  [ "$b" -lt "$e" ]
}

@test "the tree reference in cloudfs(7) is exactly the output of layout-man" {
  [ -x "$CLOUDFS_BIN" ] || { echo "no $CLOUDFS_BIN: run make" >&2; return 1; }
  # An empty configuration: the built-in layout and ranges, whatever
  # /etc/cloudfs/cloudfs.conf says on this machine.
  "$CLOUDFS_BIN" -c /dev/null layout-man > "$BATS_TEST_TMPDIR/generated"
  [ -s "$BATS_TEST_TMPDIR/generated" ]
  between_markers > "$BATS_TEST_TMPDIR/page"
  if ! diff -u "$BATS_TEST_TMPDIR/page" "$BATS_TEST_TMPDIR/generated" >&2; then
    echo "man/cloudfs.7 is out of date: run make man" >&2
    return 1
  fi
}

@test "every attribute, link and status file of fs-layout/*.cfg is in cloudfs(7)" {
  local cfg kind missing=0 checked=0 section what name
  plain "$MAN7" > "$BATS_TEST_TMPDIR/page"
  for cfg in "$REPO"/fs-layout/*.cfg; do
    kind=$(sed -n 's/^[[:space:]]*kind[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$cfg" | head -n1)
    [ -n "$kind" ] || { echo "$cfg: no kind" >&2; return 1; }
    # The page section of this kind: from its ".SS .../\fIkind\fP/" heading
    # to the next heading.
    section="$BATS_TEST_TMPDIR/section.$kind"
    awk -v tail="\\\\fI$kind\\\\fP/" '
      /^\.S[SH] / { inside = (substr($0, length($0) - length(tail) + 1) == tail); next }
      inside { print }
    ' "$BATS_TEST_TMPDIR/page" > "$section"
    if [ ! -s "$section" ]; then
      echo "cloudfs.7: no section for kind $kind" >&2
      missing=$((missing + 1))
      continue
    fi
    # Kinds made by the reconciler only keep their status files in the
    # resource directory itself.
    status_prefix="status/"
    grep -Eq '^[[:space:]]*system[[:space:]]*=[[:space:]]*true' "$cfg" && status_prefix=""
    # "name = ..." entries of the attributes, status and links lists.
    while read -r what name; do
      checked=$((checked + 1))
      case "$what" in
        attributes) tag=".B $name" ;;
        status) tag=".B $status_prefix$name" ;;
        links) tag=".B $name/" ;;
      esac
      if ! grep -qxF "$tag" "$section"; then
        echo "cloudfs.7: $kind: no '$tag' ($what of $(basename "$cfg"))" >&2
        missing=$((missing + 1))
      fi
    done < <(awk '
      /^[[:space:]]*(attributes|status|links)[[:space:]]*=[[:space:]]*\(/ {
        list = $1; sub(/=.*/, "", list); next
      }
      /^[[:space:]]*\);/ { list = ""; next }
      list != "" && match($0, /name[[:space:]]*=[[:space:]]*"[^"]*"/) {
        entry = substr($0, RSTART, RLENGTH)
        sub(/^name[[:space:]]*=[[:space:]]*"/, "", entry)
        sub(/"$/, "", entry)
        print list, entry
      }
    ' "$cfg")
  done
  [ "$checked" -gt 20 ] || { echo "only $checked names found in fs-layout" >&2; return 1; }
  [ "$missing" = 0 ]
}

@test "the three pages render without warnings" {
  local page out
  for page in "$MAN1" "$MAN5" "$MAN7"; do
    [ -s "$page" ]
    if command -v groff >/dev/null; then
      out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    elif command -v mandoc >/dev/null; then
      out=$(mandoc -T lint -W warning "$page" 2>&1)
    elif command -v man >/dev/null; then
      out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    else
      skip "neither groff, mandoc nor man is installed"
    fi
    if [ -n "$out" ]; then
      echo "$page:" >&2
      echo "$out" >&2
      return 1
    fi
  done
}

@test "every key read by src/common/conf.c is documented in cloudfs.conf(5)" {
  local conf="$REPO/src/common/conf.c" key keys missing=0
  # Keys looked up by name: take_string(&conf->cfg, "key", ...),
  # config_lookup*(&conf->cfg, "key", ...), and {"key", default, ...}
  # entries of key tables.
  keys=$( {
    grep -oE '(take_string|config_lookup[a-z0-9_]*)\(&conf->cfg, "[^"]+"' "$conf"
    grep -oE '^[[:space:]]*\{"[a-z][a-z0-9-]*",' "$conf"
  } | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
  for key in store hypervisor pool-path layout sync limits; do
    grep -qxF "$key" <<<"$keys" || { echo "key extraction missed '$key'" >&2; return 1; }
  done
  plain "$MAN5" > "$BATS_TEST_TMPDIR/page"
  for key in $keys; do
    # A tagged paragraph (".B key" or ".BR key ...") names the key.
    if ! grep -qE "^\.BR? $key( |\$)" "$BATS_TEST_TMPDIR/page"; then
      echo "cloudfs.conf.5: key '$key' is not documented" >&2
      missing=$((missing + 1))
    fi
  done
  [ "$missing" = 0 ]
}

@test "the string defaults of src/common/conf.c are those of cloudfs.conf(5)" {
  local line key dflt
  plain "$MAN5" > "$BATS_TEST_TMPDIR/page"
  while IFS=$'\t' read -r key dflt; do
    if ! grep -qE "^\.BR? $key .*default.*\"$dflt\"" "$BATS_TEST_TMPDIR/page" &&
       ! grep -qE "^\.BR? $key .*default.*\\\\\(dq$dflt\\\\\(dq" "$BATS_TEST_TMPDIR/page"; then
      echo "cloudfs.conf.5: '$key' does not give its default \"$dflt\"" >&2
      return 1
    fi
  done < <(grep -oE 'take_string\(&conf->cfg, "[^"]+", "[^"]*"' "$REPO/src/common/conf.c" |
           sed -E 's/.*"([^"]+)", "([^"]*)"/\1\t\2/')
}

@test "every command of cloudfs help has a section in cloudfs(1)" {
  [ -x "$CLOUDFS_BIN" ] || { echo "no $CLOUDFS_BIN: run make" >&2; return 1; }
  local cmd n=0
  plain "$MAN1" > "$BATS_TEST_TMPDIR/page"
  for cmd in $("$CLOUDFS_BIN" help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }'); do
    n=$((n + 1))
    grep -qE "^\.SS $cmd( |\$)" "$BATS_TEST_TMPDIR/page" ||
      { echo "cloudfs.1: no section for command '$cmd'" >&2; return 1; }
  done
  [ "$n" -ge 5 ]
}
