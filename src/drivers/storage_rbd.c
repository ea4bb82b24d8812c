/* storage_rbd.c: pools that are a Ceph RBD pool (librados + librbd).
 *
 * A volume is an RBD image CFS_VOL_PREFIX+UUID.  An image copy is an RBD
 * image with a protected snapshot "base"; a boot volume is a copy-on-write
 * clone of that snapshot, so it is ready in milliseconds whatever its size.
 * New images are made under NAME.part and renamed when complete.  A
 * volume's snapshots are RBD snapshots of its image (independent of each
 * other; removing the image removes them first).  Every
 * librados call is bounded by the pool's timeout (rados_*_op_timeout), so a
 * stopped cluster makes operations fail with a message instead of hanging
 * the reconciler.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "image_probe.h"
#include "subprocess.h"
#include "storage.h"

#define BASE_SNAP "base"

struct cfs_pool {
    rados_t cluster;
    rados_ioctx_t io;
    char conf[1024];
    char pool[64];
    char user[64];
    int timeout;
};

static int rbd_fail(struct cfs_err *err, int r, const char *what, const char *name)
{
    int e = r < 0 ? -r : EIO;
    return cfs_err_set(err, e, "rbd %s %s: %s", what, name, strerror(e));
}

static int rbd_pool_open(const struct cfs_pool_def *def, struct cfs_pool **out,
                         struct cfs_err *err)
{
    char timeout[16];
    int r;
    if (!def->ceph_conf || def->ceph_conf[0] != '/')
        return cfs_err_set(err, EINVAL, "rbd pool needs ceph-conf (an absolute path)");
    if (!def->rbd_pool || !def->rbd_pool[0])
        return cfs_err_set(err, EINVAL, "rbd pool needs rbd-pool");
    struct cfs_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return cfs_err_set(err, ENOMEM, "out of memory");
    snprintf(p->conf, sizeof(p->conf), "%s", def->ceph_conf);
    snprintf(p->pool, sizeof(p->pool), "%s", def->rbd_pool);
    snprintf(p->user, sizeof(p->user), "%s", def->ceph_user ? def->ceph_user : "");
    p->timeout = def->timeout;
    snprintf(timeout, sizeof(timeout), "%d", def->timeout > 0 ? def->timeout : 30);
    r = rados_create(&p->cluster, p->user[0] ? p->user : NULL);
    if (r < 0) {
        free(p);
        return rbd_fail(err, r, "connect", def->rbd_pool);
    }
    if ((r = rados_conf_read_file(p->cluster, p->conf)) < 0) {
        cfs_err_set(err, -r, "%s: cannot read Ceph configuration: %s", p->conf, strerror(-r));
        goto fail;
    }
    rados_conf_set(p->cluster, "rados_mon_op_timeout", timeout);
    rados_conf_set(p->cluster, "rados_osd_op_timeout", timeout);
    rados_conf_set(p->cluster, "client_mount_timeout", timeout);
    rados_conf_set(p->cluster, "log_to_stderr", "false");
    rados_conf_set(p->cluster, "err_to_stderr", "false");
    if ((r = rados_connect(p->cluster)) < 0) {
        cfs_err_set(err, -r, "cannot reach the Ceph cluster of %s: %s", p->conf, strerror(-r));
        goto fail;
    }
    if ((r = rados_ioctx_create(p->cluster, p->pool, &p->io)) < 0) {
        cfs_err_set(err, -r, "Ceph pool %s: %s", p->pool, strerror(-r));
        goto fail;
    }
    *out = p;
    return 0;
fail:
    rados_shutdown(p->cluster);
    free(p);
    return -1;
}

static void rbd_pool_close(struct cfs_pool *p)
{
    if (!p)
        return;
    if (p->io)
        rados_ioctx_destroy(p->io);
    rados_shutdown(p->cluster);
    free(p);
}

/* The number after "key": in json[0..end), or -1. */
static long long json_number(const char *json, const char *end, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *at = strstr(json, pat);
    if (!at || at >= end)
        return -1;
    char *stop = NULL;
    long long v = strtoll(at + strlen(pat), &stop, 10);
    return stop == at + strlen(pat) || v < 0 ? -1 : v;
}

/* The pool's STORED and MAX AVAIL as "ceph df" reports them (the monitors'
 * "df" in JSON: {"pools":[{"name":"P","id":N,"stats":{"stored":S,...,
 * "max_avail":M}},...]}).  -1 when the answer does not have them. */
static int rbd_df(struct cfs_pool *p, long long *stored, long long *max_avail)
{
    /* "detail": Ceph 16's monitor fails a df without it (as "wrong fsid"). */
    const char *cmd[] = {"{\"prefix\": \"df\", \"format\": \"json\", \"detail\": \"detail\"}"};
    char *buf = NULL, *outs = NULL;
    size_t buflen = 0, outslen = 0;
    char pat[96];
    int ret = -1;
    if (rados_mon_command(p->cluster, cmd, 1, "", 0, &buf, &buflen, &outs, &outslen) < 0 ||
        !buf)
        goto cleanup;
    char *json = strndup(buf, buflen);
    if (!json)
        goto cleanup;
    snprintf(pat, sizeof(pat), "{\"name\":\"%s\",", p->pool);
    const char *at = strstr(json, pat);
    if (at) {
        const char *end = strstr(at + 1, "{\"name\":");
        end = end ? end : json + strlen(json);
        *stored = json_number(at, end, "stored");
        *max_avail = json_number(at, end, "max_avail");
        ret = *stored >= 0 && *max_avail >= 0 ? 0 : -1;
    }
    free(json);
cleanup:
    rados_buffer_free(buf);
    rados_buffer_free(outs);
    return ret;
}

/* capacity = STORED + MAX AVAIL of the pool (what it can hold with its
 * replication), allocation = STORED, available = MAX AVAIL; the cluster's
 * raw figures only when the monitors' df has no answer. */
static int rbd_stats(struct cfs_pool *p, struct cfs_pool_stats *out, struct cfs_err *err)
{
    struct rados_cluster_stat_t cs;
    struct rados_pool_stat_t ps;
    int r = rados_cluster_stat(p->cluster, &cs);
    if (r < 0)
        return rbd_fail(err, r, "cluster stat", p->pool);
    r = rados_ioctx_pool_stat(p->io, &ps);
    if (r < 0)
        return rbd_fail(err, r, "pool stat", p->pool);
    out->capacity = (long long)cs.kb * 1024;
    out->available = (long long)cs.kb_avail * 1024;
    out->allocation = (long long)ps.num_bytes;
    long long stored = 0, max_avail = 0;
    if (rbd_df(p, &stored, &max_avail) == 0) {
        out->capacity = stored + max_avail;
        out->available = max_avail;
        out->allocation = stored;
    }
    return 0;
}

static int count_extent(uint64_t off, size_t len, int exists, void *arg)
{
    (void)off;
    if (exists)
        *(long long *)arg += (long long)len;
    return 0;
}

static int rbd_info(struct cfs_pool *p, const char *name, struct cfs_vol_info *out,
                    struct cfs_err *err)
{
    rbd_image_t img;
    uint64_t size = 0;
    memset(out, 0, sizeof(*out));
    int r = rbd_open_read_only(p->io, name, &img, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    r = rbd_get_size(img, &size);
    if (r == 0) {
        out->exists = true;
        out->size = (long long)size;
        /* With the object map (a default feature) this reads no data. */
        long long used = 0;
        if (rbd_diff_iterate2(img, NULL, 0, size, 0, 1, count_extent, &used) == 0)
            out->allocation = used;
    }
    rbd_close(img);
    return r < 0 ? rbd_fail(err, r, "stat", name) : 0;
}

/* Protect snapshot snap of image name (a clone's parent must be), making
 * it first when make is set (an image copy's base snapshot). */
static int ensure_protected(struct cfs_pool *p, const char *name, const char *snap, bool make,
                            struct cfs_err *err)
{
    rbd_image_t img;
    bool exists = false;
    int prot = 0;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    if ((r = rbd_snap_exists(img, snap, &exists)) == 0 && !exists)
        r = make ? rbd_snap_create(img, snap) : -ENOENT;
    if (r == 0 && (r = rbd_snap_is_protected(img, snap, &prot)) == 0 && !prot)
        r = rbd_snap_protect(img, snap);
    rbd_close(img);
    return r < 0 ? rbd_fail(err, r, "snapshot", name) : 0;
}

/* Make volume name as a clone of parent@snap grown to size (or, parent
 * NULL, blank): under its part name, renamed when complete. */
static int make_obj(struct cfs_pool *p, const char *name, long long size, const char *parent,
                    const char *snap, struct cfs_err *err)
{
    char part[300];
    struct cfs_vol_info info;
    int r, order = 0;
    if (rbd_info(p, name, &info, err) < 0)
        return -1;
    if (info.exists)
        return 0;
    snprintf(part, sizeof(part), "%s%s", name, CFS_PART_SUFFIX);
    rbd_remove(p->io, part);    /* an earlier attempt's leftover */
    if (parent) {
        rbd_image_options_t opts;
        rbd_image_options_create(&opts);
        r = rbd_clone3(p->io, parent, snap, p->io, part, opts);
        rbd_image_options_destroy(opts);
        if (r < 0)
            return rbd_fail(err, r, "clone", parent);
        rbd_image_t img;
        uint64_t cur = 0;
        if ((r = rbd_open(p->io, part, &img, NULL)) == 0) {
            if ((r = rbd_get_size(img, &cur)) == 0 && (uint64_t)size > cur)
                r = rbd_resize(img, (uint64_t)size);
            rbd_close(img);
        }
        if (r < 0) {
            rbd_remove(p->io, part);
            return rbd_fail(err, r, "resize", part);
        }
    } else {
        r = rbd_create(p->io, part, (uint64_t)size, &order);
        if (r < 0)
            return rbd_fail(err, r, "create", name);
    }
    if ((r = rbd_rename(p->io, part, name)) < 0) {
        rbd_remove(p->io, part);
        return rbd_fail(err, r, "rename", part);
    }
    return 0;
}

static int rbd_create_obj(struct cfs_pool *p, const char *name, long long size, const char *base,
                          struct cfs_err *err)
{
    return make_obj(p, name, size, base, BASE_SNAP, err);
}

static int rbd_resize_obj(struct cfs_pool *p, const char *name, long long size,
                          struct cfs_err *err)
{
    rbd_image_t img;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    r = rbd_resize(img, (uint64_t)size);
    rbd_close(img);
    return r < 0 ? rbd_fail(err, r, "resize", name) : 0;
}

/* The snapshots of an open image (*out malloc'd, *n of them). */
static int snaps_of(rbd_image_t img, rbd_snap_info_t **out, int *n)
{
    int max = 16;
    for (;;) {
        rbd_snap_info_t *snaps = calloc((size_t)max, sizeof(*snaps));
        if (!snaps)
            return -ENOMEM;
        int got = rbd_snap_list(img, snaps, &max);
        if (got == -ERANGE) {
            free(snaps);
            continue;   /* max now says how many there are */
        }
        if (got < 0) {
            free(snaps);
            return got;
        }
        *out = snaps;
        *n = got;
        return 0;
    }
}

static void snaps_free(rbd_snap_info_t *snaps)
{
    if (snaps)
        rbd_snap_list_end(snaps);
    free(snaps);
}

/* Remove one snapshot, unprotecting it first (an image copy's base; it
 * fails while clones of it remain). */
static int snap_drop(rbd_image_t img, const char *snap)
{
    int prot = 0, r;
    if (rbd_snap_is_protected(img, snap, &prot) == 0 && prot &&
        (r = rbd_snap_unprotect(img, snap)) < 0)
        return r;
    r = rbd_snap_remove(img, snap);
    return r == -ENOENT ? 0 : r;
}

static int rbd_remove_obj(struct cfs_pool *p, const char *name, struct cfs_err *err)
{
    rbd_image_t img;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    /* An image with snapshots cannot be removed: an image copy carries its
     * protected base snapshot, a volume the snapshots users took. */
    rbd_snap_info_t *snaps = NULL;
    int n = 0;
    if ((r = snaps_of(img, &snaps, &n)) == 0)
        for (int i = 0; i < n && r == 0; i++)
            r = snap_drop(img, snaps[i].name);
    snaps_free(snaps);
    rbd_close(img);
    if (r < 0)
        return rbd_fail(err, r, "remove snapshots of (clones remain?)", name);
    r = rbd_remove(p->io, name);
    return r < 0 && r != -ENOENT ? rbd_fail(err, r, "remove", name) : 0;
}

/* "a,b" -> "a,,b": qemu's option syntax doubles commas inside values. */
static void opt_escape(char *out, size_t len, const char *in)
{
    size_t j = 0;
    for (; *in && j + 2 < len; in++) {
        if (*in == ',')
            out[j++] = ',';
        out[j++] = *in;
    }
    out[j] = '\0';
}

/* Image name of the pool as qemu --image-opts (raw over rbd). */
static void image_spec(struct cfs_pool *p, const char *name, char *out, size_t len)
{
    char conf[2100], user[140];
    opt_escape(conf, sizeof(conf), p->conf);
    opt_escape(user, sizeof(user), p->user);
    snprintf(out, len, "driver=raw,file.driver=rbd,file.pool=%s,file.image=%s,file.conf=%s%s%s",
             p->pool, name, conf, p->user[0] ? ",file.user=" : "", user);
}

static int rbd_import(struct cfs_pool *p, const char *name, const char *file, const char *format,
                      cfs_progress_cb progress, void *arg, struct cfs_err *err)
{
    char part[300], target[3000];
    struct cfs_vol_info info;
    struct cfs_image_probe probe;
    int r, order = 0;
    if (rbd_info(p, name, &info, err) < 0)
        return -1;
    if (info.exists)
        return ensure_protected(p, name, BASE_SNAP, true, err);   /* renamed just before a crash */
    if (image_probe(file, &probe, err) < 0)
        return -1;
    snprintf(part, sizeof(part), "%s%s", name, CFS_PART_SUFFIX);
    rbd_remove(p->io, part);
    /* Made here at the image's virtual size, then filled by qemu-img (-n),
     * which turns qcow2 into the raw data RBD holds. */
    if ((r = rbd_create(p->io, part, (uint64_t)probe.virtual_size, &order)) < 0)
        return rbd_fail(err, r, "create", part);
    image_spec(p, part, target, sizeof(target));
    char *argv[] = {"qemu-img", "convert", "-p", "-n", "-f", (char *)format, "--target-image-opts",
                    (char *)file, target, NULL};
    if (spawn_run(argv, progress, arg, p->timeout, err) < 0)
        goto fail;
    if ((r = rbd_rename(p->io, part, name)) < 0) {
        rbd_fail(err, r, "rename", part);
        goto fail;
    }
    return ensure_protected(p, name, BASE_SNAP, true, err);
fail:
    rbd_remove(p->io, part);
    return -1;
}

static int rbd_list_obj(struct cfs_pool *p, cfs_object_cb cb, void *arg, struct cfs_err *err)
{
    size_t max = 64;
    rbd_image_spec_t *specs = NULL;
    int r;
    for (;;) {
        specs = calloc(max, sizeof(*specs));
        if (!specs)
            return cfs_err_set(err, ENOMEM, "out of memory");
        size_t n = max;
        r = rbd_list2(p->io, specs, &n);
        if (r == -ERANGE) {
            free(specs);
            max = n > max ? n : max * 2;
            continue;
        }
        if (r < 0) {
            free(specs);
            return rbd_fail(err, r, "list", p->pool);
        }
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (!strncmp(specs[i].name, "cfs-", 4))
                rc = cb(specs[i].name, arg);
        rbd_image_spec_list_cleanup(specs, n);
        free(specs);
        return rc;
    }
}

static int rbd_source(struct cfs_pool *p, const char *name, struct cfs_disk_source *out,
                      struct cfs_err *err)
{
    char hosts[512] = "";
    memset(out, 0, sizeof(*out));
    out->network = true;
    snprintf(out->path, sizeof(out->path), "%s/%s", p->pool, name);
    snprintf(out->format, sizeof(out->format), "raw");
    snprintf(out->user, sizeof(out->user), "%s", p->user);
    snprintf(out->conf, sizeof(out->conf), "%s", p->conf);
    /* mon_host is "a:p,b:p" or "[v2:a:p,v1:a:p] ..."; keep the v1/plain ones. */
    if (rados_conf_get(p->cluster, "mon_host", hosts, sizeof(hosts)) < 0)
        return cfs_err_set(err, EINVAL, "%s: no mon_host", p->conf);
    char *save = NULL;
    for (char *tok = strtok_r(hosts, " ,[]", &save); tok && out->nhosts < 8;
         tok = strtok_r(NULL, " ,[]", &save)) {
        if (!strncmp(tok, "v2:", 3))
            continue;
        if (!strncmp(tok, "v1:", 3))
            tok += 3;
        char *slash = strchr(tok, '/');     /* "ip:port/nonce" */
        if (slash)
            *slash = '\0';
        snprintf(out->hosts[out->nhosts++], sizeof(out->hosts[0]), "%s", tok);
    }
    if (out->nhosts == 0)
        return cfs_err_set(err, EINVAL, "%s: no usable monitor address", p->conf);
    return 0;
}

static int remove_part(const char *name, void *arg)
{
    struct cfs_pool *p = arg;
    size_t n = strlen(name), sl = strlen(CFS_PART_SUFFIX);
    if (n > sl && !strcmp(name + n - sl, CFS_PART_SUFFIX))
        rbd_remove(p->io, name);
    return 0;
}

static void rbd_sweep(struct cfs_pool *p)
{
    struct cfs_err ignore;
    rbd_list_obj(p, remove_part, p, &ignore);
}

/* ---- snapshots ---- */

static int rbd_snapshot_list(struct cfs_pool *p, const char *name, cfs_snap_cb cb, void *arg,
                             struct cfs_err *err)
{
    rbd_image_t img;
    rbd_snap_info_t *snaps = NULL;
    int n = 0, rc = 0;
    int r = rbd_open_read_only(p->io, name, &img, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    if ((r = snaps_of(img, &snaps, &n)) < 0)
        rc = rbd_fail(err, r, "list snapshots of", name);
    for (int i = 0; i < n && rc == 0; i++) {
        struct cfs_snap_info s = {.size = (long long)snaps[i].size};
        struct timespec ts = {0};
        snprintf(s.name, sizeof(s.name), "%s", snaps[i].name);
        if (rbd_snap_get_timestamp(img, snaps[i].id, &ts) == 0)
            s.created = (long long)ts.tv_sec;
        rc = cb(&s, arg);
    }
    snaps_free(snaps);
    rbd_close(img);
    return rc;
}

static int rbd_snapshot_create(struct cfs_pool *p, const char *name, const char *snap,
                               struct cfs_err *err)
{
    rbd_image_t img;
    bool exists = false;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    if ((r = rbd_snap_exists(img, snap, &exists)) == 0 && !exists)
        r = rbd_snap_create(img, snap);
    rbd_close(img);
    return r < 0 && r != -EEXIST ? rbd_fail(err, r, "snapshot", name) : 0;
}

static int rbd_snapshot_revert(struct cfs_pool *p, const char *name, const char *snap,
                               struct cfs_err *err)
{
    rbd_image_t img;
    bool exists = false;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    if ((r = rbd_snap_exists(img, snap, &exists)) == 0 && !exists)
        r = -ENOENT;
    if (r == 0)
        r = rbd_snap_rollback(img, snap);
    rbd_close(img);
    return r < 0 ? rbd_fail(err, r, "rollback", name) : 0;
}

static int rbd_snapshot_delete(struct cfs_pool *p, const char *name, const char *snap,
                               struct cfs_err *err)
{
    rbd_image_t img;
    bool exists = false;
    int r = rbd_open(p->io, name, &img, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return rbd_fail(err, r, "open", name);
    if ((r = rbd_snap_exists(img, snap, &exists)) == 0 && exists)
        r = snap_drop(img, snap);
    rbd_close(img);
    return r < 0 ? rbd_fail(err, r, "remove snapshot of", name) : 0;
}

/* A copy-on-write clone of src@snap: the snapshot is protected (RBD's
 * rule for a clone's parent; rmdir of the snapshot unprotects it once its
 * clones are gone, snap_drop). */
static int rbd_snapshot_clone(struct cfs_pool *p, const char *name, const char *src,
                              const char *snap, long long size, struct cfs_err *err)
{
    struct cfs_vol_info info;
    if (rbd_info(p, name, &info, err) < 0)
        return -1;
    if (info.exists)
        return 0;
    if (ensure_protected(p, src, snap, false, err) < 0)
        return -1;
    return make_obj(p, name, size, src, snap, err);
}

static int rbd_export(struct cfs_pool *p, const char *name, const char *file,
                      cfs_progress_cb progress, void *arg, struct cfs_err *err)
{
    char src[3000];
    image_spec(p, name, src, sizeof(src));
    char *argv[] = {"qemu-img", "convert", "-p", "--image-opts", src, "-O", "qcow2", (char *)file,
                    NULL};
    return spawn_run(argv, progress, arg, p->timeout, err);
}

const struct cfs_storage_driver cfs_storage_rbd = {
    .type = "rbd",
    .open = rbd_pool_open,
    .close = rbd_pool_close,
    .stats = rbd_stats,
    .info = rbd_info,
    .create = rbd_create_obj,
    .resize = rbd_resize_obj,
    .remove = rbd_remove_obj,
    .import = rbd_import,
    .list = rbd_list_obj,
    .source = rbd_source,
    .sweep = rbd_sweep,
    .snapshot_create = rbd_snapshot_create,
    .snapshot_list = rbd_snapshot_list,
    .snapshot_revert = rbd_snapshot_revert,
    .snapshot_delete = rbd_snapshot_delete,
    .snapshot_clone = rbd_snapshot_clone,
    .export = rbd_export,
};
