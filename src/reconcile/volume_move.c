/* volume_move.c: storage migration of a volume between pools of its
 * cluster (see volume_move.h).
 *
 * Offline (no running domain has the volume): a blank volume of the same
 * size is made in the target pool through its driver and filled with
 * `qemu-img convert -n` (argv, never a shell), both sides named by qemu
 * option strings (a qcow2 file, or raw over rbd), the backing chain folded
 * in.  Live (the volume is plugged into a running or paused domain): the
 * same blank target, then the compute driver's block_copy (libvirt block
 * copy and pivot); the guest never stops.  Then the record switches to the
 * new pool (status pool, path), the source object is removed and the VM
 * is woken: its definition follows at its next define.  Any failure
 * removes the target object and leaves the volume where it was, with the
 * reason in status/error and status/migration, not tried again until the
 * next write.  Checked here again, as at the write (precond_pool_move.c):
 * the target exists and is available, no snapshots (a copy would lose
 * them), and the seeds' 90 % rule (pool-usage-threshold): the target's
 * real usage plus what the volume really holds (status allocation; thin
 * volumes hold far less than their size) stays within the threshold.
 */
#include "volume_move.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_state.h"
#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"
#include "subprocess.h"
#include "value.h"

struct move_ctx {
    struct reconciler *rc;
    const struct cfs_res *vol;
    char head[200];
    int last;
};

static int progress(int percent, void *arg)
{
    struct move_ctx *m = arg;
    if (percent >= m->last + 5 || (percent == 100 && m->last != 100)) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s: %d%%", m->head, percent);
        rc_set_status(m->rc, m->vol, "migration", buf);
        rc_flush(m->rc);    /* shown while the copy runs */
        m->last = percent;
    }
    return 0;
}

/* s appended to out with qemu's option syntax (commas doubled). */
static void opt_add(char *out, size_t len, size_t *j, const char *s)
{
    for (; *s && *j + 3 < len; s++) {
        if (*s == ',')
            out[(*j)++] = ',';
        out[(*j)++] = *s;
    }
    out[*j] = '\0';
}

/* A qemu-img --image-opts string for a disk source. */
static void image_opts(const struct cfs_disk_source *s, char *out, size_t len)
{
    size_t j = 0;
    out[0] = '\0';
    if (!s->network) {
        j = (size_t)snprintf(out, len, "driver=%s,file.filename=", s->format);
        opt_add(out, len, &j, s->path);
        return;
    }
    char pool[sizeof(s->path)];
    snprintf(pool, sizeof(pool), "%s", s->path);
    char *image = strchr(pool, '/');
    if (image)
        *image++ = '\0';
    j = (size_t)snprintf(out, len, "driver=raw,file.driver=rbd,file.pool=");
    opt_add(out, len, &j, pool);
    j += (size_t)snprintf(out + j, len - j, ",file.image=");
    opt_add(out, len, &j, image ? image : "");
    j += (size_t)snprintf(out + j, len - j, ",file.conf=");
    opt_add(out, len, &j, s->conf);
    if (s->user[0] && j < len) {
        j += (size_t)snprintf(out + j, len - j, ",file.user=");
        opt_add(out, len, &j, s->user);
    }
}

/* Do the two sources name the same storage (two pools over one directory
 * or one Ceph pool)?  Then the "copy" would remove the data itself. */
static bool same_storage(const struct cfs_disk_source *a, const struct cfs_disk_source *b)
{
    if (a->network != b->network)
        return false;
    if (a->network)
        return !strcmp(a->path, b->path);
    char da[sizeof(a->path)], db[sizeof(b->path)];
    char ra[PATH_MAX], rb[PATH_MAX];
    snprintf(da, sizeof(da), "%s", a->path);
    snprintf(db, sizeof(db), "%s", b->path);
    if (!realpath(dirname(da), ra) || !realpath(dirname(db), rb))
        return !strcmp(a->path, b->path);
    return !strcmp(ra, rb);
}

/* The VM holding the volume (its root disk's VM, or the VM it is plugged
 * into): 1 with *vm, else 0. */
static int holder_vm(struct reconciler *rc, const struct cfs_res *vol, struct cfs_res *vm)
{
    static const char *const keys[] = {CFS_ST_ROOT_OF, CFS_ST_ATTACHED};
    int found = 0;
    for (size_t i = 0; !found && i < 2; i++) {
        char *uuid = rc_status(rc, vol->id, keys[i]);
        struct cfs_err ignore;
        found = uuid[0] && store_res_by_uuid(rc->st, uuid, vm, &ignore) == 0 && !vm->deleted;
        free(uuid);
    }
    return found;
}

/* The host of vm when its domain runs there (or is paused): read-locked,
 * release with pthread_rwlock_unlock; NULL when it does not run. */
static struct rc_host *running_on(struct reconciler *rc, const struct cfs_res *vm)
{
    char *placed = rc_status(rc, vm->id, "host");
    struct rc_host *h = placed[0] ? rc_host_find_name(rc, vm->parent, placed) : NULL;
    struct cfs_domain_info info = {.power = CFS_POWER_NONE};
    struct cfs_err ignore;
    free(placed);
    if (!h)
        return NULL;
    pthread_rwlock_rdlock(&h->rw);
    if (h->conn && rc->drv->info(h->conn, vm->uuid, &info, &ignore) == 0 &&
        (info.power == CFS_POWER_RUNNING || info.power == CFS_POWER_PAUSED))
        return h;
    pthread_rwlock_unlock(&h->rw);
    return NULL;
}

static long long status_ll(struct reconciler *rc, int64_t id, const char *name)
{
    char *v = rc_status(rc, id, name);
    long long n = atoll(v);
    free(v);
    return n;
}

/* Make the blank target of size bytes in pool dst (a leftover of an
 * earlier attempt removed first), its source in *ds; refuses when dst is
 * the source's storage. */
static int target_make(struct reconciler *rc, const struct cfs_res *src, const struct cfs_res *dst,
                       const char *obj, long long *size, struct cfs_disk_source *ds,
                       struct cfs_err *err)
{
    struct cfs_disk_source ss;
    struct cfs_vol_info info;
    struct rc_pool *sp = rc_pool_get(rc, src, err);
    int ret = -1;
    if (!sp)
        return -1;
    if (sp->drv->info(sp->handle, obj, &info, err) < 0 ||
        sp->drv->source(sp->handle, obj, &ss, err) < 0) {
        rc_pool_put(sp);
        return -1;
    }
    rc_pool_put(sp);
    if (!info.exists)
        return cfs_err_set(err, ENOENT, "the volume is not in pool %s", src->name);
    *size = info.size;
    struct rc_pool *dp = rc_pool_get(rc, dst, err);
    if (!dp)
        return -1;
    if (dp->drv->source(dp->handle, obj, ds, err) < 0)
        goto cleanup;
    if (same_storage(&ss, ds)) {
        cfs_err_set(err, EINVAL, "pools %s and %s hold the same storage", src->name, dst->name);
        goto cleanup;
    }
    if (dp->drv->remove(dp->handle, obj, err) < 0 ||
        dp->drv->create(dp->handle, obj, info.size, NULL, err) < 0 ||
        dp->drv->source(dp->handle, obj, ds, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    rc_pool_put(dp);
    return ret;
}

static void object_remove(struct reconciler *rc, const struct cfs_res *pool, const char *obj,
                          struct cfs_err *err)
{
    struct rc_pool *p = rc_pool_get(rc, pool, err);
    if (p)
        p->drv->remove(p->handle, obj, err);
    rc_pool_put(p);
}

/* qemu-img convert of the volume's object from pool src into the blank
 * target ds. */
static int copy_offline(struct reconciler *rc, const struct cfs_res *src, const char *obj,
                        const struct cfs_disk_source *ds, struct move_ctx *m, struct cfs_err *err)
{
    struct cfs_disk_source ss;
    char from[9000], to[9000];
    struct rc_pool *sp = rc_pool_get(rc, src, err);
    int ok = sp && sp->drv->source(sp->handle, obj, &ss, err) == 0;
    rc_pool_put(sp);
    if (!ok)
        return -1;
    image_opts(&ss, from, sizeof(from));
    image_opts(ds, to, sizeof(to));
    char *argv[] = {"qemu-img", "convert", "-p", "-n", "--target-is-zero", "--image-opts",
                    "--target-image-opts", from, to, NULL};
    return spawn_run(argv, progress, m, rc->conf->storage_timeout, err);
}

/* Refusals that hold whatever the way (also checked at the write). */
static int move_allowed(struct reconciler *rc, const struct cfs_res *vol, const struct cfs_res *dst,
                        struct cfs_err *err)
{
    char *state = rc_status(rc, dst->id, "state");
    long long cap = status_ll(rc, dst->id, "capacity");
    long long used = status_ll(rc, dst->id, "allocation");
    long long size = status_ll(rc, vol->id, "allocation");   /* what the copy writes */
    int ret = 0;
    if (rc_snapshots_left(rc, vol) > 0)
        ret = cfs_err_set(err, EBUSY, "volume %s has snapshots, which a copy would lose; "
                          "delete them first", vol->name);
    else if (strcmp(state, "available"))
        ret = cfs_err_set(err, EBUSY, "pool %s is %s", dst->name,
                          state[0] ? state : "not observed yet");
    else if (cap <= 0 ||
             (long double)(used + size) * 100.0L > (long double)cap * rc->conf->pool_threshold)
        ret = cfs_err_set(err, ENOSPC, "pool %s would be %lld%% used after the move (%lld "
                          "bytes more), above the %lld%% usage threshold", dst->name,
                          cap > 0 ? (long long)((long double)(used + size) * 100.0L / cap) : 100,
                          size, rc->conf->pool_threshold);
    free(state);
    return ret;
}

int volume_move(struct reconciler *rc, const struct cfs_res *vol, const char *from,
                const char *to, int64_t gen)
{
    const struct cfs_kind *k_pool = rc_layout_kind(rc, &rc_kind_pool);
    struct cfs_res src, dst, vm;
    struct cfs_disk_source ds;
    struct cfs_err err;
    struct rc_host *h = NULL;
    struct move_ctx m = {.rc = rc, .vol = vol, .last = -100};
    char obj[128], serial[21];
    long long size = 0;
    bool made = false, live = false;
    int ret = 0;
    if (!from[0] || !to[0] || !strcmp(from, to))
        return 0;
    char *failed = rc_status(rc, vol->id, CFS_ST_MOVE_FAILED);
    bool tried = failed[0] && atoll(failed) == gen;
    free(failed);
    if (tried)
        return 0;   /* failed for this write: status/error says why */
    cfs_err_clear(&err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc_vol_object(vol, obj, sizeof(obj));
    if (store_res_find(rc->st, vol->parent, k_pool, from, &src, &err) < 0 ||
        store_res_find(rc->st, vol->parent, k_pool, to, &dst, &err) < 0 ||
        move_allowed(rc, vol, &dst, &err) < 0)
        goto fail;
    bool has_vm = holder_vm(rc, vol, &vm);
    h = has_vm ? running_on(rc, &vm) : NULL;
    live = h != NULL;
    if (has_vm && !live) {
        /* No running domain seen: copied offline only when the VM is
         * known to be stopped, never under a guest on a host out of reach. */
        char *vstate = rc_status(rc, vm.id, "state");
        bool stopped = !vstate[0] || !strcmp(vstate, "stopped") || !strcmp(vstate, "error");
        if (!stopped)
            cfs_err_set(&err, EBUSY, "vm %s is %s but its domain cannot be reached", vm.name,
                        vstate);
        free(vstate);
        if (!stopped)
            goto fail;
    }
    snprintf(m.head, sizeof(m.head), "%s copy from %.63s to %.63s", live ? "live" : "offline",
             from, to);
    rc_set_status(rc, vol, "state", "migrating");
    rc_set_status(rc, vol, "migration", m.head);
    rc_flush(rc);   /* shown while the copy runs */
    if (target_make(rc, &src, &dst, obj, &size, &ds, &err) < 0)
        goto fail;
    made = true;
    if (live) {
        char *target = rc_status(rc, vol->id, CFS_ST_TARGET);
        char *root = rc_status(rc, vol->id, CFS_ST_ROOT_OF);
        rc_vol_serial(vol, serial);
        struct cfs_disk d = {.serial = serial, .target = root[0] ? "vda" : target, .src = &ds};
        int r = d.target[0] ? rc->drv->block_copy(h->conn, vm.uuid, &d,
                                                  rc->conf->storage_timeout, progress, &m, &err)
                            : cfs_err_set(&err, EIO, "the volume has no disk in vm %s", vm.name);
        free(target);
        free(root);
        pthread_rwlock_unlock(&h->rw);
        h = NULL;
        if (r < 0)
            goto fail;
    } else {
        if (copy_offline(rc, &src, obj, &ds, &m, &err) < 0)
            goto fail;
        /* A VM started meanwhile reads the source: keep it. */
        if (has_vm && (h = running_on(rc, &vm)) != NULL) {
            pthread_rwlock_unlock(&h->rw);
            h = NULL;
            cfs_err_set(&err, EBUSY, "vm %s started during the copy", vm.name);
            goto fail;
        }
    }
    /* The record follows the data; then the source goes. */
    rc_set_status(rc, vol, "pool", to);
    rc_set_status(rc, vol, "path", ds.path);
    rc_flush(rc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    char done[400];
    struct cfs_err rm;
    cfs_err_clear(&rm);
    object_remove(rc, &src, obj, &rm);
    snprintf(done, sizeof(done), "done: %s copy from %.63s to %.63s in %.1f s%s%.200s",
             live ? "live" : "offline", from, to, secs,
             rm.code ? "; the old copy stays: " : "", rm.code ? rm.msg : "");
    rc_set_status(rc, vol, "migration", done);
    rc_set_status(rc, vol, CFS_ST_MOVE_FAILED, "");
    rc_set_status(rc, vol, CFS_ST_MOVE_ERROR, "");
    rc_wake_volume_users(rc, vol);
    return 0;
fail:
    if (h)
        pthread_rwlock_unlock(&h->rw);
    if (made) {
        struct cfs_err ignore;
        object_remove(rc, &dst, obj, &ignore);
    }
    char why[CFS_ERR_MSG_MAX + 300];
    snprintf(why, sizeof(why), "moving to pool %.63s: %s", to, err.msg);
    char fgen[32];
    snprintf(fgen, sizeof(fgen), "%lld", (long long)gen);
    char line[CFS_ERR_MSG_MAX + 320];
    snprintf(line, sizeof(line), "failed: %s", why);
    rc_set_status(rc, vol, "migration", line);
    rc_set_status(rc, vol, CFS_ST_MOVE_FAILED, fgen);
    rc_set_status(rc, vol, CFS_ST_MOVE_ERROR, why);
    rc_wake_volume_users(rc, vol);
    return ret;
}

char *volume_move_error(struct reconciler *rc, const struct cfs_res *vol, int64_t gen)
{
    char *failed = rc_status(rc, vol->id, CFS_ST_MOVE_FAILED);
    bool standing = failed[0] && atoll(failed) == gen;
    free(failed);
    if (!standing)
        return strdup("");
    return rc_status(rc, vol->id, CFS_ST_MOVE_ERROR);
}
