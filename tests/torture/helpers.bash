# compute_helpers.bash loads "helpers" from the test file's directory.
source "$BATS_TEST_DIRNAME/../helpers.bash"
