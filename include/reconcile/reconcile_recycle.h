/* reconcile_recycle.h: the reconciler's side of the recycle bin
 * (store_res_recycle): what a recycled resource's pass does. */
#ifndef CFS_RECONCILE_RECYCLE_H
#define CFS_RECONCILE_RECYCLE_H

#include "store.h"

struct reconciler;

/* A recycled volume or image: nothing until its retention is over, then
 * the expunge (it becomes a tombstone whose teardown deletes its data).
 * Returns the pass's result (milliseconds until the expunge, or 0). */
int rc_recycled_pass(struct reconciler *rc, const struct cfs_res *r);
/* A recycled VM: its domain is stopped and undefined on its host, its
 * volumes unplugged (its root volume and data are kept), then as
 * rc_recycled_pass. */
int rc_recycled_vm_pass(struct reconciler *rc, const struct cfs_res *vm);

#endif
