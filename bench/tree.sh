#!/usr/bin/env bash
# The tree at scale: N VMs pinned across H simulated hosts (libvirt test:///
# host files), populated through the mount, then
#  - ls -l of vms/ and find over the cluster, against tmpfs holding a tree of
#    the same shape and against virsh list --all of the same number of
#    domains (one host file holding all of them; and each of the H host
#    files in turn, which is what listing a cluster without cloudfs takes);
#  - the reconciler's full resync time (first pass: defines and starts every
#    domain; a second one, started by SIGHUP, once converged) and both daemons' RSS.
#   bench/tree.sh [N H]...    default: 10000 10 100000 1000 (quick: 1000 10 10000 100)
set -uo pipefail
. "$(dirname "$0")/common.sh"
csv_init tree
trap bench_cleanup EXIT

if [ $# -ge 2 ]; then
  scales=("$@")
elif quick; then
  scales=(1000 10 10000 100)
else
  scales=(10000 10 100000 1000)
fi

# populate N H: hosts h1..hH (test:/// host files), N VMs vm1..vmN pinned
# round-robin and running, through the mount, two shells in parallel.
populate() {
  local n="$1" h="$2" j
  mkdir -p "$BT/hosts"
  for j in $(seq 1 "$h"); do
    cat > "$BT/hosts/h$j.xml" <<XML
<node><cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>64</cores><threads>1</threads><active>64</active></cpu><memory>1073741824</memory></node>
XML
    mkdir "$BC/hosts/h$j"
    echo "test:///$BT/hosts/h$j.xml" > "$BC/hosts/h$j/uri"
  done
  echo 100 > "$BC/cpu-overcommit"
  mkdir "$BT/mnt/offerings/nano"
  echo 64M > "$BT/mnt/offerings/nano/memory"
  seq 1 "$n" | xargs -P 2 -n 500 bash -c '
    h=$1; shift
    for i; do
      d="'"$BC"'/vms/vm$i"
      mkdir "$d" && echo nano > "$d/offering" && echo "h$(( (i - 1) % h + 1 ))" > "$d/host" &&
        echo running > "$d/state" || exit 1
    done' _ "$h"
}

# tmpfs_shape N: the same tree on tmpfs (names from the mount's first VM);
# directories by batches of mkdir -p, files by batches of touch.  The files
# are empty: ls -l and find read no content, and a page per file would
# take 14 GiB of memory at 100,000 VMs.
tmpfs_shape() {
  local n="$1" dirs files
  mountpoint -q "$BT/tmpfs" && umount "$BT/tmpfs"
  mkdir -p "$BT/tmpfs"
  mount -t tmpfs -o size=8g,nr_inodes=0 none "$BT/tmpfs"
  dirs=$(cd "$BC/vms/vm1" && find . -mindepth 1 -type d | sort)
  files=$(cd "$BC/vms/vm1" && find . -mindepth 1 ! -type d | sort)
  mkdir -p "$BT/tmpfs/c/vms"
  # shellcheck disable=SC2086
  seq 1 "$n" | awk -v root="$BT/tmpfs/c/vms" -v list="$(echo $dirs)" \
    'BEGIN { k = split(list, d, " ") } { print root "/vm" $1; for (j = 1; j <= k; j++) print root "/vm" $1 "/" d[j] }' |
    xargs mkdir -p
  # shellcheck disable=SC2086
  seq 1 "$n" | awk -v root="$BT/tmpfs/c/vms" -v list="$(echo $files)" \
    'BEGIN { k = split(list, f, " ") } { for (j = 1; j <= k; j++) print root "/vm" $1 "/" f[j] }' |
    xargs touch
}

# virsh_shape N H: host files holding N running domains in total.
virsh_shape() {
  local n="$1" h="$2" j i
  mkdir -p "$BT/virsh"
  awk -v n="$n" -v h="$h" -v dir="$BT/virsh" 'BEGIN {
    node = "<node><cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>64</cores><threads>1</threads><active>64</active></cpu><memory>1073741824</memory>"
    for (j = 1; j <= h; j++) print node > (dir "/h" j ".xml")
    print node > (dir "/all.xml")
    for (i = 1; i <= n; i++) {
      d = sprintf("<domain type=\"test\"><name>cfs-%08d-0000-4000-8000-000000000000</name><memory>65536</memory><os><type>hvm</type></os></domain>", i)
      print d >> (dir "/h" ((i - 1) % h + 1) ".xml")
      print d >> (dir "/all.xml")
    }
    for (j = 1; j <= h; j++) print "</node>" >> (dir "/h" j ".xml")
    print "</node>" >> (dir "/all.xml")
  }'
}

# ms_median CMD...: median of 3 warm runs, in ms.
ms_median() {
  "$@" > /dev/null 2>&1
  local i a b
  for i in 1 2 3; do
    a=$(now_ns); "$@" > /dev/null 2>&1; b=$(now_ns)
    echo $(( (b - a) / 1000000 ))
  done | median
}

virsh_each_host() {
  local f
  for f in "$BT"/virsh/h*.xml; do virsh -q -c "test:///$f" list --all; done
}

# Wait for the reconciler to log a resync line after a given line count.
wait_resync() {
  local after="$1" limit="$2" i
  for i in $(seq 1 $((limit * 10))); do
    if [ "$(grep -c 'resync of' "$BT/reconcile.log")" -gt "$after" ]; then
      grep 'resync of' "$BT/reconcile.log" | sed -n "$((after + 1))p" | sed 's/.* took \([0-9]*\) ms/\1/'
      return 0
    fi
    sleep 0.1
  done
  echo 0
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; scales: ${scales[*]} (VMs hosts)"
header
while [ ${#scales[@]} -ge 2 ]; do
  N=${scales[0]} H=${scales[1]}
  scales=("${scales[@]:2}")
  # The periodic pass is started by SIGHUP once the first has ended (at
  # 100,000 VMs a pass takes minutes; no timer guesses when).
  bench_mount "test:///default" "resync-interval = 86400; workers = 4; allow-test-uri = true;"
  t0=$(now_ns)
  populate "$N" "$H" || { echo "populating $N VMs failed" >&2; exit 1; }
  t1=$(now_ns)
  tmpfs_shape "$N"
  t2=$(now_ns)
  virsh_shape "$N" "$H"
  row "populate $N VMs on $H hosts (mkdir+3 writes per VM)" "$(( (t1 - t0) / 1000000 ))" \
      "same tree on tmpfs (mkdir -p + files)" "$(( (t2 - t1) / 1000000 ))" ms

  row "ls -l vms/ ($N VMs)" "$(ms_median ls -l "$BC/vms")" \
      "tmpfs same shape" "$(ms_median ls -l "$BT/tmpfs/c/vms")" ms
  row "ls -l vms/ ($N VMs)" "$(ms_median ls -l "$BC/vms")" \
      "virsh list --all ($N domains)" "$(ms_median virsh -q -c "test:///$BT/virsh/all.xml" list --all)" ms
  ours_find=$(ms_median find "$BC")
  row "find cluster/ ($N VMs)" "$ours_find" "tmpfs same shape" "$(ms_median find "$BT/tmpfs/c")" ms
  row "find cluster/ ($N VMs)" "$ours_find" "virsh list --all on each of $H hosts" "$(ms_median virsh_each_host)" ms
  mount_rss=$(rss_kb "$(cat "$BT/mount.pid")")

  # The reconciler: the first pass defines and starts every domain; the
  # second (kill -HUP, as an operator would) finds everything converged.
  : > "$BT/reconcile.log"
  bench_reconciler
  first=$(wait_resync 0 3600)
  sleep 2
  kill -HUP "$(cat "$BT/reconcile.pid")"
  second=$(wait_resync 1 3600)
  rc_rss=$(rss_kb "$(cat "$BT/reconcile.pid")")
  running=$(sqlite3 "$BT/store.db" "SELECT count(*) FROM status WHERE name='state' AND value='running'")
  row "reconciler first resync ($N VMs; $running running)" "$first" "-" 0 ms
  row "reconciler full resync ($N VMs converged)" "$second" "-" 0 ms
  row "RSS of the mount ($N VMs)" "$mount_rss" "-" 0 kB
  row "RSS of the reconciler ($N VMs)" "$rc_rss" "-" 0 kB
  bench_cleanup
  BT=""
done
