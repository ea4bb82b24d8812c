/* vm_migrate.h: moving a running VM to another host (vm_migrate.c).
 *
 * The VM pass asks before placing the VM whether it must move live: its
 * `host` names another host, `host` was written empty (the scheduler picks
 * a target other than the current one), or its host is being evacuated
 * (host `state` = maintenance, at most migrations-per-host at a time).  A
 * stopped VM moves offline in the VM pass itself (it is defined anew on
 * the target).
 */
#ifndef CFS_VM_MIGRATE_H
#define CFS_VM_MIGRATE_H

#include "reconcile.h"

enum vm_migrate_outcome {
    VM_MIGRATE_NONE,    /* nothing to move live: place the VM as usual */
    VM_MIGRATE_STAY,    /* act on the VM where it runs, *placed (the move failed or waits) */
    VM_MIGRATE_MOVED,   /* it now runs on *placed (status/host says so) */
    VM_MIGRATE_DONE,    /* the pass ends; come back in *result ms */
};

/* The live-migration step of a VM pass.  want is the desired state, pin
 * the `host` attribute, acted and gen the generations last converged on
 * and being acted on; placed holds status/host on entry. */
enum vm_migrate_outcome vm_migrate_step(struct reconciler *rc, const struct cfs_res *vm,
                                        const char *want, const char *pin, int64_t acted,
                                        int64_t gen, char *placed, size_t len, int *result);

/* At the end of a pass: a failed move asked by generation gen stays in
 * status/error (and the spec is not marked reached) until the next write;
 * a VM an evacuation stopped says so while its host is in maintenance. */
void vm_migrate_report(struct reconciler *rc, const struct cfs_res *vm, int64_t acted,
                       int64_t gen);

#endif
