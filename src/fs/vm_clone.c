/* vm_clone.c: a VM made a copy of another (see vm_clone.h).
 *
 * What is copied: the spec attributes the source has stored, except its
 * identity and placement (state, host, pool, hostname, password, tags,
 * from): the clone starts stopped, is placed by the scheduler, and its
 * root disk lives in the source root volume's pool (a volume made from a
 * snapshot stays in its source's pool).  NICs: one of the same name in
 * each subnet, with model copied and ip and mac left auto (new ones).
 */
#include "vm_clone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "precond.h"
#include "precond_net.h"
#include "quota.h"
#include "status_keys.h"

static const char *const not_copied[] = {"state", "host", "pool", "hostname", "from"};

static bool copied(const struct cfs_attr_def *a)
{
    if (a->type == CFS_T_VERB || a->type == CFS_T_SECRET || a->type == CFS_T_TAGS)
        return false;
    for (size_t i = 0; i < sizeof(not_copied) / sizeof(not_copied[0]); i++)
        if (!strcmp(a->name, not_copied[i]))
            return false;
    return true;
}

static bool is_from(const struct cfs_res *r, const struct cfs_attr_def *a, const char *value)
{
    return !strcmp(r->kind->name, "vm") && !strcmp(a->name, "from") && value[0];
}

/* The source VM and its root volume. */
static int source_of(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_res *src, struct cfs_res *root, struct cfs_err *err)
{
    const struct cfs_kind *kv = layout_kind(store_layout(st), "volume");
    if (!kv)
        return cfs_err_set(err, EINVAL, "this layout has no volumes");
    if (store_res_find(st, r->parent, r->kind, value, src, err) < 0)
        return -1;
    char *name = store_status_text(st, src->id, "root-volume");
    int rc = store_res_find(st, src->parent, kv, name, root, err);
    if (rc < 0)
        cfs_err_set(err, EINVAL, "vm %s has no root volume to clone", src->name);
    free(name);
    return rc;
}

static void clone_snapshot_name(const struct cfs_res *r, char *out, size_t len)
{
    snprintf(out, len, "clone-%s", r->uuid);
}

int vm_clone_check(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                   const struct cfs_attr_def *a, const char *value, bool quota,
                   struct cfs_err *err)
{
    const struct cfs_kind *ks = layout_kind(store_layout(st), "snapshot");
    struct cfs_res src, root;
    char *have = NULL;
    int rc = 0;
    if (!is_from(r, a, value))
        return 0;
    if (!ks)
        return cfs_err_set(err, EINVAL, "this layout has no snapshots");
    have = store_attr_text(st, r->id, "from");
    if (!strcmp(have, value))
        goto cleanup;   /* written again: nothing more is made */
    if (source_of(st, r, value, &src, &root, err) < 0 ||
        precond_create(st, conf, &root, ks, err) < 0 ||
        (quota && quota_check_create(st, root.uid, ks, err) < 0)) {
        rc = -1;
        goto cleanup;
    }
    for (size_t i = 0; quota && i < r->kind->nattrs; i++) {
        const struct cfs_attr_def *d = &r->kind->attrs[i];
        char *v = NULL;
        struct cfs_err ignore;
        if (!copied(d) || store_attr_get(st, src.id, d->name, &v, NULL, &ignore) < 0 || !v)
            continue;
        rc = quota_check_attr(st, r, d, v, err);
        free(v);
        if (rc < 0)
            goto cleanup;
    }
cleanup:
    free(have);
    return rc;
}

static int copy_spec(struct cfs_store *st, const struct cfs_res *src, const struct cfs_res *r,
                     const struct cfs_actor *actor, struct cfs_err *err)
{
    for (size_t i = 0; i < r->kind->nattrs; i++) {
        const struct cfs_attr_def *d = &r->kind->attrs[i];
        char *v = NULL;
        struct cfs_err ignore;
        if (!copied(d) || store_attr_get(st, src->id, d->name, &v, NULL, &ignore) < 0 || !v)
            continue;
        int rc = store_attr_set(st, r, d, v, actor, NULL, err);
        free(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A NIC of the clone for the source's NIC n: the same name, subnet and
 * model; a subnet without a free address leaves it unconnected, saying
 * why (as a new VM's default NIC). */
static int copy_nic(struct cfs_store *st, const struct cfs_res *r, const struct cfs_res *n,
                    const struct cfs_actor *actor, struct cfs_err *err)
{
    const struct cfs_attr_def *as = layout_attr(n->kind, "subnet");
    const struct cfs_attr_def *am = layout_attr(n->kind, "model");
    struct cfs_res nic;
    struct cfs_err why;
    char *subnet = store_attr_text(st, n->id, "subnet");
    char *model = store_attr_text(st, n->id, "model");
    int rc = -1;
    cfs_err_clear(&why);
    if (store_res_find(st, r->id, n->kind, n->name, &nic, &why) < 0) {
        if (net_precond_create(st, r, n->kind, err) < 0 ||
            store_res_create(st, r->id, n->kind, n->name, r->uid, r->gid, actor, &nic, err) < 0 ||
            net_applied(st, &nic, NULL, actor, err) < 0)
            goto cleanup;
    }
    if (am && model[0] && store_attr_set(st, &nic, am, model, actor, NULL, err) < 0)
        goto cleanup;
    if (as && subnet[0]) {
        char *cur = store_attr_text(st, nic.id, "subnet");
        bool same = !strcmp(cur, subnet);
        free(cur);
        if (!same) {
            if (precond_attr(st, &nic, as, subnet, &why) < 0) {
                rc = store_status_set(st, &nic, "error", why.msg, actor, err);
                goto cleanup;
            }
            if (store_attr_set(st, &nic, as, subnet, actor, NULL, err) < 0 ||
                net_applied(st, &nic, as, actor, err) < 0)
                goto cleanup;
        }
    }
    rc = 0;
cleanup:
    free(subnet);
    free(model);
    return rc;
}

struct nic_ctx {
    struct cfs_store *st;
    const struct cfs_res *r;
    const struct cfs_actor *actor;
    struct cfs_err *err;
    int rc;
};

static int nic_cb(const struct cfs_res *n, void *arg)
{
    struct nic_ctx *c = arg;
    if (n->deleted)
        return 0;
    c->rc = copy_nic(c->st, c->r, n, c->actor, c->err);
    return c->rc < 0;
}

int vm_clone_apply(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                   const char *value, const struct cfs_actor *actor, struct cfs_err *err)
{
    const struct cfs_layout *l = store_layout(st);
    const struct cfs_kind *ks = layout_kind(l, "snapshot"), *kn = layout_kind(l, "nic");
    struct cfs_res src, root, snap;
    char name[CFS_NAME_MAX + 1], ref[2 * CFS_NAME_MAX + 2];
    char *made = NULL;
    int rc = -1;
    if (!is_from(r, a, value))
        return 0;
    made = store_status_text(st, r->id, CFS_ST_CLONE);
    if (made[0]) {
        rc = 0;     /* written again: made already */
        goto cleanup;
    }
    if (!ks || source_of(st, r, value, &src, &root, err) < 0)
        goto cleanup;
    clone_snapshot_name(r, name, sizeof(name));
    snprintf(ref, sizeof(ref), "%s/%s", root.name, name);
    const struct cfs_attr_def *ad = layout_attr(ks, "description");
    char desc[CFS_NAME_MAX + 32];
    snprintf(desc, sizeof(desc), "taken for the clone vm %s", r->name);
    if (copy_spec(st, &src, r, actor, err) < 0 ||
        store_res_create(st, root.id, ks, name, root.uid, root.gid, actor, &snap, err) < 0 ||
        (ad && store_attr_set(st, &snap, ad, desc, actor, NULL, err) < 0) ||
        store_status_set(st, r, CFS_ST_CLONE, ref, actor, err) < 0)
        goto cleanup;
    if (kn) {
        struct nic_ctx c = {.st = st, .r = r, .actor = actor, .err = err, .rc = 0};
        if (store_res_list(st, src.id, kn, nic_cb, &c, err) < 0 || c.rc < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    free(made);
    return rc;
}
