/* precond.c: state-dependent preconditions (see precond.h).  One function
 * per rule, listed in one table so the rules are easy to find. */
#include "precond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

static bool is_active(const char *state)
{
    static const char *const active[] = {"running", "paused", "starting", "stopping",
                                         "pausing", "resuming", "rebooting"};
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
        if (!strcmp(state, active[i]))
            return true;
    return false;
}

/* vm.host: a running VM is not moved (live migration is not available). */
static int vm_host(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    char *placed = store_status_text(st, r->id, "host");
    int rc = 0;
    if (value[0] && placed[0] && strcmp(value, placed) && is_active(state))
        rc = cfs_err_set(err, EBUSY, "vm %s is %s on host %s; stop it before moving it to %s",
                         r->name, state, placed, value);
    free(state);
    free(placed);
    return rc;
}

/* vm.offering: a running VM only grows, within the maxima fixed at start
 * (the reference platforms' "hot upgrade"); anything else waits for a stop. */
static int vm_offering(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    int rc = 0;
    if (is_active(state)) {
        const struct cfs_kind *ko = layout_kind(store_layout(st), "offering");
        struct cfs_res off;
        char *cpus = NULL, *mem = NULL;
        char *cur_cpus = store_status_text(st, r->id, "cpus");
        char *cur_mem = store_status_text(st, r->id, "memory");
        char *max_cpus = store_status_text(st, r->id, "_max_vcpus");
        char *max_mem = store_status_text(st, r->id, "_max_memory");
        long long want_mem = 0, have_mem = 0, top_mem = 0;
        if (ko && store_res_find(st, 0, ko, value, &off, err) == 0 &&
            store_attr_get(st, off.id, "cpus", &cpus, NULL, err) == 0 &&
            store_attr_get(st, off.id, "memory", &mem, NULL, err) == 0 &&
            value_parse_size(mem, &want_mem) == 0) {
            value_parse_size(cur_mem, &have_mem);
            value_parse_size(max_mem, &top_mem);
            int want_cpus = atoi(cpus), have_cpus = atoi(cur_cpus), top_cpus = atoi(max_cpus);
            if ((have_cpus && want_cpus < have_cpus) || (have_mem && want_mem < have_mem))
                rc = cfs_err_set(err, EBUSY,
                                 "vm %s is %s: a running VM can only grow; stop it to shrink",
                                 r->name, state);
            else if ((top_cpus && want_cpus > top_cpus) || (top_mem && want_mem > top_mem))
                rc = cfs_err_set(err, EBUSY,
                                 "vm %s is %s: %s exceeds the live maximum (%d vCPUs, %s); "
                                 "stop it first", r->name, state, value, top_cpus, max_mem);
        }
        free(cpus);
        free(mem);
        free(cur_cpus);
        free(cur_mem);
        free(max_cpus);
        free(max_mem);
    }
    free(state);
    return rc;
}

/* First VM placed on host h that is active (or any, when any_state). */
static int placed_vm(struct cfs_store *st, const struct cfs_res *h, bool any_state, char *name,
                     size_t len, struct cfs_err *err)
{
    const struct cfs_kind *kvm = layout_kind(store_layout(st), "vm");
    struct cfs_res *vms = NULL;
    size_t n = 0;
    int found = 0;
    if (!kvm)
        return 0;
    if (store_res_by_status(st, kvm, h->parent, "host", h->name, &vms, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && !found; i++) {
        char *state = store_status_text(st, vms[i].id, "state");
        if (any_state || is_active(state)) {
            snprintf(name, len, "%s", vms[i].deleted ? "(being deleted)" : vms[i].name);
            found = 1;
        }
        free(state);
    }
    free(vms);
    return found;
}

/* host.state = maintenance: only an empty host (evacuation is not available). */
static int host_state(struct cfs_store *st, const struct cfs_res *r, const char *value,
                      struct cfs_err *err)
{
    char vm[CFS_NAME_MAX + 32];
    if (strcmp(value, "maintenance"))
        return 0;
    int found = placed_vm(st, r, false, vm, sizeof(vm), err);
    if (found < 0)
        return -1;
    if (found)
        return cfs_err_set(err, EBUSY,
                           "host %s still runs vm %s; stop or move its VMs before maintenance",
                           r->name, vm);
    return 0;
}

static const struct {
    const char *kind, *attr;
    int (*check)(struct cfs_store *, const struct cfs_res *, const char *, struct cfs_err *);
} rules[] = {
    {"vm", "host", vm_host},
    {"vm", "offering", vm_offering},
    {"host", "state", host_state},
};

int precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                 const char *value, struct cfs_err *err)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strcmp(rules[i].kind, r->kind->name) && !strcmp(rules[i].attr, a->name))
            return rules[i].check(st, r, value, err);
    return 0;
}

int precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    char vm[CFS_NAME_MAX + 32];
    if (strcmp(r->kind->name, "host"))
        return 0;
    int found = placed_vm(st, r, true, vm, sizeof(vm), err);
    if (found < 0)
        return -1;
    if (found)
        return cfs_err_set(err, EBUSY, "host %s still holds vm %s", r->name, vm);
    return 0;
}
