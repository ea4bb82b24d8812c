/* scheduler.c: VM placement within a cluster.
 *
 * Capacity follows the reference platforms (ZStack): placeable vCPUs are
 * host threads x the cluster's cpu-overcommit; placeable memory is (host
 * memory - reserved-memory) x memory-overcommit.  Among enabled, connected
 * hosts with room, the least loaded by memory share wins (balanced spread),
 * then the one with fewer VMs, then the name.  A VM in an affinity group
 * (affinity.h) is placed only where the group's hard rule holds, and among
 * those first where its soft rule holds best.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "offering.h"
#include "rc_store.h"
#include "scheduler.h"
#include "status_keys.h"
#include "value.h"
#include "vm_move_rules.h"

int scheduler_vm_size(struct reconciler *rc, const struct cfs_res *vm, int *vcpus,
                      long long *memory, struct cfs_err *err)
{
    char *name = rc_attr(rc, vm->id, "offering");
    struct cfs_offering off;
    int ret = store_offering_get(rc->st, name, &off, err);
    *vcpus = off.cpus;
    *memory = off.memory;
    free(name);
    return ret;
}

static long long ratio_of(struct reconciler *rc, int64_t cluster, const char *attr)
{
    char *v = rc_attr(rc, cluster, attr);
    long long h = 100;
    if (value_parse_ratio(v, &h) < 0)
        h = 100;
    free(v);
    return h;
}

int scheduler_capacity(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                       int64_t exclude_vm, struct sched_capacity *cap, struct cfs_err *err)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    memset(cap, 0, sizeof(*cap));
    long long cpu_ratio = ratio_of(rc, host->parent, "cpu-overcommit");
    long long mem_ratio = ratio_of(rc, host->parent, "memory-overcommit");
    pthread_rwlock_rdlock(&h->rw);
    int cpus = h->info.cpus;
    long long mem = h->info.memory_kib * 1024LL;
    pthread_rwlock_unlock(&h->rw);
    cap->cpus_total = (long long)cpus * cpu_ratio / 100;
    long long usable = mem - rc->conf->reserved_memory;
    cap->mem_total = usable > 0 ? usable * mem_ratio / 100 : 0;
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), host->parent, "host",
                            host->name, &vms, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        long long m = 0;
        struct cfs_err ignore;
        if (vms[i].id == exclude_vm)
            continue;
        cap->vms++;
        if (scheduler_vm_size(rc, &vms[i], &c, &m, &ignore) == 0) {
            cap->cpus_used += c;
            cap->mem_used += m;
        }
    }
    free(vms);
    /* VMs migrating here count from the moment their move is decided. */
    vms = NULL;
    n = 0;
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), host->parent,
                            CFS_ST_MIGRATING_TO, host->name, &vms, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        long long m = 0;
        struct cfs_err ignore;
        if (vms[i].id != exclude_vm && scheduler_vm_size(rc, &vms[i], &c, &m, &ignore) == 0) {
            cap->cpus_used += c;
            cap->mem_used += m;
        }
    }
    free(vms);
    return 0;
}

struct candidate {
    char name[CFS_NAME_MAX + 1];
    int affinity;               /* affinity_cost: lower keeps the group's rule better */
    long long mem_permille;     /* memory share after placing the VM */
    int vms;
};

int scheduler_place(struct reconciler *rc, const struct cfs_res *vm, int vcpus,
                    long long memory, char *out, size_t len, struct cfs_err *err)
{
    return scheduler_place_except(rc, vm, vcpus, memory, NULL, out, len, err);
}

int scheduler_place_except(struct reconciler *rc, const struct cfs_res *vm, int vcpus,
                           long long memory, const char *except, char *out, size_t len,
                           struct cfs_err *err)
{
    struct cfs_res *hosts = NULL;
    size_t n = 0;
    struct candidate best = {.name = ""};
    int seen = 0, usable = 0, untried = 0;
    char why[160] = "";
    struct affinity_view group;
    char forbid[320] = "";
    int forbidden = 0;
    char cpu_why[320] = "";
    int cpu_refused = 0;
    if (affinity_view_of_vm(rc->st, vm, &group, err) < 0)
        return -1;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_host), &hosts, &n, err) < 0) {
        affinity_view_free(&group);
        return -1;
    }
    char *origin = vm_move_cpu_origin(rc, vm);   /* a host-passthrough VM's CPU */
    for (size_t i = 0; i < n; i++) {
        const struct cfs_res *h = &hosts[i];
        if (h->deleted || h->parent != vm->parent || (except && !strcmp(h->name, except)))
            continue;
        seen++;
        char *state = rc_attr(rc, h->id, "state");
        bool enabled = !strcmp(state, "enabled");
        free(state);
        struct rc_host *rh = rc_host_get(rc, h);
        bool connected = false;
        if (rh) {
            pthread_rwlock_rdlock(&rh->rw);
            connected = rh->conn && rc->drv->alive(rh->conn) && rh->info.cpus > 0;
            if (enabled && !rh->tried)
                untried++;
            pthread_rwlock_unlock(&rh->rw);
        }
        if (!enabled || !connected)
            continue;
        usable++;
        char one[160];
        if (group.rule.hard && !affinity_keeps(&group, h->name, one, sizeof(one))) {
            size_t used = strlen(forbid);
            snprintf(forbid + used, sizeof(forbid) - used, "%s%s", used ? ", " : "", one);
            forbidden++;
            continue;
        }
        if (!vm_move_cpu_fits(rc, origin, h, cpu_why, sizeof(cpu_why))) {
            cpu_refused++;
            continue;
        }
        struct sched_capacity cap;
        if (scheduler_capacity(rc, h, rh, vm->id, &cap, err) < 0)
            continue;
        if (cap.cpus_used + vcpus > cap.cpus_total || cap.mem_used + memory > cap.mem_total) {
            snprintf(why, sizeof(why), "%s has %lld vCPUs and %lld MiB free", h->name,
                     cap.cpus_total - cap.cpus_used, (cap.mem_total - cap.mem_used) >> 20);
            continue;
        }
        struct candidate c = {.vms = cap.vms, .affinity = affinity_cost(&group, h->name)};
        snprintf(c.name, sizeof(c.name), "%s", h->name);
        c.mem_permille = cap.mem_total ? (cap.mem_used + memory) * 1000 / cap.mem_total : 1000;
        if (!best.name[0] || c.affinity < best.affinity ||
            (c.affinity == best.affinity && c.mem_permille < best.mem_permille) ||
            (c.affinity == best.affinity && c.mem_permille == best.mem_permille &&
             c.vms < best.vms))
            best = c;
    }
    free(hosts);
    free(origin);
    bool hard_anti = group.rule.anti;  /* anti-affinity (the rule of a hard group) */
    char gname[sizeof(group.rule.group)];
    snprintf(gname, sizeof(gname), "%s", group.rule.group);
    affinity_view_free(&group);
    if (!best.name[0]) {
        /* Hosts not yet tried since start-up may have room: not a failure. */
        if (untried > 0)
            return cfs_err_set(err, EAGAIN, "%d host(s) still connecting", untried);
        if (seen == 0)
            return cfs_err_set(err, ENOSPC, "no host in this cluster");
        if (usable == 0)
            return cfs_err_set(err, ENOSPC, "no enabled, connected host in this cluster");
        if (cpu_refused > 0 && cpu_refused + forbidden == usable)
            return cfs_err_set(err, ENOSPC, "no host has the CPU of this host-passthrough VM "
                               "(%s)", cpu_why);
        if (forbidden == usable)
            return cfs_err_set(err, ENOSPC, "no host keeps hard %s group %s (%s)",
                               hard_anti ? "anti-affinity" : "affinity", gname, forbid);
        if (forbidden > 0)
            return cfs_err_set(err, ENOSPC, "no host has room for %d vCPUs and %lld MiB (%s) "
                               "but %d that would break hard %s group %s", vcpus, memory >> 20,
                               why, forbidden, hard_anti ? "anti-affinity" : "affinity", gname);
        return cfs_err_set(err, ENOSPC, "no host has room for %d vCPUs and %lld MiB (%s)", vcpus,
                           memory >> 20, why);
    }
    snprintf(out, len, "%s", best.name);
    return 0;
}

int scheduler_may_run(struct reconciler *rc, const struct cfs_res *vm, const char *host, char *why,
                      size_t len, struct cfs_err *err)
{
    return affinity_may_run(rc->st, vm, host, why, len, err);
}
