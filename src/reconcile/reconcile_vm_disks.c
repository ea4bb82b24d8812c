/* reconcile_vm_disks.c: a VM's disks.
 *
 * The root disk is a volume the reconciler makes from the VM's image, or
 * for a clone from its source's snapshot (_clone, vm_clone.h)
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

#include "rc_store.h"
#include "reconcile_storage.h"
#include "reconcile_vm_disks.h"
#include "status_keys.h"
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

/* Make the VM's root volume: "<vm>-root", or with a piece of the VM's
 * UUID when a volume already has that name; blank when the image is an
 * ISO (installed from the CD-ROM drive).  0 with *vol made, 1 while the
 * image's import still runs (its format decides), -1 with err. */
static int root_volume_make(struct reconciler *rc, const struct cfs_res *vm, const char *image,
                            struct cfs_res *vol, struct cfs_err *err)
{
    const struct cfs_kind *k_volume = rc_layout_kind(rc, &rc_kind_volume);
    char name[CFS_NAME_MAX + 1];
    char *size = NULL, *pool = NULL;
    char *clone = rc_status(rc, vm->id, CFS_ST_CLONE);
    struct cfs_err ignore;
    struct cfs_res img;
    bool iso = false;
    int ret = -1;
    snprintf(name, sizeof(name), "%.58s-root", vm->name);
    if (store_res_find(rc->st, vm->parent, k_volume, name, vol, err) == 0)
        snprintf(name, sizeof(name), "%.49s-root-%.8s", vm->name, vm->uuid);
    /* A clone's root disk comes from its source's snapshot, not the image. */
    if (!clone[0] &&
        store_res_find(rc->st, 0, rc_layout_kind(rc, &rc_kind_image), image, &img, err) == 0) {
        char *format = rc_status(rc, img.id, "format");
        char *istate = rc_status(rc, img.id, "state");
        bool known = !strcmp(istate, "available");
        iso = !strcmp(format, "iso");
        free(format);
        free(istate);
        if (!known) {
            ret = 1;
            goto cleanup;
        }
    }
    size = rc_attr(rc, vm->id, "root-size");
    pool = rc_attr(rc, vm->id, "pool");
    /* The volume, its marks and its spec in one transaction: a volume pass
     * that came in between would make it blank in any pool first (and a VM
     * pass take that for the root disk until it is made again). */
    if (store_write_begin(rc->st, err) < 0)
        goto cleanup;
    if (rc_res_create(rc, vm->parent, &rc_kind_volume, name, vm->uid, vm->gid, vol, err) < 0)
        goto end;
    /* Marked and named first, at once: until then the volume looks like
     * anyone's, and a pass that missed the name would make a second one. */
    rc_set_status(rc, vol, CFS_ST_ROOT_OF, vm->uuid);
    rc_set_status(rc, vol, "root-of", vm->name);
    rc_set_status(rc, vm, "root-volume", name);
    rc_flush(rc);
    if (rc_attr_set(rc, vol, "size", size, err) < 0 ||
        (clone[0] && rc_attr_set(rc, vol, "snapshot", clone, err) < 0) ||
        (!clone[0] && !iso && rc_attr_set(rc, vol, "image", image, err) < 0) ||
        (!clone[0] && pool[0] && rc_attr_set(rc, vol, "pool", pool, err) < 0))
        goto end;
    ret = 0;
end:
    if (store_write_end(rc->st, ret < 0 ? &ignore : err) < 0)
        ret = -1;
cleanup:
    free(clone);
    free(size);
    free(pool);
    return ret;
}

int vm_root_volume(struct reconciler *rc, const struct cfs_res *vm, const char *image,
                   bool *ready, struct cfs_err *err)
{
    struct cfs_res vol;
    char *have = rc_status(rc, vm->id, "root-volume");
    char *state = NULL, *gen = NULL, *error = NULL;
    int ret = -1;
    *ready = false;
    if (have[0]) {
        if (store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_volume), have, &vol,
                           err) < 0)
            goto cleanup;
        /* root-size grows the root volume (precond refuses shrinking). */
        char *want = rc_attr(rc, vm->id, "root-size"), *cur = rc_attr(rc, vol.id, "size");
        long long w = 0, c = 0;
        if (value_parse_size(want, &w) == 0 && value_parse_size(cur, &c) == 0 && w > c)
            rc_attr_set(rc, &vol, "size", want, err);
        free(want);
        free(cur);
    } else {
        int made = root_volume_make(rc, vm, image, &vol, err);
        if (made != 0) {
            ret = made > 0 ? 0 : -1;    /* waiting for the import is not a failure */
            goto cleanup;
        }
    }
    state = rc_status(rc, vol.id, "state");
    gen = rc_status(rc, vol.id, CFS_ST_GEN);
    error = rc_status(rc, vol.id, "error");
    bool failed = !strcmp(state, "error") || error[0];
    *ready = gen[0] && (!strcmp(state, "available") || !strcmp(state, "attached"));
    if (!*ready && failed)
        cfs_err_set(err, EIO, "root volume %s: %s", vol.name, error[0] ? error : "failed");
    ret = *ready || !failed ? 0 : -1;
cleanup:
    free(have);
    free(state);
    free(gen);
    free(error);
    return ret;
}

bool vm_cdrom(struct reconciler *rc, const char *image, char *path, size_t len)
{
    struct cfs_res img;
    struct cfs_err ignore;
    bool iso = false;
    if (!image[0] ||
        store_res_find(rc->st, 0, rc_layout_kind(rc, &rc_kind_image), image, &img, &ignore) < 0)
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
    if (!image[0] ||
        store_res_find(rc->st, 0, rc_layout_kind(rc, &rc_kind_image), image, &img, &ignore) < 0)
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
               !strcmp(state, "resizing") || !strcmp(state, "migrating")) && pname[0] &&
              store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_pool), pname, &pool,
                             &err) == 0;
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
    if (root[0] &&
        store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_volume), root, &vol,
                       &err) == 0 &&
        want_add(d, &vol) == 0)
        snprintf(d->v[0].target, sizeof(d->v[0].target), "vda");
    free(root);
    size_t first_data = d->n;
    const struct cfs_link_def *l = layout_link(vm->kind, "volumes");
    struct link_ctx c = {.d = d};
    if (l)
        store_link_list(rc->st, vm, l, link_cb, &c, &err);
    bool used[26] = {false};
    for (size_t i = first_data; i < d->n; i++) {
        char *t = rc_status(rc, d->v[i].vol.id, CFS_ST_TARGET);
        /* sda is the CD-ROM, sdz the cloud-init seed (driver_libvirt.c). */
        if (strlen(t) == 3 && !strncmp(t, "sd", 2) && t[2] > 'a' && t[2] < 'z' && !used[t[2] - 'a']) {
            used[t[2] - 'a'] = true;
            snprintf(d->v[i].target, sizeof(d->v[i].target), "%s", t);
        }
        free(t);
    }
    for (size_t i = first_data; i < d->n; i++) {
        if (d->v[i].target[0])
            continue;
        for (int k = 1; k < 25; k++) {
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
    rc_set_status(rc, vol, CFS_ST_ATTACHED, on ? vm->uuid : "");
    rc_set_status(rc, vol, CFS_ST_TARGET, on ? target : "");
    if (on)
        rc_set_status(rc, vol, CFS_ST_USED, "1");   /* from now on it may hold data */
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
    int ret = 0;
    bool plugged = false;
    struct cfs_res *held = NULL;
    size_t n = 0;
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_volume), vm->parent,
                            CFS_ST_ATTACHED, vm->uuid, &held, &n, err) < 0)
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
            rc_flush(rc);   /* shown while it is plugged in */
            plugged = true;
            if (rc->drv->attach_disk(conn, vm->uuid, &want->disks[i], &e) < 0) {
                rc_set_status(rc, &w->vol, "state", "available");
                rc_set_status(rc, &w->vol, "error", e.msg);
                if (ret == 0)
                    *err = e;
                ret = -1;
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
                rc_flush(rc);   /* shown while it is unplugged */
                plugged = true;
                if (rc->drv->detach_disk(conn, vm->uuid, &d, &e) < 0) {
                    rc_set_status(rc, &held[i], "state", "attached");
                    rc_set_status(rc, &held[i], "error", e.msg);
                    if (ret == 0)
                        *err = e;
                    ret = -1;
                    goto next;
                }
            }
            mark(rc, vm, &held[i], NULL);
        next:;
        }
        free(held);
    }
    /* What was plugged or unplugged is shown at once, not at the end of
     * the pass: rmdir of a volume just unlinked waits on it (precond). */
    if (plugged)
        rc_flush(rc);
    return ret;
}

/* A clone's snapshot of its source's root volume ("VOLUME/SNAPSHOT" in
 * _clone) goes with the clone: it was taken for it alone.  Its pass
 * retries until the storage lets it go (an RBD snapshot once the clone's
 * image is removed; a qcow2 one while its VM is stopped). */
static void clone_snapshot_release(struct reconciler *rc, const struct cfs_res *vm)
{
    char *clone = rc_status(rc, vm->id, CFS_ST_CLONE);
    char vname[CFS_NAME_MAX + 1];
    const char *slash = strchr(clone, '/');
    struct cfs_res vol, snap;
    struct cfs_err err;
    if (slash && slash - clone <= CFS_NAME_MAX) {
        snprintf(vname, sizeof(vname), "%.*s", (int)(slash - clone), clone);
        if (store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_volume), vname, &vol,
                           &err) == 0 &&
            store_res_find(rc->st, vol.id, rc_layout_kind(rc, &rc_kind_snapshot), slash + 1,
                           &snap, &err) == 0 &&
            rc_res_delete(rc, &snap, &err) < 0)
            fprintf(stderr, "cloudfs reconcile: clone snapshot %s: %s\n", clone, err.msg);
    }
    free(clone);
}

/* After the domain is gone: data volumes are free again, the root volume
 * goes with the VM, and a clone's snapshot of its source's. */
void vm_disks_release(struct reconciler *rc, const struct cfs_res *vm)
{
    const struct cfs_kind *k_volume = rc_layout_kind(rc, &rc_kind_volume);
    struct cfs_res *held = NULL, vol;
    size_t n = 0;
    struct cfs_err err;
    if (store_res_by_status(rc->st, k_volume, vm->parent, CFS_ST_ATTACHED, vm->uuid, &held, &n,
                            &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            mark(rc, vm, &held[i], NULL);
            rc_wake(rc, held[i].id);
        }
        free(held);
    }
    char *root = rc_status(rc, vm->id, "root-volume");
    if (root[0] && store_res_find(rc->st, vm->parent, k_volume, root, &vol, &err) == 0) {
        char *owner = rc_status(rc, vol.id, CFS_ST_ROOT_OF);
        /* The seeds delete a root volume's snapshots with it. */
        if (!strcmp(owner, vm->uuid) &&
            (rc_snapshots_delete(rc, &vol, &err) < 0 || rc_res_delete(rc, &vol, &err) < 0))
            fprintf(stderr, "cloudfs reconcile: root volume %s: %s\n", root, err.msg);
        free(owner);
    }
    free(root);
    clone_snapshot_release(rc, vm);
}

/* A VM going into the recycle bin: every volume plugged into it (its root
 * volume too) is free again; the root volume stays its (restored, the VM
 * plugs it again), data volumes' links are gone with the bindings. */
void vm_disks_unplug(struct reconciler *rc, const struct cfs_res *vm)
{
    const struct cfs_kind *k_volume = rc_layout_kind(rc, &rc_kind_volume);
    struct cfs_res *held = NULL;
    size_t n = 0;
    struct cfs_err err;
    if (store_res_by_status(rc->st, k_volume, vm->parent, CFS_ST_ATTACHED, vm->uuid, &held, &n,
                            &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        mark(rc, vm, &held[i], NULL);
        rc_wake(rc, held[i].id);
    }
    free(held);
}
