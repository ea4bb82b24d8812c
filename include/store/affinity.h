/* affinity.h: affinity and anti-affinity groups (affinity-groups/G/).
 *
 * A VM belongs to at most one group of its cluster (its attribute
 * affinity-group).  A member counts on the host it is placed on
 * (status/host), stopped or not, as the scheduler's capacity counts it,
 * or, before its first placement, on the host it is pinned to (host).
 * The rules are read here, in the store, so that the mount's
 * preconditions, the status files and the reconciler's scheduler (start,
 * migration, evacuation, HA restarts) judge a placement by one code path.
 */
#ifndef CFS_AFFINITY_H
#define CFS_AFFINITY_H

#include <stdbool.h>

#include "cfs_error.h"
#include "store.h"

struct affinity_rule {
    char group[CFS_NAME_MAX + 1];   /* "" when the VM is in no group */
    bool anti;                      /* anti-affinity (else affinity) */
    bool hard;                      /* enforcement hard (else soft) */
};

struct affinity_member {
    char vm[CFS_NAME_MAX + 1];
    char host[CFS_NAME_MAX + 1];    /* status/host, else host (pinned); "" when neither */
};

/* A group's rule and its members, sorted by host then name. */
struct affinity_view {
    struct affinity_rule rule;
    struct affinity_member *m;
    size_t n;
};

/* The rule of group `group` of cluster `cluster`: ENOENT when there is none. */
int affinity_rule_get(struct cfs_store *st, int64_t cluster, const char *group,
                      struct affinity_rule *rule, struct cfs_err *err);
/* The group's rule and members, leaving out VM exclude (0: none).  An
 * empty group name gives an empty view (rule.group ""). */
int affinity_view_load(struct cfs_store *st, int64_t cluster, const char *group,
                       int64_t exclude, struct affinity_view *v, struct cfs_err *err);
/* The view of vm's own group (its attribute affinity-group), vm left out. */
int affinity_view_of_vm(struct cfs_store *st, const struct cfs_res *vm, struct affinity_view *v,
                        struct cfs_err *err);
void affinity_view_free(struct affinity_view *v);

/* Members of v placed on host. */
int affinity_on_host(const struct affinity_view *v, const char *host);
/* Would one more member on host keep v's rule (hard or soft alike)?  When
 * not, why says which members forbid it ("vm a is on h1"). */
bool affinity_keeps(const struct affinity_view *v, const char *host, char *why, size_t len);
/* The scheduler's preference among hosts that keep the hard rules: lower
 * is better.  0 for VMs in no group. */
int affinity_cost(const struct affinity_view *v, const char *host);

/* May vm run on host under its group's hard rule?  1 yes (also for soft
 * groups and VMs in none), 0 no with the reason in why, -1 error.  For
 * every move of a VM: start, migration, evacuation, HA restart. */
int affinity_may_run(struct cfs_store *st, const struct cfs_res *vm, const char *host,
                     char *why, size_t len, struct cfs_err *err);

/* How v's placed members break its rule, one line each ("" when they keep
 * it); malloc'd. */
char *affinity_violations(const struct affinity_view *v);

/* status/NAME of group g, counted now: 1 with *out (malloc'd) for members,
 * hosts and violations, 0 for any other name or kind, -1 with err. */
int affinity_status_text(struct cfs_store *st, const struct cfs_res *g, const char *name,
                         char **out, struct cfs_err *err);

#endif
