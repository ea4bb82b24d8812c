#!/usr/bin/env bats
# Group quotas (issue 13): quotas/@GROUP/ bounds what the members of a local
# group own together, beside each member's own quota.  cfs-m1 is in the
# group cfs-mproj as a supplementary group, cfs-m2 by its primary group,
# cfs-m3 is not in it.

load helpers
load checks

setup_file() {
  local u
  getent group cfs-mproj >/dev/null || groupadd --system cfs-mproj
  id cfs-m1 >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh cfs-m1
  id cfs-m2 >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh -g cfs-mproj cfs-m2
  id cfs-m3 >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh cfs-m3
  usermod -a -G cfs-mproj cfs-m1
  cfs_start
  # mktemp made $T private; the tenants have to reach the mount point.
  chmod 755 "$T"
}
teardown_file() { cfs_stop; }

as() { local u="$1"; shift; runuser -u "$u" -- "$@"; }
owned() { sqlite3 "$DB" "SELECT count(*) FROM resources WHERE kind='$1' AND deleted=0 AND uid=$(id -u "$2")"; }

@test "group quotas: quotas/@GROUP needs an existing local group; tenants cannot make or change one" {
  refused "$E_INVAL" mkdir "$MNT/quotas/@cfs-no-such-group"
  refused "$E_INVAL" mkdir "$MNT/quotas/@"
  refused "$E_INVAL" mkdir "$MNT/quotas/@-x"
  # a user is not a group: cfs-m2 has cfs-mproj as primary group, no group cfs-m2
  refused "$E_INVAL" mkdir "$MNT/quotas/@cfs-m2"
  # '@' only names a group in quotas/
  refused "$E_INVAL" mkdir "$C/vms/@cfs-mproj"
  mkdir "$MNT/quotas/@cfs-mproj"
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM resources WHERE kind='quota' AND name='@cfs-mproj' AND deleted=0")" = 1 ]
  refused "$E_ACCES" as cfs-m1 sh -c "echo 100 > '$MNT/quotas/@cfs-mproj/vms'"
  refused "$E_ACCES" as cfs-m1 mkdir "$MNT/quotas/@cfs-m1"
  # unset attributes read as the defaults; usage is counted
  [ "$(cat "$MNT/quotas/@cfs-mproj/vms")" = 20 ]
  [ "$(cat "$MNT/quotas/@cfs-mproj/status/vms")" = 0 ]
  rmdir "$MNT/quotas/@cfs-mproj"
}

@test "group quotas: the members' resources together are bounded; EDQUOT names the group quota" {
  mkdir "$MNT/quotas/@cfs-mproj"
  local g="$MNT/quotas/@cfs-mproj"
  echo 3 > "$g/vms"; echo 1 > "$g/running-vms"; echo 15G > "$g/volume-size"
  as cfs-m1 mkdir "$C/vms/m1a" "$C/vms/m1b"
  as cfs-m2 mkdir "$C/vms/m2a"
  [ "$(cat "$g/status/vms")" = 3 ]
  # the fourth VM of the group is refused, whoever asks, with the group's reason
  refused "$E_DQUOT" as cfs-m2 mkdir "$C/vms/m2b"
  last_error_has cfs-m2 "quota of group cfs-mproj: vms is 3, 3 in use by its members, 1 more asked"
  last_error_has cfs-m2 "quotas/@cfs-mproj/vms"
  refused "$E_DQUOT" as cfs-m1 mkdir "$C/vms/m1c"
  last_error_has cfs-m1 "quota of group cfs-mproj"
  # a user outside the group is not bounded by it
  as cfs-m3 mkdir "$C/vms/m3a"
  [ "$(cat "$g/status/vms")" = 3 ]
  [ "$(owned vm cfs-m1):$(owned vm cfs-m2):$(owned vm cfs-m3)" = 2:1:1 ]
  # each member's own quota (the defaults here) shows the member's share
  mkdir "$MNT/quotas/cfs-m1"
  [ "$(cat "$MNT/quotas/cfs-m1/status/vms")" = 2 ]
  # chgrp does not take a VM out of its owner's group usage
  as cfs-m1 chgrp cfs-m1 "$C/vms/m1a"
  [ "$(stat -c %G "$C/vms/m1a")" = cfs-m1 ]
  [ "$(cat "$g/status/vms")" = 3 ]
  # running: one member's VM runs, another member's is refused
  as cfs-m1 sh -c "echo running > '$C/vms/m1a/state'"
  refused "$E_DQUOT" as cfs-m2 bash -c "echo running > '$C/vms/m2a/state'"
  reason_has "$C/vms/m2a" "quota of group cfs-mproj: running-vms is 1, 1 in use by its members"
  [ "$(db_attr vm m2a state)" != running ]
  [ "$(cat "$g/status/running-vms")" = 1 ]
  # volume sizes together: 10G (the default size) each, 15G for the group
  as cfs-m2 mkdir "$C/volumes/m2v"
  refused "$E_DQUOT" as cfs-m1 mkdir "$C/volumes/m1v"
  last_error_has cfs-m1 "quota of group cfs-mproj: volume-size is 15G, 10G in use by its members, 10G more asked"
  refused "$E_DQUOT" as cfs-m2 bash -c "echo 20G > '$C/volumes/m2v/size'"
  reason_has "$C/volumes/m2v" "volume-size is 15G"
  [ "$(cat "$g/status/volumes"):$(cat "$g/status/volume-size")" = 1:10G ]
  # the user quota still applies beside the group's (the stricter one refuses)
  echo 30G > "$g/volume-size"
  echo 0 > "$MNT/quotas/cfs-m1/volumes"
  refused "$E_DQUOT" as cfs-m1 mkdir "$C/volumes/m1v"
  last_error_has cfs-m1 "quota of user cfs-m1: volumes is 0"
  echo 40 > "$MNT/quotas/cfs-m1/volumes"
  as cfs-m1 mkdir "$C/volumes/m1v"
  [ "$(cat "$g/status/volumes"):$(cat "$g/status/volume-size")" = 2:20G ]
  # raising the group's quota lets the members go on; without it no limit
  echo 4 > "$g/vms"
  as cfs-m2 mkdir "$C/vms/m2b"
  refused "$E_DQUOT" as cfs-m2 mkdir "$C/vms/m2c"
  rmdir "$g"
  as cfs-m2 mkdir "$C/vms/m2c" "$C/vms/m2d"
  [ "$(owned vm cfs-m2)" = 4 ]
  as cfs-m1 sh -c "echo stopped > '$C/vms/m1a/state'"
  as cfs-m1 rmdir "$C/vms/m1a" "$C/vms/m1b" "$C/volumes/m1v"
  as cfs-m2 rmdir "$C/vms/m2a" "$C/vms/m2b" "$C/vms/m2c" "$C/vms/m2d" "$C/volumes/m2v"
  as cfs-m3 rmdir "$C/vms/m3a"
  rmdir "$MNT/quotas/cfs-m1"
}
