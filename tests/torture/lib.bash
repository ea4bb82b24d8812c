# The torture scenarios, as functions shared by the full suite
# (tests/torture/*.bats, `make torture`) and its short version in `make check`
# (tests/80-torture-short.bats).  Each takes its size as arguments; the oracle
# is always the same: the daemons are alive, SQLite's integrity check passes,
# `cloudfs check` finds nothing, and what was acknowledged is in the store.
#
# Load after compute_helpers (and checks for the errno texts).

# ---- as a tenant --------------------------------------------------------------

# With TORTURE_USER set (torture_as_tenant), the writers and readers run as
# that unprivileged local user, a tenant of the cloud: it makes its own
# VMs, volumes and images in the sticky collections and hammers them and the
# operator's resources around them.  The oracle stays the same.
tt() {
  if [ -n "${TORTURE_USER:-}" ]; then runuser -u "$TORTURE_USER" -- "$@"; else "$@"; fi
}

# torture_as_tenant: after cfs_start/compute_start; the user cfs-torture,
# made if missing and removed by torture_tenant_cleanup (a teardown).
torture_as_tenant() {
  id cfs-torture >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh cfs-torture
  export TORTURE_USER=cfs-torture
  chmod 755 "$T"       # mktemp made it private; the tenant has to reach the mount
  # Room for the load's VMs (ZStack's default quota is 20).
  mkdir "$MNT/quotas/cfs-torture"
  echo 1000 > "$MNT/quotas/cfs-torture/vms"
}

torture_tenant_cleanup() {
  [ -n "${TORTURE_USER:-}" ] || return 0
  pkill -KILL -u cfs-torture 2>/dev/null || true
  userdel cfs-torture 2>/dev/null || true
  unset TORTURE_USER
}

# ---- oracle ------------------------------------------------------------------

# Both daemons this file started are still running.
daemons_alive() {
  kill -0 "$(cat "$T/mount.pid")" 2>/dev/null || { echo "the mount died; log:" >&2; tail -20 "$T/mount.log" >&2; return 1; }
  if [ -f "$T/reconcile.pid" ]; then
    kill -0 "$(cat "$T/reconcile.pid")" 2>/dev/null ||
      { echo "the reconciler died; log:" >&2; tail -20 "$T/reconcile.log" >&2; return 1; }
  fi
}

# cloudfs check of the store only; prints the differences and fails on any.
store_clean() {
  local out rc=0
  out=$("$CLOUDFS_BIN" -c "$CONF" check -n "$@" 2>/dev/null) || rc=$?
  [ "$rc" = 0 ] && return 0
  echo "cloudfs check (exit $rc):" >&2
  printf '%s\n' "$out" | head -30 >&2
  return 1
}

# Lines of `cloudfs check` (with the hosts) that concern this store: the
# shared qemu:///system and machine hold other stores' domains and networks,
# which look like orphans.
check_ours() {
  local out uuids line u
  out=$("$CLOUDFS_BIN" -c "$CONF" check "$@" 2>/dev/null)
  uuids=$(sqlite3 "$DB" "SELECT uuid FROM resources")
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    case "$line" in
      *": orphan "*" has UUID "*)
        u=${line##* has UUID }
        grep -qxF "$u" <<<"$uuids" && printf '%s\n' "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <<<"$out"
  return 0
}

spec_hash() { spec_dump | md5sum | cut -d' ' -f1; }

# The spec without attribute ATTR of resources named NAME.
spec_hash_except() {
  spec_dump | awk -F'|' -v n="$1" -v a="$2" '
    $1 == "R" && $5 == n { skip[$2] = 1 }
    !($1 == "A" && skip[$2] && $3 == a)' | md5sum | cut -d' ' -f1
}

# ---- bad input ---------------------------------------------------------------

# One resource of every kind, next to the defaults made by init.
# As a tenant: the tenant kinds (image, volume, VM) are the tenant's.
make_one_of_each() {
  mkdir "$MNT/zones/tz" "$MNT/zones/tz/clusters/tc" "$MNT/offerings/to"
  mkdir "$C/hosts/th" "$C/pools/tp"
  tt mkdir "$MNT/images/ti" "$C/volumes/tv" "$C/vms/tvm"
  echo test:///default > "$C/hosts/th/uri"
}

# Payloads in $T/payload/: fixed edge cases plus RANDOM random ones.
make_payloads() {
  local random="$1" p="$T/payload" i
  mkdir -p "$p"
  : > "$p/empty"
  printf '\0' > "$p/nul"
  printf 'running\0stopped' > "$p/embedded-nul"
  printf 'running\nstopped\n' > "$p/two-lines"
  printf '\n\n\n' > "$p/newlines"
  head -c 100000 /dev/zero | tr '\0' x > "$p/huge-line"
  head -c 2000000 /dev/urandom > "$p/huge-random"
  printf '%0400d' 9 > "$p/huge-number"
  printf -- '-1' > "$p/negative"
  printf '1e9' > "$p/exponent"
  printf ' 20G ' > "$p/blanks"
  printf '99999999999999999999T' > "$p/overflow-size"
  printf '\xe2\x80\xae\xff\xfe' > "$p/bad-utf8"
  printf '$(touch %s/pwned)`id`' "$T" > "$p/shell"
  printf "</description><devices><disk type='file'/>&amp;\"'" > "$p/xml"
  printf '%%s%%n%%x' > "$p/format"
  printf 'running\r' > "$p/carriage-return"
  for i in $(seq 1 "$random"); do
    head -c $((RANDOM % 300 + 1)) /dev/urandom > "$p/random$i"
  done
}

# The writable files of every resource under a directory (status/ excluded).
writable_files() {
  find "$@" -name status -prune -o -type f -perm -200 -print | sort
}

# write_mode MODE PAYLOAD FILE: write a payload the way some tool would.
write_mode() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  tt bash -c '
    case "$1" in
      redirect) cat "$2" > "$3" ;;
      append) cat "$2" >> "$3" ;;
      empty) : > "$3" ;;
      offset) dd if="$2" of="$3" bs=4096 oflag=seek_bytes seek=3 conv=notrunc status=none ;;
      partial) dd if="$2" of="$3" bs=3 count=4 conv=notrunc status=none ;;
      chunks) dd if="$2" of="$3" bs=7 status=none ;;
    esac' write_mode "$@"
}

MODES=(redirect offset partial chunks append empty)

# The refusal contract for one write: an errno on the tool's stderr, the
# spec unchanged, a one-line status/error in the resource (a tenant refused
# by the kernel in a resource not its own: that resource's status/error
# unchanged).  What accepted writes left is judged at the end by cloudfs
# check (valid, normal form).
torture_write() {
  local mode="$1" payload="$2" file="$3" before after out rc=0 dir got hash=spec_hash errb="" foreign=0
  dir=$(dirname "$file")
  # Several write(2)s: those acknowledged before the refused one stand
  # (each is a whole value, the sysfs rule); the rest of the spec may not move.
  case "$mode" in
    partial|chunks) hash="spec_hash_except $(basename "$dir") $(basename "$file")" ;;
    redirect|append) [ "$(stat -c %s "$payload")" -le 4096 ] ||
                     hash="spec_hash_except $(basename "$dir") $(basename "$file")" ;;
  esac
  if [ -n "${TORTURE_USER:-}" ] && [ "$(stat -c %U "$dir")" != "$TORTURE_USER" ]; then
    foreign=1
    errb=$(cat "$dir/status/error" 2>/dev/null || true)
  fi
  before=$($hash)
  out=$(write_mode "$mode" "$payload" "$file" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    case "$out" in
      *"Invalid argument"*|*"No such file"*|*"File too large"*|*"Device or resource busy"*|\
      *"Operation not permitted"*|*"Permission denied"*|*"File exists"*|*"No space"*) ;;
      *) echo "$mode $(basename "$payload") > $file: no errno in: $out" >&2; return 1 ;;
    esac
    after=$($hash)
    if [ "$before" != "$after" ]; then
      echo "$mode $(basename "$payload") > $file: refused ($out) but the spec changed" >&2
      return 1
    fi
    if [ "$foreign" = 1 ]; then
      got=$(cat "$dir/status/error" 2>/dev/null || true)
      if [ "$got" != "$errb" ]; then
        echo "$mode $(basename "$payload") > $file: a tenant's refusal changed status/error: '$got'" >&2
        return 1
      fi
    elif [ -e "$dir/status/error" ]; then
      got=$(cat "$dir/status/error")
      if [ -z "$got" ] || [ "$(printf '%s\n' "$got" | wc -l)" != 1 ]; then
        echo "$mode $(basename "$payload") > $file: refused, status/error is '$got'" >&2
        return 1
      fi
    fi
  fi
  daemons_alive
}

# torture_bad_input RANDOM ALL [DIR...]: every payload in every mode into every
# writable file of one resource of each kind (ALL=1: of every resource;
# DIRs given: of those resources only).
torture_bad_input() {
  local random="$1" all="$2" f p i=0 n=0 dirs
  shift 2
  make_one_of_each
  make_payloads "$random"
  if [ "$#" -gt 0 ]; then
    dirs=("$@")
  elif [ "$all" = 1 ]; then
    dirs=("$MNT")
  else
    dirs=("$MNT/zones/tz" "$MNT/offerings/to" "$MNT/images/ti" "$C/hosts/th" "$C/pools/tp"
          "$C/volumes/tv" "$C/vms/tvm")
  fi
  for f in $(writable_files "${dirs[@]}"); do
    for p in "$T"/payload/*; do
      if [ "$all" = 1 ]; then
        for m in "${MODES[@]}"; do torture_write "$m" "$p" "$f" || return 1; n=$((n + 1)); done
      else
        # The short run rotates through the modes.
        torture_write "${MODES[$((i % ${#MODES[@]}))]}" "$p" "$f" || return 1
        i=$((i + 1)); n=$((n + 1))
      fi
    done
  done
  echo "# $n writes" >&3
  [ ! -e "$T/pwned" ]
  store_clean
}

# Names no resource may take (NAME_MAX and beyond, control bytes, shell and
# path syntax, non-ASCII).
odd_names() {
  printf '%s\n' '-x' '.hidden' 'a b' 'a;b' '$(id)' '`id`' "a'b" 'a"b' 'a\b' '*' '?' \
    'a:b' 'a@b' 'a%s' 'é' '..a' "$(printf 'a\tb')" "$(printf 'a\001b')" "$(printf 'a\rb')" \
    "$(printf '\xe2\x80\xae')" "$(printf '%064d' 0)" "$(printf '%0255d' 0)" "$(printf '%0256d' 0)" \
    '~' 'a~' '#x#'
}

# mkdir, mv and ln -s with every odd name: refused with an errno and the
# spec unchanged, or (scratch names) kept in memory only.
torture_odd_names() {
  local name before out rc
  mkdir -p "$C/vms/ovm" "$C/volumes/ovol"
  while IFS= read -r name; do
    for op in mkdir mv ln-target ln-name offering; do
      before=$(spec_hash)
      rc=0
      case "$op" in
        mkdir) out=$(mkdir "$C/vms/$name" 2>&1) || rc=$? ;;
        mv) out=$(mv -T "$C/vms/ovm" "$C/vms/$name" 2>&1) || rc=$? ;;
        ln-target) out=$(ln -s "../../../volumes/$name" "$C/vms/ovm/volumes/ovol" 2>&1) || rc=$? ;;
        ln-name) out=$(ln -s "../../../volumes/ovol" "$C/vms/ovm/volumes/$name" 2>&1) || rc=$? ;;
        offering) out=$(mkdir "$MNT/offerings/$name" 2>&1) || rc=$? ;;
      esac
      if [ "$rc" = 0 ]; then
        # Accepted only as an editor's scratch entry: not in the store.
        if [ "$before" != "$(spec_hash)" ]; then
          echo "$op '$name' succeeded and changed the spec" >&2
          return 1
        fi
        [ "$op" = mv ] && mv -T "$C/vms/$name" "$C/vms/ovm" 2>/dev/null
        rmdir "$C/vms/$name" "$MNT/offerings/$name" 2>/dev/null || true
      else
        [ -n "$out" ] || { echo "$op '$name': refused without a message" >&2; return 1; }
        if [ "$before" != "$(spec_hash)" ]; then
          echo "$op '$name': refused ($out) but the spec changed" >&2
          return 1
        fi
      fi
      daemons_alive || return 1
    done
  done < <(odd_names)
  [ -d "$C/vms/ovm" ]
  store_clean
}

# ---- crash -------------------------------------------------------------------

# kill -9 of the mount.  It must die: a thread of the daemon blocked in a
# request on its own mount (the notifier raises inotify events that way)
# keeps /dev/fuse open, so the connection is never aborted and the mount
# point hangs every client forever.  Then abort the connection as an
# operator would (/sys/fs/fuse/connections/N/abort), record the failure,
# and let the run go on.
torture_kill_mount() {
  local pid i conn
  pid=$(cat "$T/mount.pid")
  kill -9 "$pid"
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "mount $pid survived SIGKILL; threads wait in: $(cat /proc/"$pid"/task/*/wchan 2>/dev/null | sort -u | tr '\n' ' ')" >> "$T/unkillable"
    # The connection's number is the mount's minor device (no stat: it would hang).
    conn=$(awk -v m="$MNT" '$5 == m {split($3, d, ":"); print d[2]}' /proc/self/mountinfo | head -n1)
    [ -n "$conn" ] && echo 1 > "/sys/fs/fuse/connections/$conn/abort" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  rm -f "$T/mount.pid"
}

# Fails when a kill -9 left an unkillable mount behind.
mount_was_killable() {
  [ ! -s "$T/unkillable" ] && return 0
  echo "kill -9 did not end the mount (it hung until its FUSE connection was aborted):" >&2
  cat "$T/unkillable" >&2
  return 1
}

# A writer: creates VMs, rewrites their description, deletes some, and logs
# "try OP NAME [VALUE]" before and "ok OP NAME [VALUE]" after each operation
# that succeeded.  Runs until $T/stop exists.
crash_writer() {
  local w="$1" i=0 log="$T/writer$w.log" v
  while [ ! -e "$T/stop" ]; do
    i=$((i + 1))
    v="w$w-$i"
    case $((i % 5)) in
      1) echo "try mk $v" >> "$log"
         mkdir "$C/vms/$v" 2>/dev/null && echo "ok mk $v" >> "$log" ;;
      2|3|4)
         local target="w$w-$(( (i / 5) * 5 + 1 ))"
         echo "try set $target $v" >> "$log"
         echo "$v" > "$C/vms/$target/description" 2>/dev/null && echo "ok set $target $v" >> "$log" ;;
      0) if [ $((i % 15)) = 0 ]; then
           local victim="w$w-$((i - 14))"
           echo "try rm $victim" >> "$log"
           rmdir "$C/vms/$victim" 2>/dev/null && echo "ok rm $victim" >> "$log"
         fi ;;
    esac
    # Dead mount: the paths vanish (ENOENT) until it is back.
    [ -d "$C/vms" ] || sleep 0.05
  done
}

# Everything a writer's log says was acknowledged is in SQLite; where an
# operation was in flight at a crash, either outcome is accepted.
crash_verify_log() {
  local log="$1"
  sqlite3 "$DB" "SELECT r.name, coalesce(a.value, '') FROM resources r
                 LEFT JOIN attrs a ON a.res = r.id AND a.name = 'description'
                 WHERE r.kind = 'vm' AND r.deleted = 0" > "$T/db.txt"
  awk -v db="$T/db.txt" '
    BEGIN { FS = "|"; while ((getline l < db) > 0) { split(l, f, "|"); exists[f[1]] = 1; val[f[1]] = f[2] } FS = " " }
    $1 == "try" { pending[$3] = pending[$3] " " $4 "/" $2; next }
    $1 == "ok" && $2 == "mk" { made[$3] = 1; gone[$3] = 0; pending[$3] = ""; next }
    $1 == "ok" && $2 == "rm" { gone[$3] = 1; pending[$3] = ""; next }
    $1 == "ok" && $2 == "set" { last[$3] = $4; pending[$3] = ""; next }
    END {
      bad = 0
      for (n in made) {
        inflight = pending[n]
        if (!gone[n] && !exists[n] && inflight !~ /\/rm/) { print "lost: " n " was created"; bad = 1 }
        if (gone[n] && exists[n] && inflight !~ /\/mk/) { print "back: " n " was deleted"; bad = 1 }
        if (!gone[n] && exists[n] && (n in last) && val[n] != last[n] && index(inflight, " " val[n] "/set") == 0) {
          print "lost: " n " description is \"" val[n] "\", acknowledged \"" last[n] "\" (in flight:" inflight ")"; bad = 1
        }
      }
      exit bad
    }' "$log"
}

# torture_crash_mount WRITERS ROUNDS: writers run while the mount (and on
# odd rounds the reconciler) is killed with SIGKILL at random moments and
# restarted.
torture_crash_mount() {
  local writers="$1" rounds="$2" w r pids=()
  rm -f "$T/stop" "$T"/writer*.log
  for w in $(seq 1 "$writers"); do crash_writer "$w" & pids+=($!); done
  for r in $(seq 1 "$rounds"); do
    sleep "0.$((RANDOM % 8 + 2))"
    torture_kill_mount
    if [ $((r % 2)) = 1 ] && [ -f "$T/reconcile.pid" ]; then rc_crash; rc_start; fi
    cfs_mount
  done
  sleep 0.5
  touch "$T/stop"
  wait "${pids[@]}"
  local acked
  acked=$(cat "$T"/writer*.log | grep -c '^ok ')
  echo "# $acked acknowledged operations, $rounds crashes" >&3
  [ "$acked" -gt 0 ]
  for w in $(seq 1 "$writers"); do crash_verify_log "$T/writer$w.log" || return 1; done
  daemons_alive
  store_clean -t 60
  mount_was_killable
}

# torture_crash_vms VMS ROUNDS: on qemu:///system, random state writes to a
# few VMs while the reconciler (and sometimes the mount) is killed; after
# the last restart every VM converges with exactly one domain.
torture_crash_vms() {
  local vms="$1" rounds="$2" r i s
  make_tiny_offering tiny 64M
  for i in $(seq 1 "$vms"); do
    mkdir "$C/vms/cv$i"
    echo tiny > "$C/vms/cv$i/offering"
  done
  local states=(running stopped paused running)
  for r in $(seq 1 "$rounds"); do
    for i in $(seq 1 "$vms"); do
      echo "${states[$((RANDOM % 4))]}" > "$C/vms/cv$i/state" || return 1
    done
    sleep "0.$((RANDOM % 9 + 1))"
    rc_crash
    if [ $((r % 3)) = 0 ]; then torture_kill_mount; cfs_mount; fi
    rc_start
  done
  # Final intent, then wait for it.
  for i in $(seq 1 "$vms"); do
    s=${states[$((i % 3))]}
    echo "$s" > "$C/vms/cv$i/state"
  done
  for i in $(seq 1 "$vms"); do
    timeout 180 cat "$C/vms/cv$i/wait" >/dev/null || { echo "cv$i did not converge: $(cat "$C/vms/cv$i/status/error")" >&2; return 1; }
  done
  local all u n want
  all=$($VIRSH list --all --name)
  for i in $(seq 1 "$vms"); do
    u=$(vm_uuid "cv$i")
    n=$(grep -c "^cfs-$u\$" <<<"$all" || true)
    s=${states[$((i % 3))]}
    [ "$n" = 1 ] || { echo "cv$i ($s): $n domains" >&2; return 1; }
    want=$s; [ "$s" = stopped ] && want="shut off"
    [ "$(domstate "cfs-$u")" = "$want" ] || { echo "cv$i: $(domstate "cfs-$u"), wanted $want" >&2; return 1; }
  done
  daemons_alive
  local diffs
  diffs=$(check_ours)
  [ -z "$diffs" ] || { echo "$diffs" >&2; return 1; }
  mount_was_killable
}

# ---- load --------------------------------------------------------------------

load_writer() {
  local w="$1" n="$2" out
  # shellcheck disable=SC2016 # expanded by the inner bash
  out=$(tt bash -c 'for i in $(seq 1 "$2"); do
                      echo "v$1-$i" > "$3/vms/l$1/description" || echo "failed $i"
                    done' load_writer "$w" "$n" "$C" 2>&1)
  [ -z "$out" ] || printf '%s\n' "$out" > "$T/load$w.err"
  touch "$T/load$w.done"
}

# torture_load WRITERS READERS WRITES: WRITERS processes each write WRITES
# distinct values into their VM's description while READERS processes read
# and watch (half of them follow /events).  No lost or duplicated change (the changes log holds each
# value exactly once, in order), no deadlock, bounded memory.
torture_load() {
  local writers="$1" readers="$2" writes="$3" w pids=() rpids=() rss0 rss1
  for w in $(seq 1 "$writers"); do tt mkdir "$C/vms/l$w"; done
  tt mkdir "$C/vms/lmark"
  # Readers: half follow /events (every change exactly once, in seq order),
  # one runs inotifywait, the rest read files and list directories.
  local nev=$((readers / 2)) k
  for k in $(seq 1 "$nev"); do
    tt cat "$MNT/events" > "$T/ev$k" 3>&- &
    rpids+=($!)
  done
  for k in $(seq 1 "$nev"); do
    for t in $(seq 1 100); do
      echo "mark-$k-$t" > "$C/vms/lmark/description"
      grep -q "mark-$k-" "$T/ev$k" && break
      sleep 0.1
    done
  done
  local seq0; seq0=$(last_seq)
  # open is watched too: the kernel merges an event with an identical one
  # still unread just before it, and OPEN between two CLOSE_WRITEs of the
  # same file keeps them apart, so every write is counted.
  tt inotifywait -m -q -r -e open,close_write --format '%w %e' "$C/vms" > "$T/inotify.log" 2>"$T/inotify.err" 3>&- &
  rpids+=($!)
  for w in $(seq $((nev + 2)) "$readers"); do
    ( while [ ! -e "$T/stop" ]; do tt cat "$C/vms/l$(( RANDOM % writers + 1 ))/description" >/dev/null; tt ls "$C/vms" >/dev/null; done ) 3>&- &
    rpids+=($!)
  done
  sleep 1    # inotifywait's watches are in place
  local mpid; mpid=$(cat "$T/mount.pid")
  rss0=$(awk '/VmRSS/ {print $2}' "/proc/$mpid/status")
  for w in $(seq 1 "$writers"); do load_writer "$w" "$writes" & pids+=($!); done
  # Deadlock detection: every writer finishes (generous bound, not a speed test).
  local t
  for t in $(seq 1 600); do
    [ "$(ls "$T"/load*.done 2>/dev/null | wc -l)" = "$writers" ] && break
    sleep 1
  done
  [ "$(ls "$T"/load*.done 2>/dev/null | wc -l)" = "$writers" ] || { echo "writers stuck (deadlock?)" >&2; return 1; }
  wait "${pids[@]}"
  rss1=$(awk '/VmRSS/ {print $2}' "/proc/$mpid/status")
  # Every /events reader reaches the last change, then is stopped.
  local last; last=$(last_seq)
  for k in $(seq 1 "$nev"); do
    for t in $(seq 1 600); do
      [ "$(grep -o '"seq":[0-9]*' "$T/ev$k" | tail -n1 | cut -d: -f2)" = "$last" ] && break
      sleep 0.1
    done
  done
  sleep 0.5
  touch "$T/stop"
  local p
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${rpids[@]}" 2>/dev/null || true
  sqlite3 "$DB" "SELECT seq FROM changes WHERE seq > $seq0 ORDER BY seq" > "$T/seqs.want"
  for k in $(seq 1 "$nev"); do
    grep -o '"seq":[0-9]*' "$T/ev$k" | cut -d: -f2 | awk -v s="$seq0" '$1 > s' > "$T/seqs.got"
    cmp -s "$T/seqs.want" "$T/seqs.got" || { echo "/events reader $k: changes lost, repeated or out of order" >&2; diff "$T/seqs.want" "$T/seqs.got" | head >&2; return 1; }
  done
  echo "# $nev /events readers saw all $(wc -l < "$T/seqs.want") changes in order" >&3
  echo "# mount RSS ${rss0} kB -> ${rss1} kB after $((writers * writes)) writes" >&3
  if ls "$T"/load*.err >/dev/null 2>&1; then cat "$T"/load*.err >&2; return 1; fi
  # Exactly the acknowledged values, once each, in order, per VM.
  for w in $(seq 1 "$writers"); do
    sqlite3 "$DB" "SELECT c.new FROM changes c JOIN resources r ON r.id = c.res
                   WHERE r.name = 'l$w' AND c.op = 'set' AND c.attr = 'description' ORDER BY c.seq" > "$T/got"
    seq 1 "$writes" | sed "s/^/v$w-/" > "$T/want"
    cmp -s "$T/got" "$T/want" || { echo "l$w: changes log differs from the acknowledged writes" >&2; diff "$T/want" "$T/got" | head >&2; return 1; }
    [ "$(grep -c "^$C/vms/l$w/ CLOSE_WRITE" "$T/inotify.log")" = "$writes" ] ||
      { echo "l$w: $(grep -c "^$C/vms/l$w/ CLOSE_WRITE" "$T/inotify.log") close_write events for $writes writes" >&2; return 1; }
  done
  if grep -q overflow "$T/inotify.err"; then echo "inotify queue overflow" >&2; return 1; fi
  # Bounded: the mount does not grow with the number of writes.
  [ "$rss1" -le $((rss0 * 2 + 16384)) ] || { echo "mount RSS grew from $rss0 to $rss1 kB" >&2; return 1; }
  daemons_alive
  store_clean
}

# ---- faults ------------------------------------------------------------------

# Move this file's store onto a tmpfs of SIZE (e.g. 4m) and remount.
store_on_small_tmpfs() {
  cfs_umount
  mkdir -p "$T/small"
  mount -t tmpfs -o "size=$1" none "$T/small"
  mv "$DB" "$DB"-* "$T/small/" 2>/dev/null || true
  sed -i "s|^store = .*|store = \"$T/small/store.db\";|" "$CONF"
  DB="$T/small/store.db"
  export DB
  cfs_mount
}

small_tmpfs_cleanup() {
  [ -n "${T:-}" ] || return 0
  cfs_umount
  mountpoint -q "$T/small" && umount "$T/small"
  return 0
}

# torture_disk_full: the store on a small tmpfs that fills up.  Writes fail
# with ENOSPC, the last acknowledged value stays, and after space returns
# writes work again and the store is intact.
torture_disk_full() {
  local small="$T/small" i out rc last="" n=0
  mkdir -p "$C/vms/df1"
  # Leave about 400K: a few values fit, then the disk is full.
  local avail; avail=$(df -k --output=avail "$small" | tail -1)
  dd if=/dev/zero of="$small/filler" bs=1k count=$((avail - 400)) 2>/dev/null || true
  for i in $(seq 1 200); do
    head -c 60000 /dev/urandom | base64 -w 76 | sed "1s/^/#cloud-config $i /" > "$T/ud"
    rc=0
    out=$( { cat "$T/ud" > "$C/vms/df1/user-data"; } 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then
      n=$i
      break
    fi
    cp "$T/ud" "$T/ud.acked"
    last=$i
  done
  [ "$n" -gt 0 ] || { echo "the disk never filled up" >&2; return 1; }
  echo "# write $n failed: $out (last acknowledged: ${last:-none})" >&3
  case "$out" in
    *"No space left on device"*) ;;
    *) echo "expected ENOSPC, got: $out" >&2; return 1 ;;
  esac
  daemons_alive
  # Nothing half-written: the file holds the last acknowledged value.
  if [ -n "$last" ]; then cmp "$T/ud.acked" "$C/vms/df1/user-data"; fi
  rm -f "$small/filler"
  echo "#cloud-config" > "$C/vms/df1/user-data"
  [ "$(cat "$C/vms/df1/user-data")" = "#cloud-config" ]
  mkdir "$C/vms/df2"
  [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ]
  store_clean
}

# torture_libvirtd_restart VMS: libvirtd killed while VMs start and stop,
# then started again: everything converges, one domain each.  Needs a
# libvirtd that scripts/libvirt-up.sh started (it is restarted the same way).
torture_libvirtd_restart() {
  local vms="$1" i pid state_dir="${CLOUDFS_TEST_STATE:-/run/cloudfs-test}"
  [ -f "$state_dir/libvirtd.started" ] || skip "libvirtd was not started by scripts/libvirt-up.sh"
  make_tiny_offering tiny 64M
  for i in $(seq 1 "$vms"); do
    mkdir "$C/vms/lr$i"
    echo tiny > "$C/vms/lr$i/offering"
    echo running > "$C/vms/lr$i/state"
  done
  sleep 0.5
  pid=$(awk '{print $1}' "$state_dir/libvirtd.started")
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  for i in $(seq 1 "$vms"); do echo stopped > "$C/vms/lr$i/state"; echo running > "$C/vms/lr$i/state"; done
  wait_until 30 file_is "$C/hosts/local/status/connection" disconnected
  "$REPO/scripts/libvirt-up.sh" >/dev/null
  # Not `cat wait`: the writes above were attempted while the host was down,
  # and wait reports that attempt's error.  The reconciler retries them.
  for i in $(seq 1 "$vms"); do
    wait_until 180 file_is "$C/vms/lr$i/status/state" running ||
      { echo "lr$i: $(cat "$C/vms/lr$i/status/state"): $(cat "$C/vms/lr$i/status/error")" >&2; return 1; }
  done
  local all u
  all=$($VIRSH list --all --name)
  for i in $(seq 1 "$vms"); do
    u=$(vm_uuid "lr$i")
    [ "$(grep -c "^cfs-$u\$" <<<"$all")" = 1 ]
    [ "$(domstate "cfs-$u")" = running ]
  done
  daemons_alive
  local diffs
  diffs=$(check_ours)
  [ -z "$diffs" ] || { echo "$diffs" >&2; return 1; }
}

# ---- Ceph stopped ------------------------------------------------------------

# torture_ceph_stopped ROUNDS: the test cluster stops answering while volumes
# are made, grown and deleted in an rbd pool, then answers again.  The
# throwaway cluster's OSD keeps its objects in memory (memstore), so it is
# frozen (SIGSTOP) rather than shut down: to a client that is a cluster that
# went away, and SIGCONT its return.  Writes through the tree are accepted
# throughout (they only reach the store); the reconciler reports timeouts,
# survives, and converges after: every volume in rbd at its size, nothing
# leaked, cloudfs check clean.  Needs the cluster of scripts/ceph-up.sh and
# storage-timeout set low (compute_start with CFS_EXTRA_CONF).
torture_ceph_stopped() {
  local rounds="$1" r i mon osd conf pool="cfstort$$" want got
  conf=$("$REPO/scripts/ceph-up.sh" --print-conf 2>/dev/null) || skip "no Ceph test cluster (scripts/ceph-up.sh)"
  mon=$(pgrep -f "ceph-mon -c $conf" | head -n1)
  osd=$(pgrep -f "ceph-osd -c $conf" | head -n1)
  [ -n "$mon" ] && [ -n "$osd" ] || skip "the Ceph test cluster is not running"
  echo "$conf $pool $mon $osd" > "$T/ceph.torture"
  ceph -c "$conf" osd pool create "$pool" 8 >/dev/null 2>&1
  rbd -c "$conf" pool init "$pool"
  mkdir "$C/pools/ct"
  echo rbd > "$C/pools/ct/type"
  echo "$conf" > "$C/pools/ct/ceph-conf"
  echo "$pool" > "$C/pools/ct/rbd-pool"
  timeout 60 cat "$C/pools/ct/wait" >/dev/null
  for i in 1 2 3 4; do
    mkdir "$C/volumes/cv$i"
    echo ct > "$C/volumes/cv$i/pool"
    echo 10G > "$C/volumes/cv$i/size"
  done
  for r in $(seq 1 "$rounds"); do
    kill -STOP "$mon" "$osd"
    # Made, grown and deleted while nobody answers.
    mkdir "$C/volumes/cn$r"
    echo ct > "$C/volumes/cn$r/pool"
    echo 11G > "$C/volumes/cn$r/size"
    echo "$((r + 10))G" > "$C/volumes/cv1/size" ||
      { kill -CONT "$mon" "$osd"; echo "cv1 size: $(cat "$C/volumes/cv1/status/error")" >&2; return 1; }
    [ "$r" != 1 ] || rmdir "$C/volumes/cv4"
    wait_until 60 bash -c "grep -qi 'timed out' '$C/volumes/cn$r/status/error' '$C/pools/ct/status/error'" ||
      { kill -CONT "$mon" "$osd"; echo "no timeout reported in round $r" >&2; return 1; }
    daemons_alive || { kill -CONT "$mon" "$osd"; return 1; }
    kill -CONT "$mon" "$osd"
  done
  # Everything converges once the cluster answers again.
  for v in cv1 cv2 cv3 $(seq -f 'cn%g' 1 "$rounds"); do
    wait_until 180 bash -c "[ \"\$(cat '$C/volumes/$v/status/state')\" = available ] && [ -z \"\$(cat '$C/volumes/$v/status/error')\" ]" ||
      { echo "$v: $(cat "$C/volumes/$v/status/state"): $(cat "$C/volumes/$v/status/error")" >&2; return 1; }
  done
  wait_until 60 bash -c "[ -z \"\$(cat '$C/pools/ct/status/error')\" ]"
  want=$(sqlite3 "$DB" "SELECT 'cfs-vol-' || uuid FROM resources WHERE kind='volume' AND deleted=0
                        AND (name IN ('cv1','cv2','cv3') OR name LIKE 'cn%')" | sort)
  wait_until 60 bash -c "[ \"\$(rbd -c '$conf' ls '$pool' | sort)\" = '$want' ]" ||
    { echo "rbd ls: $(rbd -c "$conf" ls "$pool" | tr '\n' ' '); want: $(echo $want)" >&2; return 1; }
  got=$(rbd -c "$conf" info --format json "$pool/cfs-vol-$(sqlite3 "$DB" "SELECT uuid FROM resources WHERE name='cv1' AND kind='volume'")" |
        sed -n 's/.*"size":\([0-9]*\).*/\1/p')
  [ "$got" = $(( (rounds + 10) * 1073741824 )) ] || { echo "cv1 is $got bytes" >&2; return 1; }
  daemons_alive
  local diffs
  diffs=$(check_ours)
  [ -z "$diffs" ] || { echo "$diffs" >&2; return 1; }
}

# Undo torture_ceph_stopped's cluster state, pass or fail: thaw, empty the
# tree's pool, drop the Ceph pool.
ceph_torture_cleanup() {
  [ -f "$T/ceph.torture" ] || return 0
  local conf pool mon osd v
  read -r conf pool mon osd < "$T/ceph.torture"
  kill -CONT "$mon" "$osd" 2>/dev/null || true
  for v in "$C"/volumes/c[vn]*; do [ -d "$v" ] && rmdir "$v" 2>/dev/null; done
  wait_until 60 bash -c "[ -z \"\$(rbd -c '$conf' ls '$pool' 2>/dev/null)\" ]" || true
  ceph -c "$conf" osd pool delete "$pool" "$pool" --yes-i-really-really-mean-it >/dev/null 2>&1 || true
  rm -f "$T/ceph.torture"
}
