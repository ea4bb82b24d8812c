/* precond_affinity.c: preconditions of affinity groups (see precond_affinity.h). */
#include "precond_affinity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"

/* vm.affinity-group: the VM's host must keep the new group's hard rule:
 * the one it is pinned to (where it goes), else the one it is placed on. */
static int vm_group(struct cfs_store *st, const struct cfs_res *r, const char *value,
                    struct cfs_err *err)
{
    struct affinity_view v;
    struct cfs_err ignore;
    char why[256];
    int rc = 0;
    if (!value[0])
        return 0;
    /* An unknown group: the store's reference check says ENOENT. */
    if (affinity_view_load(st, r->parent, value, r->id, &v, &ignore) < 0)
        return 0;
    char *host = store_attr_text(st, r->id, "host");
    if (!host[0]) {
        free(host);
        host = store_status_text(st, r->id, "host");
    }
    if (v.rule.hard && host[0] && !affinity_keeps(&v, host, why, sizeof(why)))
        rc = cfs_err_set(err, EBUSY, "vm %s on host %s would break hard %s group %s (%s)",
                         r->name, host, v.rule.anti ? "anti-affinity" : "affinity", value, why);
    free(host);
    affinity_view_free(&v);
    return rc;
}

/* vm.host: a VM is not pinned where its group's hard rule forbids. */
static int vm_host(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    char why[512];
    if (!value[0])
        return 0;
    int ok = affinity_may_run(st, r, value, why, sizeof(why), err);
    if (ok < 0)
        return -1;
    return ok ? 0 : cfs_err_set(err, EBUSY, "%s", why);
}

/* affinity-group.policy and enforcement: the members placed now must keep
 * the rule the write makes, when it is hard. */
static int group_rule(struct cfs_store *st, const struct cfs_res *r, const char *attr,
                      const char *value, struct cfs_err *err)
{
    struct affinity_view v;
    int rc = 0;
    if (affinity_view_load(st, r->parent, r->name, 0, &v, err) < 0)
        return -1;
    if (!strcmp(attr, "policy"))
        v.rule.anti = strcmp(value, "affinity") != 0;
    else
        v.rule.hard = strcmp(value, "hard") == 0;
    char *broken = v.rule.hard ? affinity_violations(&v) : strdup("");
    if (!broken)
        rc = cfs_err_set(err, ENOMEM, "out of memory");
    else if (broken[0])
        rc = cfs_err_set(err, EBUSY, "the placed members of group %s would break hard %s: %s",
                         r->name, v.rule.anti ? "anti-affinity" : "affinity",
                         strtok(broken, "\n"));
    free(broken);
    affinity_view_free(&v);
    return rc;
}

int affinity_precond_attr(struct cfs_store *st, const struct cfs_res *r,
                          const struct cfs_attr_def *a, const char *value, struct cfs_err *err)
{
    if (!strcmp(r->kind->name, "vm") && !strcmp(a->name, "affinity-group"))
        return vm_group(st, r, value, err);
    if (!strcmp(r->kind->name, "vm") && !strcmp(a->name, "host"))
        return vm_host(st, r, value, err);
    if (!strcmp(r->kind->name, "affinity-group") &&
        (!strcmp(a->name, "policy") || !strcmp(a->name, "enforcement")))
        return group_rule(st, r, a->name, value, err);
    return 0;
}
