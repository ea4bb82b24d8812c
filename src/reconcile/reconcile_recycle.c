/* reconcile_recycle.c: passes of the resources in the recycle bin.
 *
 * The mount moves a resource into the bin in one store transaction
 * (store_res_recycle), with the time it expires.  Its pass here undoes
 * what runs on a host (a VM's domain) and keeps its data; once the
 * retention is over it expunges it in one more transaction
 * (store_res_expunge): the resource becomes a tombstone and its kind's
 * ordinary teardown deletes its disks and frees what it held.  Each step
 * is idempotent, so a kill -9 anywhere redoes at most one of them. */
#include "reconcile_recycle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compute.h"
#include "rc_state.h"
#include "rc_store.h"
#include "reconcile.h"
#include "reconcile_vm_disks.h"
#include "status_keys.h"
#include "vm_seed.h"

/* Longest sleep of a pass that waits for its expunge: a conf change of the
 * retention applies to what is recycled later, but a stale wake-up is
 * cheap. */
#define RECYCLE_MAX_WAIT_MS 600000

int rc_recycled_pass(struct reconciler *rc, const struct cfs_res *r)
{
    struct cfs_err err;
    char *text = rc_status(rc, r->id, CFS_ST_RECYCLE_EXPIRES);
    long long expires = strtoll(text, NULL, 10);
    long long now = (long long)time(NULL);
    int result = 0;
    if (expires > now) {
        long long ms = (expires - now) * 1000;
        result = ms > RECYCLE_MAX_WAIT_MS ? RECYCLE_MAX_WAIT_MS : (int)ms;
        goto cleanup;
    }
    rc_flush(rc);
    if (store_res_expunge(rc->st, r, &rc_actor, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: expunge %s %s: %s\n", r->kind->name, r->name,
                err.msg);
        result = 5000;
        goto cleanup;
    }
    rc_wake(rc, r->id);     /* now a tombstone: its teardown */
cleanup:
    free(text);
    return result;
}

int rc_recycled_vm_pass(struct reconciler *rc, const struct cfs_res *vm)
{
    struct cfs_err err;
    char *placed = rc_status(rc, vm->id, "host");
    char *console = rc_status(rc, vm->id, "console");
    struct rc_host *h = rc_host_find_name(rc, vm->parent, placed);
    int result = 0;
    cfs_err_clear(&err);
    if (h && rc_host_untried(h)) {
        result = 500;       /* the host's first pass wakes this VM */
        goto cleanup;
    }
    if (h) {
        if (rc_domain_remove(rc, h, vm->uuid, &err) < 0) {
            fprintf(stderr, "cloudfs reconcile: recycled vm %s: %s\n", vm->name, err.msg);
            result = 5000;
            goto cleanup;
        }
    }
    if (console[0])
        unlink(console);
    vm_seed_remove(rc, vm);
    vm_disks_unplug(rc, vm);
    /* Unplaced: restored, it is placed anew, and no host counts it now. */
    if (placed[0])
        rc_set_status(rc, vm, "host", "");
    rc_vm_forget(rc, vm->id);
    result = rc_recycled_pass(rc, vm);
cleanup:
    free(placed);
    free(console);
    return result;
}
