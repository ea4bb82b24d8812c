/* reconcile_image.c: the image catalogue.
 *
 * Writing an image's source makes the reconciler import the file into the
 * catalogue (conf image-dir): a copy, so volumes never depend on the
 * user's file, checksummed (status/sha256) while it is copied, with its
 * progress in tasks/<id>/progress.  Pools get their own copy lazily, when
 * the first volume made from the image lands in them (rc_img_ensure).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_probe.h"
#include "rc_store.h"
#include "reconcile_recycle.h"
#include "reconcile_storage.h"
#include "status_keys.h"
#include "task.h"
#include "user_file.h"

#define COPY_CHUNK (1 << 20)

static bool all_zero(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i])
            return false;
    return true;
}

/* Copy the open source in (named src in messages) to dst.part, hashing it,
 * then rename to dst.  Zero chunks become holes: a sparse source stays
 * sparse.  The copy is root's alone (0400): the source was readable by its
 * owner only perhaps. */
static int copy_in(int in, const char *src, const char *dst, long long size, struct rc_task *t,
                   char sha[65], struct cfs_err *err)
{
    char part[4300];
    struct cfs_sha256 h;
    int out = -1, ret = -1;
    char *buf = malloc(COPY_CHUNK);
    snprintf(part, sizeof(part), "%s.part", dst);
    if (!buf) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0400);
    if (out < 0 || lseek(in, 0, SEEK_SET) < 0) {
        cfs_err_set(err, errno, "%s: %s", out < 0 ? part : src, strerror(errno));
        goto cleanup;
    }
    cfs_sha256_init(&h);
    long long done = 0;
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0) {
            cfs_err_set(err, errno, "%s: %s", src, strerror(errno));
            goto cleanup;
        }
        if (n == 0)
            break;
        cfs_sha256_update(&h, buf, (size_t)n);
        if (all_zero(buf, (size_t)n)) {
            if (lseek(out, n, SEEK_CUR) < 0) {
                cfs_err_set(err, errno, "%s: %s", part, strerror(errno));
                goto cleanup;
            }
            done += n;
            continue;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                cfs_err_set(err, errno, "%s: %s", part, strerror(errno));
                goto cleanup;
            }
            off += w;
        }
        done += n;
        if (size > 0)
            task_progress((int)(done * 99 / size), t);
    }
    if (ftruncate(out, done) < 0 || fsync(out) < 0 || close(out) < 0) {
        out = -1;
        cfs_err_set(err, errno, "%s: %s", part, strerror(errno));
        goto cleanup;
    }
    out = -1;
    if (rename(part, dst) < 0) {
        cfs_err_set(err, errno, "%s: %s", dst, strerror(errno));
        goto cleanup;
    }
    cfs_sha256_hex(&h, sha);
    ret = 0;
cleanup:
    if (out >= 0)
        close(out);
    if (ret < 0)
        unlink(part);
    free(buf);
    return ret;
}

/* Import source into the catalogue (a task shows the copy's progress);
 * then wake the volumes and VMs waiting for the image.  Always 0: a failed
 * import is not retried (writing source again, even the same path, is). */
static void imported(struct reconciler *rc, const struct cfs_res *img, const char *done_key,
                     const struct cfs_image_probe *probe, const char *sha, int64_t gen);

static int import(struct reconciler *rc, const struct cfs_res *img, const char *source,
                  int64_t gen)
{
    struct cfs_err err;
    struct cfs_image_probe probe;
    struct rc_task t;
    char file[4200], sha[65];
    int ok = 0;
    rc_set_status(rc, img, "state", "importing");
    task_begin(rc, "image-import", img, &t);
    rc_img_file(rc, img, file, sizeof(file));
    mkdir(rc->conf->image_dir, 0700);
    /* Read with the rights of the image's owner, the path resolved once
     * without symlinks, a regular file only (user_file.h); the copy reads
     * that descriptor, never the path again. */
    int in = -1;
    if (user_file_open(source, img->uid, img->gid, &img->gid, 1, &in, &err) == 0 &&
        image_probe_fd(in, source, &probe, &err) == 0 &&
        copy_in(in, source, file, probe.size, &t, sha, &err) == 0) {
        /* Probe the copy, not the source: the file may have changed meanwhile. */
        ok = image_probe(file, &probe, &err) == 0;
        if (!ok)
            unlink(file);
    }
    if (in >= 0)
        close(in);
    task_end(&t, ok ? NULL : &err);
    rc_set_status(rc, img, CFS_ST_SOURCE, source);
    if (!ok) {
        rc_set_status(rc, img, "error", err.msg);
        rc_set_status(rc, img, "state", "failed");
        return 0;
    }
    imported(rc, img, source, &probe, sha, gen);
    return 0;
}

/* The status of an image whose catalogue file is complete; the volumes
 * and VMs waiting for it go on. */
static void imported(struct reconciler *rc, const struct cfs_res *img, const char *done_key,
                     const struct cfs_image_probe *probe, const char *sha, int64_t gen)
{
    struct cfs_err err;
    rc_set_status(rc, img, CFS_ST_SOURCE, done_key);
    rc_set_status(rc, img, "format", probe->format);
    rc_set_status_int(rc, img, "size", probe->size);
    rc_set_status_int(rc, img, "virtual-size", probe->virtual_size);
    rc_set_status(rc, img, "sha256", sha);
    rc_set_status(rc, img, "error", "");
    rc_set_status(rc, img, "state", "available");
    rc_set_status_int(rc, img, CFS_ST_GEN, gen);
    /* Volumes and VMs waiting for the image go on. */
    const struct rc_kind *users[] = {&rc_kind_volume, &rc_kind_vm};
    for (size_t k = 0; k < sizeof(users) / sizeof(users[0]); k++) {
        struct cfs_res *list = NULL;
        size_t n = 0;
        if (store_res_all(rc->st, rc_layout_kind(rc, users[k]), &list, &n, &err) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            char *want = rc_attr(rc, list[i].id, "image");
            if (!strcmp(want, img->name))
                rc_wake(rc, list[i].id);
            free(want);
        }
        free(list);
    }
}

/* The checksum of a file. */
static int sha_of(const char *file, char sha[65], struct cfs_err *err)
{
    struct cfs_sha256 h;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf = malloc(COPY_CHUNK);
    ssize_t n = 0;
    if (fd < 0 || !buf) {
        cfs_err_set(err, fd < 0 ? errno : ENOMEM, "%s: %s", file, strerror(fd < 0 ? errno : ENOMEM));
        n = -1;
        goto cleanup;
    }
    cfs_sha256_init(&h);
    while ((n = read(fd, buf, COPY_CHUNK)) > 0)
        cfs_sha256_update(&h, buf, (size_t)n);
    if (n < 0)
        cfs_err_set(err, errno, "%s: %s", file, strerror(errno));
    else
        cfs_sha256_hex(&h, sha);
cleanup:
    free(buf);
    if (fd >= 0)
        close(fd);
    return n < 0 ? -1 : 0;
}

/* The root volume of vm ("ZONE/CLUSTER/VM", as the mount checked it) and
 * the pool it is in; the VM must be stopped. */
static int root_disk_of(struct reconciler *rc, const struct cfs_res *img, const char *vm,
                        struct cfs_res *vol, struct cfs_res *pool, struct cfs_err *err)
{
    struct cfs_res r;
    if (store_ref_resolve(rc->st, img, layout_attr(img->kind, "vm"), vm, &r, err) < 0)
        return -1;
    char *state = rc_status(rc, r.id, "state");
    char *want = rc_attr(rc, r.id, "state");
    char *root = rc_status(rc, r.id, "root-volume");
    char *made = NULL;
    int ret = -1;
    if (strcmp(state, "stopped") || strcmp(want, "stopped"))
        cfs_err_set(err, EBUSY, "vm %s is %s: stop it, then write vm again", r.name,
                    strcmp(state, "stopped") ? state : "to run");
    else if (!root[0])
        cfs_err_set(err, EINVAL, "vm %s has no root disk", r.name);
    else if (store_res_find(rc->st, r.parent, rc_layout_kind(rc, &rc_kind_volume), root, vol,
                            err) == 0) {
        made = rc_status(rc, vol->id, "pool");
        ret = store_res_find(rc->st, r.parent, rc_layout_kind(rc, &rc_kind_pool), made, pool, err);
    }
    free(state);
    free(want);
    free(root);
    free(made);
    return ret;
}

/* Copy a stopped VM's root disk into the catalogue (a task shows the
 * progress): as import, from the pool instead of a user's file. */
static int export_vm(struct reconciler *rc, const struct cfs_res *img, const char *vm,
                     struct cfs_err *err)
{
    struct cfs_res vol, pool;
    struct rc_pool *p = NULL;
    char file[4200], part[4300], obj[128];
    int ret = -1;
    rc_img_file(rc, img, file, sizeof(file));
    snprintf(part, sizeof(part), "%s.part", file);
    if (root_disk_of(rc, img, vm, &vol, &pool, err) < 0 || !(p = rc_pool_get(rc, &pool, err)))
        goto cleanup;
    struct rc_task t;
    task_begin(rc, "image-from-vm", img, &t);
    rc_vol_object(&vol, obj, sizeof(obj));
    unlink(part);
    ret = p->drv->export(p->handle, obj, part, task_progress, &t, err);
    if (ret == 0 && (chmod(part, 0400) < 0 || rename(part, file) < 0))
        ret = cfs_err_set(err, errno, "%s: %s", file, strerror(errno));
    if (ret < 0)
        unlink(part);
    task_end(&t, ret < 0 ? err : NULL);
cleanup:
    rc_pool_put(p);
    return ret;
}

/* An image made from a VM's root disk: done_key ("vm:" and the VM's path)
 * is remembered as the source imported. */
static int from_vm(struct reconciler *rc, const struct cfs_res *img, const char *vm,
                   const char *done_key, int64_t gen)
{
    struct cfs_err err;
    struct cfs_image_probe probe;
    char file[4200], sha[65];
    cfs_err_clear(&err);
    rc_set_status(rc, img, "state", "importing");
    rc_flush(rc);   /* shown while the disk is copied */
    mkdir(rc->conf->image_dir, 0700);
    rc_img_file(rc, img, file, sizeof(file));
    rc_set_status(rc, img, CFS_ST_SOURCE, done_key);
    if (export_vm(rc, img, vm, &err) < 0 || image_probe(file, &probe, &err) < 0 ||
        sha_of(file, sha, &err) < 0) {
        unlink(file);
        rc_set_status(rc, img, "error", err.msg);
        rc_set_status(rc, img, "state", "failed");
        return 0;
    }
    imported(rc, img, done_key, &probe, sha, gen);
    return 0;
}

/* Remove the pools' copies and the catalogue file, then the tombstone. */
static int teardown(struct reconciler *rc, const struct cfs_res *img)
{
    struct cfs_err err;
    struct cfs_res *pools = NULL;
    size_t n = 0;
    char obj[128], file[4200];
    int result = 0;
    rc_set_status(rc, img, "state", "deleting");
    rc_flush(rc);   /* shown while the copies are removed */
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_pool), &pools, &n, &err) < 0)
        return 5000;
    rc_img_object(img, obj, sizeof(obj));
    for (size_t i = 0; i < n; i++) {
        struct rc_pool *p = rc_pool_get(rc, &pools[i], &err);
        int ok = p && p->drv->remove(p->handle, obj, &err) == 0;
        rc_pool_put(p);
        if (!ok) {
            char msg[CFS_ERR_MSG_MAX + 128];
            snprintf(msg, sizeof(msg), "removing the copy in pool %s: %s", pools[i].name, err.msg);
            rc_set_status(rc, img, "error", msg);
            result = 10000;
        }
    }
    free(pools);
    if (result)
        return result;
    rc_img_file(rc, img, file, sizeof(file));
    unlink(file);
    if (rc_res_purge(rc, img, &err) < 0) {
        rc_set_status(rc, img, "error", err.msg);
        return 5000;
    }
    return 0;
}

static int reconcile_image(struct reconciler *rc, const struct cfs_res *img)
{
    if (img->deleted)
        return teardown(rc, img);
    if (img->recycled)
        return rc_recycled_pass(rc, img);
    int64_t gen = store_spec_generation(rc->st, img->id);
    char *source = rc_attr(rc, img->id, "source");
    char *vm = rc_attr(rc, img->id, "vm");
    char *done = rc_status(rc, img->id, CFS_ST_SOURCE);
    char vm_key[CFS_NAME_MAX * 3 + 8];
    char *state = rc_status(rc, img->id, "state");
    char file[4200];
    struct stat sb;
    int result = 0;
    rc_img_file(rc, img, file, sizeof(file));
    snprintf(vm_key, sizeof(vm_key), "vm:%s", vm);
    if (!source[0] && vm[0]) {
        if (strcmp(vm_key, done) || (!strcmp(state, "available") && stat(file, &sb) < 0) ||
            !strcmp(state, "importing"))
            result = from_vm(rc, img, vm, vm_key, gen);
        else if (!strcmp(state, "available"))
            rc_set_status_int(rc, img, CFS_ST_GEN, gen);
    } else if (!source[0]) {
        if (state[0])
            rc_set_status(rc, img, "state", "");
        rc_set_status_int(rc, img, CFS_ST_GEN, gen);
    } else if (strcmp(source, done) ||
               (!strcmp(state, "available") && stat(file, &sb) < 0) ||
               !strcmp(state, "importing")) {
        /* New source, a lost catalogue file, or an import a crash cut short. */
        result = import(rc, img, source, gen);
    } else if (!strcmp(state, "available")) {
        rc_set_status_int(rc, img, CFS_ST_GEN, gen);
    }
    free(source);
    free(vm);
    free(done);
    free(state);
    return result;
}

/* The os attribute is the VM pass's (the domain's features); min-disk is
 * the mount's (a root disk too small for the image is refused). */
const struct rc_kind rc_kind_image = {
    .name = "image", .pass = reconcile_image, .wakes = RC_WAKE_SELF,
    .attrs_read = "source vm volume/image vm/image vm/state",
    .status_read = CFS_ST_RECYCLE_EXPIRES " state " CFS_ST_SOURCE " vm/state vm/root-volume volume/pool",
    .status_written = "state error format size virtual-size sha256 " CFS_ST_SOURCE " " CFS_ST_GEN,
};
