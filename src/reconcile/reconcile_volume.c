/* reconcile_volume.c: one pass over one volume.
 *
 * Makes the volume's object in its pool (blank, or a copy-on-write child of
 * the pool's copy of its image), grows it when size grows (through the
 * running domain when it is plugged into one, so the guest sees it at once)
 * and removes it after rmdir.  Attaching is the VM's business
 * (reconcile_vm.c): it sets attached-to, which this pass only reports.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_cap.h"
#include "rc_state.h"
#include "rc_store.h"
#include "reconcile_recycle.h"
#include "reconcile_storage.h"
#include "status_keys.h"
#include "value.h"
#include "volume_move.h"

#define RETRY_MS 5000

static int vol_fail(struct reconciler *rc, const struct cfs_res *vol, const char *what,
                    const struct cfs_err *err)
{
    rc_set_error(rc, vol, what, err);
    return RETRY_MS;
}

/* The pool the volume lives in: the one it was made in, the one asked for,
 * or the available pool of its cluster with the most free space, leaving
 * out pools really used above pool-usage-threshold (the seeds' 90 % rule)
 * and those whose over-subscription has no room for it (pool_cap.h).  1 (no
 * error) when none is available but a pool of the cluster has not been
 * observed yet: its first pass may make it available (and wakes the
 * volumes), so the volume waits without an error. */
static int choose_pool(struct reconciler *rc, const struct cfs_res *vol, const char *want,
                       long long size, struct cfs_res *out, struct cfs_err *err)
{
    const struct cfs_kind *k_pool = rc_layout_kind(rc, &rc_kind_pool);
    char *made = rc_status(rc, vol->id, "pool");
    const char *name = made[0] ? made : want;
    int ret = -1;
    if (name[0]) {
        ret = store_res_find(rc->st, vol->parent, k_pool, name, out, err);
        goto cleanup;
    }
    struct cfs_res *pools = NULL;
    size_t n = 0;
    long long best = -1;
    bool unseen = false, full = false, no_room = false;
    if (store_res_all(rc->st, k_pool, &pools, &n, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        if (pools[i].parent != vol->parent || pools[i].deleted)
            continue;
        char *state = rc_status(rc, pools[i].id, "state");
        char *avail = rc_status(rc, pools[i].id, "available");
        char *cap = rc_status(rc, pools[i].id, "capacity");
        char *used = rc_status(rc, pools[i].id, "allocation");
        long long a = atoll(avail), c = atoll(cap);
        bool over = c > 0 && (long double)atoll(used) * 100.0L >
                                 (long double)c * rc->conf->pool_threshold;
        unseen = unseen || !state[0];
        full = full || (over && !strcmp(state, "available"));
        free(cap);
        free(used);
        long long room = LLONG_MAX;
        struct cfs_err ignore;  /* no figures: place by free space alone */
        if (!strcmp(state, "available") && !over && a > best &&
            pool_cap_room(rc->st, rc->conf, vol, pools[i].name, &room, &ignore) == 0 &&
            room < size) {
            no_room = true;
            over = true;
        }
        if (!strcmp(state, "available") && !over && a > best) {
            best = a;
            *out = pools[i];
        }
        free(state);
        free(avail);
    }
    free(pools);
    if (best < 0 && unseen)
        ret = 1;
    else if (best < 0 && no_room) {
        char want_s[32];
        value_format_size(size, want_s, sizeof(want_s));
        cfs_err_set(err, ENOSPC, "no available pool of this cluster has room for %s within "
                    "its over-subscription (status/allowed, status/allocated)", want_s);
    }
    else if (best < 0 && full)
        cfs_err_set(err, ENOSPC, "every available pool of this cluster is used above the %lld%% "
                    "usage threshold", rc->conf->pool_threshold);
    else if (best < 0)
        cfs_err_set(err, ENOSPC, "no available pool in this cluster");
    else
        ret = 0;
cleanup:
    free(made);
    return ret;
}

static int teardown(struct reconciler *rc, const struct cfs_res *vol)
{
    struct cfs_err err;
    struct cfs_res pool;
    char obj[128];
    char *made = rc_status(rc, vol->id, "pool");
    int result = 0;
    rc_set_status(rc, vol, "state", "deleting");
    rc_flush(rc);   /* shown while the object is removed */
    if (rc_snapshots_left(rc, vol) > 0) {
        free(made);
        return 2000;    /* its snapshots go first; each wakes it when gone */
    }
    if (made[0] &&
        store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_pool), made, &pool,
                       &err) == 0) {
        struct rc_pool *p = rc_pool_get(rc, &pool, &err);
        rc_vol_object(vol, obj, sizeof(obj));
        int ok = p && p->drv->remove(p->handle, obj, &err) == 0;
        rc_pool_put(p);
        if (!ok) {
            result = vol_fail(rc, vol, "delete", &err);
            goto cleanup;
        }
    }
    if (rc_res_purge(rc, vol, &err) < 0)
        result = vol_fail(rc, vol, "delete", &err);
cleanup:
    free(made);
    return result;
}

/* A volume never attached holds nothing of value: when its pool or image
 * changed since it was made, remove it so that it is made again. */
static int remake(struct reconciler *rc, const struct cfs_res *vol, const char *want_pool,
                  const char *image, const char *snapshot, struct cfs_err *err)
{
    char *made = rc_status(rc, vol->id, "pool");
    char *made_image = rc_status(rc, vol->id, CFS_ST_IMAGE);
    char *made_snapshot = rc_status(rc, vol->id, CFS_ST_SNAPSHOT);
    char *used = rc_status(rc, vol->id, CFS_ST_USED);
    struct cfs_res pool;
    char obj[128];
    int ret = 0;
    if (made[0] && !used[0] &&
        ((want_pool[0] && strcmp(want_pool, made)) || strcmp(image, made_image) ||
         strcmp(snapshot, made_snapshot))) {
        if (store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_pool), made, &pool,
                           err) == 0) {
            struct rc_pool *p = rc_pool_get(rc, &pool, err);
            rc_vol_object(vol, obj, sizeof(obj));
            if (!p || p->drv->remove(p->handle, obj, err) < 0)
                ret = -1;
            rc_pool_put(p);
        }
        if (ret == 0) {
            rc_set_status(rc, vol, "pool", "");
            rc_set_status(rc, vol, "state", "creating");
        }
    }
    free(made);
    free(made_image);
    free(made_snapshot);
    free(used);
    return ret;
}

/* The snapshot a volume is made from, "VOLUME/SNAPSHOT" of its cluster:
 * 1 with *snap and its volume *src, 0 when ref is empty, -1 when gone. */
static int snapshot_of(struct reconciler *rc, const struct cfs_res *vol, const char *ref,
                       struct cfs_res *snap, struct cfs_res *src, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(rc_layout_kind(rc, &rc_kind_volume), "snapshot");
    if (!ref[0])
        return 0;
    if (store_ref_resolve(rc->st, vol, a, ref, snap, err) < 0 ||
        store_res_get(rc->st, snap->parent, src, err) < 0)
        return -1;
    return 1;
}

/* Make the volume's object as a clone of its snapshot: 0 when made, a
 * delay in ms to come back (the snapshot not ready yet), -1 on error. */
static int clone_snapshot(struct reconciler *rc, struct rc_pool *p,
                          const char *obj, const struct cfs_res *snap, const struct cfs_res *src,
                          long long size, struct cfs_err *err)
{
    char sobj[128], sname[128];
    char *state = rc_status(rc, snap->id, "state");
    char *ssize = rc_status(rc, snap->id, "size");
    long long need = 0;
    int ret = 0;
    value_parse_size(ssize, &need);
    if (strcmp(state, "ready"))
        ret = 2000;     /* still being taken */
    else if (need > size)
        ret = cfs_err_set(err, EINVAL, "size is below snapshot %s's size %s", snap->name, ssize);
    else {
        rc_vol_object(src, sobj, sizeof(sobj));
        rc_snap_object(snap, sname, sizeof(sname));
        ret = p->drv->snapshot_clone(p->handle, obj, sobj, sname, size, err);
    }
    free(state);
    free(ssize);
    return ret;
}

/* Grow a volume plugged into a running domain through that domain. */
static int grow_live(struct reconciler *rc, const struct cfs_res *vol, long long size,
                     struct cfs_err *err)
{
    char *holder = rc_status(rc, vol->id, "attached-to");
    char *target = rc_status(rc, vol->id, CFS_ST_TARGET);
    struct cfs_res vm;
    struct cfs_domain_info info = {.power = CFS_POWER_NONE};
    int ret = 1;    /* not live: resize in the pool */
    if (holder[0] && target[0] &&
        store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_vm), holder, &vm,
                       err) == 0) {
        char *placed = rc_status(rc, vm.id, "host");
        struct rc_host *h = rc_host_find_name(rc, vm.parent, placed);
        free(placed);
        if (h) {
            pthread_rwlock_rdlock(&h->rw);
            if (h->conn && rc->drv->info(h->conn, vm.uuid, &info, err) == 0 &&
                (info.power == CFS_POWER_RUNNING || info.power == CFS_POWER_PAUSED))
                ret = rc->drv->block_resize(h->conn, vm.uuid, target, size, err);
            pthread_rwlock_unlock(&h->rw);
        }
    }
    free(holder);
    free(target);
    return ret;
}

static int volume_pass(struct reconciler *rc, const struct cfs_res *vol)
{
    struct cfs_err err;
    struct cfs_res pool, img;
    struct cfs_vol_info info;
    struct cfs_disk_source src;
    char obj[128], base[128];
    long long size = 0;
    int result = 0;
    bool made_now = false;
    struct rc_pool *p = NULL;
    struct cfs_res snap, svol;
    char *src_pool = NULL;

    if (vol->deleted)
        return teardown(rc, vol);
    if (vol->recycled)
        return rc_recycled_pass(rc, vol);
    cfs_err_clear(&err);
    int64_t gen = store_spec_generation(rc->st, vol->id);   /* before the spec: see reconcile_vm */
    char *size_s = rc_attr(rc, vol->id, "size");
    char *want_pool = rc_attr(rc, vol->id, "pool");
    char *image = rc_attr(rc, vol->id, "image");
    char *snapshot = rc_attr(rc, vol->id, "snapshot");
    value_parse_size(size_s, &size);
    if (remake(rc, vol, want_pool, image, snapshot, &err) < 0) {
        result = vol_fail(rc, vol, "remake", &err);
        goto cleanup;
    }
    /* A volume holding data moves when its pool is written (volume_move.h). */
    char *made_in = rc_status(rc, vol->id, "pool");
    char *used = rc_status(rc, vol->id, CFS_ST_USED);
    int moved = used[0] ? volume_move(rc, vol, made_in, want_pool, gen) : 0;
    free(made_in);
    free(used);
    if (moved != 0) {
        result = moved;
        goto cleanup;
    }
    /* A volume made from a snapshot lives in its source volume's pool. */
    int from_snap = snapshot_of(rc, vol, snapshot, &snap, &svol, &err);
    if (from_snap < 0) {
        result = vol_fail(rc, vol, "snapshot", &err);
        goto cleanup;
    }
    if (from_snap) {
        src_pool = rc_status(rc, svol.id, "pool");
        char *here = rc_status(rc, vol->id, "pool");
        bool moved_away = here[0] && strcmp(here, src_pool);   /* a copy: it has its own data */
        free(here);
        if (moved_away) {
            free(src_pool);
            src_pool = NULL;
        } else if (want_pool[0] && strcmp(want_pool, src_pool)) {
            cfs_err_set(&err, EINVAL, "pool %s is not pool %s of snapshot %s", want_pool,
                        src_pool, snapshot);
            result = vol_fail(rc, vol, "pool", &err);
            goto cleanup;
        }
    }
    int chosen = choose_pool(rc, vol, src_pool ? src_pool : want_pool, size, &pool, &err);
    if (chosen != 0) {
        rc_set_status(rc, vol, "state", "creating");
        result = chosen > 0 ? 1000 : vol_fail(rc, vol, "pool", &err);
        goto cleanup;
    }
    rc_set_status(rc, vol, "pool", pool.name);
    if (!(p = rc_pool_get(rc, &pool, &err))) {
        result = vol_fail(rc, vol, pool.name, &err);
        goto cleanup;
    }
    rc_vol_object(vol, obj, sizeof(obj));
    if (p->drv->info(p->handle, obj, &info, &err) < 0) {
        result = vol_fail(rc, vol, pool.name, &err);
        goto cleanup;
    }
    if (!info.exists) {
        rc_set_status(rc, vol, "state", "creating");
        rc_flush(rc);   /* shown while the object is made */
        const char *from = NULL;
        if (from_snap) {
            int r = clone_snapshot(rc, p, obj, &snap, &svol, size, &err);
            if (r != 0 || p->drv->info(p->handle, obj, &info, &err) < 0) {
                result = r > 0 ? r : vol_fail(rc, vol, "create", &err);
                goto cleanup;
            }
            rc_set_status(rc, vol, CFS_ST_SNAPSHOT, snapshot);
            made_now = true;
        } else if (image[0]) {
            if (store_res_find(rc->st, 0, rc_layout_kind(rc, &rc_kind_image), image, &img,
                               &err) < 0) {
                result = vol_fail(rc, vol, "image", &err);
                goto cleanup;
            }
            char *istate = rc_status(rc, img.id, "state");
            char *format = rc_status(rc, img.id, "format");
            char *vsize = rc_status(rc, img.id, "virtual-size");
            int wait = strcmp(istate, "available") != 0;
            if (!strcmp(istate, "failed") || !istate[0])
                cfs_err_set(&err, EINVAL, "image %s is not imported (%s)", image,
                            istate[0] ? "its import failed" : "no source");
            else if (!wait && !strcmp(format, "iso"))
                cfs_err_set(&err, EINVAL, "image %s is an ISO: it cannot be a disk's base", image);
            else if (!wait && atoll(vsize) > size)
                cfs_err_set(&err, EINVAL, "size %s is below image %s's virtual size %s", size_s,
                            image, vsize);
            free(istate);
            free(format);
            free(vsize);
            if (err.code) {
                rc_set_status(rc, vol, "state", "error");
                result = vol_fail(rc, vol, "create", &err) * 6;
                goto cleanup;
            }
            if (wait) {
                result = 2000;  /* the import wakes us too */
                goto cleanup;
            }
            if (rc_img_ensure(rc, p, &pool, &img, &err) < 0) {
                result = vol_fail(rc, vol, "copying the image into the pool", &err);
                goto cleanup;
            }
            rc_img_object(&img, base, sizeof(base));
            from = base;
        }
        if (!from_snap) {
            if (p->drv->create(p->handle, obj, size, from, &err) < 0 ||
                p->drv->info(p->handle, obj, &info, &err) < 0) {
                result = vol_fail(rc, vol, "create", &err);
                goto cleanup;
            }
            rc_set_status(rc, vol, CFS_ST_IMAGE, image);
            made_now = true;
        }
    } else if (info.size < size) {
        rc_set_status(rc, vol, "state", "resizing");
        rc_flush(rc);   /* shown while it grows */
        /* Through the domain it is plugged into, if any: the pool is let go
         * meanwhile (a host's lock comes before a pool's, reconcile.h). */
        rc_pool_put(p);
        p = NULL;
        int live = grow_live(rc, vol, size, &err);
        if (live >= 0 && !(p = rc_pool_get(rc, &pool, &err)))
            live = -1;
        if (live < 0 || (live > 0 && p->drv->resize(p->handle, obj, size, &err) < 0) ||
            p->drv->info(p->handle, obj, &info, &err) < 0) {
            result = vol_fail(rc, vol, "resize", &err);
            goto cleanup;
        }
    }
    if (p->drv->source(p->handle, obj, &src, &err) == 0)
        rc_set_status(rc, vol, "path", src.path);
    rc_set_status_size(rc, vol, "size", info.size);
    rc_set_status_int(rc, vol, "allocation", info.allocation);
    char *holder = rc_status(rc, vol->id, "attached-to");
    char *move_error = volume_move_error(rc, vol, gen);
    rc_set_status(rc, vol, "error", move_error);
    free(move_error);
    rc_set_status(rc, vol, "state", holder[0] ? "attached" : "available");
    free(holder);
    rc_set_status_int(rc, vol, CFS_ST_GEN, gen);   /* with the rest: wait readers take it as final */
    if (made_now)
        rc_wake_volume_users(rc, vol);      /* after its state: they read it */
cleanup:
    rc_pool_put(p);
    free(size_s);
    free(want_pool);
    free(image);
    free(snapshot);
    free(src_pool);
    return result;
}

/* The pass holds its volume's claim: a snapshot's pass must not take the
 * image's lock while it is made or grown. */
static int reconcile_volume(struct reconciler *rc, const struct cfs_res *vol)
{
    if (!rc_vol_claim(vol->id))
        return 300;
    int result = volume_pass(rc, vol);
    rc_vol_release(vol->id);
    return result;
}

/* A volume's pass makes, grows and removes its object; the pool's spec is
 * read on the pool's behalf (rc_pool_get), the image copy's task on the
 * task's (task.c). */
const struct rc_kind rc_kind_volume = {
    .name = "volume", .pass = reconcile_volume, .wakes = RC_WAKE_SELF,
    .attrs_read = "size pool image snapshot",
    .status_read = CFS_ST_RECYCLE_EXPIRES " state pool attached-to " CFS_ST_IMAGE " " CFS_ST_USED " " CFS_ST_TARGET " "
                   CFS_ST_ROOT_OF " " CFS_ST_ATTACHED " pool/state pool/available pool/capacity "
                   "pool/allocation image/state image/format image/virtual-size vm/host "
                   "snapshot/state snapshot/size " CFS_ST_SNAPSHOT " vm/state " CFS_ST_MOVE_FAILED " "
                   CFS_ST_MOVE_ERROR,
    .status_written = "state error pool path size allocation " CFS_ST_IMAGE " " CFS_ST_SNAPSHOT
                      " " CFS_ST_GEN " migration " CFS_ST_MOVE_FAILED " " CFS_ST_MOVE_ERROR,
};
