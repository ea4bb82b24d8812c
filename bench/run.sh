#!/usr/bin/env bash
# make bench: run the scenarios and merge their rows into one table, written
# as CSV and JSON under bench/results/.
#   bench/run.sh [SCENARIO...]     default: every bench/*.sh but this one and
#                                  common.sh (tree, read, create, lifecycle,
#                                  and those other branches add: storage, events)
set -uo pipefail
. "$(dirname "$0")/common.sh"
# After the README's set-up only the base packages are there; the storage
# rows need the Ceph daemons and QEMU's rbd driver (idempotent).
"$REPO/scripts/install-deps.sh" --with-ceph >/dev/null || { echo "install-deps failed" >&2; exit 1; }
stamp=$(date -u +%Y%m%d-%H%M%S)
export BENCH_CSV="$RESULTS/bench-$stamp.csv"
JSON="$RESULTS/bench-$stamp.json"
echo "name,ours,baseline,baseline_value,unit,ratio" > "$BENCH_CSV"

if [ $# -gt 0 ]; then
  scenarios=()
  for s in "$@"; do scenarios+=("$BENCH_DIR/${s%.sh}.sh"); done
else
  scenarios=()
  for s in "$BENCH_DIR"/*.sh; do
    case "$(basename "$s")" in common.sh|run.sh) ;; *) scenarios+=("$s") ;; esac
  done
fi

machine="$(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r), KVM: $([ -e /dev/kvm ] && echo yes || echo no)"
failed=()
for s in "${scenarios[@]}"; do
  echo "== $(basename "$s") ($BENCH_SCALE)"
  "$s" || failed+=("$(basename "$s")")
done

echo
echo "== cloudfs bench, $BENCH_SCALE scale, $(date -u +%Y-%m-%dT%H:%MZ); machine: $machine"
header
tail -n +2 "$BENCH_CSV" | while IFS=, read -r name ours bname bval unit ratio; do
  printf '%-52s %10s %-34s %10s %5s  x%s\n' "$name" "$ours" "$bname" "$bval" "$unit" "$ratio"
done
awk -F, -v scale="$BENCH_SCALE" -v machine="$machine" -v when="$stamp" '
  function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
  function num(s) { return s ~ /^[0-9.]+$/ ? s : "null" }
  BEGIN { printf "{\"when\": %s, \"scale\": %s, \"machine\": %s, \"rows\": [", q(when), q(scale), q(machine) }
  NR > 1 { printf "%s\n  {\"name\": %s, \"ours\": %s, \"baseline\": %s, \"baseline_value\": %s, \"unit\": %s, \"ratio\": %s}",
           (NR > 2 ? "," : ""), q($1), num($2), q($3), num($4), q($5), num($6) }
  END { print "\n]}" }' "$BENCH_CSV" > "$JSON"
echo "results: $BENCH_CSV $JSON"
if [ ${#failed[@]} -gt 0 ]; then
  echo "scenarios that failed: ${failed[*]}" >&2
  exit 1
fi
