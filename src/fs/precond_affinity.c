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
static int group_rule(struct cfs_store *st, const struct cfs_res *r, bool policy,
                      const char *value, struct cfs_err *err)
{
    struct affinity_view v;
    int rc = 0;
    if (affinity_view_load(st, r->parent, r->name, 0, &v, err) < 0)
        return -1;
    if (policy)
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

static int group_policy(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    return group_rule(st, r, true, value, err);
}

static int group_enforcement(struct cfs_store *st, const struct cfs_res *r, const char *value,
                             struct cfs_err *err)
{
    return group_rule(st, r, false, value, err);
}

/* The rules, by kind and attribute, as precond.c's table (which keeps its
 * own rule for vm.host: both apply). */
static const struct {
    const char *kind, *attr;
    int (*check)(struct cfs_store *, const struct cfs_res *, const char *, struct cfs_err *);
} rules[] = {
    {"vm", "affinity-group", vm_group},
    {"vm", "host", vm_host},
    {"affinity-group", "policy", group_policy},
    {"affinity-group", "enforcement", group_enforcement},
};

int affinity_precond_attr(struct cfs_store *st, const struct cfs_res *r,
                          const struct cfs_attr_def *a, const char *value, struct cfs_err *err)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strcmp(rules[i].kind, r->kind->name) && !strcmp(rules[i].attr, a->name))
            return rules[i].check(st, r, value, err);
    return 0;
}
