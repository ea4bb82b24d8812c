# Set-up shared by tests/torture/*.bats: helpers.bash finds the repository
# from the test file's directory, one level higher here.
TORTURE_REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
export CLOUDFS_BIN="${CLOUDFS_BIN:-$TORTURE_REPO/build/cloudfs}"
load ../compute_helpers
load ../checks
load lib
REPO="$TORTURE_REPO"
