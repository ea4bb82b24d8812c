/* rc_kinds.c: the table of the reconciler's kinds (see rc_kind.h). */
#include "rc_kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"

/* A change of a cluster (overcommit ratios) or of an offering (sizes)
 * moves every host's capacity and may let waiting VMs be placed. */
const struct rc_kind rc_kind_cluster = {.name = "cluster", .wakes = RC_WAKE_RESYNC};
const struct rc_kind rc_kind_offering = {.name = "offering", .wakes = RC_WAKE_RESYNC};
/* A group's rule decides where its members may be placed (scheduler.c). */
const struct rc_kind rc_kind_affinity_group = {.name = "affinity-group", .wakes = RC_WAKE_RESYNC};

/* In resync order: hosts first (VMs need their connections), pools before
 * the volumes and images that live in them, VMs after their disks. */
const struct rc_kind *const rc_kinds[] = {
    &rc_kind_host,
    &rc_kind_vpc,
    &rc_kind_subnet,
    &rc_kind_nic,
    &rc_kind_secgroup, &rc_kind_sgrule,
    &rc_kind_pool,
    &rc_kind_image,
    &rc_kind_volume,
    &rc_kind_snapshot,
    &rc_kind_vm,
    &rc_kind_vmsnap,
    &rc_kind_task,
    &rc_kind_alarm,
    &rc_kind_cluster,
    &rc_kind_offering,
    &rc_kind_affinity_group,
};
const size_t rc_nkinds = sizeof(rc_kinds) / sizeof(rc_kinds[0]);

static const char *list_of(const struct rc_kind *row, enum rc_decl_list l)
{
    switch (l) {
    case RC_ATTRS_READ: return row->attrs_read;
    case RC_ATTRS_WRITTEN: return row->attrs_written;
    case RC_STATUS_READ: return row->status_read;
    case RC_STATUS_WRITTEN:
    case RC_NLISTS:
    default: return row->status_written;
    }
}

/* Resolve one declared name: "name" of the row's kind or "kind/name". */
static int resolve(const struct cfs_layout *l, const struct rc_bound *b, enum rc_decl_list list,
                   const char *decl, size_t len, struct rc_decl *out, struct cfs_err *err)
{
    static const char *const what[RC_NLISTS] = {"attribute", "attribute", "status", "status"};
    const char *slash = memchr(decl, '/', len);
    size_t own = slash ? (size_t)(slash - decl) : 0;
    const char *name = slash ? slash + 1 : decl;
    int nlen = (int)(len - (size_t)(name - decl));
    char owner[CFS_NAME_MAX + 1];
    snprintf(owner, sizeof(owner), "%.*s", (int)own, decl);
    snprintf(out->name, sizeof(out->name), "%.*s", nlen, name);
    out->kind = slash ? layout_kind(l, owner) : b->kind;
    bool attr = list == RC_ATTRS_READ || list == RC_ATTRS_WRITTEN;
    bool known = out->kind &&
                 (attr ? layout_attr(out->kind, out->name) != NULL
                       : out->name[0] == '_' || layout_status(out->kind, out->name) != NULL);
    if (!known)
        return cfs_err_set(err, EINVAL, "the %s row declares %s %s/%s, which the layout does not "
                           "have", b->row->name, what[list], slash ? owner : b->row->name,
                           out->name);
    return 0;
}

/* Resolve the space-separated names of one list of the row. */
static int bind_list(const struct cfs_layout *l, struct rc_bound *b, enum rc_decl_list list,
                     struct cfs_err *err)
{
    const char *names = list_of(b->row, list);
    size_t n = 0;
    for (const char *p = names; p && *(p += strspn(p, " ")); p += strcspn(p, " "))
        n++;
    b->decl[list] = calloc(n ? n : 1, sizeof(*b->decl[list]));
    if (!b->decl[list])
        return cfs_err_set(err, ENOMEM, "out of memory");
    for (const char *p = names; p && *(p += strspn(p, " ")); p += strcspn(p, " "))
        if (resolve(l, b, list, p, strcspn(p, " "), &b->decl[list][b->ndecl[list]++], err) < 0)
            return -1;
    return 0;
}

static int bind_row(const struct cfs_layout *l, struct rc_bound *b, struct cfs_err *err)
{
    const struct rc_kind *row = b->row;
    b->kind = layout_kind(l, row->name);
    if (!b->kind)
        return cfs_err_set(err, EINVAL, "the reconciler has a row for kind %s, which the layout "
                           "does not have", row->name);
    bool owned = b->kind->reconciled || b->kind->system;
    if (row->pass && !owned)
        return cfs_err_set(err, EINVAL, "the reconciler has a pass for kind %s, which the layout "
                           "marks neither reconciled nor system", row->name);
    if (!row->pass && owned)
        return cfs_err_set(err, EINVAL, "kind %s is %s in the layout but the reconciler has no "
                           "pass for it", row->name,
                           b->kind->reconciled ? "reconciled" : "system");
    for (int li = 0; li < RC_NLISTS; li++)
        if (bind_list(l, b, (enum rc_decl_list)li, err) < 0)
            return -1;
    return 0;
}

int rc_kinds_bind(const struct cfs_layout *l, struct rc_bound **out, struct cfs_err *err)
{
    struct rc_bound *b = calloc(rc_nkinds, sizeof(*b));
    int ret = -1;
    if (!b)
        return cfs_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < rc_nkinds; i++) {
        b[i].row = rc_kinds[i];
        if (bind_row(l, &b[i], err) < 0)
            goto cleanup;
    }
    for (size_t i = 0; i < rc_nkinds; i++) {
        char names[128];
        char *save = NULL;
        snprintf(names, sizeof(names), "%s", b[i].row->wakes_kinds ? b[i].row->wakes_kinds : "");
        for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            if (!layout_kind(l, t)) {
                cfs_err_set(err, EINVAL, "kind %s wakes kind %s, which the layout lacks",
                            b[i].row->name, t);
                goto cleanup;
            }
        }
    }
    for (size_t i = 0; i < l->nkinds; i++) {
        const struct cfs_kind *k = &l->kinds[i];
        bool row = false;
        for (size_t j = 0; j < rc_nkinds; j++)
            row = row || b[j].kind == k;
        if ((k->reconciled || k->system) && !row) {
            cfs_err_set(err, EINVAL, "kind %s is %s in the layout but the reconciler has no "
                        "pass for it", k->name, k->reconciled ? "reconciled" : "system");
            goto cleanup;
        }
    }
    *out = b;
    b = NULL;
    ret = 0;
cleanup:
    rc_kinds_unbind(b);
    return ret;
}

void rc_kinds_unbind(struct rc_bound *b)
{
    for (size_t i = 0; b && i < rc_nkinds; i++)
        for (int li = 0; li < RC_NLISTS; li++)
            free(b[i].decl[li]);
    free(b);
}

bool rc_declared(const struct rc_bound *b, enum rc_decl_list list, const struct cfs_kind *kind,
                 const char *name)
{
    for (size_t i = 0; b && i < b->ndecl[list]; i++)
        if ((!kind || b->decl[list][i].kind == kind) && !strcmp(b->decl[list][i].name, name))
            return true;
    return false;
}

const struct rc_bound *rc_bound_row(const struct reconciler *rc, const struct rc_kind *row)
{
    for (size_t i = 0; i < rc_nkinds; i++)
        if (rc->kinds[i].row == row)
            return &rc->kinds[i];
    return NULL;
}

const struct cfs_kind *rc_layout_kind(const struct reconciler *rc, const struct rc_kind *row)
{
    const struct rc_bound *b = rc_bound_row(rc, row);
    return b ? b->kind : NULL;
}

const struct rc_bound *rc_bound_of(const struct reconciler *rc, const struct cfs_kind *k)
{
    for (size_t i = 0; k && i < rc_nkinds; i++)
        if (rc->kinds[i].kind == k)
            return &rc->kinds[i];
    return NULL;
}
