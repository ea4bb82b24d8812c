#!/usr/bin/env bash
# Run the whole test suite: install what is missing, build, start the
# services the tests need, run every tests/*.bats, stop what was started, and
# print one closing line "N passed, N failed".
#
#   scripts/run-tests.sh            normal build, then the sanitizer build
#   scripts/run-tests.sh --quick    normal build only
#   scripts/run-tests.sh FILE...    only these bats files (normal build)
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
files=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) files+=("$a") ;;
  esac
done
if [ "${#files[@]}" -gt 0 ]; then
  quick=1     # a chosen subset is a developer's quick run
else
  files=(tests/*.bats)
fi

scripts/install-deps.sh --with-ceph || { echo "0 passed, 1 failed"; exit 1; }
make -s || { echo "0 passed, 1 failed"; exit 1; }
if [ "$quick" = 0 ]; then
  make -s asan || { echo "0 passed, 1 failed"; exit 1; }
fi

started_libvirt=0
started_ceph=0
cleanup() {
  if [ "$started_ceph" = 1 ]; then scripts/ceph-down.sh || true; fi
  if [ "$started_libvirt" = 1 ]; then scripts/libvirt-down.sh || true; fi
}
trap cleanup EXIT
if scripts/libvirt-up.sh; then
  started_libvirt=1
else
  echo "warning: libvirtd could not be started; qemu tests will fail" >&2
fi

# The RBD tests' Ceph cluster; stopped at the end only if this run started it.
if out=$(scripts/ceph-up.sh); then
  [ -n "$out" ] && { echo "$out"; started_ceph=1; }
else
  echo "warning: the Ceph test cluster could not be started; rbd tests will fail" >&2
fi

passed=0
failed=0
run_suite() {
  local label="$1" out
  shift
  out=$(mktemp)
  echo "== $label"
  bats --tap "${files[@]}" 2>&1 | tee "$out"
  local p f
  p=$(grep -c '^ok ' "$out" || true)
  f=$(grep -c '^not ok ' "$out" || true)
  # A suite that died before its plan was met counts its missing tests as failed.
  local plan
  plan=$(grep -m1 -E '^1\.\.[0-9]+' "$out" | cut -d. -f3)
  if [ -n "$plan" ] && [ $((p + f)) -lt "$plan" ]; then
    f=$((plan - p))
  fi
  [ -n "$plan" ] || f=$((f + 1))
  passed=$((passed + p))
  failed=$((failed + f))
  rm -f "$out"
}

run_suite "tests (build/cloudfs)"
if [ "$quick" = 0 ]; then
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1" \
    CLOUDFS_BIN="$PWD/build-asan/cloudfs" run_suite "tests (sanitizer build)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
