/* precond_vmsnap.h: the mount's rules for whole-VM snapshots
 * (vms/X/snapshots/S, reconcile_vmsnap.c), called from precond.c and, for
 * the rmdir of a VM, from fs_ops.c.  Each returns 0 or -1 with err. */
#ifndef CFS_PRECOND_VMSNAP_H
#define CFS_PRECOND_VMSNAP_H

#include "conf.h"
#include "store.h"

/* mkdir vms/X/snapshots/S: at most conf's vm-snapshots (EDQUOT). */
int vmsnap_precond_create(struct cfs_store *st, const struct cfs_conf *conf,
                          const struct cfs_res *vm, const struct cfs_kind *k, struct cfs_err *err);
/* Writes of a whole-VM snapshot's attributes (memory, ctl), and of the
 * VM's disks and NICs while it has snapshots (EBUSY). */
int vmsnap_precond_attr(struct cfs_store *st, const struct cfs_res *r, const char *attr,
                        const char *value, struct cfs_err *err);
/* The VM's disks or NICs change (attach, detach, a NIC made or removed):
 * EBUSY while the VM has whole-VM snapshots. */
int vmsnap_vm_fixed(struct cfs_store *st, const struct cfs_res *vm, const char *what,
                    struct cfs_err *err);
/* rmdir of a whole-VM snapshot. */
int vmsnap_precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err);
/* rmdir of a VM: its whole-VM snapshots are deleted in the same write. */
int vmsnap_delete_parts(struct cfs_store *st, const struct cfs_res *vm,
                        const struct cfs_actor *actor, struct cfs_err *err);

#endif
