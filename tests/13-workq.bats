#!/usr/bin/env bats
# The reconciler's work queue (src/common/workq.c) against a model with 20,000
# keys: no key handed out twice at once, none lost, the queue empties.

load helpers

@test "workq: many keys, adds while running, nothing lost or doubled" {
  cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$REPO/include/common" -o "$BATS_TEST_TMPDIR/workq_test" \
     "$REPO/tests/unit/workq_test.c" "$REPO/src/common/workq.c" -lpthread
  run "$BATS_TEST_TMPDIR/workq_test"
  echo "$output"
  [ "$status" = 0 ]
}
