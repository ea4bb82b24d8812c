/* reconcile_pool.c: a pool's reachability and capacity in its status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"

#define POOL_REFRESH_MS 30000

static int reconcile_pool(struct reconciler *rc, const struct cfs_res *pool)
{
    struct cfs_err err;
    struct cfs_pool_stats stats;
    cfs_err_clear(&err);
    int64_t gen = store_spec_generation(rc->st, pool->id);
    struct rc_pool *p = rc_pool_get(rc, pool, &err);
    int ok = p && p->drv->stats(p->handle, &stats, &err) == 0;
    rc_pool_put(p);
    char *was = rc_status(rc, pool->id, "state");
    if (ok) {
        rc_set_status_int(rc, pool, "capacity", stats.capacity);
        rc_set_status_int(rc, pool, "allocation", stats.allocation);
        rc_set_status_int(rc, pool, "available", stats.available);
        rc_set_status(rc, pool, "error", "");
        rc_set_status(rc, pool, "state", "available");
        rc_set_status_int(rc, pool, CFS_ST_GEN, gen);
    } else {
        rc_set_status(rc, pool, "error", err.msg);
        rc_set_status(rc, pool, "state", "unavailable");
    }
    if (ok && strcmp(was, "available")) {
        /* Volumes that waited for the pool can go on. */
        struct cfs_res *vols = NULL;
        size_t n = 0;
        if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_volume), &vols, &n, &err) == 0)
            for (size_t i = 0; i < n; i++)
                if (vols[i].parent == pool->parent)
                    rc_wake(rc, vols[i].id);
        free(vols);
    }
    free(was);
    return ok ? POOL_REFRESH_MS : 5000;
}

/* The pool's spec is read by rc_pool_get (reconcile_storage.c) for every
 * pass that opens the pool, checked against this row. */
const struct rc_kind rc_kind_pool = {
    .name = "pool", .pass = reconcile_pool, .wakes = RC_WAKE_SELF,
    .attrs_read = "type path ceph-conf rbd-pool ceph-user",
    .status_read = "state",
    .status_written = "capacity allocation available error state task " CFS_ST_GEN,
};
