/* vm_migrate.c: live migration of a running VM (vm_migrate.h).
 *
 * A move is decided under the placement lock, as a placement is: the
 * target passes the scheduler's filters (enabled, connected, room for the
 * VM), and the VM counts on the target (status _migrating_to) from then
 * on, so two moves decided one after the other do not both take the last
 * room.  The move itself runs outside that lock with both hosts'
 * connections read-locked (the lower host id first, reconcile.h), and
 * shows status/state "migrating" and status/migration's progress.  A move
 * that fails leaves the VM running where it was (libvirt's guarantee) with
 * the reason in status/error; one that evacuates a host in maintenance
 * stops the VM instead, as the reference platforms do with VMs that cannot
 * move.  Disks do not travel and a host-passthrough VM keeps its CPU: the
 * rules of vm_move_rules.h refuse a VM with a disk on a dir pool that is
 * not shared, and targets with another CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_state.h"
#include "rc_store.h"
#include "scheduler.h"
#include "status_keys.h"
#include "vm_migrate.h"
#include "vm_move_rules.h"

/* Why this VM should move, if it should. */
enum why { WHY_NONE, WHY_ASKED, WHY_REHOME, WHY_EVACUATE };

struct progress {
    struct reconciler *rc;
    const struct cfs_res *vm;
    int64_t host_id;            /* the source host's resource */
    bool evacuate;
};

static bool host_state_is(struct reconciler *rc, int64_t host, const char *state)
{
    char *s = rc_attr(rc, host, "state");
    bool is = !strcmp(s, state);
    free(s);
    return is;
}

struct emptied {
    int64_t unpinned;           /* the reconciler's own write (an evacuee unpinned) */
    bool yes;
};

static int host_written_empty(const struct cfs_change *c, void *arg)
{
    struct emptied *e = arg;
    if (c->attr && !strcmp(c->attr, "host"))
        e->yes = (!c->new_value || !c->new_value[0]) && c->seq != e->unpinned;
    return 0;
}

/* status/migration while the move runs; an evacuation whose host was
 * given back (state enabled or disabled) is cancelled. */
static bool on_progress(const struct cfs_migration_stats *s, void *arg)
{
    struct progress *p = arg;
    char text[160];
    if (s->memory_total >= 0 && s->memory_remaining >= 0)
        snprintf(text, sizeof(text), "running: %lld MiB of %lld MiB memory remaining, %.1f s",
                 s->memory_remaining >> 20, s->memory_total >> 20,
                 s->elapsed_ms >= 0 ? (double)s->elapsed_ms / 1000.0 : 0.0);
    else
        snprintf(text, sizeof(text), "running: %.1f s",
                 s->elapsed_ms >= 0 ? (double)s->elapsed_ms / 1000.0 : 0.0);
    rc_set_status(p->rc, p->vm, "migration", text);
    rc_flush(p->rc);
    return p->evacuate && !host_state_is(p->rc, p->host_id, "maintenance");
}

/* Whether the host named name can take vm now (the scheduler's filters
 * for a target named by the user): 0, or -1 with the reason. */
static int target_fits(struct reconciler *rc, const struct cfs_res *vm, const char *name,
                       struct cfs_err *err)
{
    struct cfs_res host;
    struct sched_capacity cap;
    int vcpus = 0;
    long long memory = 0;
    if (store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_host), name, &host,
                       err) < 0)
        return cfs_err_set(err, ENOENT, "host %s does not exist", name);
    if (!host_state_is(rc, host.id, "enabled"))
        return cfs_err_set(err, EBUSY, "host %s is not enabled", name);
    struct rc_host *h = rc_host_get(rc, &host);
    bool connected = false;
    if (h) {
        pthread_rwlock_rdlock(&h->rw);
        connected = h->conn && rc->drv->alive(h->conn) && h->info.cpus > 0;
        pthread_rwlock_unlock(&h->rw);
    }
    if (!connected)
        return cfs_err_set(err, EHOSTDOWN, "host %s is not connected", name);
    char *origin = vm_move_cpu_origin(rc, vm), why[320];
    bool cpu_fits = vm_move_cpu_fits(rc, origin, &host, why, sizeof(why));
    free(origin);
    if (!cpu_fits)
        return cfs_err_set(err, EXDEV, "%s", why);
    if (scheduler_vm_size(rc, vm, &vcpus, &memory, err) < 0 ||
        scheduler_capacity(rc, &host, h, vm->id, &cap, err) < 0)
        return -1;
    if (cap.cpus_used + vcpus > cap.cpus_total || cap.mem_used + memory > cap.mem_total)
        return cfs_err_set(err, ENOSPC, "host %s has %lld vCPUs and %lld MiB free", name,
                           cap.cpus_total - cap.cpus_used, (cap.mem_total - cap.mem_used) >> 20);
    return 0;
}

/* VMs leaving host right now (decided, not yet done). */
static int leaving(struct reconciler *rc, const struct cfs_res *vm, const char *host)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    int count = 0;
    if (store_res_by_status(rc->st, vm->kind, vm->parent, "host", host, &vms, &n, &ignore) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char *to = rc_status(rc, vms[i].id, CFS_ST_MIGRATING_TO);
        count += to[0] != '\0';
        free(to);
    }
    free(vms);
    return count;
}

static void wake_host_named(struct reconciler *rc, const struct cfs_res *vm, const char *name)
{
    struct cfs_res host;
    struct cfs_err ignore;
    if (store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_host), name, &host,
                       &ignore) == 0)
        rc_wake(rc, host.id);
}

/* Choose the target under the placement lock and mark the VM as leaving
 * for it.  0; 1 when the evacuation must wait for a free slot; -1 with
 * the reason. */
static int decide(struct reconciler *rc, const struct cfs_res *vm, enum why why, const char *pin,
                  const char *cur, char *target, size_t len, struct cfs_err *err)
{
    int vcpus = 0, ret = -1;
    long long memory = 0;
    pthread_mutex_lock(&rc->place_lock);
    if (why == WHY_EVACUATE && leaving(rc, vm, cur) >= rc->conf->migrations_per_host) {
        ret = 1;
        goto cleanup;
    }
    if (why == WHY_ASKED || (why == WHY_EVACUATE && pin[0] && strcmp(pin, cur))) {
        if (target_fits(rc, vm, pin, err) < 0)
            goto cleanup;
        snprintf(target, len, "%s", pin);
    } else if (scheduler_vm_size(rc, vm, &vcpus, &memory, err) < 0 ||
               scheduler_place_except(rc, vm, vcpus, memory, cur, target, len, err) < 0) {
        goto cleanup;
    }
    rc_set_status(rc, vm, CFS_ST_MIGRATING_TO, target);
    rc_set_status(rc, vm, "state", "migrating");
    rc_set_status(rc, vm, "migration", "starting");
    rc_flush(rc);
    ret = 0;
cleanup:
    pthread_mutex_unlock(&rc->place_lock);
    return ret;
}

/* Move vm from src to dst, both hosts' connections read-locked. */
static int move(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *src,
                struct rc_host *dst, unsigned flags, struct progress *prog, struct cfs_migration_stats *stats,
                struct cfs_err *err)
{
    struct rc_host *first = src->id < dst->id ? src : dst;
    struct rc_host *second = first == src ? dst : src;
    int ret = -1;
    pthread_rwlock_rdlock(&first->rw);
    pthread_rwlock_rdlock(&second->rw);
    if (!src->conn)
        cfs_err_set(err, EHOSTDOWN, "host %s is not connected", src->name);
    else if (!dst->conn)
        cfs_err_set(err, EHOSTDOWN, "host %s is not connected", dst->name);
    else if (!rc->drv->migrate)
        cfs_err_set(err, ENOTSUP, "the compute driver cannot migrate");
    else
        ret = rc->drv->migrate(src->conn, dst->conn, vm->uuid, flags, on_progress, prog, stats, err);
    pthread_rwlock_unlock(&second->rw);
    pthread_rwlock_unlock(&first->rw);
    return ret;
}

/* An evacuee that cannot move is stopped (forced: the host is going
 * down) and its desired state becomes stopped, with the reason. */
static void evacuee_stop(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *src,
                         const char *why)
{
    struct cfs_err err;
    char msg[CFS_ERR_MSG_MAX + CFS_NAME_MAX + 64];
    snprintf(msg, sizeof(msg), "evacuating host %s: cannot move (%s); stopped", src->name, why);
    pthread_rwlock_rdlock(&src->rw);
    if (src->conn)
        rc->drv->destroy(src->conn, vm->uuid, &err);
    pthread_rwlock_unlock(&src->rw);
    rc_set_status(rc, vm, CFS_ST_EVACUATED, why);
    rc_set_status(rc, vm, "error", msg);
    rc_flush(rc);
    rc_attr_set(rc, vm, "state", "stopped", &err);
}

enum vm_migrate_outcome vm_migrate_step(struct reconciler *rc, const struct cfs_res *vm,
                                        const char *want, const char *pin, int64_t acted,
                                        int64_t gen, char *placed, size_t len, int *result)
{
    struct cfs_err err;
    struct cfs_domain_info info = {.power = CFS_POWER_NONE};
    struct cfs_res host;
    enum vm_migrate_outcome out = VM_MIGRATE_NONE;
    enum why why = WHY_NONE;
    char target[CFS_NAME_MAX + 1] = "", *failed = NULL;
    cfs_err_clear(&err);
    if (!placed[0])
        return VM_MIGRATE_NONE;
    struct rc_host *src = rc_host_find_name(rc, vm->parent, placed);
    if (!src || store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_host), placed,
                               &host, &err) < 0)
        return VM_MIGRATE_NONE;
    bool evacuate = host_state_is(rc, host.id, "maintenance");
    char *unpinned = rc_status(rc, vm->id, CFS_ST_UNPINNED);
    struct emptied emptied = {.unpinned = atoll(unpinned)};
    free(unpinned);
    if (!evacuate)
        rc_set_status(rc, vm, CFS_ST_EVACUATED, "");
    if (evacuate)
        why = WHY_EVACUATE;
    else if (pin[0] && strcmp(pin, placed))
        why = WHY_ASKED;
    else if (!pin[0] && acted < gen &&
             store_res_changes(rc->st, vm->id, "set", acted, host_written_empty, &emptied,
                               &err) == 0 &&
             emptied.yes)
        why = WHY_REHOME;
    if (why == WHY_NONE)
        return VM_MIGRATE_NONE;
    pthread_rwlock_rdlock(&src->rw);
    int looked = src->conn ? rc->drv->info(src->conn, vm->uuid, &info, &err) : -1;
    pthread_rwlock_unlock(&src->rw);
    bool active = looked == 0 && (info.power == CFS_POWER_RUNNING || info.power == CFS_POWER_PAUSED);
    if (!active && why == WHY_ASKED)
        return VM_MIGRATE_NONE;     /* a stopped VM moves offline (reconcile_vm.c) */
    if (!active || !strcmp(want, "stopped"))
        return VM_MIGRATE_STAY;     /* stopped where it is first */
    /* A move this generation asked for already failed: not again. */
    failed = rc_status(rc, vm->id, CFS_ST_MIG_FAILED);
    if (why != WHY_EVACUATE && failed[0] && atoll(failed) == gen) {
        out = VM_MIGRATE_STAY;
        goto cleanup;
    }
    /* Disks on storage the target does not reach: the VM stays. */
    bool shared_files = false;
    char local[512];
    int decided = vm_move_storage(rc, vm, &shared_files, local, sizeof(local)) < 0
                      ? cfs_err_set(&err, EXDEV, "%s", local)
                      : decide(rc, vm, why, pin, placed, target, sizeof(target), &err);
    if (decided == 1 || (decided < 0 && err.code == EAGAIN)) {
        *result = 1000;     /* a slot frees when one of the moves ends */
        out = VM_MIGRATE_DONE;
        goto cleanup;
    }
    struct rc_host *dst = decided == 0 ? rc_host_find_name(rc, vm->parent, target) : NULL;
    if (decided == 0 && !dst)
        decided = cfs_err_set(&err, ENOENT, "host %s does not exist", target);
    struct cfs_migration_stats stats;
    struct progress prog = {.rc = rc, .vm = vm, .host_id = host.id, .evacuate = evacuate};
    if (decided == 0 && move(rc, vm, src, dst, shared_files ? CFS_MIGRATE_SHARED_FILES : 0, &prog, &stats, &err) == 0) {
        char text[160];
        snprintf(text, sizeof(text), "done: %s to %s in %.2f s, downtime %lld ms", placed,
                 target, stats.elapsed_ms >= 0 ? (double)stats.elapsed_ms / 1000.0 : 0.0,
                 stats.downtime_ms);
        rc_set_status(rc, vm, "migration", text);
        rc_set_status(rc, vm, "host", target);
        rc_set_status(rc, vm, CFS_ST_MIGRATING_TO, "");
        rc_set_status(rc, vm, CFS_ST_MIG_FAILED, "");
        rc_set_status(rc, vm, "error", "");
        rc_flush(rc);
        /* Evacuated off the host it was pinned to: pinned no more. */
        if (evacuate && !strcmp(pin, placed) && rc_attr_set(rc, vm, "host", "", &err) == 0) {
            rc_set_status_int(rc, vm, CFS_ST_UNPINNED, store_spec_generation(rc->st, vm->id));
            rc_flush(rc);
        }
        wake_host_named(rc, vm, placed);
        wake_host_named(rc, vm, target);
        snprintf(placed, len, "%s", target);
        out = VM_MIGRATE_MOVED;
        goto cleanup;
    }
    /* Failed: it still runs where it was. */
    char text[CFS_ERR_MSG_MAX + 32], mark[CFS_ERR_MSG_MAX + CFS_NAME_MAX + 64];
    snprintf(text, sizeof(text), "failed: %s", err.msg);
    rc_set_status(rc, vm, "migration", text);
    rc_set_status(rc, vm, CFS_ST_MIGRATING_TO, "");
    rc_set_status(rc, vm, "state", info.power == CFS_POWER_PAUSED ? "paused" : "running");
    if (target[0])
        wake_host_named(rc, vm, target);
    if (why == WHY_EVACUATE) {
        if (err.code == ECANCELED || !host_state_is(rc, host.id, "maintenance")) {
            rc_flush(rc);       /* cancelled: the host takes VMs again */
            out = VM_MIGRATE_STAY;
            goto cleanup;
        }
        evacuee_stop(rc, vm, src, err.msg);
        wake_host_named(rc, vm, placed);
        *result = 0;
        out = VM_MIGRATE_DONE;
        goto cleanup;
    }
    snprintf(mark, sizeof(mark), "%lld migration to %s failed: %s", (long long)gen,
             target[0] ? target : pin[0] ? pin : "another host", err.msg);
    rc_set_status(rc, vm, CFS_ST_MIG_FAILED, mark);
    rc_flush(rc);
    out = VM_MIGRATE_STAY;
cleanup:
    free(failed);
    return out;
}

void vm_migrate_report(struct reconciler *rc, const struct cfs_res *vm, int64_t acted,
                       int64_t gen)
{
    char *failed = rc_status(rc, vm->id, CFS_ST_MIG_FAILED);
    const char *msg = strchr(failed, ' ');
    if (failed[0] && atoll(failed) == gen && msg) {
        rc_set_status(rc, vm, "error", msg + 1);
        rc_set_status_int(rc, vm, CFS_ST_GEN, acted);
    }
    free(failed);
    /* Stopped by an evacuation: said while its host stays in maintenance. */
    char *evacuated = rc_status(rc, vm->id, CFS_ST_EVACUATED);
    if (evacuated[0]) {
        char msg[CFS_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "evacuating its host: cannot move (%s); stopped", evacuated);
        rc_set_status(rc, vm, "error", msg);
    }
    free(evacuated);
}
