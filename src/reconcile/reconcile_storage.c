/* reconcile_storage.c: open pools and what volumes, images and VMs share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"
#include "task.h"

#define REOPEN_BACKOFF_NS (5LL * 1000000000LL)

static struct rc_pool *pool_entry(struct reconciler *rc, int64_t id)
{
    struct rc_pool *p = NULL;
    pthread_mutex_lock(&rc->pools_lock);
    for (size_t i = 0; i < rc->npools && !p; i++)
        if (rc->pools[i]->id == id)
            p = rc->pools[i];
    if (!p) {
        struct rc_pool **grown = realloc(rc->pools, (rc->npools + 1) * sizeof(*grown));
        if (grown) {
            rc->pools = grown;
            p = calloc(1, sizeof(*p));
            if (p) {
                p->id = id;
                pthread_rwlock_init(&p->rw, NULL);
                rc->pools[rc->npools++] = p;
            }
        }
    }
    pthread_mutex_unlock(&rc->pools_lock);
    return p;
}

/* The pool's spec, and as one string: a change means reopening. */
enum { PS_TYPE, PS_PATH, PS_CONF, PS_RPOOL, PS_USER, PS_N };
static const char *const pool_attrs[PS_N] = {"type", "path", "ceph-conf", "rbd-pool", "ceph-user"};

struct pool_spec {
    char *v[PS_N];
    char sig[sizeof(((struct rc_pool *)0)->sig)];
};

static void pool_spec_read(struct reconciler *rc, const struct cfs_res *pool, struct pool_spec *s)
{
    /* Read for whichever pass opens the pool: checked as the pool's. */
    const struct rc_bound *scope = rc_scope_enter(rc, &rc_kind_pool);
    for (int i = 0; i < PS_N; i++)
        s->v[i] = rc_attr(rc, pool->id, pool_attrs[i]);
    rc_scope_leave(scope);
    snprintf(s->sig, sizeof(s->sig), "%s|%s|%s|%s|%s", s->v[PS_TYPE], s->v[PS_PATH],
             s->v[PS_CONF], s->v[PS_RPOOL], s->v[PS_USER]);
}

static void pool_spec_free(struct pool_spec *s)
{
    for (int i = 0; i < PS_N; i++)
        free(s->v[i]);
}

struct rc_pool *rc_pool_get(struct reconciler *rc, const struct cfs_res *pool, struct cfs_err *err)
{
    struct rc_pool *p = pool_entry(rc, pool->id), *ret = NULL;
    struct pool_spec s;
    if (!p) {
        cfs_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    pool_spec_read(rc, pool, &s);
    struct cfs_pool_def def = {.type = s.v[PS_TYPE], .path = s.v[PS_PATH],
                               .ceph_conf = s.v[PS_CONF], .rbd_pool = s.v[PS_RPOOL],
                               .ceph_user = s.v[PS_USER], .timeout = rc->conf->storage_timeout};

    pthread_rwlock_rdlock(&p->rw);
    while (!p->handle || strcmp(p->sig, s.sig)) {
        pthread_rwlock_unlock(&p->rw);
        pthread_rwlock_wrlock(&p->rw);
        if (p->handle && strcmp(p->sig, s.sig)) {
            p->drv->close(p->handle);
            p->handle = NULL;
            p->next_try = 0;
        }
        if (!p->handle) {
            int64_t now = workq_now();
            if (!strcmp(p->sig, s.sig) && now < p->next_try) {
                cfs_err_set(err, EAGAIN, "%s", p->error);
                goto cleanup;
            }
            snprintf(p->sig, sizeof(p->sig), "%s", s.sig);
            p->drv = storage_driver(s.v[PS_TYPE]);
            if (!p->drv) {
                snprintf(p->error, sizeof(p->error), "pool type '%s' is not supported",
                         s.v[PS_TYPE]);
                p->next_try = now + REOPEN_BACKOFF_NS;
                cfs_err_set(err, EINVAL, "%s", p->error);
                goto cleanup;
            }
            if (p->drv->open(&def, &p->handle, err) < 0) {
                p->handle = NULL;
                snprintf(p->error, sizeof(p->error), "%s", err->msg);
                p->next_try = now + REOPEN_BACKOFF_NS;
                goto cleanup;
            }
            if (!p->swept) {
                /* Only this process makes objects, and it has just started
                 * using the pool: any .part is a crashed attempt's. */
                p->drv->sweep(p->handle);
                p->swept = true;
            }
        }
        pthread_rwlock_unlock(&p->rw);
        pthread_rwlock_rdlock(&p->rw);
    }
    ret = p;    /* handed over read-locked */
cleanup:
    if (!ret)
        pthread_rwlock_unlock(&p->rw);  /* the write lock of a failed (re)open */
    pool_spec_free(&s);
    return ret;
}

void rc_pool_put(struct rc_pool *p)
{
    if (p)
        pthread_rwlock_unlock(&p->rw);
}

void rc_pools_close(struct reconciler *rc)
{
    for (size_t i = 0; i < rc->npools; i++) {
        if (rc->pools[i]->handle)
            rc->pools[i]->drv->close(rc->pools[i]->handle);
        pthread_rwlock_destroy(&rc->pools[i]->rw);
        free(rc->pools[i]);
    }
    free(rc->pools);
    rc->pools = NULL;
    rc->npools = 0;
}

/* One storage operation per volume at a time: qemu-img locks the image,
 * so a snapshot taken while the volume's pass grows it, or two snapshots
 * of one volume taken at once (mkdir s1 s2), would fail on the lock.  A
 * pass that finds its volume busy looks again shortly, without holding a
 * worker.  At most one entry per worker. */
static pthread_mutex_t vol_busy_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t vol_busy[64];
static size_t vol_nbusy;

bool rc_vol_claim(int64_t vol)
{
    bool ok = true;
    pthread_mutex_lock(&vol_busy_lock);
    for (size_t i = 0; i < vol_nbusy && ok; i++)
        ok = vol_busy[i] != vol;
    if (ok && vol_nbusy < sizeof(vol_busy) / sizeof(vol_busy[0]))
        vol_busy[vol_nbusy++] = vol;
    else
        ok = false;
    pthread_mutex_unlock(&vol_busy_lock);
    return ok;
}

void rc_vol_release(int64_t vol)
{
    pthread_mutex_lock(&vol_busy_lock);
    for (size_t i = 0; i < vol_nbusy; i++)
        if (vol_busy[i] == vol) {
            vol_busy[i] = vol_busy[--vol_nbusy];
            break;
        }
    pthread_mutex_unlock(&vol_busy_lock);
}

void rc_vol_object(const struct cfs_res *vol, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", CFS_VOL_PREFIX, vol->uuid);
}

void rc_img_object(const struct cfs_res *img, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", CFS_IMG_PREFIX, img->uuid);
}

void rc_img_file(struct reconciler *rc, const struct cfs_res *img, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.img", rc->conf->image_dir, img->uuid);
}

void rc_vol_serial(const struct cfs_res *vol, char serial[21])
{
    size_t j = 0;
    for (const char *p = vol->uuid; *p && j < 20; p++)
        if (*p != '-')
            serial[j++] = *p;
    serial[j] = '\0';
}

int rc_img_ensure(struct reconciler *rc, struct rc_pool *p, const struct cfs_res *pool,
                  const struct cfs_res *img, struct cfs_err *err)
{
    char obj[128], file[4200];
    struct cfs_vol_info info;
    char *format = NULL;
    int ret = -1;
    rc_img_object(img, obj, sizeof(obj));
    pthread_mutex_lock(&rc->copy_lock);
    if (p->drv->info(p->handle, obj, &info, err) < 0)
        goto cleanup;
    format = rc_status(rc, img->id, "format");
    rc_img_file(rc, img, file, sizeof(file));
    if (info.exists) {
        /* Present: import only completes what a crash may have left
         * undone (an RBD copy's base snapshot). */
        ret = p->drv->import(p->handle, obj, file, format, NULL, NULL, err);
        goto cleanup;
    }
    struct rc_task t;
    task_begin(rc, "image-copy", pool, &t);
    ret = p->drv->import(p->handle, obj, file, format, task_progress, &t, err);
    task_end(&t, ret < 0 ? err : NULL);
cleanup:
    pthread_mutex_unlock(&rc->copy_lock);
    free(format);
    return ret;
}

void rc_wake_volume_users(struct reconciler *rc, const struct cfs_res *vol)
{
    char *root = rc_status(rc, vol->id, CFS_ST_ROOT_OF);
    struct cfs_res vm;
    struct cfs_err ignore;
    if (root[0] && store_res_by_uuid(rc->st, root, &vm, &ignore) == 0)
        rc_wake(rc, vm.id);
    free(root);
    char *holder = rc_status(rc, vol->id, CFS_ST_ATTACHED);
    if (holder[0] && store_res_by_uuid(rc->st, holder, &vm, &ignore) == 0)
        rc_wake(rc, vm.id);
    free(holder);
}
