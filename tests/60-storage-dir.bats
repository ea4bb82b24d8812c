#!/usr/bin/env bats
# Images, volumes and disks on the default dir pool, with real qemu-img files
# and a real KVM domain (qemu:///system), checked with qemu-img, sha256sum
# and virsh.

load compute_helpers
load checks

setup_file() {
  STOP_TIMEOUT=0 compute_start
  make_tiny_offering tiny 64M
  IMG="$T/src"
  mkdir -p "$IMG"
  # A 1 GiB qcow2 holding a few MiB of data, a raw file, an ISO 9660 header,
  # and a qcow2 that names a backing file.
  qemu-img create -q -f qcow2 "$IMG/base.qcow2" 1G
  qemu-io -f qcow2 -c "write -P 0x5a 0 4M" "$IMG/base.qcow2" >/dev/null
  head -c 3145728 /dev/urandom > "$IMG/disk.raw"
  truncate -s 1M "$IMG/fake.iso"
  printf 'CD001' | dd of="$IMG/fake.iso" bs=1 seek=32769 conv=notrunc 2>/dev/null
  qemu-img create -q -f qcow2 -b "$IMG/base.qcow2" -F qcow2 "$IMG/child.qcow2"
  export IMG
}

teardown_file() { compute_stop; }

pool_dir() { echo "$T/pool"; }
# The reconciler has finished every teardown (refused() compares whole spec
# dumps, which a tombstone purged meanwhile would change).
# cloudfs check finds nothing wrong with pools, volumes or images (other
# stores' domains on the shared libvirtd are not this store's business).
storage_checks_clean() {
  local out
  out=$("$CLOUDFS_BIN" -c "$CONF" check 2>/dev/null) || true
  if grep -E "pools/|volumes/|images/" <<<"$out" >&2; then return 1; fi
}
no_tombstones() { [ "$(sqlite3 "$DB" "select count(*) from resources where deleted = 1")" = 0 ]; }
vol_file() { cat "$C/volumes/$1/status/path"; }

@test "image import: format from the bytes, sizes, sha256, a task with progress" {
  mkdir "$MNT/images/base"
  echo "$IMG/base.qcow2" > "$MNT/images/base/source"
  run timeout 60 cat "$MNT/images/base/wait"
  [ "$status" -eq 0 ]
  [ "$output" = available ]
  [ "$(cat "$MNT/images/base/status/format")" = qcow2 ]
  [ "$(cat "$MNT/images/base/status/virtual-size")" = 1073741824 ]
  [ "$(cat "$MNT/images/base/status/size")" = "$(stat -c %s "$IMG/base.qcow2")" ]
  [ "$(cat "$MNT/images/base/status/sha256")" = "$(sha256sum "$IMG/base.qcow2" | cut -d' ' -f1)" ]
  # The task of the import: its files sit in the task directory itself.
  t=$(grep -l images/base "$MNT"/tasks/*/target | head -n1 | xargs dirname)
  [ "$(cat "$t/op")" = image-import ]
  [ "$(cat "$t/state")" = succeeded ]
  [ "$(cat "$t/progress")" = 100 ]
  [ -n "$(cat "$t/finished")" ]
  # Progress was reported as it went (changes log, independent of the tree).
  n=$(sqlite3 "$DB" "select count(*) from changes c join resources r on r.id=c.res
                      where r.kind='task' and c.attr='progress'")
  [ "$n" -ge 2 ]
  # Raw and ISO are recognised by content, whatever their names say.
  mkdir "$MNT/images/rawimg" "$MNT/images/cd"
  echo "$IMG/disk.raw" > "$MNT/images/rawimg/source"
  echo "$IMG/fake.iso" > "$MNT/images/cd/source"
  timeout 60 cat "$MNT/images/rawimg/wait" "$MNT/images/cd/wait"
  [ "$(cat "$MNT/images/rawimg/status/format")" = raw ]
  [ "$(cat "$MNT/images/cd/status/format")" = iso ]
}

@test "tasks/ is the reconciler's: mkdir, rmdir and writes are refused" {
  t=$(ls "$MNT/tasks" | head -n1)
  run mkdir "$MNT/tasks/99999"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$E_PERM"* ]]
  run rmdir "$MNT/tasks/$t"
  [ "$status" -ne 0 ]
  run write_value "$MNT/tasks/$t/state" failed
  [ "$status" -ne 0 ]
  [ "$(cat "$MNT/tasks/$t/state")" = succeeded ]
}

@test "image import failures: missing file, qcow2 with a backing file; wait fails with EIO" {
  mkdir "$MNT/images/ghost" "$MNT/images/chained"
  # the source is opened as the writer when it is written (issue 13)
  run write_value "$MNT/images/ghost/source" "$IMG/nope.qcow2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such file"* ]]
  reason_has "$MNT/images/ghost" "No such file"
  echo "$IMG/child.qcow2" > "$MNT/images/chained/source"
  run timeout 60 cat "$MNT/images/chained/wait"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Input/output error"* ]]
  [ "$(cat "$MNT/images/chained/status/state")" = failed ]
  reason_has "$MNT/images/chained" "backing file"
  # Nothing half-imported is left in the catalogue.
  [ -z "$(ls "$T/images" | grep -v '\.img$' || true)" ]
}

@test "blank volume: a qcow2 of the size in the pool; grows; shrinking is refused" {
  mkdir "$C/volumes/data1"
  echo 20G > "$C/volumes/data1/size"
  run timeout 60 cat "$C/volumes/data1/wait"
  [ "$output" = available ]
  f=$(vol_file data1)
  [[ "$f" == "$(pool_dir)/cfs-vol-"*.qcow2 ]]
  qemu-img info --output=json "$f" | grep -q '"virtual-size": 21474836480'
  [ "$(cat "$C/volumes/data1/status/pool")" = local ]
  [ "$(cat "$C/volumes/data1/status/size")" = 20G ]
  echo 30G > "$C/volumes/data1/size"
  timeout 60 cat "$C/volumes/data1/wait"
  qemu-img info --output=json "$f" | grep -q '"virtual-size": 32212254720'
  reject "$E_INVAL" "$C/volumes/data1/size" 10G "can only grow"
  qemu-img info --output=json "$f" | grep -q '"virtual-size": 32212254720'
  # Made: its pool and image are fixed.
  # Until its first attachment a volume holds nothing: a new image remakes it.
  echo base > "$C/volumes/data1/image"
  timeout 60 cat "$C/volumes/data1/wait"
  f=$(vol_file data1)
  qemu-img info --output=json "$f" | grep -q '"backing-filename"'
  qemu-img info --output=json "$f" | grep -q '"virtual-size": 32212254720'
  echo "" > "$C/volumes/data1/image"
  timeout 60 cat "$C/volumes/data1/wait"
  ! qemu-img info --output=json "$(vol_file data1)" | grep -q '"backing-filename"' || false

}

@test "volume from an image: copy-on-write child of the pool's copy; too small is refused" {
  mkdir "$C/volumes/small"
  reject "$E_INVAL" "$C/volumes/small/image" cd "ISO"
  rmdir "$C/volumes/small"
  mkdir "$C/volumes/boot1"
  echo 20G > "$C/volumes/boot1/size"
  echo base > "$C/volumes/boot1/image"
  timeout 60 cat "$C/volumes/boot1/wait"
  f=$(vol_file boot1)
  info=$(qemu-img info --output=json "$f")
  [[ "$info" == *'"backing-filename": "'"$(pool_dir)"/cfs-img-* ]]
  [[ "$info" == *'"virtual-size": 21474836480'* ]]
  # The data is the image's: read it back through the child.
  qemu-io -f qcow2 -r -c "read -P 0x5a 0 4M" "$f" | grep -q "read 4194304/4194304"
  # The pool's copy of the image is read-only.
  [ "$(stat -c %a "$(pool_dir)"/cfs-img-*.qcow2)" = 400 ]
}

@test "VM with an image: root volume made before the first start, boots from vda" {
  mkdir "$C/vms/web"
  echo tiny > "$C/vms/web/offering"
  echo base > "$C/vms/web/image"
  echo 20G > "$C/vms/web/root-size"
  echo running > "$C/vms/web/state"
  run timeout 90 cat "$C/vms/web/wait"
  [ "$output" = running ]
  root=$(cat "$C/vms/web/status/root-volume")
  [ "$root" = web-root ]
  [ "$(cat "$C/volumes/web-root/status/root-of")" = web ]
  [ "$(cat "$C/volumes/web-root/image")" = base ]
  dom=$(vm_domain web)
  $VIRSH domblklist "$dom" | grep -q "^ *vda *$(vol_file web-root)\$"
  domstate_is "$dom" running
  # The image cannot change under an existing root disk; the root volume
  # cannot be deleted or attached elsewhere.
  reject "$E_BUSY" "$C/vms/web/image" rawimg "root volume"
  refused "$E_BUSY" rmdir "$C/volumes/web-root"
  mkdir "$C/vms/other"
  refused "$E_BUSY" ln -s ../../../volumes/web-root "$C/vms/other/volumes/"
  rmdir "$C/vms/other"
  wait_until 30 no_tombstones
  # A root disk must hold its image: root-size below the image's virtual
  # size (or its min-disk) is refused, either way round.
  qemu-img create -q -f qcow2 "$IMG/wide.qcow2" 30G
  mkdir "$MNT/images/wide"
  echo "$IMG/wide.qcow2" > "$MNT/images/wide/source"
  timeout 60 cat "$MNT/images/wide/wait"
  mkdir "$C/vms/small"
  echo 20G > "$C/vms/small/root-size"
  reject "$E_INVAL" "$C/vms/small/image" wide "smaller than image wide"
  echo 40G > "$C/vms/small/root-size"
  echo wide > "$C/vms/small/image"
  reject "$E_INVAL" "$C/vms/small/root-size" 20G "smaller than image wide"
  echo 50G > "$MNT/images/base/min-disk"
  mkdir "$C/vms/small2"
  echo 40G > "$C/vms/small2/root-size"
  reject "$E_INVAL" "$C/vms/small2/image" base "min-disk"
  echo 0 > "$MNT/images/base/min-disk"
  rmdir "$C/vms/small" "$C/vms/small2"
  wait_until 30 no_tombstones
}

@test "VM from an ISO: a blank root disk and the ISO in the CD-ROM drive, booted first" {
  echo windows > "$MNT/images/cd/os"
  mkdir "$C/vms/inst"
  echo tiny > "$C/vms/inst/offering"
  echo cd > "$C/vms/inst/image"
  echo running > "$C/vms/inst/state"
  run timeout 90 cat "$C/vms/inst/wait"
  [ "$output" = running ]
  dom=$(vm_domain inst)
  iso="$T/images/$(sqlite3 "$DB" "select uuid from resources where kind='image' and name='cd'").img"
  $VIRSH domblklist "$dom" | grep -q "^ *sda *$iso\$"
  $VIRSH domblklist "$dom" | grep -q "^ *vda *$(vol_file inst-root)\$"
  $VIRSH dumpxml "$dom" | grep -q "<boot dev='cdrom'/>"
  # os = windows: Hyper-V enlightenments and a local-time clock.
  $VIRSH dumpxml "$dom" | grep -q "<hyperv"
  $VIRSH dumpxml "$dom" | grep -q "<clock offset='localtime'"
  [ "$(cat "$C/vms/inst/status/cdrom")" = cd ]
  # The root disk is blank (no backing file) and of root-size (default 40G).
  info=$(qemu-img info -U --output=json "$(vol_file inst-root)")
  [[ "$info" != *backing-filename* ]]
  [[ "$info" == *'"virtual-size": 42949672960'* ]]
  refused "$E_BUSY" rmdir "$MNT/images/cd"
  rm -r "$C/vms/inst"
  wait_until 30 test ! -e "$C/volumes/inst-root"
  wait_until 30 no_tombstones
}

@test "hot plug: ln -s attaches to the running domain, resize grows it live, rm detaches" {
  dom=$(vm_domain web)
  ln -s ../../../volumes/data1 "$C/vms/web/volumes/"
  timeout 60 cat "$C/vms/web/wait"
  wait_until 20 file_is "$C/volumes/data1/status/state" attached
  [ "$(cat "$C/volumes/data1/status/attached-to")" = web ]
  $VIRSH domblklist "$dom" | grep -q "^ *sdb *$(vol_file data1)\$"
  $VIRSH domblklist --inactive "$dom" | grep -q "^ *sdb *$(vol_file data1)\$"
  # A volume attaches to one VM at a time; an attached volume is not deleted.
  mkdir "$C/vms/other2"
  refused "$E_BUSY" ln -s ../../../volumes/data1 "$C/vms/other2/volumes/"
  rmdir "$C/vms/other2"
  wait_until 30 no_tombstones
  refused "$E_BUSY" rmdir "$C/volumes/data1"
  # Attached once, it may hold data: its image and pool are fixed now.
  reject "$E_BUSY" "$C/volumes/data1/image" base "holds data"
  # Live growth: the running guest's disk grows at once.
  echo 40G > "$C/volumes/data1/size"
  timeout 60 cat "$C/volumes/data1/wait"
  [ "$($VIRSH domblkinfo "$dom" sdb | awk '/Capacity/ {print $2}')" = 42949672960 ]
  # Detach: gone from the live domain and from its definition.
  rm "$C/vms/web/volumes/data1"
  timeout 60 cat "$C/vms/web/wait"
  wait_until 20 file_is "$C/volumes/data1/status/state" available
  ! $VIRSH domblklist "$dom" | grep -q sdb || false
  ! $VIRSH domblklist --inactive "$dom" | grep -q sdb || false
  [ -z "$(cat "$C/volumes/data1/status/attached-to")" ]
  domstate_is "$dom" running
}

@test "cold plug into a stopped VM's definition, then start with it; attach/detach files" {
  dom=$(vm_domain web)
  echo stopped > "$C/vms/web/state"
  timeout 60 cat "$C/vms/web/wait"
  echo data1 > "$C/vms/web/attach"
  [ "$(readlink "$C/vms/web/volumes/data1")" = ../../../volumes/data1 ]
  timeout 60 cat "$C/vms/web/wait"
  $VIRSH domblklist --inactive "$dom" | grep -q "^ *sdb *$(vol_file data1)\$"
  echo running > "$C/vms/web/state"
  timeout 60 cat "$C/vms/web/wait"
  $VIRSH domblklist "$dom" | grep -q "^ *sdb "
  # detach is rm of the link; unknown names are refused.
  echo data1 > "$C/vms/web/detach"
  [ ! -e "$C/vms/web/volumes/data1" ]
  timeout 60 cat "$C/vms/web/wait"
  ! $VIRSH domblklist "$dom" | grep -q sdb || false
  reject "$E_NOENT" "$C/vms/web/attach" nosuch "no volume 'nosuch'"
  reject "$E_INVAL" "$C/vms/web/attach" "../x" "is not a volume name"
  echo data1 > "$C/vms/web/attach"
  timeout 60 cat "$C/vms/web/wait"
  $VIRSH domblklist "$dom" | grep -q "^ *sdb "
}

@test "iso: inserted into and ejected from a running VM's CD-ROM drive; boot order at the next start" {
  dom=$(vm_domain web)
  sda() { $VIRSH domblklist "$@" "$dom" | awk '$1 == "sda" {print $2}'; }
  [ "$(sda)" = - ]                       # an empty drive is always there
  reject "$E_INVAL" "$C/vms/web/iso" base "not an ISO"
  echo cd > "$C/vms/web/iso"
  timeout 60 cat "$C/vms/web/wait"
  [ "$(cat "$C/vms/web/status/cdrom")" = cd ]
  [ "$(sda)" != - ]
  [ "$(sda)" = "$(sda --inactive)" ]
  qemu-img info -U "$(sda)" | grep -q "file format: raw"
  domstate_is "$dom" running
  echo > "$C/vms/web/iso"                # eject
  timeout 60 cat "$C/vms/web/wait"
  [ "$(sda)" = - ]
  [ "$(sda --inactive)" = - ]
  [ -z "$(cat "$C/vms/web/status/cdrom")" ]
  echo cdrom,disk > "$C/vms/web/boot"
  timeout 60 cat "$C/vms/web/wait"
  [ "$($VIRSH dumpxml --inactive "$dom" | grep -o "<boot dev='[a-z]*'/>" | tr -d '\n')" = \
    "<boot dev='cdrom'/><boot dev='hd'/>" ]
  echo disk > "$C/vms/web/boot"
  timeout 60 cat "$C/vms/web/wait"
  [ "$($VIRSH dumpxml --inactive "$dom" | grep -o "<boot dev='[a-z]*'/>" | tr -d '\n')" = \
    "<boot dev='hd'/>" ]
  echo auto > "$C/vms/web/boot"
  timeout 60 cat "$C/vms/web/wait"
}

@test "ctl reinstall: a stopped VM gets a fresh root disk from its image; data volumes keep their data" {
  dom=$(vm_domain web)
  reject "$E_BUSY" "$C/vms/web/ctl" reinstall "stop it first to reinstall it"
  echo stopped > "$C/vms/web/state"
  timeout 60 cat "$C/vms/web/wait"
  old=$(vol_file web-root)
  qemu-io -f qcow2 -c "write -P 0x11 0 4M" "$old" >/dev/null
  qemu-io -f qcow2 -c "write -P 0x22 0 1M" "$(vol_file data1)" >/dev/null
  # A snapshot of the old root disk goes with it.
  mkdir "$C/volumes/web-root/snapshots/before"
  wait_until 60 file_is "$C/volumes/web-root/snapshots/before/status/state" ready
  echo reinstall > "$C/vms/web/ctl"
  wait_until 60 test ! -e "$old"
  [ ! -e "$C/volumes/web-root/snapshots/before" ]
  # Defined again at once, without a root disk until the next start.
  wait_until 30 bash -c "! $VIRSH domblklist --inactive '$dom' | grep -q '^ *vda '"
  [ -z "$(cat "$C/vms/web/status/error")" ]
  echo running > "$C/vms/web/state"
  timeout 120 cat "$C/vms/web/wait" || { cat "$C/vms/web/status/error"; false; }
  root=$(cat "$C/vms/web/status/root-volume")
  new=$(vol_file "$root")
  [ "$(cat "$C/volumes/$root/image")" = base ]
  # The image's bytes again on the root disk, the data disk as it was.
  qemu-io -r -U -f qcow2 -c "read -P 0x5a 0 4M" "$new" | grep -q "read 4194304/4194304"
  qemu-io -r -U -f qcow2 -c "read -P 0x22 0 1M" "$(vol_file data1)" | grep -q "read 1048576/1048576"
  $VIRSH domblklist "$dom" | grep -q "^ *vda *$new\$"
  $VIRSH domblklist "$dom" | grep -q "^ *sdb *$(vol_file data1)\$"
  # No image, nothing to reinstall from.
  mkdir "$C/vms/bare"
  reject "$E_INVAL" "$C/vms/bare/ctl" reinstall "no image to reinstall from"
  rmdir "$C/vms/bare"
  wait_until 30 no_tombstones
}

@test "deleting a VM keeps its data volumes and removes its root volume" {
  root=$(cat "$C/vms/web/status/root-volume")
  root_file=$(vol_file "$root")
  data_file=$(vol_file data1)
  refused "$E_BUSY" rmdir "$MNT/images/base"
  rm -r "$C/vms/web"
  wait_until 30 test ! -e "$root_file"
  wait_until 30 test ! -e "$C/volumes/$root"
  wait_until 20 file_is "$C/volumes/data1/status/state" available
  [ -e "$data_file" ]
  [ -z "$(cat "$C/volumes/data1/status/attached-to")" ]
  # Volumes that are not attached go; files follow.
  rmdir "$C/volumes/data1" "$C/volumes/boot1"
  wait_until 30 test ! -e "$data_file"
  # The image is free now: deleting it removes the pool's copy and the catalogue file.
  rmdir "$MNT/images/base"
  wait_until 30 bash -c "! ls '$(pool_dir)' | grep -q cfs-img-"
  # Every file left in the pool belongs to a volume of the tree.
  for f in "$(pool_dir)"/cfs-*; do
    [ -e "$f" ] || continue
    grep -qx "$f" <(cat "$C"/volumes/*/status/path 2>/dev/null)
  done
}

@test "kill -9 of the reconciler during an import and during a pool copy leaves nothing half-made" {
  # Big enough (1 GiB of random bytes) that each copy takes a noticeable time.
  head -c 1073741824 /dev/urandom > "$IMG/big.raw"
  mkdir "$MNT/images/big"
  echo "$IMG/big.raw" > "$MNT/images/big/source"
  wait_until 30 bash -c "ls '$T/images' | grep -q part"
  rc_crash
  rc_start
  run timeout 120 cat "$MNT/images/big/wait"
  [ "$output" = available ]
  [ "$(cat "$MNT/images/big/status/sha256")" = "$(sha256sum "$IMG/big.raw" | cut -d' ' -f1)" ]
  ! ls "$T/images" | grep -q part || false
  # The interrupted task says so; a new one finished the job.
  grep -l "interrupted" "$MNT"/tasks/*/error
  # Now crash while the image is copied into the pool for a volume.
  mkdir "$C/volumes/fromBig"
  echo big > "$C/volumes/fromBig/image"
  wait_until 60 bash -c "ls '$(pool_dir)' | grep -q part"
  rc_crash
  rc_start
  run timeout 120 cat "$C/volumes/fromBig/wait"
  [ "$output" = available ]
  ! ls "$(pool_dir)" | grep -q part || false
  [ "$(ls "$(pool_dir)" | grep -c cfs-img-)" = 1 ]
  storage_checks_clean
  rmdir "$C/volumes/fromBig"
  wait_until 30 bash -c "! ls '$(pool_dir)' | grep -q cfs-vol-"
  # The oracle sees what a crash would leave: a half-made object is reported.
  touch "$(pool_dir)/cfs-vol-00000000-0000-0000-0000-000000000000.qcow2.part"
  run "$CLOUDFS_BIN" -c "$CONF" check
  [ "$status" -eq 1 ]
  [[ "$output" == *"half-made object cfs-vol-00000000-0000-0000-0000-000000000000.part"* ]]
  rm "$(pool_dir)"/cfs-vol-00000000-*.part
  storage_checks_clean
}

@test "pool status from statvfs; a pool holding volumes keeps its path" {
  p="$C/pools/local"
  [ "$(cat "$p/status/state")" = available ]
  cap=$(cat "$p/status/capacity")
  [ "$cap" = "$(( $(stat -f -c '%b * %S' "$(pool_dir)") ))" ]
  [ "$(cat "$p/status/available")" -gt 0 ]
  mkdir "$C/volumes/keep"
  timeout 60 cat "$C/volumes/keep/wait"
  reject "$E_BUSY" "$p/path" /tmp "holds volume keep"
  refused "$E_BUSY" rmdir "$p"
  rmdir "$C/volumes/keep"
  # A pool whose directory is missing is unavailable, with the reason.
  mkdir "$C/pools/gone"
  echo "$T/does-not-exist" > "$C/pools/gone/path"
  wait_until 20 file_is "$C/pools/gone/status/state" unavailable
  reason_has "$C/pools/gone" "No such file"
  rmdir "$C/pools/gone"
}
