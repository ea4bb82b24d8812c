/* quota.h: what each user and group may own (quotas/USER/, quotas/@GROUP/),
 * checked at the write.
 *
 * A user's limits are the attributes of quotas/USER/ (USER a local user
 * name), or the quota kind's defaults in the layout when there is none.
 * A group's are those of quotas/@GROUP/ (GROUP a local group); a group
 * without one has no limit (no default group quota).  A write must fit the
 * owner's quota and the quota of each of the owner's groups (primary and
 * supplementary) that has one; a group's usage is the sum of its members'
 * (every owner of resources whose groups include it), whatever group owns
 * each resource, so chgrp does not move usage out of a group's quota.
 * Usage is counted from the store at each check: resources the user owns
 * (vms, volumes, images, snapshots), the VMs whose desired state is running
 * or paused with their offerings' vCPUs and memory, and the volumes' sizes.
 * The checks run inside the write's transaction, so concurrent writes of
 * one user cannot both pass the last free unit.  Callers apply them to
 * writers that are neither root nor in the admin group.
 */
#ifndef CFS_QUOTA_H
#define CFS_QUOTA_H

#include <sys/types.h>

#include "cfs_error.h"
#include "layout.h"
#include "store.h"

/* mkdir of a resource of kind k that uid will own: EDQUOT past the count
 * (or, for a volume, past volume-size with its default size). */
int quota_check_create(struct cfs_store *st, uid_t uid, const struct cfs_kind *k,
                       struct cfs_err *err);

/* A write of attribute a of r (owned by r->uid): a VM's state or offering,
 * a volume's size.  0 for anything a quota does not count. */
int quota_check_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err);

/* mkdir quotas/NAME: NAME must be a local user, or @GROUP a local group
 * (EINVAL otherwise). */
int quota_check_name(const char *name, struct cfs_err *err);

/* status/NAME of quota q: the named user's or group's usage (malloc'd text). */
int quota_usage_text(struct cfs_store *st, const struct cfs_res *q, const char *name, char **out,
                     struct cfs_err *err);

#endif
