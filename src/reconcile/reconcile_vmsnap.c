/* reconcile_vmsnap.c: one pass over one whole-VM snapshot (vms/X/snapshots/S).
 *
 * Every disk of the VM (its root volume and its attached data volumes) is
 * snapshotted at one instant by the storage itself, each disk's snapshot
 * named cfs-snap-vm-UUID after the resource (never what the user typed):
 * - a stopped VM: each disk through its pool's driver (qemu-img snapshot
 *   on dir pools, rbd_snap_create on rbd pools);
 * - a running VM: its file systems frozen when the guest agent answers,
 *   the domain paused, its qcow2 disks through libvirt's snapshot API (an
 *   internal snapshot of a running domain saves its memory too; libvirt
 *   cannot take one without), its rbd disks through librbd, then resumed
 *   and thawed.
 * Every disk's volume is claimed (rc_vol_claim) while the storage works,
 * so that the volumes' own passes and their disk snapshots take turns.
 * Revert asks the VM to stop (its state attribute), waits until it is,
 * then rolls every disk back (or, with memory, lets libvirt restore the
 * domain, which runs after).  The mount refuses what cannot be done
 * (precond_vmsnap.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute.h"
#include "rc_state.h"
#include "rc_store.h"
#include "reconcile_storage.h"
#include "status_keys.h"
#include "value.h"

#define RETRY_MS 5000
#define WAIT_MS 1000
#define BUSY_MS 300
#define SETTLE_NS (1000LL * 1000000LL)
#define VMSNAP_PREFIX CFS_SNAP_PREFIX "vm-"   /* what the dir driver lets through */
/* Internal status: the disks' volume UUIDs (space-separated), "1" when
 * libvirt took it (a running VM with qcow2 disks), "1" while a revert
 * waits for the VM to stop. */
#define ST_VOLS "_vmsnap_vols"
#define ST_LIBVIRT "_vmsnap_libvirt"
#define ST_REVERT "_vmsnap_revert"
#define MAX_DISKS 26

struct disk {
    struct cfs_res vol;
    struct rc_pool *p;
    char obj[128];
    bool rbd, claimed, root;
};

struct disks {
    struct disk d[MAX_DISKS];
    size_t n;
};

static void snap_name(const struct cfs_res *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", VMSNAP_PREFIX, s->uuid);
}

static int fail(struct reconciler *rc, const struct cfs_res *s, const char *what,
                const struct cfs_err *err)
{
    rc_set_error(rc, s, what, err);
    return RETRY_MS;
}

/* Add volume vol with its open pool; a volume not made yet is an error
 * (EAGAIN: looked at again). */
static int disk_add(struct reconciler *rc, struct disks *ds, const struct cfs_res *vol,
                    struct cfs_err *err)
{
    struct cfs_res pool;
    if (ds->n >= MAX_DISKS)
        return cfs_err_set(err, E2BIG, "more than %d disks", MAX_DISKS);
    struct disk *d = &ds->d[ds->n];
    memset(d, 0, sizeof(*d));
    d->vol = *vol;
    char *made = rc_status(rc, vol->id, "pool");
    int ret = -1;
    if (!made[0])
        cfs_err_set(err, EAGAIN, "volume %s is not made yet", vol->name);
    else if (store_res_find(rc->st, vol->parent, rc_layout_kind(rc, &rc_kind_pool), made, &pool,
                            err) == 0 &&
             (d->p = rc_pool_get(rc, &pool, err)) != NULL) {
        rc_vol_object(vol, d->obj, sizeof(d->obj));
        d->rbd = !strcmp(d->p->drv->type, "rbd");
        ds->n++;
        ret = 0;
    }
    free(made);
    return ret;
}

static int link_cb(const struct cfs_res *vol, void *arg)
{
    void **a = arg;
    struct cfs_err *err = a[2];
    return disk_add(a[0], a[1], vol, err) < 0 ? 1 : 0;
}

/* The VM's disks now: root volume first, then the attached ones. */
static int disks_of_vm(struct reconciler *rc, const struct cfs_res *vm, struct disks *ds,
                       struct cfs_err *err)
{
    struct cfs_res vol;
    char *root = rc_status(rc, vm->id, "root-volume");
    int ret = 0;
    if (root[0] && (store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_volume), root,
                                   &vol, err) < 0 ||
                    disk_add(rc, ds, &vol, err) < 0))
        ret = -1;
    else if (root[0])
        ds->d[0].root = true;   /* vda */
    free(root);
    const struct cfs_link_def *l = layout_link(vm->kind, "volumes");
    void *a[3] = {rc, ds, err};
    if (ret == 0 && l) {
        cfs_err_clear(err);
        store_link_list(rc->st, vm, l, link_cb, a, err);
        if (err->code)
            ret = -1;
    }
    return ret;
}

/* The disks recorded when the snapshot was taken (volumes gone since are
 * left out: their snapshots went with them). */
static int disks_recorded(struct reconciler *rc, const struct cfs_res *s, struct disks *ds,
                          struct cfs_err *err)
{
    char *vols = rc_status(rc, s->id, ST_VOLS);
    char *save = NULL;
    int ret = 0;
    for (char *u = strtok_r(vols, " ", &save); u && ret == 0; u = strtok_r(NULL, " ", &save)) {
        struct cfs_res vol;
        struct cfs_err ignore;
        if (store_res_by_uuid(rc->st, u, &vol, &ignore) < 0 || vol.deleted)
            continue;
        if (disk_add(rc, ds, &vol, err) < 0)
            ret = err->code == EAGAIN ? 0 : -1;
    }
    free(vols);
    return ret;
}

/* Claim every disk's volume, or none (false: one is busy). */
static bool disks_claim(struct disks *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (!rc_vol_claim(ds->d[i].vol.id)) {
            for (size_t j = 0; j < i; j++) {
                rc_vol_release(ds->d[j].vol.id);
                ds->d[j].claimed = false;
            }
            return false;
        }
        ds->d[i].claimed = true;
    }
    return true;
}

static void disks_close(struct disks *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->d[i].claimed)
            rc_vol_release(ds->d[i].vol.id);
        rc_pool_put(ds->d[i].p);
    }
    ds->n = 0;
}

/* The VM's host, read-locked (rc->drv reachable through h->conn), or NULL
 * with err. */
static struct rc_host *host_of(struct reconciler *rc, const struct cfs_res *vm, struct cfs_err *err)
{
    char *placed = rc_status(rc, vm->id, "host");
    struct rc_host *h = rc_host_find_name(rc, vm->parent, placed);
    if (!h)
        cfs_err_set(err, EHOSTDOWN, "vm %s has no host", vm->name);
    else {
        pthread_rwlock_rdlock(&h->rw);
        if (!h->conn) {
            cfs_err_set(err, EHOSTDOWN, "host %s is not connected", h->name);
            pthread_rwlock_unlock(&h->rw);
            h = NULL;
        }
    }
    free(placed);
    return h;
}

static void host_put(struct rc_host *h)
{
    if (h)
        pthread_rwlock_unlock(&h->rw);
}

/* Take the snapshot of every disk of the running (or paused) VM: libvirt
 * (9.0) takes a running domain's internal snapshot only of all its disks
 * at once, qcow2 ones; a VM with disks on both pool kinds is refused. */
static int take_live(struct reconciler *rc, const struct cfs_res *s, const struct cfs_res *vm,
                     struct disks *ds, const char *name, const char *vmstate, bool memory,
                     bool *frozen, bool *via_libvirt, struct cfs_err *err)
{
    bool qcow = false, rbd = false;
    for (size_t i = 0; i < ds->n; i++) {
        qcow = qcow || !ds->d[i].rbd;
        rbd = rbd || ds->d[i].rbd;
    }
    if (memory && rbd)
        return cfs_err_set(err, EOPNOTSUPP, "vm %s has a disk on an rbd pool: its memory cannot "
                           "be kept with it (libvirt keeps memory in qcow2 disks only); write "
                           "memory off", vm->name);
    if (qcow && rbd)
        return cfs_err_set(err, EOPNOTSUPP, "vm %s runs with disks on both a dir and an rbd "
                           "pool: libvirt snapshots a running domain's qcow2 disks only when "
                           "every disk is qcow2; stop the VM", vm->name);
    struct rc_host *h = host_of(rc, vm, err);
    if (!h)
        return -1;
    const struct cfs_compute_driver *drv = rc->drv;
    int ret = -1;
    bool paused = false;
    char *agent = rc_status(rc, vm->id, "agent");
    struct cfs_err ignore;
    (void)s;
    if (!strcmp(agent, "connected") && drv->fs_freeze &&
        drv->fs_freeze(h->conn, vm->uuid, false, &ignore) == 0)
        *frozen = true;
    if (!strcmp(vmstate, "running")) {
        if (drv->suspend(h->conn, vm->uuid, err) < 0)
            goto cleanup;
        paused = true;
    }
    if (qcow) {
        if (!drv->vm_snapshot_create) {
            cfs_err_set(err, EOPNOTSUPP, "the host's driver has no domain snapshots");
            goto cleanup;
        }
        if (drv->vm_snapshot_create(h->conn, vm->uuid, name, err) < 0)
            goto cleanup;
        *via_libvirt = true;
    }
    for (size_t i = 0; i < ds->n; i++)
        if (ds->d[i].rbd &&
            ds->d[i].p->drv->snapshot_create(ds->d[i].p->handle, ds->d[i].obj, name, err) < 0)
            goto cleanup;
    ret = 0;
cleanup:
    if (paused && drv->resume(h->conn, vm->uuid, ret < 0 ? &ignore : err) < 0)
        ret = -1;
    if (*frozen)
        drv->fs_freeze(h->conn, vm->uuid, true, &ignore);
    free(agent);
    host_put(h);
    return ret;
}

static int take(struct reconciler *rc, const struct cfs_res *s, const struct cfs_res *vm)
{
    struct cfs_err err;
    struct disks ds = {.n = 0};
    char name[128], when[32], sizebuf[32];
    int result = 0;
    cfs_err_clear(&err);
    rc_set_status(rc, s, "state", "creating");
    if (store_now() - s->ctime < SETTLE_NS)
        return WAIT_MS;     /* memory and description written right after mkdir apply */
    char *vmstate = rc_status(rc, vm->id, "state");
    char *mem = rc_attr(rc, s->id, "memory");
    bool stopped = !strcmp(vmstate, "stopped");
    bool live = !strcmp(vmstate, "running") || !strcmp(vmstate, "paused");
    bool frozen = false, via_libvirt = false;
    if (!stopped && !live) {
        result = WAIT_MS;   /* starting, stopping, ...: taken once it settles */
        goto cleanup;
    }
    if (disks_of_vm(rc, vm, &ds, &err) < 0) {
        result = err.code == EAGAIN ? WAIT_MS : fail(rc, s, "disks", &err);
        goto cleanup;
    }
    if (ds.n == 0) {
        cfs_err_set(&err, EINVAL, "vm %s has no disk to snapshot (it never started and has no "
                    "volume attached)", vm->name);
        rc_set_status(rc, s, "state", "error");
        result = fail(rc, s, "create", &err);
        goto cleanup;
    }
    if (!disks_claim(&ds)) {
        result = BUSY_MS;
        goto cleanup;
    }
    snap_name(s, name, sizeof(name));
    /* Recorded first: a failed or interrupted attempt is deleted with it. */
    long long total = 0;
    char vols[MAX_DISKS * 40] = "", names[MAX_DISKS * (CFS_NAME_MAX + 2)] = "";
    for (size_t i = 0; i < ds.n; i++) {
        long long b = 0;
        char *sz = rc_status(rc, ds.d[i].vol.id, "size");
        if (value_parse_size(sz, &b) == 0)
            total += b;
        free(sz);
        size_t lv = strlen(vols), ln = strlen(names);
        snprintf(vols + lv, sizeof(vols) - lv, "%s%s", lv ? " " : "", ds.d[i].vol.uuid);
        snprintf(names + ln, sizeof(names) - ln, "%s\n", ds.d[i].vol.name);
    }
    rc_set_status(rc, s, ST_VOLS, vols);
    rc_set_status(rc, s, ST_LIBVIRT, stopped ? "" : "1");   /* deleting one not taken is fine */
    rc_flush(rc);   /* creating is shown while the storage works */
    int r = 0;
    if (stopped) {
        for (size_t i = 0; i < ds.n && r == 0; i++)
            r = ds.d[i].p->drv->snapshot_create(ds.d[i].p->handle, ds.d[i].obj, name, &err);
    } else {
        r = take_live(rc, s, vm, &ds, name, vmstate, !strcmp(mem, "on"), &frozen, &via_libvirt,
                      &err);
    }
    if (r < 0) {
        rc_set_status(rc, s, "state", "error");
        result = fail(rc, s, "create", &err);
        goto cleanup;
    }
    value_format_size(total, sizebuf, sizeof(sizebuf));
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) && strftime(when, sizeof(when), RC_ISO_TIME_FORMAT, &tm))
        rc_set_status(rc, s, "created", when);
    rc_set_status(rc, s, "size", sizebuf);
    rc_set_status(rc, s, "disks", names);
    rc_set_status(rc, s, ST_LIBVIRT, via_libvirt ? "1" : "");
    rc_set_status(rc, s, "memory", via_libvirt && !strcmp(mem, "on") ? "included" : "");
    rc_set_status(rc, s, "consistency", stopped ? "stopped"
                                        : frozen ? "filesystem-frozen" : "crash-consistent");
    rc_set_status(rc, s, "error", "");
    rc_set_status(rc, s, "state", "ready");
cleanup:
    disks_close(&ds);
    free(vmstate);
    free(mem);
    return result;
}

/* Roll every recorded disk back (the VM is stopped). */
static int revert_disks(struct reconciler *rc, const struct cfs_res *s, const char *name,
                        struct cfs_err *err)
{
    struct disks ds = {.n = 0};
    int ret = -1;
    if (disks_recorded(rc, s, &ds, err) < 0)
        goto cleanup;
    if (!disks_claim(&ds)) {
        ret = 1;
        goto cleanup;
    }
    for (size_t i = 0; i < ds.n; i++)
        if (ds.d[i].p->drv->snapshot_revert(ds.d[i].p->handle, ds.d[i].obj, name, err) < 0)
            goto cleanup;
    /* The storage restores the size the snapshot was taken at: each
     * volume's pass grows it back to its size. */
    for (size_t i = 0; i < ds.n; i++)
        rc_wake(rc, ds.d[i].vol.id);
    ret = 0;
cleanup:
    disks_close(&ds);
    return ret;
}

/* A revert asked for (recorded once), carried over passes until done. */
static int revert(struct reconciler *rc, const struct cfs_res *s, const struct cfs_res *vm)
{
    struct cfs_err err;
    char name[128];
    int result = 0;
    cfs_err_clear(&err);
    bool asked;
    int verbs = rc_verbs_new(rc, s, "revert", &asked, &err);
    if (verbs < 0)
        return fail(rc, s, "ctl revert", &err);
    if (verbs > 0 && asked) {
        rc_set_status(rc, s, ST_REVERT, "1");
        rc_set_status(rc, s, "error", "");
    }
    char *pending = rc_status(rc, s->id, ST_REVERT);
    char *vmstate = rc_status(rc, vm->id, "state");
    char *want = rc_attr(rc, vm->id, "state");
    char *memory = rc_status(rc, s->id, "memory");
    if (strcmp(pending, "1"))
        goto cleanup;
    rc_set_status(rc, s, "state", "reverting");
    if (strcmp(vmstate, "stopped")) {
        /* Stopped first: the VM's own pass does it. */
        if (strcmp(want, "stopped") && rc_attr_set(rc, vm, "state", "stopped", &err) < 0) {
            result = fail(rc, s, "ctl revert", &err);
            goto cleanup;
        }
        rc_wake(rc, vm->id);
        result = WAIT_MS;
        goto cleanup;
    }
    snap_name(s, name, sizeof(name));
    rc_flush(rc);
    int r = 1;
    if (!strcmp(memory, "included") && rc->drv->vm_snapshot_revert) {
        struct rc_host *h = host_of(rc, vm, &err);
        r = h ? rc->drv->vm_snapshot_revert(h->conn, vm->uuid, name, &err) : -1;
        host_put(h);
        if (r == 0 && rc_attr_set(rc, vm, "state", "running", &err) < 0)
            r = -1;
        if (r < 0 && err.code == ENOENT)
            r = 1;  /* libvirt lost its record (the domain was undefined): disks only */
        rc_wake(rc, vm->id);
    }
    if (r == 1) {
        cfs_err_clear(&err);
        r = revert_disks(rc, s, name, &err);
        if (r > 0) {
            result = BUSY_MS;
            goto cleanup;
        }
    }
    rc_set_status(rc, s, ST_REVERT, "");
    rc_set_status(rc, s, "state", "ready");     /* a failed revert leaves it intact */
    if (r < 0)
        result = fail(rc, s, "ctl revert", &err);
cleanup:
    free(pending);
    free(vmstate);
    free(want);
    free(memory);
    return result;
}

/* Delete every disk's snapshot (libvirt's first when it took it), then
 * the tombstone.  The VM may be gone already (rmdir of the VM). */
static int teardown(struct reconciler *rc, const struct cfs_res *s)
{
    struct cfs_err err;
    struct disks ds = {.n = 0};
    struct cfs_res vm;
    char name[128];
    int result = 0;
    cfs_err_clear(&err);
    rc_set_status(rc, s, "state", "deleting");
    rc_flush(rc);
    snap_name(s, name, sizeof(name));
    if (disks_recorded(rc, s, &ds, &err) < 0) {
        result = fail(rc, s, "delete", &err);
        goto cleanup;
    }
    if (!disks_claim(&ds)) {
        result = BUSY_MS;
        goto cleanup;
    }
    char *lv = rc_status(rc, s->id, ST_LIBVIRT);
    bool via_libvirt = !strcmp(lv, "1");
    free(lv);
    struct cfs_err ignore;
    if (via_libvirt && rc->drv->vm_snapshot_delete &&
        store_res_get(rc->st, s->parent, &vm, &ignore) == 0 && !vm.deleted) {
        struct rc_host *h = host_of(rc, &vm, &ignore);
        int r = h ? rc->drv->vm_snapshot_delete(h->conn, vm.uuid, name, &err) : 0;
        host_put(h);
        if (r < 0) {
            result = fail(rc, s, "delete", &err);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < ds.n; i++)
        if (ds.d[i].p->drv->snapshot_delete(ds.d[i].p->handle, ds.d[i].obj, name, &err) < 0 &&
            err.code != ENOENT) {
            result = fail(rc, s, "delete", &err);
            goto cleanup;
        }
    disks_close(&ds);
    if (rc_res_purge(rc, s, &err) < 0)
        result = fail(rc, s, "delete", &err);
    else
        rc_wake(rc, s->parent);     /* a VM being deleted waits for its snapshots */
cleanup:
    disks_close(&ds);
    return result;
}

static int reconcile_vmsnap(struct reconciler *rc, const struct cfs_res *s)
{
    struct cfs_err err;
    struct cfs_res vm;
    if (s->deleted)
        return teardown(rc, s);
    cfs_err_clear(&err);
    if (store_res_get(rc->st, s->parent, &vm, &err) < 0)
        return fail(rc, s, "vm", &err);
    int64_t gen = store_spec_generation(rc->st, s->id);
    char *created = rc_status(rc, s->id, "created");
    bool taken = created[0] != '\0';
    free(created);
    int r = taken ? revert(rc, s, &vm) : take(rc, s, &vm);
    if (r == 0)
        rc_set_status_int(rc, s, CFS_ST_GEN, gen);
    return r;
}

/* A pass reads its VM's state, host, agent and disks, the disks' volumes'
 * pool and size (the pools' spec on the pools' behalf, rc_pool_get), and
 * writes the VM's state attribute for a revert. */
const struct rc_kind rc_kind_vmsnap = {
    .name = "vm-snapshot", .pass = reconcile_vmsnap, .wakes = RC_WAKE_SELF,
    .attrs_read = "memory ctl vm/state",
    .attrs_written = "vm/state",
    .status_read = "state created memory error " CFS_ST_VERB_SEQ " " ST_VOLS " " ST_LIBVIRT " "
                   ST_REVERT " vm/state vm/host vm/agent vm/root-volume volume/pool volume/size",
    .status_written = "state created size consistency memory disks error " CFS_ST_GEN " "
                      CFS_ST_VERB_SEQ " " ST_VOLS " " ST_LIBVIRT " " ST_REVERT,
};

int rc_vmsnaps_left(struct reconciler *rc, const struct cfs_res *vm)
{
    return rc_children_left(rc, &rc_kind_vmsnap, vm->id);
}
