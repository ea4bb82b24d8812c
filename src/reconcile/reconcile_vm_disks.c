/* reconcile_vm_disks.c: a VM's disks.
 *
 * The root disk is a volume the reconciler makes from the VM's image
 * (status/root-volume) and plugs in as vda (virtio).  Data volumes are the
 * VM's volumes/ links, plugged in as sdb.. on a virtio-scsi controller,
 * whose unplug needs no help from the guest.  Each pass compares the disks
 * the domain really has (by serial) with the links and plugs or unplugs
 * the difference: live into a running domain, and always into its
 * definition.  A volume's status/attached-to and state follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "value.h"

struct vm_disk_want {
    struct cfs_res vol;
    char serial[21];
    char target[8];
    struct cfs_disk_source src;
};

struct vm_disks {
    struct vm_disk_want *v;
    size_t n;
    struct cfs_disk *disks;     /* views of v, for the compute driver */
};

/* The root volume, made on first need; *ready once it can be plugged in. */
int vm_root_volume(struct reconciler *rc, const struct cfs_res *vm, const char *image,
                   bool *ready, struct cfs_err *err)
{
    struct cfs_res vol;
    char name[CFS_NAME_MAX + 1];
    *ready = false;
    char *have = rc_status(rc, vm->id, "root-volume");
    int rc_ = -1;
    if (have[0]) {
        if (store_res_find(rc->st, vm->parent, rc->k_volume, have, &vol, err) < 0)
            goto cleanup;
        /* root-size grows the root volume (precond refuses shrinking). */
        char *want = rc_attr(rc, vm->id, "root-size"), *cur = rc_attr(rc, vol.id, "size");
        long long w = 0, c = 0;
        const struct cfs_attr_def *a_size = layout_attr(rc->k_volume, "size");
        if (value_parse_size(want, &w) == 0 && value_parse_size(cur, &c) == 0 && w > c && a_size)
            store_attr_set(rc->st, &vol, a_size, want, &rc_actor, NULL, err);
        free(want);
        free(cur);
    } else {
        /* "<vm>-root", or with a piece of the VM's UUID when a volume
         * already has that name. */
        snprintf(name, sizeof(name), "%.58s-root", vm->name);
        if (store_res_find(rc->st, vm->parent, rc->k_volume, name, &vol, err) == 0)
            snprintf(name, sizeof(name), "%.49s-root-%.8s", vm->name, vm->uuid);
        char *size = rc_attr(rc, vm->id, "root-size");
        char *pool = rc_attr(rc, vm->id, "pool");
        const struct cfs_attr_def *a_size = layout_attr(rc->k_volume, "size");
        const struct cfs_attr_def *a_image = layout_attr(rc->k_volume, "image");
        const struct cfs_attr_def *a_pool = layout_attr(rc->k_volume, "pool");
        /* An ISO installs onto a blank root disk from the CD-ROM drive. */
        struct cfs_res img;
        bool iso = false;
        if (store_res_find(rc->st, 0, rc->k_image, image, &img, err) == 0) {
            char *format = rc_status(rc, img.id, "format");
            char *istate = rc_status(rc, img.id, "state");
            bool known = !strcmp(istate, "available");
            iso = !strcmp(format, "iso");
            free(format);
            free(istate);
            if (!known) {
                free(size);
                free(pool);
                rc_ = 0;    /* wait for the import: the format decides */
                goto cleanup;
            }
        }
        int ok = store_res_create(rc->st, vm->parent, rc->k_volume, name, vm->uid, vm->gid,
                                  &rc_actor, &vol, err) == 0;
        if (ok) {
            /* Marked first: until then the volume looks like anyone's. */
            rc_set_status(rc, &vol, "_root-of", vm->uuid);
            rc_set_status(rc, &vol, "root-of", vm->name);
            ok = store_attr_set(rc->st, &vol, a_size, size, &rc_actor, NULL, err) == 0 &&
                 (iso || store_attr_set(rc->st, &vol, a_image, image, &rc_actor, NULL, err) == 0) &&
                 (!pool[0] || store_attr_set(rc->st, &vol, a_pool, pool, &rc_actor, NULL, err) == 0);
            rc_set_status(rc, vm, "root-volume", name);
        }
        free(size);
        free(pool);
        if (!ok)
            goto cleanup;
    }
    char *state = rc_status(rc, vol.id, "state");
    char *gen = rc_status(rc, vol.id, "_gen");
    char *error = rc_status(rc, vol.id, "error");
    *ready = gen[0] && (!strcmp(state, "available") || !strcmp(state, "attached"));
    if (!*ready && (!strcmp(state, "error") || error[0]))
        cfs_err_set(err, EIO, "root volume %s: %s", vol.name, error[0] ? error : "failed");
    rc_ = *ready || !(!strcmp(state, "error") || error[0]) ? 0 : -1;
    free(state);
    free(gen);
    free(error);
cleanup:
    free(have);
    return rc_;
}

bool vm_cdrom(struct reconciler *rc, const char *image, char *path, size_t len)
{
    struct cfs_res img;
    struct cfs_err ignore;
    bool iso = false;
    if (!image[0] || store_res_find(rc->st, 0, rc->k_image, image, &img, &ignore) < 0)
        return false;
    char *format = rc_status(rc, img.id, "format");
    char *state = rc_status(rc, img.id, "state");
    iso = !strcmp(format, "iso") && !strcmp(state, "available");
    if (iso)
        rc_img_file(rc, &img, path, len);
    free(format);
    free(state);
    return iso;
}

bool vm_image_os_is(struct reconciler *rc, const char *image, const char *os)
{
    struct cfs_res img;
    struct cfs_err ignore;
    if (!image[0] || store_res_find(rc->st, 0, rc->k_image, image, &img, &ignore) < 0)
        return false;
    char *have = rc_attr(rc, img.id, "os");
    bool is = !strcmp(have, os);
    free(have);
    return is;
}

static int want_add(struct vm_disks *d, const struct cfs_res *vol)
{
    struct vm_disk_want *grown = realloc(d->v, (d->n + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    d->v = grown;
    memset(&d->v[d->n], 0, sizeof(d->v[0]));
    d->v[d->n].vol = *vol;
    rc_vol_serial(vol, d->v[d->n].serial);
    d->n++;
    return 0;
}

struct link_ctx {
    struct vm_disks *d;
    int failed;
};

static int link_cb(const struct cfs_res *vol, void *arg)
{
    struct link_ctx *c = arg;
    if (want_add(c->d, vol) < 0)
        c->failed = 1;
    return 0;
}

/* Where the volume's object is, when it is ready to be plugged in. */
static bool volume_source(struct reconciler *rc, const struct cfs_res *vol,
                          struct cfs_disk_source *src)
{
    struct cfs_err err;
    struct cfs_res pool;
    char obj[128];
    char *state = rc_status(rc, vol->id, "state");
    char *pname = rc_status(rc, vol->id, "pool");
    bool ok = (!strcmp(state, "available") || !strcmp(state, "attached") ||
               !strcmp(state, "resizing")) && pname[0] &&
              store_res_find(rc->st, vol->parent, rc->k_pool, pname, &pool, &err) == 0;
    free(state);
    free(pname);
    if (!ok)
        return false;
    struct rc_pool *p = rc_pool_get(rc, &pool, &err);
    rc_vol_object(vol, obj, sizeof(obj));
    ok = p && p->drv->source(p->handle, obj, src, &err) == 0;
    rc_pool_put(p);
    return ok;
}

void vm_disks_free(struct vm_disks *d)
{
    if (!d)
        return;
    free(d->v);
    free(d->disks);
    free(d);
}

/* The disks the VM should have now: its root volume and the linked data
 * volumes that are ready.  Targets: vda for the root; a data volume keeps
 * the target it was given (status _target), new ones take the first free. */
struct vm_disks *vm_disks_want(struct reconciler *rc, const struct cfs_res *vm)
{
    struct vm_disks *d = calloc(1, sizeof(*d));
    struct cfs_err err;
    if (!d)
        return NULL;
    char *root = rc_status(rc, vm->id, "root-volume");
    struct cfs_res vol;
    if (root[0] && store_res_find(rc->st, vm->parent, rc->k_volume, root, &vol, &err) == 0 &&
        want_add(d, &vol) == 0)
        snprintf(d->v[0].target, sizeof(d->v[0].target), "vda");
    free(root);
    size_t first_data = d->n;
    const struct cfs_link_def *l = layout_link(rc->k_vm, "volumes");
    struct link_ctx c = {.d = d};
    if (l)
        store_link_list(rc->st, vm, l, link_cb, &c, &err);
    bool used[26] = {false};
    for (size_t i = first_data; i < d->n; i++) {
        char *t = rc_status(rc, d->v[i].vol.id, "_target");
        if (strlen(t) == 3 && !strncmp(t, "sd", 2) && t[2] > 'a' && t[2] <= 'z' && !used[t[2] - 'a']) {
            used[t[2] - 'a'] = true;
            snprintf(d->v[i].target, sizeof(d->v[i].target), "%s", t);
        }
        free(t);
    }
    for (size_t i = first_data; i < d->n; i++) {
        if (d->v[i].target[0])
            continue;
        for (int k = 1; k < 26; k++) {
            if (!used[k]) {
                used[k] = true;
                snprintf(d->v[i].target, sizeof(d->v[i].target), "sd%c", 'a' + k);
                break;
            }
        }
    }
    /* Keep only what can be plugged in now. */
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].target[0] && volume_source(rc, &d->v[i].vol, &d->v[i].src))
            d->v[kept++] = d->v[i];
    d->n = kept;
    d->disks = calloc(d->n ? d->n : 1, sizeof(*d->disks));
    if (!d->disks || c.failed) {
        vm_disks_free(d);
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++)
        d->disks[i] = (struct cfs_disk){.serial = d->v[i].serial, .target = d->v[i].target,
                                        .src = &d->v[i].src};
    return d;
}

const struct cfs_disk *vm_disks_array(const struct vm_disks *d, int *n)
{
    *n = d ? (int)d->n : 0;
    return d ? d->disks : NULL;
}

struct have {
    char serial[32][21];
    char target[32][8];
    int n;
};

static void have_cb(const char *serial, const char *target, void *arg)
{
    struct have *h = arg;
    if (h->n < 32) {
        snprintf(h->serial[h->n], sizeof(h->serial[0]), "%s", serial);
        snprintf(h->target[h->n], sizeof(h->target[0]), "%s", target);
        h->n++;
    }
}

static void mark(struct reconciler *rc, const struct cfs_res *vm, const struct cfs_res *vol,
                 const char *target)
{
    bool on = target != NULL;
    rc_set_status(rc, vol, "attached-to", on ? vm->name : "");
    rc_set_status(rc, vol, "_attached", on ? vm->uuid : "");
    rc_set_status(rc, vol, "_target", on ? target : "");
    if (on)
        rc_set_status(rc, vol, "_used", "1");   /* from now on it may hold data */
    char *state = rc_status(rc, vol->id, "state");
    if (!strcmp(state, "available") || !strcmp(state, "attached") ||
        !strcmp(state, "attaching") || !strcmp(state, "detaching"))
        rc_set_status(rc, vol, "state", on ? "attached" : "available");
    free(state);
}

/* Plug and unplug until the domain's disks are the wanted ones.  Returns 0,
 * or -1 with the first failure (the other disks are still handled). */
int vm_disks_sync(struct reconciler *rc, const struct cfs_res *vm, struct cfs_conn *conn,
                  const struct vm_disks *want, struct cfs_err *err)
{
    struct have h = {.n = 0};
    struct cfs_err e;
    int rc_ = 0;
    struct cfs_res *held = NULL;
    size_t n = 0;
    if (store_res_by_status(rc->st, rc->k_volume, vm->parent, "_attached", vm->uuid, &held, &n,
                            err) < 0)
        return -1;
    if ((!want || want->n == 0) && n == 0) {
        free(held);
        return 0;   /* a VM without volumes: no need to read its XML */
    }
    if (rc->drv->disks(conn, vm->uuid, have_cb, &h, err) < 0) {
        free(held);
        return -1;
    }
    for (size_t i = 0; want && i < want->n; i++) {
        const struct vm_disk_want *w = &want->v[i];
        bool present = false;
        for (int j = 0; j < h.n; j++)
            if (!strcmp(h.serial[j], w->serial))
                present = true;
        if (!present) {
            rc_set_status(rc, &w->vol, "state", "attaching");
            if (rc->drv->attach_disk(conn, vm->uuid, &want->disks[i], &e) < 0) {
                rc_set_status(rc, &w->vol, "state", "available");
                rc_set_status(rc, &w->vol, "error", e.msg);
                if (rc_ == 0)
                    *err = e;
                rc_ = -1;
                continue;
            }
        }
        mark(rc, vm, &w->vol, w->target);
    }
    /* Disks of ours that are no longer wanted. */
    {
        for (size_t i = 0; i < n; i++) {
            char serial[21];
            bool wanted = false;
            for (size_t k = 0; want && k < want->n; k++)
                if (want->v[k].vol.id == held[i].id)
                    wanted = true;
            if (wanted)
                continue;
            rc_vol_serial(&held[i], serial);
            for (int j = 0; j < h.n; j++) {
                if (strcmp(h.serial[j], serial))
                    continue;
                struct cfs_disk_source none = {.format = "raw", .path = "/dev/null"};
                struct cfs_disk d = {.serial = serial, .target = h.target[j], .src = &none};
                rc_set_status(rc, &held[i], "state", "detaching");
                if (rc->drv->detach_disk(conn, vm->uuid, &d, &e) < 0) {
                    rc_set_status(rc, &held[i], "state", "attached");
                    rc_set_status(rc, &held[i], "error", e.msg);
                    if (rc_ == 0)
                        *err = e;
                    rc_ = -1;
                    goto next;
                }
            }
            mark(rc, vm, &held[i], NULL);
        next:;
        }
        free(held);
    }
    return rc_;
}

/* After the domain is gone: data volumes are free again, the root volume
 * goes with the VM. */
void vm_disks_release(struct reconciler *rc, const struct cfs_res *vm)
{
    struct cfs_res *held = NULL, vol;
    size_t n = 0;
    struct cfs_err err;
    if (store_res_by_status(rc->st, rc->k_volume, vm->parent, "_attached", vm->uuid, &held, &n,
                            &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            mark(rc, vm, &held[i], NULL);
            workq_add(&rc->q, held[i].id, 0);
        }
        free(held);
    }
    char *root = rc_status(rc, vm->id, "root-volume");
    if (root[0] && store_res_find(rc->st, vm->parent, rc->k_volume, root, &vol, &err) == 0) {
        char *owner = rc_status(rc, vol.id, "_root-of");
        if (!strcmp(owner, vm->uuid) && store_res_delete(rc->st, &vol, &rc_actor, &err) < 0)
            fprintf(stderr, "cloudfs reconcile: root volume %s: %s\n", root, err.msg);
        free(owner);
    }
    free(root);
}
