/* precond_vmsnap.c: the mount's rules for whole-VM snapshots (see
 * precond_vmsnap.h and reconcile_vmsnap.c). */
#include "precond_vmsnap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND "vm-snapshot"

static const struct cfs_kind *vmsnap_kind(struct cfs_store *st)
{
    return layout_kind(store_layout(st), KIND);
}

static bool vm_active(struct cfs_store *st, const struct cfs_res *vm, char **state)
{
    *state = store_status_text(st, vm->id, "state");
    return strcmp(*state, "stopped") && (*state)[0];
}

/* Whether a disk of vm sits in a pool of type type. */
static bool vm_has_pool_type(struct cfs_store *st, const struct cfs_res *vm, const char *type)
{
    const struct cfs_layout *l = store_layout(st);
    const struct cfs_kind *kv = layout_kind(l, "volume"), *kp = layout_kind(l, "pool");
    struct cfs_res *vols = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    bool found = false;
    if (!kv || !kp || store_res_all(st, kv, &vols, &n, &ignore) < 0)
        return false;
    for (size_t i = 0; i < n && !found; i++) {
        if (vols[i].deleted || vols[i].parent != vm->parent)
            continue;
        char *att = store_status_text(st, vols[i].id, "attached-to");
        char *root = store_status_text(st, vols[i].id, "root-of");
        if (!strcmp(att, vm->name) || !strcmp(root, vm->name)) {
            char *pool = store_status_text(st, vols[i].id, "pool");
            struct cfs_res p;
            if (pool[0] && store_res_find(st, vols[i].parent, kp, pool, &p, &ignore) == 0) {
                char *t = store_attr_text(st, p.id, "type");
                found = !strcmp(t, type);
                free(t);
            }
            free(pool);
        }
        free(att);
        free(root);
    }
    free(vols);
    return found;
}

int vmsnap_precond_create(struct cfs_store *st, const struct cfs_conf *conf,
                          const struct cfs_res *vm, const struct cfs_kind *k, struct cfs_err *err)
{
    int64_t n = 0;
    if (store_res_count(st, vm->id, k, &n, err) < 0)
        return -1;
    if (n >= conf->vm_snapshots)
        return cfs_err_set(err, EDQUOT, "vm %s already holds %lld snapshots, the most "
                           "vm-snapshots (cloudfs.conf) allows; delete one first", vm->name,
                           (long long)n);
    char *state = NULL;
    int rc = 0;
    if (vm_active(st, vm, &state) && vm_has_pool_type(st, vm, "dir") &&
        vm_has_pool_type(st, vm, "rbd"))
        rc = cfs_err_set(err, EOPNOTSUPP, "vm %s is %s with disks on both a dir and an rbd pool: "
                         "libvirt snapshots a running domain's qcow2 disks only when every disk "
                         "is qcow2; stop the VM first", vm->name, state);
    free(state);
    return rc;
}

int vmsnap_vm_fixed(struct cfs_store *st, const struct cfs_res *vm, const char *what,
                    struct cfs_err *err)
{
    const struct cfs_kind *k = vmsnap_kind(st);
    int64_t n = 0;
    if (!k || k->parent != vm->kind)
        return 0;   /* not a VM (a whole-VM snapshot's parent is one) */
    if (store_res_count(st, vm->id, k, &n, err) < 0)
        return -1;
    if (n > 0)
        return cfs_err_set(err, EBUSY, "vm %s has %lld whole-VM snapshots: %s is refused while "
                           "they exist (a revert must find the same disks and NICs); delete them "
                           "first", vm->name, (long long)n, what);
    return 0;
}

static int vm_reinstall(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    (void)value;
    return vmsnap_vm_fixed(st, r, "reinstall (a new root disk)", err);
}

static int nic_change(struct cfs_store *st, const struct cfs_res *r, const char *value,
                      struct cfs_err *err)
{
    struct cfs_res vm;
    (void)value;
    return store_res_get(st, r->parent, &vm, err) < 0 ? -1
           : vmsnap_vm_fixed(st, &vm, "changing a NIC", err);
}

static int snap_memory(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    struct cfs_res vm;
    char *created = store_status_text(st, r->id, "created");
    int rc = 0;
    if (created[0])
        rc = cfs_err_set(err, EBUSY, "snapshot %s is taken already: memory is chosen right "
                         "after mkdir, before it is taken", r->name);
    else if (!strcmp(value, "on") && store_res_get(st, r->parent, &vm, err) == 0 &&
             vm_has_pool_type(st, &vm, "rbd"))
        rc = cfs_err_set(err, EOPNOTSUPP, "vm %s has a disk on an rbd pool: its memory "
                         "cannot be kept with it (libvirt keeps memory in qcow2 disks only)",
                         vm.name);
    free(created);
    return rc;
}

static int snap_revert(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    int rc = 0;
    (void)value;
    if (strcmp(state, "ready"))
        rc = cfs_err_set(err, EBUSY, "snapshot %s is %s; it can be reverted to once ready",
                         r->name, state[0] ? state : "not taken yet");
    free(state);
    return rc;
}

/* The rules, by kind, attribute and (when not NULL) the value written, as
 * precond.c's table (which calls these first: both apply). */
static const struct {
    const char *kind, *attr, *value;
    int (*check)(struct cfs_store *, const struct cfs_res *, const char *, struct cfs_err *);
} rules[] = {
    {"vm", "ctl", "reinstall", vm_reinstall},
    {"nic", "subnet", NULL, nic_change},
    {"nic", "ip", NULL, nic_change},
    {"nic", "mac", NULL, nic_change},
    {KIND, "memory", NULL, snap_memory},
    {KIND, "ctl", "revert", snap_revert},
};

int vmsnap_precond_attr(struct cfs_store *st, const struct cfs_res *r, const char *attr,
                        const char *value, struct cfs_err *err)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strcmp(rules[i].kind, r->kind->name) && !strcmp(rules[i].attr, attr) &&
            (!rules[i].value || !strcmp(rules[i].value, value)))
            return rules[i].check(st, r, value, err);
    return 0;
}

int vmsnap_precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    struct cfs_res vm;
    char *vmstate = NULL;
    if (store_res_get(st, r->parent, &vm, err) < 0)
        return -1;
    char *lv = store_status_text(st, r->id, "_vmsnap_libvirt");
    char *created = store_status_text(st, r->id, "created");
    int rc = 0;
    /* qemu-img cannot delete a snapshot from a qcow2 file in use; one that
     * libvirt took, libvirt deletes from the running domain. */
    if (created[0] && strcmp(lv, "1") && vm_active(st, &vm, &vmstate) &&
        vm_has_pool_type(st, &vm, "dir"))
        rc = cfs_err_set(err, EBUSY, "vm %s is %s: snapshot %s was taken while it was stopped and "
                         "its dir-pool disks' qcow2 files in use cannot lose it; stop the VM first",
                         vm.name, vmstate, r->name);
    free(vmstate);
    free(lv);
    free(created);
    return rc;
}

int vmsnap_delete_parts(struct cfs_store *st, const struct cfs_res *vm,
                        const struct cfs_actor *actor, struct cfs_err *err)
{
    const struct cfs_kind *k = vmsnap_kind(st);
    struct cfs_res *all = NULL;
    size_t n = 0;
    int rc = 0;
    if (!k || k->parent != vm->kind)
        return 0;
    if (store_res_all(st, k, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (all[i].parent == vm->id && !all[i].deleted)
            rc = store_res_delete(st, &all[i], actor, err);
    free(all);
    return rc;
}
