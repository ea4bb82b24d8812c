/* precond_pool_move.c: writes that move a volume to another pool (see
 * precond_pool_move.h; the move itself is the reconciler's, volume_move.c). */
#include "precond_pool_move.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_cap.h"
#include "status_keys.h"
#include "value.h"

static bool is_pool_write(const struct cfs_res *r, const struct cfs_attr_def *a)
{
    return !strcmp(a->name, "pool") &&
           (!strcmp(r->kind->name, "volume") || !strcmp(r->kind->name, "vm"));
}

/* The volume a pool write is about: r itself, or a VM's root volume.
 * 1 with *vol, 0 when none (a VM without a root disk yet). */
static int volume_of(struct cfs_store *st, const struct cfs_res *r, struct cfs_res *vol)
{
    if (!strcmp(r->kind->name, "volume")) {
        *vol = *r;
        return 1;
    }
    const struct cfs_kind *kv = layout_kind(store_layout(st), "volume");
    char *root = store_status_text(st, r->id, "root-volume");
    struct cfs_err ignore;
    int found = kv && root[0] && store_res_find(st, r->parent, kv, root, vol, &ignore) == 0;
    free(root);
    return found;
}

/* The VM holding vol (root disk or plugged in): 1 with *vm, else 0. */
static int holder_of(struct cfs_store *st, const struct cfs_res *vol, struct cfs_res *vm)
{
    static const char *const keys[] = {CFS_ST_ROOT_OF, CFS_ST_ATTACHED};
    int found = 0;
    for (size_t i = 0; !found && i < 2; i++) {
        char *uuid = store_status_text(st, vol->id, keys[i]);
        struct cfs_err ignore;
        found = uuid[0] && store_res_by_uuid(st, uuid, vm, &ignore) == 0 && !vm->deleted;
        free(uuid);
    }
    return found;
}

static long long status_num(struct cfs_store *st, int64_t id, const char *name)
{
    char *v = store_status_text(st, id, name);
    long long n = 0;
    if (value_parse_size(v, &n) < 0)
        n = atoll(v);
    free(v);
    return n;
}

static int vm_settled(struct cfs_store *st, const struct cfs_res *vm, const char *what,
                      struct cfs_err *err)
{
    const struct cfs_kind *ks = layout_kind(store_layout(st), "vm-snapshot");
    char *state = store_status_text(st, vm->id, "state");
    int64_t n = 0;
    int rc = 0;
    bool settled = !state[0] || !strcmp(state, "running") || !strcmp(state, "paused") ||
                   !strcmp(state, "stopped") || !strcmp(state, "error");
    if (!settled)
        rc = cfs_err_set(err, EBUSY, "vm %s is %s; %s waits until it is running or stopped",
                         vm->name, state, what);
    else if (ks && store_res_count(st, vm->id, ks, &n, err) < 0)
        rc = -1;
    else if (n > 0)
        rc = cfs_err_set(err, EBUSY, "vm %s has %lld whole-VM snapshots, which hold its disks "
                         "in their pool; delete them before %s", vm->name, (long long)n, what);
    free(state);
    return rc;
}

int pool_move_check(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                    const struct cfs_attr_def *a, const char *value, struct cfs_err *err)
{
    struct cfs_res vol, pool, vm;
    if (!is_pool_write(r, a) || !value[0] || !volume_of(st, r, &vol))
        return 0;
    const struct cfs_layout *l = store_layout(st);
    const struct cfs_kind *kp = layout_kind(l, "pool"), *ks = layout_kind(l, "snapshot");
    char *made = store_status_text(st, vol.id, "pool");
    char *used = store_status_text(st, vol.id, CFS_ST_USED);
    char *state = NULL, *pstate = NULL;
    char what[CFS_NAME_MAX + 64];
    int64_t n = 0;
    int rc = 0;
    /* Never attached: made again where asked (reconcile_volume.c). */
    if (!made[0] || !used[0] || !strcmp(value, made))
        goto cleanup;
    snprintf(what, sizeof(what), "moving volume %s", vol.name);
    state = store_status_text(st, vol.id, "state");
    /* What the copy really writes: the bytes the volume holds (thin). */
    long long bytes = status_num(st, vol.id, "allocation");
    if (!kp || store_res_find(st, vol.parent, kp, value, &pool, err) < 0) {
        rc = cfs_err_set(err, ENOENT, "pool '%s' does not exist in this cluster", value);
        goto cleanup;
    }
    if (strcmp(state, "available") && strcmp(state, "attached")) {
        rc = cfs_err_set(err, EBUSY, "volume %s is %s; it moves once available or attached",
                         vol.name, state[0] ? state : "being made");
        goto cleanup;
    }
    if (ks && store_res_count(st, vol.id, ks, &n, err) < 0) {
        rc = -1;
        goto cleanup;
    }
    if (n > 0) {
        rc = cfs_err_set(err, EBUSY, "volume %s has %lld snapshots, which a copy to another pool "
                         "would lose; delete them first", vol.name, (long long)n);
        goto cleanup;
    }
    if (holder_of(st, &vol, &vm) && vm_settled(st, &vm, what, err) < 0) {
        rc = -1;
        goto cleanup;
    }
    pstate = store_status_text(st, pool.id, "state");
    long long cap = status_num(st, pool.id, "capacity");
    long long alloc = status_num(st, pool.id, "allocation");
    if (strcmp(pstate, "available")) {
        rc = cfs_err_set(err, EBUSY, "pool %s is %s", value,
                         pstate[0] ? pstate : "not observed yet");
        goto cleanup;
    }
    /* The seeds' 90 % rule: what the target really holds, plus what the
     * volume really holds, stays within pool-usage-threshold of its
     * capacity. */
    if (cap <= 0 ||
        (long double)(alloc + bytes) * 100.0L > (long double)cap * conf->pool_threshold) {
        rc = cfs_err_set(err, ENOSPC, "pool %s (%lld of %lld bytes used) would be %lld%% used "
                         "after moving volume %s (%lld bytes held) there, above the %lld%% "
                         "usage threshold", value, alloc, cap,
                         cap > 0 ? (long long)((long double)(alloc + bytes) * 100.0L / cap) : 100,
                         vol.name, bytes, conf->pool_threshold);
        goto cleanup;
    }
    /* Over-subscription as for any volume placed there (pool_cap.h). */
    if (r->id != vol.id) {
        const struct cfs_attr_def *va = layout_attr(vol.kind, "pool");
        if (va && pool_cap_check_attr(st, conf, &vol, va, value, err) < 0)
            rc = -1;
    }
cleanup:
    free(made);
    free(used);
    free(state);
    free(pstate);
    return rc;
}

int pool_move_apply(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                    const char *value, const struct cfs_actor *actor, struct cfs_err *err)
{
    struct cfs_res other;
    if (!is_pool_write(r, a) || !value[0])
        return 0;
    if (!strcmp(r->kind->name, "vm")) {
        if (!volume_of(st, r, &other))
            return 0;
    } else {
        char *root = store_status_text(st, r->id, CFS_ST_ROOT_OF);
        struct cfs_err ignore;
        int found = root[0] && store_res_by_uuid(st, root, &other, &ignore) == 0 && !other.deleted;
        free(root);
        if (!found)
            return 0;
    }
    const struct cfs_attr_def *oa = layout_attr(other.kind, "pool");
    char *cur = store_attr_text(st, other.id, "pool");
    int rc = 0;
    if (oa && strcmp(cur, value))
        rc = store_attr_set(st, &other, oa, value, actor, NULL, err);
    free(cur);
    return rc;
}
