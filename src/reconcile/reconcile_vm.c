/* reconcile_vm.c: one pass over one VM.
 *
 * Each pass reads the spec and the domain's real state and takes the next
 * step towards the spec.  "acted" (status _gen) is the spec generation the
 * VM last converged on: when reality moves away from a spec that was
 * already reached, that is drift (someone used virsh), and only ha=on makes
 * the reconciler undo it; a new spec write is new intent and is acted on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reconcile.h"
#include "value.h"

#define RETRY_MS 5000
#define VERB_MAX_AGE_NS (600LL * 1000000000LL)

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

/* status/state, with status/since when it changes. */
static void set_state(struct reconciler *rc, const struct cfs_res *vm, const char *state)
{
    char *old = rc_status(rc, vm->id, "state");
    if (strcmp(old, state)) {
        char since[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
        rc_set_status(rc, vm, "state", state);
        rc_set_status(rc, vm, "since", since);
    }
    free(old);
}

static void set_int(struct reconciler *rc, const struct cfs_res *vm, const char *name, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    rc_set_status(rc, vm, name, buf);
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
        set_state(rc, vm, "error");
    int delay = 1000 << (failures < 5 ? failures : 5);
    return delay;
}

static void converged(struct reconciler *rc, const struct cfs_res *vm, int64_t gen)
{
    pthread_mutex_lock(&rc->vms_lock);
    struct rc_vm *v = rc_vm_get(rc, vm->id);
    if (v) {
        v->failures = 0;
        v->stop_deadline = 0;
    }
    pthread_mutex_unlock(&rc->vms_lock);
    set_int(rc, vm, "_gen", gen);
    rc_set_status(rc, vm, "error", "");
}

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
    if (name[0] && store_res_find(rc->st, vm->parent, rc->k_host, name, &host, &ignore) == 0)
        workq_add(&rc->q, host.id, 0);
}

/* Remove what a deleted VM left on its host, then the tombstone. */
static int teardown(struct reconciler *rc, const struct cfs_res *vm)
{
    struct cfs_err err;
    char *placed = rc_status(rc, vm->id, "host");
    char *console = rc_status(rc, vm->id, "console");
    int result = 0;
    set_state(rc, vm, "deleting");
    struct rc_host *h = rc_host_find_name(rc, vm->parent, placed);
    if (h) {
        pthread_rwlock_rdlock(&h->rw);
        int ok = h->conn && rc->drv->destroy(h->conn, vm->uuid, &err) == 0 &&
                 rc->drv->undefine(h->conn, vm->uuid, &err) == 0;
        if (!h->conn)
            cfs_err_set(&err, EHOSTDOWN, "host %s is not connected", h->name);
        pthread_rwlock_unlock(&h->rw);
        if (!ok) {
            result = fail(rc, vm, err.msg);
            goto cleanup;
        }
    }
    if (console[0])
        unlink(console);
    vm_disks_release(rc, vm);
    if (store_res_purge(rc->st, vm, &rc_actor, &err) < 0) {
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

struct verb_ctx {
    struct reconciler *rc;
    const struct cfs_res *vm;
    struct rc_host *h;
    int64_t last;
};

static int run_verb(const struct cfs_change *c, void *arg)
{
    struct verb_ctx *v = arg;
    struct reconciler *rc = v->rc;
    struct cfs_err err;
    int rc_ = 0;
    v->last = c->seq;
    if (store_now() - c->time > VERB_MAX_AGE_NS || !c->new_value)
        return 0;   /* a stale request (reconciler was down for long): not replayed */
    cfs_err_clear(&err);
    pthread_rwlock_rdlock(&v->h->rw);
    struct cfs_conn *conn = v->h->conn;
    if (!conn) {
        rc_ = cfs_err_set(&err, EHOSTDOWN, "host %s is not connected", v->h->name);
    } else if (!strcmp(c->new_value, "reboot")) {
        set_state(rc, v->vm, "rebooting");
        rc_ = rc->drv->reboot(conn, v->vm->uuid, &err);
    } else if (!strcmp(c->new_value, "reset")) {
        rc_ = rc->drv->reset(conn, v->vm->uuid, &err);
    } else if (!strcmp(c->new_value, "poweroff")) {
        rc_ = rc->drv->destroy(conn, v->vm->uuid, &err);
    }
    pthread_rwlock_unlock(&v->h->rw);
    if (rc_ == 0 && !strcmp(c->new_value, "poweroff")) {
        /* poweroff also makes "stopped" the desired state. */
        const struct cfs_attr_def *a = layout_attr(rc->k_vm, "state");
        if (a)
            store_attr_set(rc->st, v->vm, a, "stopped", &rc_actor, NULL, &err);
    }
    if (rc_ < 0) {
        char msg[CFS_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof(msg), "ctl %s: %s", c->new_value, err.msg);
        rc_set_status(rc, v->vm, "error", msg);
    }
    return 0;
}

static void run_verbs(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *h)
{
    char *last = rc_status(rc, vm->id, "_verb_seq");
    struct verb_ctx v = {.rc = rc, .vm = vm, .h = h, .last = atoll(last)};
    struct cfs_err err;
    int64_t before = v.last;
    free(last);
    if (store_res_changes(rc->st, vm->id, "verb", v.last, run_verb, &v, &err) == 0 &&
        v.last != before)
        set_int(rc, vm, "_verb_seq", v.last);
}

/* Refresh the observed values of a domain. */
static void observe(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *h,
                    struct cfs_conn *conn, const struct cfs_domain_info *info, bool refresh_xml)
{
    char buf[96];
    set_state(rc, vm, power_name(info->power));
    rc_set_status(rc, vm, "host", h->name);
    if (info->power == CFS_POWER_RUNNING || info->power == CFS_POWER_PAUSED) {
        if (info->vnc_port > 0)
            snprintf(buf, sizeof(buf), "%s:%d", info->vnc_listen[0] ? info->vnc_listen : "127.0.0.1",
                     info->vnc_port);
        else
            buf[0] = '\0';
        rc_set_status(rc, vm, "vnc", buf);
        snprintf(buf, sizeof(buf), "%.2f", (double)info->cpu_time_ns / 1e9);
        rc_set_status(rc, vm, "cpu-time", buf);
        value_format_size(info->memory_kib * 1024LL, buf, sizeof(buf));
        rc_set_status(rc, vm, "memory", buf);
        set_int(rc, vm, "cpus", info->vcpus);
        /* The live maxima, for the offering precondition (precond.c). */
        set_int(rc, vm, "_max_vcpus", info->max_vcpus);
        value_format_size(info->max_memory_kib * 1024LL, buf, sizeof(buf));
        rc_set_status(rc, vm, "_max_memory", buf);
        char *started = rc_status(rc, vm->id, "_started");
        if (!started[0]) {
            set_int(rc, vm, "_started", (long long)time(NULL));
        } else {
            set_int(rc, vm, "uptime", (long long)time(NULL) - atoll(started));
        }
        free(started);
    } else {
        rc_set_status(rc, vm, "vnc", "");
        rc_set_status(rc, vm, "memory", "");
        rc_set_status(rc, vm, "cpus", "");
        rc_set_status(rc, vm, "uptime", "");
        rc_set_status(rc, vm, "_started", "");
        rc_set_status(rc, vm, "_max_vcpus", "");
        rc_set_status(rc, vm, "_max_memory", "");
    }
    if (refresh_xml) {
        struct cfs_err err;
        char *xml = rc->drv->xml(conn, vm->uuid, &err);
        rc_set_status(rc, vm, "domain.xml", xml ? xml : "");
        free(xml);
    }
}

static int count_link(const struct cfs_res *r, void *arg)
{
    (void)r;
    (*(int64_t *)arg)++;
    return 0;
}

struct vm_spec {
    char *state, *ha, *pin, *kernel, *initrd, *cmdline, *description, *image;
    int vcpus;
    long long memory;
};

static void spec_free(struct vm_spec *s)
{
    free(s->state);
    free(s->ha);
    free(s->pin);
    free(s->kernel);
    free(s->initrd);
    free(s->cmdline);
    free(s->description);
    free(s->image);
}

/* Choose or confirm the VM's host; fills placed (a name) or returns a
 * retry delay (> 0), or 0 when there is nothing to place. */
static int place(struct reconciler *rc, const struct cfs_res *vm, const struct vm_spec *s,
                 char *placed, size_t len)
{
    struct cfs_err err;
    char *cur = rc_status(rc, vm->id, "host");
    int result = -1;
    snprintf(placed, len, "%s", cur);
    if (s->pin[0] && strcmp(s->pin, cur)) {
        /* Pinned elsewhere: the domain may move only while it is stopped. */
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
                result = fail(rc, vm, err.msg);
                goto cleanup;
            }
        }
        snprintf(placed, len, "%s", s->pin);
        rc_set_status(rc, vm, "host", placed);
    }
    if (!placed[0]) {
        if (!strcmp(s->state, "stopped")) {
            result = 0;
            goto cleanup;
        }
        pthread_mutex_lock(&rc->place_lock);
        int ok = scheduler_place(rc, vm, s->vcpus, s->memory, placed, len, &err) == 0;
        if (ok)
            rc_set_status(rc, vm, "host", placed);
        pthread_mutex_unlock(&rc->place_lock);
        if (ok)
            wake_host(rc, vm, placed);    /* its free capacity changed */
        if (!ok) {
            rc_set_status(rc, vm, "error", err.msg);
            set_state(rc, vm, "stopped");
            result = 15000;     /* capacity may appear; hosts also wake us */
            goto cleanup;
        }
    }
    result = -1;    /* placed */
cleanup:
    free(cur);
    return result;
}

static int read_spec(struct reconciler *rc, const struct cfs_res *vm, struct vm_spec *s,
                     struct cfs_err *err)
{
    memset(s, 0, sizeof(*s));
    s->state = rc_attr(rc, vm->id, "state");
    s->ha = rc_attr(rc, vm->id, "ha");
    s->pin = rc_attr(rc, vm->id, "host");
    s->kernel = rc_attr(rc, vm->id, "kernel");
    s->initrd = rc_attr(rc, vm->id, "initrd");
    s->cmdline = rc_attr(rc, vm->id, "cmdline");
    s->description = rc_attr(rc, vm->id, "description");
    s->image = rc_attr(rc, vm->id, "image");
    return scheduler_vm_size(rc, vm, &s->vcpus, &s->memory, err);
}

int reconcile_vm(struct reconciler *rc, const struct cfs_res *vm)
{
    struct vm_spec s;
    struct cfs_err err;
    char placed[CFS_NAME_MAX + 1], path[1024], console[4096], msg[512];
    struct cfs_domain_info info = {.power = CFS_POWER_NONE};
    int result = 0;
    bool locked = false;
    struct rc_host *h = NULL;
    struct vm_disks *disks = NULL;

    if (vm->deleted)
        return teardown(rc, vm);
    cfs_err_clear(&err);
    /* The generation, the spec and what was reached come from one read
     * batch: one snapshot, so a write landing meanwhile is simply newer
     * than what this pass acts on (never an unseen spec marked reached),
     * and one round of SQLite's file locks instead of a dozen. */
    store_read_begin(rc->st);
    int64_t gen = store_spec_generation(rc->st, vm->id);
    int spec = read_spec(rc, vm, &s, &err);
    char *acted_s = rc_status(rc, vm->id, "_gen");
    char *made_root = rc_status(rc, vm->id, "root-volume");
    store_read_end(rc->st);
    int64_t acted = atoll(acted_s);
    free(acted_s);
    if (spec < 0) {
        free(made_root);
        result = fail(rc, vm, err.msg);
        goto cleanup;
    }
    bool drift = acted > 0 && acted >= gen;   /* this spec was reached before */
    bool ha = !strcmp(s.ha, "on");

    bool wants_root = s.image[0] && (made_root[0] || strcmp(s.state, "stopped"));
    free(made_root);
    if (wants_root) {
        /* The root disk is made before the first start (until then image
         * and root-size may still change), and nothing is placed or
         * defined before it. */
        bool ready = false;
        if (vm_root_volume(rc, vm, s.image, &ready, &err) < 0) {
            result = fail(rc, vm, err.msg);
            goto cleanup;
        }
        if (!ready) {
            result = 2000;  /* the volume's pass wakes us too */
            goto cleanup;
        }
    }
    int p = place(rc, vm, &s, placed, sizeof(placed));
    if (p >= 0) {
        if (p == 0) {
            set_state(rc, vm, "stopped");
            converged(rc, vm, gen);
        }
        result = p;
        goto cleanup;
    }
    h = rc_host_find_name(rc, vm->parent, placed);
    if (!h) {
        snprintf(msg, sizeof(msg), "host %s does not exist", placed);
        rc_set_status(rc, vm, "host", "");
        result = fail(rc, vm, msg);
        goto cleanup;
    }
    pthread_rwlock_rdlock(&h->rw);
    locked = true;
    if (!h->conn) {
        snprintf(msg, sizeof(msg), "host %s is not connected", placed);
        result = fail(rc, vm, msg);
        goto cleanup;
    }
    struct cfs_conn *conn = h->conn;
    if (rc->drv->info(conn, vm->uuid, &info, &err) < 0) {
        result = fail(rc, vm, err.msg);
        goto cleanup;
    }

    /* Define (or update the persistent definition) when the spec moved. */
    bool defined_now = false;
    disks = vm_disks_want(rc, vm);
    if (info.power == CFS_POWER_NONE || acted < gen) {
        char *dtype = rc_attr(rc, h->id, "domain-type");
        const char *type = strcmp(dtype, "auto") && dtype[0] ? dtype : h->info.domain_type;
        bool active = info.power != CFS_POWER_NONE && info.power != CFS_POWER_SHUTOFF;
        long long mem_kib = s.memory / 1024;
        int max_vcpus = s.vcpus * rc->conf->hotplug_factor;
        long long max_kib = mem_kib * rc->conf->hotplug_factor;
        if (active && info.max_vcpus > 0) {
            /* The maxima of a running domain are fixed until it restarts:
             * grow live within them, otherwise the change waits. */
            if (s.vcpus != info.vcpus && s.vcpus <= info.max_vcpus && s.vcpus > info.vcpus)
                rc->drv->set_vcpus(conn, vm->uuid, s.vcpus, &err);
            if (mem_kib > info.memory_kib && mem_kib <= info.max_memory_kib)
                rc->drv->set_memory(conn, vm->uuid, mem_kib, &err);
        }
        snprintf(console, sizeof(console), "%s/%s.log", rc->conf->console_dir, vm->uuid);
        mkdir(rc->conf->console_dir, 0750);
        store_res_path(rc->st, vm, path, sizeof(path), &err);
        struct cfs_domain_spec spec = {
            .uuid = vm->uuid,
            .title = path,
            .description = s.description,
            .type = type,
            .arch = h->info.arch,
            .vcpus = s.vcpus,
            .max_vcpus = max_vcpus,
            .memory_kib = mem_kib,
            .max_memory_kib = max_kib,
            .kernel = s.kernel,
            .initrd = s.initrd,
            .cmdline = s.cmdline,
            .console_path = strcmp(type, "test") ? console : NULL,
        };
        spec.disks = vm_disks_array(disks, &spec.ndisks);
        char cdrom[4200];
        if (strcmp(type, "test") && vm_cdrom(rc, s.image, cdrom, sizeof(cdrom)))
            spec.cdrom = cdrom;
        rc_set_status(rc, vm, "cdrom", spec.cdrom ? s.image : "");
        spec.windows = vm_image_os_is(rc, s.image, "windows");
        int rc_ = rc->drv->define(conn, &spec, &err);
        bool has_console = spec.console_path != NULL;
        free(dtype);    /* type pointed into it */
        if (rc_ < 0) {
            result = fail(rc, vm, err.msg);
            goto cleanup;
        }
        defined_now = true;
        char dom[64];
        snprintf(dom, sizeof(dom), "%s%s", CFS_DOMAIN_PREFIX, vm->uuid);
        rc_set_status(rc, vm, "domain", dom);
        rc_set_status(rc, vm, "console", has_console ? console : "");
        if (info.power == CFS_POWER_NONE)
            info.power = CFS_POWER_SHUTOFF;
    }

    /* Volumes linked or unlinked since: plug or unplug them. */
    if (vm_disks_sync(rc, vm, conn, disks, &err) < 0) {
        result = fail(rc, vm, err.msg);
        goto cleanup;
    }
    {
        const struct cfs_link_def *l = layout_link(rc->k_vm, "volumes");
        int64_t linked = 0;
        int ndisks = 0;
        vm_disks_array(disks, &ndisks);
        if (l)
            store_link_list(rc->st, vm, l, count_link, &linked, &err);
        if (linked + (wants_root ? 1 : 0) > ndisks)
            result = 2000;  /* a linked volume is still being made */
    }
    run_verbs(rc, vm, h);
    if (rc->drv->info(conn, vm->uuid, &info, &err) < 0) {
        result = fail(rc, vm, err.msg);
        goto cleanup;
    }

    enum cfs_power pw = info.power;
    bool off = pw == CFS_POWER_SHUTOFF || pw == CFS_POWER_NONE || pw == CFS_POWER_CRASHED;
    int rc_ = 0;
    if (!strcmp(s.state, "running")) {
        stop_deadline(rc, vm->id, 0);
        if (pw == CFS_POWER_RUNNING) {
            converged(rc, vm, gen);
        } else if (pw == CFS_POWER_SHUTDOWN) {
            result = 1000;      /* let the guest finish, then start again */
        } else if (drift && !ha) {
            snprintf(msg, sizeof(msg),
                     "drift: domain is %s outside cloudfs, desired state is running "
                     "(write stopped then running to converge)", power_name(pw));
            rc_set_status(rc, vm, "error", msg);
        } else if (pw == CFS_POWER_PAUSED) {
            set_state(rc, vm, "resuming");
            rc_ = rc->drv->resume(conn, vm->uuid, &err);
        } else if (off) {
            set_state(rc, vm, "starting");
            rc_ = rc->drv->start(conn, vm->uuid, false, &err);
        }
    } else if (!strcmp(s.state, "paused")) {
        stop_deadline(rc, vm->id, 0);
        if (pw == CFS_POWER_PAUSED) {
            converged(rc, vm, gen);
        } else if (drift) {
            snprintf(msg, sizeof(msg), "drift: domain is %s outside cloudfs, desired state is paused",
                     power_name(pw));
            rc_set_status(rc, vm, "error", msg);
        } else if (pw == CFS_POWER_RUNNING) {
            set_state(rc, vm, "pausing");
            rc_ = rc->drv->suspend(conn, vm->uuid, &err);
        } else if (off) {
            set_state(rc, vm, "starting");
            rc_ = rc->drv->start(conn, vm->uuid, true, &err);
        } else {
            result = 1000;
        }
    } else {    /* stopped */
        if (off) {
            stop_deadline(rc, vm->id, 0);
            converged(rc, vm, gen);
        } else if (drift) {
            snprintf(msg, sizeof(msg), "drift: domain is %s outside cloudfs, desired state is stopped",
                     power_name(pw));
            rc_set_status(rc, vm, "error", msg);
        } else {
            int64_t now = workq_now(), deadline = stop_deadline(rc, vm->id, -1);
            if (deadline == 0 && pw == CFS_POWER_RUNNING && rc->conf->stop_timeout > 0) {
                deadline = now + (int64_t)rc->conf->stop_timeout * 1000000000LL;
                stop_deadline(rc, vm->id, deadline);
                set_state(rc, vm, "stopping");
                if (rc->drv->shutdown_guest(conn, vm->uuid, &err) < 0)
                    deadline = now;     /* no ACPI: force at once */
            }
            if (deadline == 0 || now >= deadline) {
                set_state(rc, vm, "stopping");
                rc_ = rc->drv->destroy(conn, vm->uuid, &err);
                stop_deadline(rc, vm->id, 0);
            } else {
                int64_t wait_ms = (deadline - now) / 1000000LL + 1;
                result = wait_ms < 2000 ? (int)wait_ms : 2000;
            }
        }
    }
    if (rc_ < 0) {
        result = fail(rc, vm, err.msg);
        rc->drv->info(conn, vm->uuid, &info, &err);
        observe(rc, vm, h, conn, &info, defined_now);
        goto cleanup;
    }
    if (rc->drv->info(conn, vm->uuid, &info, &err) == 0) {
        bool reached = (!strcmp(s.state, "running") && info.power == CFS_POWER_RUNNING) ||
                       (!strcmp(s.state, "paused") && info.power == CFS_POWER_PAUSED) ||
                       (!strcmp(s.state, "stopped") &&
                        (info.power == CFS_POWER_SHUTOFF || info.power == CFS_POWER_NONE));
        /* Transitional states stay visible until the domain gets there. */
        char *cur = rc_status(rc, vm->id, "state");
        bool transitional = !strcmp(cur, "stopping") && info.power == CFS_POWER_RUNNING;
        free(cur);
        if (!transitional)
            observe(rc, vm, h, conn, &info, defined_now);
        else
            rc_set_status(rc, vm, "host", h->name);
        /* Last: readers of wait take _gen as "status is final". */
        if (reached)
            converged(rc, vm, gen);
    }
cleanup:
    if (locked)
        pthread_rwlock_unlock(&h->rw);
    vm_disks_free(disks);
    spec_free(&s);
    return result;
}
