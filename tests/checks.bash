# Assertions shared by the acceptance suites (load after helpers).
#
# A refusal is only accepted when it is observed from the outside: the
# command fails with the expected strerror text, SQLite (spec_dump) shows the
# spec unchanged, and the resource's status/error holds a one-line reason.

# errno texts as the tools print them
E_INVAL="Invalid argument"
E_NOENT="No such file or directory"
E_BUSY="Device or resource busy"
E_EXIST="File exists"
E_NOTEMPTY="Directory not empty"
E_PERM="Operation not permitted"
E_ACCES="Permission denied"
E_DQUOT="Disk quota exceeded"
E_FBIG="File too large"

# write_value FILE VALUE: write one line like "echo VALUE > FILE" would; fails
# (printing the shell's error) when the open, write or close is refused.
write_value() {
  ( printf '%s\n' "$2" > "$1" ) 2>&1
}

# refused ERRTEXT CMD...: CMD fails, its output names ERRTEXT, and the spec in
# SQLite is the same before and after.
refused() {
  local want="$1" before after out
  shift
  before="$(spec_dump)"
  if out="$("$@" 2>&1)"; then
    echo "'$*' unexpectedly succeeded" >&2
    return 1
  fi
  case "$out" in
    *"$want"*) ;;
    *) echo "'$*': expected '$want', got: $out" >&2; return 1 ;;
  esac
  after="$(spec_dump)"
  if [ "$before" != "$after" ]; then
    echo "spec changed by the refused '$*':" >&2
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2
    return 1
  fi
}

# last_error_has USER TEXT: USER's /last-error is one line naming TEXT.
last_error_has() {
  local got
  got="$(runuser -u "$1" -- cat "$MNT/last-error")"
  if [ "$(printf '%s\n' "$got" | wc -l)" != 1 ] || [[ "$got" != *"$2"* ]]; then
    echo "/last-error of $1: expected one line with '$2', got: '$got'" >&2
    return 1
  fi
}

# reason_has RESDIR TEXT: status/error of RESDIR is exactly one line that
# contains TEXT.
reason_has() {
  local dir="$1" want="$2" got
  got="$(cat "$dir/status/error")"
  if [ -z "$got" ] || [ "$(printf '%s\n' "$got" | wc -l)" != 1 ]; then
    echo "status/error of $dir is not one line: '$got'" >&2
    return 1
  fi
  case "$got" in
    *"$want"*) ;;
    *) echo "status/error of $dir: expected '$want', got: '$got'" >&2; return 1 ;;
  esac
}

# reject ERRTEXT FILE VALUE REASON: writing VALUE into attribute FILE fails
# with ERRTEXT, leaves the file and the spec as they were, and explains why
# in the resource's status/error.
reject() {
  local want="$1" file="$2" value="$3" reason="$4" old
  old="$(cat "$file")"
  refused "$want" write_value "$file" "$value" || return 1
  if [ "$(cat "$file")" != "$old" ]; then
    echo "$file changed from '$old' to '$(cat "$file")'" >&2
    return 1
  fi
  reason_has "$(dirname "$file")" "$reason"
}

# accept FILE VALUE [EXPECT]: the write succeeds, reads back as EXPECT
# (default VALUE), reaches SQLite, and clears status/error.  Resource names
# must be unique within their kind in the calling test (see db_attr).
accept() {
  local file="$1" value="$2" expect="${3-$2}" dir kind got
  printf '%s\n' "$value" > "$file" || return 1
  got="$(cat "$file")"
  if [ "$got" != "$expect" ]; then
    echo "$file: wrote '$value', reads '$got', expected '$expect'" >&2
    return 1
  fi
  dir="$(dirname "$file")"
  kind="$(basename "$(dirname "$dir")")"
  got="$(db_attr "${kind%s}" "$(basename "$dir")" "$(basename "$file")")"
  if [ "$got" != "$expect" ]; then
    echo "$file: SQLite holds '$got', expected '$expect'" >&2
    return 1
  fi
  if [ -n "$(cat "$dir/status/error")" ]; then
    echo "$dir/status/error not cleared: $(cat "$dir/status/error")" >&2
    return 1
  fi
}

# The value of an attribute straight from SQLite: db_attr KIND NAME ATTR
# (resource names used with it are unique within their kind in a test).
db_attr() {
  sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res
                 WHERE r.kind = '$1' AND r.name = '$2' AND a.name = '$3'"
}

# pw_hash_of STORED PLAIN: STORED is a SHA-512 crypt(3) hash ("$6$SALT$...")
# of PLAIN, as openssl computes it with the same salt.
pw_hash_of() {
  local stored="$1" plain="$2" salt
  if [[ ! "$stored" =~ ^\$6\$([./0-9A-Za-z]{1,16})\$[./0-9A-Za-z]{86}$ ]]; then
    echo "not a SHA-512 crypt hash: '$stored'" >&2
    return 1
  fi
  salt="${BASH_REMATCH[1]}"
  if [ "$(openssl passwd -6 -salt "$salt" "$plain")" != "$stored" ]; then
    echo "'$stored' is not the hash of '$plain'" >&2
    return 1
  fi
}
