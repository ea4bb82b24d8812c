#!/usr/bin/env bats
# Affinity and anti-affinity groups (affinity-groups/G/, a VM's affinity-group),
# proven on the multi-host rig (scripts/hosts-up.sh: three real libvirtd hosts) with
# tiny TCG guests, and each host's own `virsh list` as the observer: three VMs of a
# hard anti-affinity group run on three hosts and a fourth stays unplaced with the
# reason; a hard affinity group keeps two VMs on one host; a soft anti-affinity group
# with more VMs than hosts still places them all, spread first. Writes that would
# break a hard rule are refused with EBUSY, bad values with EINVAL or ENOENT, and the
# store is unchanged. Quick checks on libvirt's test:/// hosts add the scale (six
# hosts, six members, a seventh unplaced until one goes) and soft affinity (which the
# balancing alone would not give).

load compute_helpers

GUEST=/var/cache/cloudfs-test/tinyguest

setup_file() {
  "$REPO/scripts/tiny-guest.sh" "$GUEST" >/dev/null
  rig_up 3
  CFS_TEST_URI=test:///default RESYNC=5 compute_start
  export A="$MNT/zones/default/clusters/aff"
  mkdir "$A"
  local h
  for h in h1 h2 h3; do
    mkdir "$A/hosts/$h"
    rig_uri "$h" > "$A/hosts/$h/uri"
    echo qemu > "$A/hosts/$h/domain-type"     # /dev/kvm here cannot run guests
  done
  make_tiny_offering aff1 128M
}

teardown_file() {
  local rc=0
  compute_stop || rc=1
  rig_down || rc=1
  return $rc
}

# rv H ARGS...: virsh on rig host H.
rv() { local h=$1; shift; timeout 60 virsh -q -c "$(rig_uri "$h")" "$@"; }
# host_of VM: the rig host whose libvirtd runs VM's domain (the observer), or nothing.
host_of() {
  local h d
  d=$(vm_domain "$1")
  for h in h1 h2 h3; do
    rv "$h" list --name 2>/dev/null | grep -qx "$d" && echo "$h"
  done
  return 0
}
runs_on_some_host() { [ -n "$(host_of "$1")" ]; }
# mkvm VM [GROUP]: a tiny TCG guest in cluster aff, started.
mkvm() {
  mkdir "$A/vms/$1"
  echo aff1 > "$A/vms/$1/offering"
  echo "$GUEST/vmlinuz" > "$A/vms/$1/kernel"
  echo "$GUEST/initrd.gz" > "$A/vms/$1/initrd"
  echo "console=ttyS0 panic=-1" > "$A/vms/$1/cmdline"
  [ -z "${2:-}" ] || echo "$2" > "$A/vms/$1/affinity-group"
  echo running > "$A/vms/$1/state"
}
# mkgroup G POLICY ENFORCEMENT
mkgroup() {
  mkdir "$A/affinity-groups/$1"
  echo "$2" > "$A/affinity-groups/$1/policy"
  echo "$3" > "$A/affinity-groups/$1/enforcement"
}
# rmvms VM...: remove and wait until the rig has none of them (less load on 2 cores).
rmvms() {
  local v
  for v in "$@"; do rmdir "$A/vms/$v"; done
  for v in "$@"; do wait_until 60 bash -c "[ ! -e '$A/vms/$v' ]"; done
}
attr_in_store() {
  sqlite3 "$DB" "SELECT a.value FROM attrs a JOIN resources r ON r.id = a.res WHERE r.kind='$1' AND r.name='$2' AND a.name='$3' AND r.deleted=0"
}
# refused ERRNO-TEXT FILE VALUE: a write refused with that error (bash, not dash).
refused() {
  run bash -c "echo '$3' > '$2'"
  [ "$status" -ne 0 ] || { echo "'$3' > $2 was accepted" >&2; return 1; }
  [[ "$output" == *"$1"* ]] || { echo "expected $1, got: $output" >&2; return 1; }
}

@test "the rig's three hosts connect in cluster aff" {
  for h in h1 h2 h3; do
    wait_until 60 file_is "$A/hosts/$h/status/connection" connected
  done
  [ -d "$A/affinity-groups" ]
  [ "$(cat "$A/hosts/h1/status/domain-type")" = qemu ]
}

@test "bad values are refused with EINVAL or ENOENT and a reason; the store is unchanged" {
  mkgroup g0 anti-affinity hard
  refused "Invalid argument" "$A/affinity-groups/g0/policy" anti
  grep -q "policy" "$A/affinity-groups/g0/status/error"
  refused "Invalid argument" "$A/affinity-groups/g0/enforcement" strict
  grep -q "enforcement" "$A/affinity-groups/g0/status/error"
  [ "$(attr_in_store affinity-group g0 policy)" = anti-affinity ]
  [ "$(attr_in_store affinity-group g0 enforcement)" = hard ]
  # A group of another cluster, by name or by path, and one that does not exist.
  mkdir "$C/affinity-groups/elsewhere"
  mkdir "$A/vms/x0"
  refused "No such file or directory" "$A/vms/x0/affinity-group" elsewhere
  grep -q "does not exist in this cluster" "$A/vms/x0/status/error"
  refused "Invalid argument" "$A/vms/x0/affinity-group" default/default/elsewhere
  refused "No such file or directory" "$A/vms/x0/affinity-group" nosuch
  refused "Invalid argument" "$A/vms/x0/affinity-group" "../g0"
  [ -z "$(attr_in_store vm x0 affinity-group)" ]
  [ -z "$(cat "$A/vms/x0/affinity-group")" ]
  # A good one is accepted and reads back; the group lists it; empty leaves it.
  echo g0 > "$A/vms/x0/affinity-group"
  [ "$(cat "$A/vms/x0/affinity-group")" = g0 ]
  [ "$(cat "$A/affinity-groups/g0/status/members")" = x0 ]
  [ -z "$(cat "$A/affinity-groups/g0/status/hosts")" ]
  # A stopped member pinned to a host holds that host as a placed one does.
  echo h1 > "$A/vms/x0/host"
  [ "$(cat "$A/affinity-groups/g0/status/hosts")" = "h1 x0" ]
  mkdir "$A/vms/x1"
  echo h1 > "$A/vms/x1/host"
  refused "Device or resource busy" "$A/vms/x1/affinity-group" g0
  grep -q "vm x1 on host h1 would break hard anti-affinity group g0 (vm x0 is on h1)" "$A/vms/x1/status/error"
  [ -z "$(attr_in_store vm x1 affinity-group)" ]
  echo h2 > "$A/vms/x1/host"
  echo g0 > "$A/vms/x1/affinity-group"
  refused "Device or resource busy" "$A/vms/x1/host" h1
  [ "$(attr_in_store vm x1 host)" = h2 ]
  rmdir "$A/vms/x1"
  # A group with members stays.
  run rmdir "$A/affinity-groups/g0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"busy"* ]]
  grep -q "in use by vm x0" "$A/affinity-groups/g0/status/error"
  # Neither can it be renamed while named.
  run mv "$A/affinity-groups/g0" "$A/affinity-groups/g9"
  [ "$status" -ne 0 ]
  echo > "$A/vms/x0/affinity-group"
  [ -z "$(cat "$A/affinity-groups/g0/status/members")" ]
  rmdir "$A/vms/x0" "$A/affinity-groups/g0" "$C/affinity-groups/elsewhere"
}

@test "hard anti-affinity: three VMs on three hosts, a fourth unplaced with the reason" {
  mkgroup anti anti-affinity hard
  for v in a1 a2 a3; do mkvm "$v" anti; done
  for v in a1 a2 a3; do wait_until 120 file_is "$A/vms/$v/status/state" running; done
  # The observer: each host's own libvirtd runs exactly one of them.
  for v in a1 a2 a3; do wait_until 30 runs_on_some_host "$v"; done
  hosts=$(for v in a1 a2 a3; do host_of "$v"; done | sort | tr '\n' ' ')
  [ "$hosts" = "h1 h2 h3 " ]
  for v in a1 a2 a3; do [ "$(host_of "$v")" = "$(cat "$A/vms/$v/status/host")" ]; done
  # Real guests: TCG domains whose kernels boot on their hosts.
  for v in a1 a2 a3; do
    rv "$(host_of "$v")" dumpxml "$(vm_domain "$v")" | grep -q "domain type='qemu'"
    wait_until 120 grep -qa "TINYGUEST READY" "$(cat "$A/vms/$v/status/console")"
  done
  [ "$(cat "$A/affinity-groups/anti/status/members")" = "$(printf 'a1\na2\na3')" ]
  [ "$(wc -l < "$A/affinity-groups/anti/status/hosts")" = 3 ]
  [ -z "$(cat "$A/affinity-groups/anti/status/violations")" ]
  # A fourth has nowhere to go: unplaced, stopped, the reason in status/error.
  mkvm a4 anti
  wait_until 30 grep -q "no host keeps hard anti-affinity group anti" "$A/vms/a4/status/error"
  grep -q "vm a1 is on" "$A/vms/a4/status/error"
  [ -z "$(cat "$A/vms/a4/status/host")" ]
  [ "$(cat "$A/vms/a4/status/state")" = stopped ]
  [ -z "$(host_of a4)" ]
  for h in h1 h2 h3; do ! rv "$h" list --all --name | grep -qx "$(vm_domain a4)"; done
  # Still so after a few more tries of the scheduler (it retries every 15 s).
  sleep 2
  [ -z "$(cat "$A/vms/a4/status/host")" ]
}

@test "writes that would break the hard anti-affinity rule are refused with EBUSY" {
  h1vm=$(grep -l '^h1$' "$A"/vms/a[123]/status/host | head -n1 | xargs dirname | xargs dirname | xargs basename)
  # Pinning the unplaced fourth onto a member's host.
  refused "Device or resource busy" "$A/vms/a4/host" h1
  grep -q "would break hard anti-affinity group anti (vm $h1vm is on h1)" "$A/vms/a4/status/error"
  [ -z "$(attr_in_store vm a4 host)" ]
  # The group's policy: three members on three hosts cannot become affinity.
  refused "Device or resource busy" "$A/affinity-groups/anti/policy" affinity
  grep -q "would break hard affinity: members on several hosts" "$A/affinity-groups/anti/status/error"
  [ "$(attr_in_store affinity-group anti policy)" = anti-affinity ]
  # A removal while it has members.
  run rmdir "$A/affinity-groups/anti"
  [ "$status" -ne 0 ]
  # Out of the group, the fourth is placed; back into it, refused while placed with a member.
  echo > "$A/vms/a4/affinity-group"
  wait_until 120 file_is "$A/vms/a4/status/state" running
  placed=$(cat "$A/vms/a4/status/host")
  [ "$(host_of a4)" = "$placed" ]
  refused "Device or resource busy" "$A/vms/a4/affinity-group" anti
  grep -q "vm a4 on host $placed would break hard anti-affinity group anti" "$A/vms/a4/status/error"
  [ -z "$(attr_in_store vm a4 affinity-group)" ]
  # Soft, the group takes it: the placement now breaks the rule, and says so.
  echo soft > "$A/affinity-groups/anti/enforcement"
  echo anti > "$A/vms/a4/affinity-group"
  grep -q "share host $placed" "$A/affinity-groups/anti/status/violations"
  # ... and cannot become hard again while it does.
  refused "Device or resource busy" "$A/affinity-groups/anti/enforcement" hard
  grep -q "share host $placed" "$A/affinity-groups/anti/status/error"
  [ "$(attr_in_store affinity-group anti enforcement)" = soft ]
  rmvms a1 a2 a3 a4
  rmdir "$A/affinity-groups/anti"
}

@test "maintenance of a host holding a hard anti-affinity member: it cannot move, is stopped, and both say why" {
  mkgroup evac anti-affinity hard
  for v in e1 e2 e3; do mkvm "$v" evac; done
  for v in e1 e2 e3; do wait_until 120 file_is "$A/vms/$v/status/state" running; done
  h=$(cat "$A/vms/e1/status/host")
  [ -n "$h" ]
  [ "$(host_of e1)" = "$h" ]
  # Each other host holds a member: no room without breaking the rule.
  echo maintenance > "$A/hosts/$h/state"
  wait_until 120 file_is "$A/hosts/$h/status/state" maintenance
  [ "$(cat "$A/vms/e1/status/state")" = stopped ]
  grep -q "cannot move" "$A/vms/e1/status/error"
  grep -q "anti-affinity group evac" "$A/vms/e1/status/error"
  grep -q "e1 (" "$A/hosts/$h/status/error"
  [ -z "$(host_of e1)" ]
  # The others run where they were.
  for v in e2 e3; do
    [ "$(cat "$A/vms/$v/status/state")" = running ]
    o=$(host_of "$v")
    [ -n "$o" ] && [ "$o" != "$h" ]
  done
  echo enabled > "$A/hosts/$h/state"
  wait_until 60 file_is "$A/hosts/$h/status/state" enabled
  rmvms e1 e2 e3
  rmdir "$A/affinity-groups/evac"
}

@test "hard affinity keeps two VMs on one host; a move away is refused with EBUSY" {
  mkgroup together affinity hard
  mkvm b1 together
  wait_until 120 file_is "$A/vms/b1/status/state" running
  mkvm b2 together
  wait_until 120 file_is "$A/vms/b2/status/state" running
  h=$(cat "$A/vms/b1/status/host")
  [ "$(cat "$A/vms/b2/status/host")" = "$h" ]
  wait_until 30 runs_on_some_host b2
  [ "$(host_of b1)" = "$h" ]
  [ "$(host_of b2)" = "$h" ]
  [ "$(cat "$A/affinity-groups/together/status/hosts")" = "$h b1 b2" ]
  other=h1; [ "$h" != h1 ] || other=h2
  refused "Device or resource busy" "$A/vms/b2/host" "$other"
  grep -q "vm b2 on host $other would break hard affinity group together (vm b1 is on $h)" "$A/vms/b2/status/error"
  [ -z "$(attr_in_store vm b2 host)" ]
  # Pinning to the group's host is fine.
  echo "$h" > "$A/vms/b2/host"
  # Neither can the group turn anti-affinity while both share the host.
  refused "Device or resource busy" "$A/affinity-groups/together/policy" anti-affinity
  grep -q "vms b1 and b2 share host $h" "$A/affinity-groups/together/status/error"
  rmvms b1 b2
  rmdir "$A/affinity-groups/together"
}

@test "soft anti-affinity with more VMs than hosts still places them all, spread first" {
  mkgroup spread anti-affinity soft
  for v in c1 c2 c3 c4; do mkvm "$v" spread; done
  for v in c1 c2 c3 c4; do wait_until 120 file_is "$A/vms/$v/status/state" running; done
  for v in c1 c2 c3 c4; do wait_until 30 runs_on_some_host "$v"; done
  # Every host runs one, one runs two (observed on the hosts).
  counts=$(for v in c1 c2 c3 c4; do host_of "$v"; done | sort | uniq -c | awk '{print $1}' | sort | tr '\n' ' ')
  [ "$counts" = "1 1 2 " ]
  [ "$(grep -c "share host" "$A/affinity-groups/spread/status/violations")" = 1 ]
  refused "Device or resource busy" "$A/affinity-groups/spread/enforcement" hard
  rmvms c1 c2 c3 c4
  [ -z "$(cat "$A/affinity-groups/spread/status/members")" ]
  rmdir "$A/affinity-groups/spread"
}

# Six simulated hosts (libvirt's test driver, node_xml): scale only; the proofs above are real.

@test "test:/// scale: six hosts take six members of a hard anti-affinity group, a seventh waits" {
  S="$MNT/zones/default/clusters/affsim"
  mkdir "$S"
  for i in 1 2 3 4 5 6; do
    node_xml "$T/s$i.xml"
    mkdir "$S/hosts/s$i"
    echo "test://$T/s$i.xml" > "$S/hosts/s$i/uri"
  done
  for i in 1 2 3 4 5 6; do wait_until 30 file_is "$S/hosts/s$i/status/connection" connected; done
  mkdir "$S/affinity-groups/six"
  echo hard > "$S/affinity-groups/six/enforcement"
  for i in 1 2 3 4 5 6 7; do
    mkdir "$S/vms/d$i"
    echo aff1 > "$S/vms/d$i/offering"
    echo six > "$S/vms/d$i/affinity-group"
    echo running > "$S/vms/d$i/state"
  done
  for i in 1 2 3 4 5 6; do wait_until 30 file_is "$S/vms/d$i/status/state" running; done
  wait_until 30 grep -q "no host keeps hard anti-affinity group six" "$S/vms/d7/status/error"
  [ "$(cat "$S"/vms/d[1-6]/status/host | sort -u | wc -l)" = 6 ]
  [ -z "$(cat "$S/vms/d7/status/host")" ]
  [ "$(wc -l < "$S/affinity-groups/six/status/hosts")" = 6 ]
  # One member gone frees its host: the seventh is placed there at the next try.
  freed=$(cat "$S/vms/d3/status/host")
  rmdir "$S/vms/d3"
  wait_until 40 file_is "$S/vms/d7/status/host" "$freed"
  wait_until 30 file_is "$S/vms/d7/status/state" running
}

@test "test:/// soft affinity: the second member joins the first's host, where balancing alone would not" {
  S="$MNT/zones/default/clusters/affsim"
  mkdir "$S/affinity-groups/pair"
  echo affinity > "$S/affinity-groups/pair/policy"
  for v in e1 e2; do
    mkdir "$S/vms/$v"
    echo aff1 > "$S/vms/$v/offering"
    echo pair > "$S/vms/$v/affinity-group"
    echo running > "$S/vms/$v/state"
    wait_until 30 file_is "$S/vms/$v/status/state" running
  done
  h=$(cat "$S/vms/e1/status/host")
  [ "$(cat "$S/vms/e2/status/host")" = "$h" ]
  # Every other host holds one VM, e1's two: balancing alone would have put e2 elsewhere.
  [ "$(grep -lx "$h" "$S"/vms/*/status/host | wc -l)" = 3 ]
  [ -z "$(cat "$S/affinity-groups/pair/status/violations")" ]
}
