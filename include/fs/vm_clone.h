/* vm_clone.h: a VM made a copy of another (vm.from, issue 17).
 *
 * The mount calls vm_clone_check with the other preconditions and
 * vm_clone_apply after the write of `from` is stored, both inside the
 * write's store batch: the copied spec, the source's root-volume snapshot
 * the clone's root disk is made from, and the clone's NICs are stored with
 * `from` in one transaction.  The reconciler makes the root disk from the
 * snapshot (status key _clone, reconcile_vm_disks.c).
 */
#ifndef CFS_VM_CLONE_H
#define CFS_VM_CLONE_H

#include <stdbool.h>

#include "conf.h"
#include "store.h"

/* 0 when writing value to attribute a of r may go on (anything but a VM's
 * `from` passes): the source's root volume may take one more snapshot,
 * and a tenant (quota true) has quota for the copied offering and size. */
int vm_clone_check(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                   const struct cfs_attr_def *a, const char *value, bool quota,
                   struct cfs_err *err);

/* After the write of value to a of r was stored: copy the source's spec,
 * take the snapshot clone-UUID (r's UUID) of its root volume, record it in
 * r's _clone, and give r a NIC in each of the source's subnets. */
int vm_clone_apply(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                   const char *value, const struct cfs_actor *actor, struct cfs_err *err);

#endif
