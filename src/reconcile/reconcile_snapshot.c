/* reconcile_snapshot.c: one pass over one disk snapshot of a volume.
 *
 * Takes the snapshot in the volume's pool once the volume is made
 * (storage.h: qcow2 internal snapshots on dir pools, RBD snapshots on rbd
 * pools), reverts the volume to it on `echo revert > ctl` (each verb once),
 * and deletes it after rmdir.  The snapshot in the pool is named after the
 * resource's UUID (CFS_SNAP_PREFIX), never after what the user typed.  The
 * mount refuses what the storage cannot do (precond.c: the count, a dir
 * volume in use, a revert of a volume in use); a revert checks the volume's
 * VM again here, since a VM may have started in between.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"

#define RETRY_MS 5000
#define WAIT_MS 2000
#define BUSY_MS 300

void rc_snap_object(const struct cfs_res *snap, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", CFS_SNAP_PREFIX, snap->uuid);
}

static int snap_fail(struct reconciler *rc, const struct cfs_res *snap, const char *what,
                     const struct cfs_err *err)
{
    rc_set_error(rc, snap, what, err);
    return RETRY_MS;
}

/* The snapshot's volume and its open pool (read-locked: rc_pool_put).
 * 1 when the volume's object is not made yet (no pool), -1 on error. */
static int open_volume(struct reconciler *rc, const struct cfs_res *snap, struct cfs_res *vol,
                       struct rc_pool **p, char *obj, size_t len, struct cfs_err *err)
{
    struct cfs_res pool;
    *p = NULL;
    if (store_res_get(rc->st, snap->parent, vol, err) < 0)
        return -1;
    char *made = rc_status(rc, vol->id, "pool");
    int ret = 1;
    if (made[0]) {
        ret = -1;
        if (store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_pool), made, &pool,
                           err) == 0 &&
            (*p = rc_pool_get(rc, &pool, err)) != NULL) {
            rc_vol_object(vol, obj, len);
            ret = 0;
        }
    }
    free(made);
    return ret;
}

struct find {
    const char *name;
    bool found;
    struct cfs_snap_info info;
};

static int find_cb(const struct cfs_snap_info *s, void *arg)
{
    struct find *f = arg;
    if (strcmp(s->name, f->name))
        return 0;
    f->found = true;
    f->info = *s;
    return 1;
}

static int find_snap(struct rc_pool *p, const char *obj, struct find *f, struct cfs_err *err)
{
    f->found = false;
    int r = p->drv->snapshot_list(p->handle, obj, find_cb, f, err);
    return r < 0 ? -1 : 0;
}

static int teardown(struct reconciler *rc, const struct cfs_res *snap)
{
    struct cfs_err err;
    struct cfs_res vol;
    struct rc_pool *p = NULL;
    char obj[128], name[128];
    cfs_err_clear(&err);
    rc_set_status(rc, snap, "state", "deleting");
    rc_flush(rc);   /* shown while the storage works */
    rc_snap_object(snap, name, sizeof(name));
    int r = open_volume(rc, snap, &vol, &p, obj, sizeof(obj), &err);
    if (r == 0 && !rc_vol_claim(vol.id)) {
        rc_pool_put(p);
        return BUSY_MS;
    }
    if (r == 0 && p->drv->snapshot_delete(p->handle, obj, name, &err) < 0)
        r = -1;
    if (p)
        rc_vol_release(vol.id);
    rc_pool_put(p);
    if (r < 0 && err.code != ENOENT)
        return snap_fail(rc, snap, "delete", &err);
    if (rc_res_purge(rc, snap, &err) < 0)
        return snap_fail(rc, snap, "delete", &err);
    if (r >= 0)
        rc_wake(rc, vol.id);    /* a volume being deleted waits for its snapshots */
    return 0;
}

/* The VM that has the volume open (its observed state is not stopped):
 * its name in vm, 1; else 0.  The mount refused the revert already when
 * that VM was asked to run; this catches a VM started since. */
static int volume_in_use(struct reconciler *rc, const struct cfs_res *vol, char *vm, size_t len)
{
    static const char *const holders[] = {"attached-to", "root-of"};
    const struct cfs_kind *k_vm = rc_layout_kind(rc, &rc_kind_vm);
    int busy = 0;
    for (size_t i = 0; i < 2 && !busy; i++) {
        char *name = rc_status(rc, vol->id, holders[i]);
        struct cfs_res r;
        struct cfs_err ignore;
        if (name[0] && store_res_find(rc->st, vol->parent, k_vm, name, &r, &ignore) == 0) {
            char *state = rc_status(rc, r.id, "state");
            busy = state[0] && strcmp(state, "stopped") && strcmp(state, "error");
            if (busy)
                snprintf(vm, len, "%s", name);
            free(state);
        }
        free(name);
    }
    return busy;
}

/* Run the revert asked for since the last pass, once (recorded first). */
static int revert(struct reconciler *rc, const struct cfs_res *snap, const struct cfs_res *vol,
                  struct rc_pool *p, const char *obj, const char *name)
{
    struct cfs_err err;
    char vm[CFS_NAME_MAX + 1];
    bool asked;
    cfs_err_clear(&err);
    if (rc_verbs_new(rc, snap, "revert", &asked, &err) <= 0)
        return 0;
    if (!asked) {
        rc_flush(rc);
        return 0;
    }
    if (volume_in_use(rc, vol, vm, sizeof(vm))) {
        cfs_err_set(&err, EBUSY, "volume %s is in use by vm %s; stop the VM or detach the "
                    "volume before reverting it", vol->name, vm);
        snap_fail(rc, snap, "ctl revert", &err);
        return -1;
    }
    rc_set_status(rc, snap, "state", "reverting");
    rc_flush(rc);   /* shown while the storage works; the verb is not run twice */
    if (p->drv->snapshot_revert(p->handle, obj, name, &err) < 0) {
        snap_fail(rc, snap, "ctl revert", &err);
        return -1;
    }
    rc_set_status(rc, snap, "error", "");
    /* The storage restores the size the snapshot was taken at too: the
     * volume's pass grows it back to its size (the added part blank). */
    rc_wake(rc, vol->id);
    return 0;
}

static int reconcile_snapshot(struct reconciler *rc, const struct cfs_res *snap)
{
    struct cfs_err err;
    struct cfs_res vol;
    struct rc_pool *p = NULL;
    struct find f;
    char obj[128], name[128], when[32];
    int result = 0;
    bool claimed = false;

    if (snap->deleted)
        return teardown(rc, snap);
    cfs_err_clear(&err);
    int64_t gen = store_spec_generation(rc->st, snap->id);
    rc_snap_object(snap, name, sizeof(name));
    f.name = name;
    int r = open_volume(rc, snap, &vol, &p, obj, sizeof(obj), &err);
    if (r != 0) {
        rc_set_status(rc, snap, "state", "creating");
        result = r > 0 ? WAIT_MS : snap_fail(rc, snap, "volume", &err);
        goto cleanup;
    }
    if (!rc_vol_claim(vol.id)) {
        rc_pool_put(p);
        return BUSY_MS;
    }
    claimed = true;
    if (find_snap(p, obj, &f, &err) < 0) {
        result = snap_fail(rc, snap, "list", &err);
        goto cleanup;
    }
    if (!f.found) {
        char *vstate = rc_status(rc, vol.id, "state");
        bool made = strcmp(vstate, "creating") != 0;
        free(vstate);
        if (!made) {
            rc_set_status(rc, snap, "state", "creating");
            result = WAIT_MS;
            goto cleanup;
        }
        rc_set_status(rc, snap, "state", "creating");
        rc_flush(rc);   /* shown while the storage works */
        if (p->drv->snapshot_create(p->handle, obj, name, &err) < 0 ||
            find_snap(p, obj, &f, &err) < 0) {
            rc_set_status(rc, snap, "state", "error");
            result = snap_fail(rc, snap, "create", &err);
            goto cleanup;
        }
        if (!f.found) {
            cfs_err_set(&err, EIO, "the pool does not list snapshot %s after taking it", name);
            rc_set_status(rc, snap, "state", "error");
            result = snap_fail(rc, snap, "create", &err);
            goto cleanup;
        }
    }
    rc_set_status_size(rc, snap, "size", f.info.size);
    time_t t = (time_t)f.info.created;
    struct tm tm;
    if (t > 0 && gmtime_r(&t, &tm) && strftime(when, sizeof(when), RC_ISO_TIME_FORMAT, &tm))
        rc_set_status(rc, snap, "created", when);
    /* A failed revert's reason stays until the next revert: passes that
     * only look again must not wipe it. */
    char *prev = rc_status(rc, snap->id, "error");
    if (strncmp(prev, "ctl revert:", 11))
        rc_set_status(rc, snap, "error", "");
    free(prev);
    if (revert(rc, snap, &vol, p, obj, name) < 0)
        result = -1;
    rc_set_status(rc, snap, "state", "ready");  /* a failed revert leaves it intact */
    rc_set_status_int(rc, snap, CFS_ST_GEN, gen);
cleanup:
    if (claimed)
        rc_vol_release(vol.id);
    rc_pool_put(p);
    return result;
}

int rc_snapshots_delete(struct reconciler *rc, const struct cfs_res *vol, struct cfs_err *err)
{
    const struct cfs_kind *k = rc_layout_kind(rc, &rc_kind_snapshot);
    struct cfs_res *all = NULL;
    size_t n = 0;
    int ret = 0;
    if (store_res_all(rc->st, k, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && ret == 0; i++)
        if (all[i].parent == vol->id && !all[i].deleted)
            ret = rc_res_delete(rc, &all[i], err);
    free(all);
    return ret;
}

int rc_snapshots_left(struct reconciler *rc, const struct cfs_res *vol)
{
    return rc_children_left(rc, &rc_kind_snapshot, vol->id);
}

/* A snapshot's pass reads its volume's status (where it is made, who uses
 * it) and that VM's state; the pool's spec is read on the pool's behalf
 * (rc_pool_get). */
const struct rc_kind rc_kind_snapshot = {
    .name = "snapshot", .pass = reconcile_snapshot, .wakes = RC_WAKE_SELF,
    .attrs_read = "ctl",
    .status_read = "state error " CFS_ST_VERB_SEQ " volume/pool volume/state volume/attached-to "
                   "volume/root-of vm/state",
    .status_written = "state size created error " CFS_ST_GEN " " CFS_ST_VERB_SEQ,
};
