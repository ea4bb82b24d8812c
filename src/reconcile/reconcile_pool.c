/* reconcile_pool.c: a pool's reachability and capacity in its status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"

#define POOL_REFRESH_MS 30000

/* What an available pool warns of in status/error (pool_cap.h): real
 * usage above pool-usage-threshold (nothing new is allocated in it), and a
 * dir pool on the filesystem of the store (filling it stops every write to
 * the cloud), unless pool-store-warning is off. */
static void pool_warnings(struct reconciler *rc, const struct cfs_res *pool,
                          const struct cfs_pool_stats *stats, char *buf, size_t len)
{
    const struct cfs_conf *conf = rc->conf;
    size_t at = 0;
    buf[0] = '\0';
    if (stats->capacity > 0 &&
        (long double)stats->allocation * 100.0L >
            (long double)stats->capacity * conf->pool_threshold)
        at += (size_t)snprintf(buf, len,
                               "pool %s: %lld%% of its capacity really used, above the %lld%% "
                               "usage threshold: nothing new is allocated in it",
                               pool->name,
                               (long long)((long double)stats->allocation * 100.0L /
                                           (long double)stats->capacity),
                               conf->pool_threshold);
    char *type = rc_attr(rc, pool->id, "type");
    char *path = rc_attr(rc, pool->id, "path");
    char *dir = strdup(conf->store);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    struct stat ps, ss;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (conf->pool_store_warning && !strcmp(type, "dir") && slash && at < len &&
        stat(path[0] ? path : conf->pool_path, &ps) == 0 && stat(dir, &ss) == 0 &&
        ps.st_dev == ss.st_dev)
        snprintf(buf + at, len - at,
                 "%spool %s is on the filesystem of the store (%s): when the pool fills it, "
                 "every write to the cloud fails (pool-store-warning)",
                 at ? "; " : "", pool->name, dir);
    free(type);
    free(path);
    free(dir);
}

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
        char warn[512];
        pool_warnings(rc, pool, &stats, warn, sizeof(warn));
        rc_set_status(rc, pool, "error", warn);
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
