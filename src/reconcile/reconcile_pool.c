/* reconcile_pool.c: a pool's reachability and capacity in its status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "value.h"

#define POOL_REFRESH_MS 30000

static void set_bytes(struct reconciler *rc, const struct cfs_res *pool, const char *name,
                      long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    rc_set_status(rc, pool, name, buf);
}

int reconcile_pool(struct reconciler *rc, const struct cfs_res *pool)
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
        set_bytes(rc, pool, "capacity", stats.capacity);
        set_bytes(rc, pool, "allocation", stats.allocation);
        set_bytes(rc, pool, "available", stats.available);
        rc_set_status(rc, pool, "error", "");
        rc_set_status(rc, pool, "state", "available");
        set_bytes(rc, pool, "_gen", (long long)gen);
    } else {
        rc_set_status(rc, pool, "error", err.msg);
        rc_set_status(rc, pool, "state", "unavailable");
    }
    if (ok && strcmp(was, "available")) {
        /* Volumes that waited for the pool can go on. */
        struct cfs_res *vols = NULL;
        size_t n = 0;
        if (store_res_all(rc->st, rc->k_volume, &vols, &n, &err) == 0)
            for (size_t i = 0; i < n; i++)
                if (vols[i].parent == pool->parent)
                    workq_add(&rc->q, vols[i].id, 0);
        free(vols);
    }
    free(was);
    return ok ? POOL_REFRESH_MS : 5000;
}
