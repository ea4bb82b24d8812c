/* reconcile_vm.c: one pass over one VM.
 *
 * Each pass reads the spec and the domain's real state and takes the next
 * step towards the spec.  "acted" (status _gen) is the spec generation the
 * VM last converged on: when reality moves away from a spec that was
 * already reached, that is drift (someone used virsh), and only ha=on makes
 * the reconciler undo it; a new spec write is new intent and is acted on.
 *
 * The pass is a sequence of named steps (reconcile_vm() at the end); each
 * returns STEP_ON to go on, or STEP_DONE with the pass's result in p->result.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host_failure.h"
#include "pwhash.h"
#include "rc_state.h"
#include "rc_store.h"
#include "reconcile_network.h"
#include "reconcile_recycle.h"
#include "reconcile_storage.h"
#include "reconcile_vm_disks.h"
#include "scheduler.h"
#include "status_keys.h"
#include "value.h"
#include "vm_ha.h"
#include "vm_migrate.h"
#include "vm_move_rules.h"
#include "vm_seed.h"

#define VERB_MAX_AGE_NS (600LL * 1000000000LL)

enum step { STEP_ON, STEP_DONE };

struct vm_spec {
    char *state, *ha, *pin, *kernel, *initrd, *cmdline, *description, *image, *cpu_mode, *iso,
        *boot;
    int vcpus;
    long long memory;
};

/* One pass's state, handed from step to step. */
struct vm_pass {
    struct reconciler *rc;
    const struct cfs_res *vm;
    struct vm_spec s;
    int64_t gen;                /* the spec generation this pass acts on */
    int64_t acted;              /* the generation last converged on (_gen) */
    bool drift;                 /* this spec was reached before */
    bool wants_root;            /* the VM has (or is about to have) a root volume */
    char placed[CFS_NAME_MAX + 1];
    struct rc_host *h;          /* read-locked from vm_host() to the end */
    struct cfs_conn *conn;
    struct cfs_domain_info info;
    struct vm_disks *disks;
    struct rc_nic *nics;        /* its connected NICs (reconcile_network.h) */
    int nnics;
    bool nics_loaded;
    bool defined_now;
    int result;
};

static const char *power_name(enum cfs_power p)
{
    switch (p) {
    case CFS_POWER_RUNNING: return "running";
    case CFS_POWER_PAUSED: return "paused";
    case CFS_POWER_SHUTDOWN: return "stopping";
    case CFS_POWER_CRASHED: return "error";
    case CFS_POWER_SHUTOFF:
    case CFS_POWER_NONE:
    case CFS_POWER_OTHER:
    default: return "stopped";
    }
}

/* A transitional state, shown at once: the step after it takes a while. */
static void announce(struct reconciler *rc, const struct cfs_res *vm, const char *state)
{
    rc_set_state(rc, vm, state);
    rc_flush(rc);
}

/* The VM failed a step: say why; back off. */
static int fail(struct reconciler *rc, const struct cfs_res *vm, const char *msg)
{
    int failures;
    pthread_mutex_lock(&rc->vms_lock);
    struct rc_vm *v = rc_vm_get(rc, vm->id);
    failures = v ? ++v->failures : 1;
    pthread_mutex_unlock(&rc->vms_lock);
    rc_set_status(rc, vm, "error", msg);
    if (failures >= 5)
        rc_set_state(rc, vm, "error");
    return rc_backoff_ms(failures);
}

/* The spec of generation gen is reached.  _gen is written in the same
 * transaction as the status it vouches for (the end of the pass). */
static void converged(struct reconciler *rc, const struct cfs_res *vm, int64_t gen)
{
    pthread_mutex_lock(&rc->vms_lock);
    struct rc_vm *v = rc_vm_get(rc, vm->id);
    if (v) {
        v->failures = 0;
        v->stop_deadline = 0;
    }
    pthread_mutex_unlock(&rc->vms_lock);
    rc_set_status_int(rc, vm, CFS_ST_GEN, gen);
    rc_set_status(rc, vm, "error", "");
}

/* The graceful stop's deadline; set >= 0 replaces it first. */
static int64_t stop_deadline(struct reconciler *rc, int64_t id, int64_t set)
{
    int64_t d = 0;
    pthread_mutex_lock(&rc->vms_lock);
    struct rc_vm *v = rc_vm_get(rc, id);
    if (v) {
        if (set >= 0)
            v->stop_deadline = set;
        d = v->stop_deadline;
    }
    pthread_mutex_unlock(&rc->vms_lock);
    return d;
}

/* Let a host refresh its capacity status. */
static void wake_host(struct reconciler *rc, const struct cfs_res *vm, const char *name)
{
    struct cfs_res host;
    struct cfs_err ignore;
    if (name[0] && store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_host), name,
                                  &host, &ignore) == 0)
        rc_wake(rc, host.id);
}

/* Remove what a deleted VM left on its host, then the tombstone. */
static int teardown(struct reconciler *rc, const struct cfs_res *vm)
{
    struct cfs_err err;
    char *placed = rc_status(rc, vm->id, "host");
    char *console = rc_status(rc, vm->id, "console");
    int result = 0;
    announce(rc, vm, "deleting");
    if (rc_vmsnaps_left(rc, vm) > 0) {
        result = 2000;      /* its whole-VM snapshots go first; each wakes it when gone */
        goto cleanup;
    }
    struct rc_host *h = rc_host_find_name(rc, vm->parent, placed);
    if (h && rc_host_untried(h)) {
        result = 500;       /* the host's first pass wakes this VM */
        goto cleanup;
    }
    if (h) {
        if (rc_domain_remove(rc, h, vm->uuid, &err) < 0) {
            result = fail(rc, vm, err.msg);
            goto cleanup;
        }
    }
    if (console[0])
        unlink(console);
    vm_seed_remove(rc, vm);
    vm_disks_release(rc, vm);
    rc_vm_nics_release(rc, vm);
    if (rc_res_purge(rc, vm, &err) < 0) {
        result = fail(rc, vm, err.msg);
        goto cleanup;
    }
    rc_vm_forget(rc, vm->id);
    wake_host(rc, vm, placed);
cleanup:
    free(placed);
    free(console);
    return result;
}

/* ---- verbs (ctl) ---- */

struct verb_ctx {
    struct reconciler *rc;
    const struct cfs_res *vm;
    struct rc_host *h;
    int64_t last;
};

/* ctl reinstall of a stopped VM: its definition and its root volume go
 * (the volume's own pass deletes the disk); the next start makes both again
 * from the image, as the first one did.  Data volumes stay linked. */
static int reinstall(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *h,
                     struct cfs_err *err)
{
    struct cfs_domain_info info = {.power = CFS_POWER_NONE};
    struct cfs_res vol;
    char *root = NULL, *owner = NULL;
    int ret = -1;
    pthread_rwlock_rdlock(&h->rw);
    int ok = h->conn && rc->drv->info(h->conn, vm->uuid, &info, err) == 0;
    if (!h->conn)
        cfs_err_set(err, EHOSTDOWN, "host %s is not connected", h->name);
    else if (ok && info.power != CFS_POWER_SHUTOFF && info.power != CFS_POWER_NONE)
        ok = cfs_err_set(err, EBUSY, "the domain is not shut off; stop the VM first") == 0;
    else if (ok && info.power == CFS_POWER_SHUTOFF)
        ok = rc->drv->undefine(h->conn, vm->uuid, err) == 0;
    pthread_rwlock_unlock(&h->rw);
    if (!ok)
        goto cleanup;
    root = rc_status(rc, vm->id, "root-volume");
    if (root[0] &&
        store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_volume), root, &vol,
                       err) == 0) {
        owner = rc_status(rc, vol.id, CFS_ST_ROOT_OF);
        /* The old disk's snapshots go with it, as when the VM is deleted. */
        if (!strcmp(owner, vm->uuid) &&
            (rc_snapshots_delete(rc, &vol, err) < 0 || rc_res_delete(rc, &vol, err) < 0))
            goto cleanup;
    }
    rc_set_status(rc, vm, "root-volume", "");
    rc_set_status(rc, vm, "domain", "");
    rc_flush(rc);
    ret = 0;
cleanup:
    free(root);
    free(owner);
    return ret;
}

static int run_verb(const struct cfs_change *c, void *arg)
{
    struct verb_ctx *v = arg;
    struct reconciler *rc = v->rc;
    struct cfs_err err;
    int ret = 0;
    v->last = c->seq;
    if (store_now() - c->time > VERB_MAX_AGE_NS || !c->new_value)
        return 0;   /* a stale request (reconciler was down for long): not replayed */
    cfs_err_clear(&err);
    if (!strcmp(c->new_value, "reinstall")) {
        if (reinstall(rc, v->vm, v->h, &err) < 0)
            ret = -1;
        goto report;
    }
    if (!strcmp(c->new_value, "reboot"))
        announce(rc, v->vm, "rebooting");
    pthread_rwlock_rdlock(&v->h->rw);
    struct cfs_conn *conn = v->h->conn;
    if (!conn)
        ret = cfs_err_set(&err, EHOSTDOWN, "host %s is not connected", v->h->name);
    else if (!strcmp(c->new_value, "reboot"))
        ret = rc->drv->reboot(conn, v->vm->uuid, &err);
    else if (!strcmp(c->new_value, "reset"))
        ret = rc->drv->reset(conn, v->vm->uuid, &err);
    else if (!strcmp(c->new_value, "poweroff"))
        ret = rc->drv->destroy(conn, v->vm->uuid, &err);
    pthread_rwlock_unlock(&v->h->rw);
    if (ret == 0 && !strcmp(c->new_value, "poweroff"))
        rc_attr_set(rc, v->vm, "state", "stopped", &err);  /* poweroff also makes "stopped" desired */
report:
    if (ret < 0) {
        char msg[CFS_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof(msg), "ctl %s: %s", c->new_value, err.msg);
        rc_set_status(rc, v->vm, "error", msg);
    }
    return 0;
}

/* ---- the steps ---- */

/* End the pass on a failure: say why, back off. */
static enum step stop(struct vm_pass *p, const char *msg)
{
    p->result = fail(p->rc, p->vm, msg);
    return STEP_DONE;
}

/* Read the domain's state into p->info, or end the pass. */
static enum step look(struct vm_pass *p)
{
    struct cfs_err err;
    if (p->rc->drv->info(p->conn, p->vm->uuid, &p->info, &err) < 0)
        return stop(p, err.msg);
    return STEP_ON;
}

/* The attributes struct vm_spec holds, and where. */
static const struct {
    const char *attr;
    size_t off;
} spec_attrs[] = {
    {"state", offsetof(struct vm_spec, state)},
    {"ha", offsetof(struct vm_spec, ha)},
    {"host", offsetof(struct vm_spec, pin)},
    {"kernel", offsetof(struct vm_spec, kernel)},
    {"initrd", offsetof(struct vm_spec, initrd)},
    {"cmdline", offsetof(struct vm_spec, cmdline)},
    {"description", offsetof(struct vm_spec, description)},
    {"image", offsetof(struct vm_spec, image)},
    {"cpu-mode", offsetof(struct vm_spec, cpu_mode)},
    {"iso", offsetof(struct vm_spec, iso)},
    {"boot", offsetof(struct vm_spec, boot)},
};

static char **spec_field(struct vm_spec *s, size_t i)
{
    return (char **)((char *)s + spec_attrs[i].off);
}

static void spec_free(struct vm_spec *s)
{
    for (size_t i = 0; i < sizeof(spec_attrs) / sizeof(spec_attrs[0]); i++)
        free(*spec_field(s, i));
}

/* Read the spec, its generation and what was reached, from one read batch:
 * one snapshot, so a write landing meanwhile is simply newer than what this
 * pass acts on (never an unseen spec marked reached), and one round of
 * SQLite's file locks instead of a dozen.  Decides whether the VM wants its
 * root disk.  A spec that cannot be acted on (a missing offering) fails. */
static enum step vm_read_spec(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    const struct cfs_res *vm = p->vm;
    struct vm_spec *s = &p->s;
    struct cfs_err err;
    cfs_err_clear(&err);
    store_read_begin(rc->st);
    p->gen = store_spec_generation(rc->st, vm->id);
    for (size_t i = 0; i < sizeof(spec_attrs) / sizeof(spec_attrs[0]); i++)
        *spec_field(s, i) = rc_attr(rc, vm->id, spec_attrs[i].attr);
    /* The cluster's ha puts every VM of it under HA (cluster.cfg): the
     * stronger of the two levels applies. */
    char *cluster_ha = rc_attr(rc, vm->parent, "ha");
    if (vm_ha_parse(cluster_ha) > vm_ha_parse(s->ha)) {
        free(s->ha);
        s->ha = cluster_ha;
        cluster_ha = NULL;
    }
    free(cluster_ha);
    int sized = scheduler_vm_size(rc, vm, &s->vcpus, &s->memory, &err);
    char *acted = rc_status(rc, vm->id, CFS_ST_GEN);
    char *made_root = rc_status(rc, vm->id, "root-volume");
    store_read_end(rc->st);
    p->acted = atoll(acted);
    p->drift = p->acted > 0 && p->acted >= p->gen;
    p->wants_root = s->image[0] && (made_root[0] || strcmp(s->state, "stopped"));
    free(acted);
    free(made_root);
    return sized < 0 ? stop(p, err.msg) : STEP_ON;
}

/* The root disk is made before the first start (until then image and
 * root-size may still change), and nothing is placed or defined before it
 * is ready.  Waits (2 s; the volume's pass wakes the VM too) until then. */
static enum step vm_root_disk(struct vm_pass *p)
{
    struct cfs_err err;
    bool ready = false;
    if (!p->wants_root)
        return STEP_ON;
    cfs_err_clear(&err);
    if (vm_root_volume(p->rc, p->vm, p->s.image, &ready, &err) < 0)
        return stop(p, err.msg);
    if (!ready) {
        p->result = 2000;
        return STEP_DONE;
    }
    return STEP_ON;
}

/* Choose or confirm the VM's host into p->placed.  A VM pinned elsewhere
 * moves only while stopped (its old definition is removed); an unplaced VM
 * gets the scheduler's choice, recorded (and visible) before the next
 * placement decision starts, so that it counts the VM.  A stopped,
 * unplaced VM is converged here; a VM no host has room for waits 15 s
 * (capacity may appear; hosts also wake it). */
static enum step vm_place(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    const struct cfs_res *vm = p->vm;
    const struct vm_spec *s = &p->s;
    struct cfs_err err;
    char *cur = rc_status(rc, vm->id, "host");
    enum step ret = STEP_DONE;
    snprintf(p->placed, sizeof(p->placed), "%s", cur);
    enum vm_migrate_outcome mig = vm_migrate_step(rc, vm, s->state, s->pin, p->acted, p->gen,
                                                  p->placed, sizeof(p->placed), &p->result);
    if (mig == VM_MIGRATE_DONE)
        goto cleanup;
    if (mig == VM_MIGRATE_NONE && s->pin[0] && strcmp(s->pin, cur)) {
        char local[512], msg[600];
        bool files = false;
        if (cur[0] && vm_move_storage(rc, vm, &files, local, sizeof(local)) < 0) {
            snprintf(msg, sizeof(msg), "cannot move to %s: %s", s->pin, local);
            ret = stop(p, msg);     /* stays defined on its host, with its disk */
            goto cleanup;
        }
        struct rc_host *old = rc_host_find_name(rc, vm->parent, cur);
        if (old) {
            struct cfs_domain_info info = {.power = CFS_POWER_NONE};
            pthread_rwlock_rdlock(&old->rw);
            int ok = old->conn && rc->drv->info(old->conn, vm->uuid, &info, &err) == 0;
            if (ok && (info.power == CFS_POWER_SHUTOFF || info.power == CFS_POWER_NONE))
                ok = rc->drv->undefine(old->conn, vm->uuid, &err) == 0;
            else if (ok) {
                cfs_err_set(&err, EBUSY, "runs on %s; stop it before moving it to %s", cur, s->pin);
                ok = 0;
            }
            pthread_rwlock_unlock(&old->rw);
            if (!ok) {
                ret = stop(p, err.msg);
                goto cleanup;
            }
        }
        snprintf(p->placed, sizeof(p->placed), "%s", s->pin);
        rc_set_status(rc, vm, "host", p->placed);
        rc_flush(rc);
    }
    if (!p->placed[0]) {
        if (!strcmp(s->state, "stopped")) {
            rc_set_state(rc, vm, "stopped");
            converged(rc, vm, p->gen);
            p->result = 0;
            goto cleanup;
        }
        pthread_mutex_lock(&rc->place_lock);
        int ok = scheduler_place(rc, vm, s->vcpus, s->memory, p->placed, sizeof(p->placed),
                                 &err) == 0;
        if (ok) {
            rc_set_status(rc, vm, "host", p->placed);
            rc_flush(rc);
            p->drift = false;   /* its start there is the spec's (an HA restart elsewhere
                                 * is recorded by host_failure.c), not a restart of a
                                 * domain stopped behind cloudfs's back */
        }
        pthread_mutex_unlock(&rc->place_lock);
        if (!ok && err.code == EAGAIN) {
            p->result = 500;    /* a host still to connect wakes the unplaced VMs */
            goto cleanup;
        }
        if (!ok) {
            rc_set_status(rc, vm, "error", err.msg);
            rc_set_state(rc, vm, "stopped");
            p->result = 15000;
            goto cleanup;
        }
        wake_host(rc, vm, p->placed);     /* its free capacity changed */
    }
    ret = STEP_ON;
cleanup:
    free(cur);
    return ret;
}

/* The placed host's connection, read-locked for the rest of the pass, and
 * the domain's state there.  A host that is gone or down fails the pass. */
static enum step vm_host(struct vm_pass *p)
{
    char msg[CFS_NAME_MAX + 64];
    p->h = rc_host_find_name(p->rc, p->vm->parent, p->placed);
    if (!p->h) {
        snprintf(msg, sizeof(msg), "host %s does not exist", p->placed);
        rc_set_status(p->rc, p->vm, "host", "");
        return stop(p, msg);
    }
    pthread_rwlock_rdlock(&p->h->rw);
    p->conn = p->h->conn;
    int lost = host_failure_vm(p->rc, p->vm, p->h, vm_ha_parse(p->s.ha) >= VM_HA_ON, p->s.state,
                               p->s.pin);
    if (lost >= 0) {
        p->result = lost;
        return STEP_DONE;
    }
    if (!p->conn && !p->h->tried) {
        p->result = 500;    /* the host's first pass wakes this VM */
        return STEP_DONE;
    }
    if (!p->conn) {
        snprintf(msg, sizeof(msg), "host %s is not connected", p->placed);
        return stop(p, msg);
    }
    return look(p);
}

/* A running domain's NICs become p->nics: the new ones plugged, the ones
 * of was (the signature it was defined with) that are gone unplugged. */
static int vm_nics_plug(struct vm_pass *p, const char *was, struct cfs_err *err)
{
    struct reconciler *rc = p->rc;
    for (int i = 0; i < p->nnics; i++)
        if (rc->drv->attach_nic(p->conn, p->vm->uuid, &p->nics[i].nic, err) < 0)
            return -1;
    char *copy = strdup(was);
    char *save = NULL;
    int ret = 0;
    for (char *e = copy ? strtok_r(copy, " ", &save) : NULL; e && ret == 0;
         e = strtok_r(NULL, " ", &save)) {
        /* MAC@NETWORK/BRIDGE/MODEL */
        char *at = strchr(e, '@');
        char *sl1 = at ? strchr(at + 1, '/') : NULL;
        char *sl2 = sl1 ? strchr(sl1 + 1, '/') : NULL;
        if (!sl2)
            continue;
        *at = *sl1 = *sl2 = '\0';
        bool kept = false;
        for (int i = 0; i < p->nnics; i++)
            kept = kept || !strcmp(p->nics[i].mac, e);
        struct cfs_nic gone = {.mac = e, .network = at + 1, .bridge = sl1 + 1, .model = sl2 + 1};
        if (!kept)
            ret = rc->drv->detach_nic(p->conn, p->vm->uuid, &gone, err);
    }
    free(copy);
    return ret;
}

/* Each NIC's status: attached with its tap while the domain runs. */
static void vm_nics_status(struct vm_pass *p)
{
    bool on = p->info.power == CFS_POWER_RUNNING || p->info.power == CFS_POWER_PAUSED;
    for (int i = 0; p->nics_loaded && i < p->nnics; i++) {
        rc_set_status(p->rc, &p->nics[i].res, "state", on ? "attached" : "detached");
        rc_set_status(p->rc, &p->nics[i].res, "target", on ? p->nics[i].target : "");
    }
}

/* status/vnc-valid-to: "2026-12-06T03:20:00Z" for t (seconds since the
 * epoch), and back (0 when text is not such a time). */
static void utc_text(long long t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

static long long utc_parse(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return end && !*end ? (long long)timegm(&tm) : 0;
}

/* A fresh VNC password: 8 characters (VNC's limit) from getrandom. */
static void vnc_password(char out[9])
{
    static const char set[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char r[8];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        out[0] = '\0';     /* no password rather than a guessable one: refused below */
        return;
    }
    for (int i = 0; i < 8; i++)
        out[i] = set[r[i] % (sizeof(set) - 1)];
    out[8] = '\0';
}

/* Define the domain (or update its persistent definition) when there is
 * none or the spec moved since it was last reached.  A running domain
 * grows live within the maxima it started with; the rest waits for its
 * next start.  Records the domain's name, console and CD-ROM. */
static enum step vm_define(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    const struct cfs_res *vm = p->vm;
    const struct vm_spec *s = &p->s;
    struct cfs_domain_info *info = &p->info;
    struct cfs_err err;
    char path[1024], console[4096], cdrom[4200], seed[4200];
    char *dtype = rc_attr(rc, p->h->id, "domain-type");
    const char *type = strcmp(dtype, "auto") && dtype[0] ? dtype : p->h->info.domain_type;
    char nicsig[2048] = "";
    char *was_nics = rc_status(rc, vm->id, CFS_ST_NICS);
    if (strcmp(type, "test")) {     /* the test driver's domains have no devices */
        if (rc_vm_nics(rc, vm, p->h->uri, &p->nics, &p->nnics, &err) < 0) {
            free(dtype);
            free(was_nics);
            return stop(p, err.msg);
        }
        p->nics_loaded = true;
        rc_nics_signature(p->nics, p->nnics, nicsig, sizeof(nicsig));
    }
    bool nics_changed = strcmp(nicsig, was_nics) != 0;
    if (info->power != CFS_POWER_NONE && p->acted >= p->gen && !nics_changed) {
        free(dtype);
        free(was_nics);
        return STEP_ON;
    }
    bool active = info->power != CFS_POWER_NONE && info->power != CFS_POWER_SHUTOFF;
    long long mem_kib = s->memory / 1024;
    if (active && info->max_vcpus > 0) {
        if (s->vcpus != info->vcpus && s->vcpus <= info->max_vcpus && s->vcpus > info->vcpus)
            rc->drv->set_vcpus(p->conn, vm->uuid, s->vcpus, &err);
        if (mem_kib > info->memory_kib && mem_kib <= info->max_memory_kib)
            rc->drv->set_memory(p->conn, vm->uuid, mem_kib, &err);
    }
    snprintf(console, sizeof(console), "%s/%s.log", rc->conf->console_dir, vm->uuid);
    mkdir(rc->conf->console_dir, 0750);
    store_res_path(rc->st, vm, path, sizeof(path), &err);
    struct cfs_domain_spec spec = {
        .uuid = vm->uuid,
        .title = path,
        .description = s->description,
        .type = type,
        .arch = p->h->info.arch,
        .vcpus = s->vcpus,
        .max_vcpus = s->vcpus * rc->conf->hotplug_factor,
        .memory_kib = mem_kib,
        .max_memory_kib = mem_kib * rc->conf->hotplug_factor,
        .kernel = s->kernel,
        .initrd = s->initrd,
        .cmdline = s->cmdline,
        .console_path = strcmp(type, "test") ? console : NULL,
        /* auto: host-model under KVM; QEMU's default model otherwise. */
        .cpu_mode = strcmp(s->cpu_mode, "auto") ? s->cpu_mode
                    : !strcmp(type, "kvm")       ? "host-model"
                                                 : NULL,
        /* arch-capabilities is an Intel MSR that KVM emulates on AMD hosts;
         * nested KVM on AMD (cloud machines like these) refuses to set it
         * and QEMU aborts at start ("failed to set MSR 0x10a"), so AMD
         * hosts' guests go without it (AMD CPUs never had it). */
        .cpu_no_arch_caps = !strcmp(type, "kvm") && !strcmp(p->h->info.cpu_vendor, "AMD"),
    };
    spec.disks = vm_disks_array(p->disks, &spec.ndisks);
    /* The drive holds iso, or else an ISO given as the VM's image. */
    const char *cd_image = s->iso[0] ? s->iso : s->image;
    if (strcmp(type, "test") && vm_cdrom(rc, cd_image, cdrom, sizeof(cdrom)))
        spec.cdrom = cdrom;
    static const struct {
        const char *attr, *order;
    } boots[] = {{"disk", "hd"}, {"cdrom", "cdrom"}, {"disk,cdrom", "hd,cdrom"},
                 {"cdrom,disk", "cdrom,hd"}};
    for (size_t i = 0; i < sizeof(boots) / sizeof(boots[0]); i++)
        if (!strcmp(s->boot, boots[i].attr))
            spec.boot = boots[i].order;
    /* A running domain gets the new medium at once (the definition below
     * has it for the next start). */
    char *was_cd = rc_status(rc, vm->id, "cdrom");
    if (active && strcmp(type, "test") && strcmp(was_cd, spec.cdrom ? cd_image : "") &&
        rc->drv->change_media(p->conn, vm->uuid, spec.cdrom, &err) < 0) {
        free(was_cd);
        free(dtype);
        return stop(p, err.msg);
    }
    free(was_cd);
    rc_set_status(rc, vm, "cdrom", spec.cdrom ? cd_image : "");
    spec.windows = vm_image_os_is(rc, s->image, "windows");
    /* The cloud-init seed, made again with each definition (vm_seed.h). */
    if (strcmp(type, "test")) {
        struct vm_seed_nic seed_nics[CFS_NICS_MAX];
        int nseed = 0;
        for (int i = 0; i < p->nnics && i < CFS_NICS_MAX; i++)
            seed_nics[nseed++] = (struct vm_seed_nic){p->nics[i].res.name, p->nics[i].mac};
        if (vm_seed_make(rc, vm, seed_nics, nseed, seed, sizeof(seed), &err) < 0) {
            free(dtype);
            return stop(p, err.msg);
        }
        spec.seed = seed;
    }
    struct cfs_nic nics[CFS_NICS_MAX];
    for (int i = 0; i < p->nnics && i < CFS_NICS_MAX; i++)
        nics[spec.nnics++] = p->nics[i].nic;
    spec.nics = nics;
    /* The console is the owner's: a new random password with each
     * definition, valid vnc-password-validity seconds (libvirt's
     * passwdValidTo), shown in status/vnc-password (mode 0400, redacted
     * from the changes log) and status/vnc-valid-to; vm_vnc renews it on a
     * running domain.  The test driver has no graphics. */
    char vncpw[9] = "", vncto[32] = "";
    if (strcmp(type, "test")) {
        /* A running domain keeps the password it has: the new definition
         * must not show one its console does not take. */
        char *cur = active ? rc_status(rc, vm->id, "vnc-password") : NULL;
        char *curto = active ? rc_status(rc, vm->id, "vnc-valid-to") : NULL;
        spec.vnc_valid_to = curto ? utc_parse(curto) : 0;
        if (cur && strlen(cur) == 8 && spec.vnc_valid_to > 0) {
            snprintf(vncpw, sizeof(vncpw), "%s", cur);
        } else {
            vnc_password(vncpw);
            spec.vnc_valid_to = (long long)time(NULL) + rc->conf->vnc_validity;
        }
        free(cur);
        free(curto);
        if (!vncpw[0]) {
            free(dtype);
            return stop(p, "no randomness for the VNC password");
        }
        spec.vnc_password = vncpw;
        utc_text(spec.vnc_valid_to, vncto, sizeof(vncto));
    }
    int defined = rc->drv->define(p->conn, &spec, &err);
    bool has_console = spec.console_path != NULL;
    free(dtype);    /* type pointed into it */
    if (defined == 0 && active && nics_changed)
        defined = vm_nics_plug(p, was_nics, &err);
    free(was_nics);
    if (defined < 0)
        return stop(p, err.msg);
    rc_set_status(rc, vm, CFS_ST_NICS, nicsig);
    p->defined_now = true;
    char dom[64];
    snprintf(dom, sizeof(dom), "%s%s", CFS_DOMAIN_PREFIX, vm->uuid);
    rc_set_status(rc, vm, "domain", dom);
    rc_set_status(rc, vm, "console", has_console ? console : "");
    rc_set_status(rc, vm, "vnc-password", vncpw);
    rc_set_status(rc, vm, "vnc-valid-to", vncto);
    if (info->power == CFS_POWER_NONE)
        info->power = CFS_POWER_SHUTOFF;
    return STEP_ON;
}

static int count_link(const struct cfs_res *r, void *arg)
{
    (void)r;
    (*(int64_t *)arg)++;
    return 0;
}

/* Plug and unplug volumes linked or unlinked since.  A linked volume that
 * is still being made lets the pass go on but look again in 2 s. */
static enum step vm_disks(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    struct cfs_err err;
    int64_t linked = 0;
    int ndisks = 0;
    if (vm_disks_sync(rc, p->vm, p->conn, p->disks, &err) < 0)
        return stop(p, err.msg);
    const struct cfs_link_def *l = layout_link(p->vm->kind, "volumes");
    vm_disks_array(p->disks, &ndisks);
    if (l)
        store_link_list(rc->st, p->vm, l, count_link, &linked, &err);
    if (linked + (p->wants_root ? 1 : 0) > ndisks)
        p->result = 2000;
    return STEP_ON;
}

static int password_written(const struct cfs_change *c, void *arg)
{
    if (c->attr && !strcmp(c->attr, "password"))
        *(bool *)arg = true;
    return 0;
}

/* A password written while the VM runs is set in the guest at once through
 * its agent (the seed CD carries it to the next boot anyway).  The mount
 * refuses the write when the agent does not answer; one that went away
 * since is reported. */
static enum step vm_password(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    struct cfs_err err;
    bool written = false;
    if (p->info.power != CFS_POWER_RUNNING ||
        store_res_changes(rc->st, p->vm->id, "set", p->acted, password_written, &written,
                          &err) < 0 ||
        !written)
        return STEP_ON;
    char *password = rc_attr(rc, p->vm->id, "password");
    char hash[PWHASH_MAX];
    if (!password[0]) {
        free(password);
        return STEP_ON;     /* cleared: nothing to set */
    }
    if (p->info.agent != CFS_AGENT_CONNECTED)
        cfs_err_set(&err, EBUSY, "password: the guest agent does not answer; the new password "
                                 "reaches the guest at its next start");
    int rc_ = p->info.agent != CFS_AGENT_CONNECTED ? -1
              : pwhash_make(password, hash, sizeof(hash), &err) < 0 ? -1
              : rc->drv->set_password(p->conn, p->vm->uuid, "root", hash, &err);
    explicit_bzero(password, strlen(password));
    explicit_bzero(hash, sizeof(hash));
    free(password);
    if (rc_ < 0)
        return stop(p, err.msg);
    return STEP_ON;
}

/* Run the ctl verbs written since the last pass, each once (the last one
 * run is recorded at once), then read the domain's state again. */
static enum step vm_verbs(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    struct cfs_err err;
    char *last = rc_status(rc, p->vm->id, CFS_ST_VERB_SEQ);
    struct verb_ctx v = {.rc = rc, .vm = p->vm, .h = p->h, .last = atoll(last)};
    int64_t before = v.last;
    free(last);
    if (store_res_changes(rc->st, p->vm->id, "verb", v.last, run_verb, &v, &err) == 0 &&
        v.last != before) {
        rc_set_status_int(rc, p->vm, CFS_ST_VERB_SEQ, v.last);
        rc_flush(rc);
    }
    return look(p);
}

/* Reality moved away from a spec already reached (someone used virsh):
 * said in status/error, not undone. */
static void report_drift(struct vm_pass *p, const char *hint)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "drift: domain is %s outside cloudfs, desired state is %s%s",
             power_name(p->info.power), p->s.state, hint);
    rc_set_status(p->rc, p->vm, "error", msg);
}

/* A domain off behind cloudfs's back that ha does not restart (why: the
 * cause, from vm_ha_restarts). */
static void ha_drift(struct vm_pass *p, const char *why)
{
    char hint[400];
    enum vm_ha l = vm_ha_parse(p->s.ha);
    snprintf(hint, sizeof(hint), " (%s; %s; write stopped then running to converge)", why,
             l == VM_HA_ON ? "ha on restarts a VM after a host failure or a stop from outside "
                             "the guest, never-stop also after a guest poweroff or crash"
                           : "ha is off");
    report_drift(p, hint);
}

/* Take the next step of the power state machine towards the desired state
 * (start, resume, pause, graceful then forced stop), announcing the
 * transitional state first.  Drift from a reached spec is reported, not
 * undone (but running with ha=on is restored).  Returns the driver's
 * result (-1 with err). */
static int vm_power(struct vm_pass *p, struct cfs_err *err)
{
    struct reconciler *rc = p->rc;
    const struct cfs_res *vm = p->vm;
    const char *want = p->s.state;
    enum cfs_power pw = p->info.power;
    bool off = pw == CFS_POWER_SHUTOFF || pw == CFS_POWER_NONE || pw == CFS_POWER_CRASHED;
    char why[160] = "its domain was paused outside cloudfs";
    /* ha on and never-stop resume a domain paused behind cloudfs's back;
     * one found off, as vm_ha_restarts says. */
    bool ha = off ? vm_ha_restarts(vm_ha_parse(p->s.ha), pw, p->info.reason, why, sizeof(why))
                  : vm_ha_parse(p->s.ha) >= VM_HA_ON;
    if (strcmp(want, "stopped"))
        stop_deadline(rc, vm->id, 0);
    if (!strcmp(want, "running")) {
        if (pw == CFS_POWER_RUNNING) {
            converged(rc, vm, p->gen);
        } else if (pw == CFS_POWER_SHUTDOWN) {
            p->result = 1000;   /* let the guest finish, then start again */
        } else if (p->drift && !ha) {
            ha_drift(p, why);
        } else if (pw == CFS_POWER_PAUSED) {
            announce(rc, vm, "resuming");
            return rc->drv->resume(p->conn, vm->uuid, err);
        } else if (off) {
            if (p->drift && vm_ha_noteworthy(pw, p->info.reason)) {
                char rec[300];
                snprintf(rec, sizeof(rec), "%s; started again on host %s (ha %s)", why, p->placed,
                         p->s.ha);
                vm_ha_record(rc, vm, rec);
            }
            announce(rc, vm, "starting");
            return rc->drv->start(p->conn, vm->uuid, false, err);
        }
        return 0;
    }
    if (!strcmp(want, "paused")) {
        if (pw == CFS_POWER_PAUSED) {
            converged(rc, vm, p->gen);
        } else if (p->drift) {
            report_drift(p, "");
        } else if (pw == CFS_POWER_RUNNING) {
            announce(rc, vm, "pausing");
            return rc->drv->suspend(p->conn, vm->uuid, err);
        } else if (off) {
            announce(rc, vm, "starting");
            return rc->drv->start(p->conn, vm->uuid, true, err);
        } else {
            p->result = 1000;
        }
        return 0;
    }
    /* stopped */
    if (off) {
        stop_deadline(rc, vm->id, 0);
        converged(rc, vm, p->gen);
        return 0;
    }
    if (p->drift) {
        report_drift(p, "");
        return 0;
    }
    int64_t now = workq_now(), deadline = stop_deadline(rc, vm->id, -1);
    if (deadline == 0 && pw == CFS_POWER_RUNNING && rc->conf->stop_timeout > 0) {
        deadline = now + (int64_t)rc->conf->stop_timeout * 1000000000LL;
        stop_deadline(rc, vm->id, deadline);
        announce(rc, vm, "stopping");
        if (rc->drv->shutdown_guest(p->conn, vm->uuid, err) < 0)
            deadline = now;     /* no ACPI: force at once */
    }
    if (deadline == 0 || now >= deadline) {
        announce(rc, vm, "stopping");
        int ret = rc->drv->destroy(p->conn, vm->uuid, err);
        stop_deadline(rc, vm->id, 0);
        return ret;
    }
    int64_t wait_ms = (deadline - now) / 1000000LL + 1;
    p->result = wait_ms < 2000 ? (int)wait_ms : 2000;
    return 0;
}

/* Refresh the observed values of the domain in p->info. */
static void observe(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    const struct cfs_res *vm = p->vm;
    const struct cfs_domain_info *info = &p->info;
    char buf[96];
    rc_set_state(rc, vm, power_name(info->power));
    rc_set_status(rc, vm, "host", p->h->name);
    if (info->power == CFS_POWER_RUNNING || info->power == CFS_POWER_PAUSED) {
        if (info->vnc_port > 0)
            snprintf(buf, sizeof(buf), "%s:%d", info->vnc_listen[0] ? info->vnc_listen : "127.0.0.1",
                     info->vnc_port);
        else
            buf[0] = '\0';
        rc_set_status(rc, vm, "vnc", buf);
        snprintf(buf, sizeof(buf), "%.2f", (double)info->cpu_time_ns / 1e9);
        rc_set_status(rc, vm, "cpu-time", buf);
        rc_set_status_size(rc, vm, "memory", info->memory_kib * 1024LL);
        rc_set_status_int(rc, vm, "cpus", info->vcpus);
        /* The live maxima, for the offering precondition (precond.c). */
        rc_set_status_int(rc, vm, CFS_ST_MAX_VCPUS, info->max_vcpus);
        rc_set_status_size(rc, vm, CFS_ST_MAX_MEMORY, info->max_memory_kib * 1024LL);
        char *started = rc_status(rc, vm->id, CFS_ST_STARTED);
        if (!started[0])
            rc_set_status_int(rc, vm, CFS_ST_STARTED, (long long)time(NULL));
        else
            rc_set_status_int(rc, vm, "uptime", (long long)time(NULL) - atoll(started));
        free(started);
    } else {
        rc_set_status(rc, vm, "vnc", "");
        rc_set_status(rc, vm, "memory", "");
        rc_set_status(rc, vm, "cpus", "");
        rc_set_status(rc, vm, "uptime", "");
        rc_set_status(rc, vm, CFS_ST_STARTED, "");
        rc_set_status(rc, vm, CFS_ST_MAX_VCPUS, "");
        rc_set_status(rc, vm, CFS_ST_MAX_MEMORY, "");
    }
    /* The guest's own view of its addresses, where its agent answers. */
    char ips[1024] = "";
    struct cfs_err ips_err;
    if (info->power == CFS_POWER_RUNNING && info->agent == CFS_AGENT_CONNECTED &&
        rc->drv->guest_ips(p->conn, vm->uuid, ips, sizeof(ips), &ips_err) < 0)
        ips[0] = '\0';
    rc_set_status(rc, vm, "ips", ips);
    rc_set_status(rc, vm, "agent",
                  info->power != CFS_POWER_RUNNING && info->power != CFS_POWER_PAUSED ? ""
                  : info->agent == CFS_AGENT_CONNECTED ? "connected"
                  : info->agent == CFS_AGENT_DISCONNECTED ? "disconnected"
                                                           : "");
    if (p->defined_now) {
        struct cfs_err err;
        char *xml = rc->drv->xml(p->conn, vm->uuid, &err);
        rc_set_status(rc, vm, "domain.xml", xml ? xml : "");
        free(xml);
    }
}

/* After the power step: what the domain now is becomes status (a
 * transitional state stays until the domain gets there), and a reached
 * spec is marked converged.  A failed power step backs off. */
static void vm_observe(struct vm_pass *p, int powered, const struct cfs_err *power_err)
{
    struct reconciler *rc = p->rc;
    const char *want = p->s.state;
    struct cfs_err err;
    if (powered < 0) {
        p->result = fail(rc, p->vm, power_err->msg);
        rc->drv->info(p->conn, p->vm->uuid, &p->info, &err);
        observe(p);
        return;
    }
    if (rc->drv->info(p->conn, p->vm->uuid, &p->info, &err) < 0)
        return;
    enum cfs_power pw = p->info.power;
    bool reached = (!strcmp(want, "running") && pw == CFS_POWER_RUNNING) ||
                   (!strcmp(want, "paused") && pw == CFS_POWER_PAUSED) ||
                   (!strcmp(want, "stopped") &&
                    (pw == CFS_POWER_SHUTOFF || pw == CFS_POWER_NONE));
    char *cur = rc_status(rc, p->vm->id, "state");
    bool transitional = !strcmp(cur, "stopping") && pw == CFS_POWER_RUNNING;
    free(cur);
    if (!transitional)
        observe(p);
    else
        rc_set_status(rc, p->vm, "host", p->h->name);
    if (reached)
        converged(rc, p->vm, p->gen);
}

/* Look at p's VM again in ms milliseconds at the latest. */
static void again_in(struct vm_pass *p, long long ms)
{
    if (ms < 1000)
        ms = 1000;
    if (p->result == 0 || (p->result > 0 && p->result > ms))
        p->result = (int)ms;
}

/* The VNC password of a running domain is renewed a fifth of its validity
 * before it expires (also when it has expired or has no expiry, as in a
 * domain an older cloudfs started): status/vnc-password then holds one
 * valid for at least that fifth (60 s of the default 300 s), and the pass
 * comes back at the next renewal. */
static void vm_vnc(struct vm_pass *p)
{
    struct reconciler *rc = p->rc;
    struct cfs_err err;
    if ((p->info.power != CFS_POWER_RUNNING && p->info.power != CFS_POWER_PAUSED) ||
        p->info.vnc_port <= 0 || !rc->drv->set_vnc_password)
        return;
    long long validity = rc->conf->vnc_validity, margin = validity / 5;
    long long now = (long long)time(NULL);
    char *cur = rc_status(rc, p->vm->id, "vnc-valid-to");
    long long to = utc_parse(cur);
    free(cur);
    if (to - now > margin) {
        again_in(p, (to - now - margin) * 1000);
        return;
    }
    char pw[9], when[32];
    vnc_password(pw);
    if (!pw[0]) {
        p->result = fail(rc, p->vm, "no randomness for the VNC password");
        return;
    }
    to = now + validity;
    if (rc->drv->set_vnc_password(p->conn, p->vm->uuid, pw, to, &err) < 0) {
        p->result = fail(rc, p->vm, err.msg);
    } else {
        utc_text(to, when, sizeof(when));
        rc_set_status(rc, p->vm, "vnc-password", pw);
        rc_set_status(rc, p->vm, "vnc-valid-to", when);
        again_in(p, (validity - margin) * 1000);
    }
    explicit_bzero(pw, sizeof(pw));
}

static int reconcile_vm(struct reconciler *rc, const struct cfs_res *vm)
{
    struct vm_pass p = {.rc = rc, .vm = vm, .info = {.power = CFS_POWER_NONE}};
    struct cfs_err err;
    if (vm->deleted)
        return teardown(rc, vm);
    if (vm->recycled)
        return rc_recycled_vm_pass(rc, vm);
    cfs_err_clear(&err);
    if (vm_read_spec(&p) == STEP_DONE || vm_root_disk(&p) == STEP_DONE ||
        vm_place(&p) == STEP_DONE || vm_host(&p) == STEP_DONE)
        goto cleanup;
    p.disks = vm_disks_want(rc, vm);
    if (vm_define(&p) == STEP_DONE || vm_disks(&p) == STEP_DONE || vm_verbs(&p) == STEP_DONE ||
        vm_password(&p) == STEP_DONE)
        goto cleanup;
    int powered = vm_power(&p, &err);
    vm_observe(&p, powered, &err);
    vm_vnc(&p);
    vm_nics_status(&p);
    vm_migrate_report(rc, vm, p.acted, p.gen);
cleanup:
    if (p.h)
        pthread_rwlock_unlock(&p.h->rw);
    vm_disks_free(p.disks);
    free(p.nics);
    spec_free(&p.s);
    return p.result;
}

const struct rc_kind rc_kind_vm = {
    .name = "vm", .pass = reconcile_vm, .wakes = RC_WAKE_SELF,
    .attrs_read = "state offering image iso boot root-size pool host ha cpu-mode kernel initrd "
                  "cmdline "
                  "description ctl " VM_SEED_ATTRS " offering/cpus offering/memory host/state "
                  "host/domain-type cluster/cpu-overcommit cluster/memory-overcommit cluster/ha "
                  "image/os volume/size nic/model host/uri host/netns host/vtep volume/pool pool/type "
                  "affinity-group affinity-group/policy affinity-group/enforcement pool/shared",
    .attrs_written = "state host volume/size volume/image volume/pool volume/snapshot",
    .status_read = CFS_ST_RECYCLE_EXPIRES " state host console cdrom root-volume vnc-password vnc-valid-to " CFS_ST_GEN " " CFS_ST_VERB_SEQ " "
                   CFS_ST_CLONE " "
                   CFS_ST_STARTED " image/state image/format volume/state volume/pool "
                   "volume/error volume/" CFS_ST_GEN " volume/" CFS_ST_TARGET
                   " volume/" CFS_ST_ROOT_OF " " CFS_ST_NICS " nic/mac nic/" CFS_ST_SUBNET
                   " host/connection host/fenced migration " CFS_ST_MIGRATING_TO " " CFS_ST_MIG_FAILED
                   " " CFS_ST_EVACUATED " " CFS_ST_UNPINNED " host/cpu-signature " CFS_ST_CPU_FROM,
    .status_written = "state since error host vnc vnc-password vnc-valid-to agent ips cpu-time memory cpus uptime "
                      "domain console "
                      "cdrom domain.xml root-volume " CFS_ST_GEN " " CFS_ST_VERB_SEQ " "
                      CFS_ST_STARTED " " CFS_ST_MAX_VCPUS " " CFS_ST_MAX_MEMORY " volume/state "
                      "volume/error volume/attached-to volume/root-of volume/" CFS_ST_ATTACHED
                      " volume/" CFS_ST_TARGET " volume/" CFS_ST_USED " volume/" CFS_ST_ROOT_OF
                      " " CFS_ST_NICS " nic/state nic/target migration " CFS_ST_MIGRATING_TO
                      " " CFS_ST_MIG_FAILED " " CFS_ST_EVACUATED " " CFS_ST_UNPINNED " " CFS_ST_CPU_FROM " ha-restart",
};
