#!/usr/bin/env bats
# Unit programs of tests/unit/, built here with the warnings of the project
# and run: the value parser against the real layout, and the libvirt compute
# driver against libvirt's test driver and the real qemu:///system (a 64 MiB
# domain with no OS, KVM or TCG; it defines, starts and undefines its own
# domains by UUID and removes them whatever happens).

load helpers

CC_FLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g)

@test "value parser: normal forms, ranges, UTF-8 and control characters, names" {
  cc "${CC_FLAGS[@]}" -I"$REPO/include/common" -I"$REPO/include/layout" \
     -o "$BATS_TEST_TMPDIR/value_test" "$REPO/tests/unit/value_test.c" \
     "$REPO/src/layout/value.c" "$REPO/src/layout/layout.c" "$REPO/src/common/error.c" \
     "$REPO/src/common/netaddr.c" "$REPO/src/common/pwhash.c" "$REPO/build/layout_data.c" \
     -lconfig -lcrypt
  run "$BATS_TEST_TMPDIR/value_test" "$REPO/fs-layout"
  echo "$output"
  [ "$status" = 0 ]
  grep -q '^[0-9]* passed, 0 failed$' <<<"$output"
}

@test "libvirt XML: the readers on libvirt's shapes and broken documents, a build read back" {
  cc "${CC_FLAGS[@]}" -I"$REPO/include/common" -I"$REPO/include/drivers" \
     -o "$BATS_TEST_TMPDIR/domain_xml_test" "$REPO/tests/unit/domain_xml_test.c" \
     "$REPO/src/drivers/domain_xml.c" "$REPO/src/drivers/xml.c" "$REPO/src/drivers/nic_xml.c" \
     "$REPO/src/common/error.c" "$REPO/src/common/netaddr.c" \
     $(pkg-config --cflags --libs libvirt libxml-2.0) -lpthread
  run "$BATS_TEST_TMPDIR/domain_xml_test"
  echo "$output"
  [ "$status" = 0 ]
  grep -q '^[0-9]* passed, 0 failed$' <<<"$output"
}

@test "compute driver: every operation on test:/// and qemu:///system" {
  cc "${CC_FLAGS[@]}" -I"$REPO/include/common" -I"$REPO/include/drivers" \
     -o "$BATS_TEST_TMPDIR/driver_test" "$REPO/tests/unit/driver_test.c" \
     "$REPO/src/drivers/driver_libvirt.c" "$REPO/src/drivers/domain_xml.c" "$REPO/src/drivers/xml.c" \
     "$REPO/src/drivers/nic_xml.c" "$REPO/src/drivers/driver_libvirt_migrate.c" \
     "$REPO/src/drivers/driver_libvirt_blockcopy.c" \
     "$REPO/src/common/error.c" "$REPO/src/common/netaddr.c" \
     $(pkg-config --cflags --libs libvirt libxml-2.0) -lpthread
  run timeout 900 "$BATS_TEST_TMPDIR/driver_test" test:///default qemu:///system
  echo "$output" | grep -v '^PASS'
  [ "$status" = 0 ]
  grep -q '^[0-9]* passed, 0 failed$' <<<"$output"
}
