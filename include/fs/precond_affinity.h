/* precond_affinity.h: the rules of affinity groups' writes (precond_affinity.c).
 *
 * A write that would make the current placement break a hard rule is
 * refused with EBUSY and the reason: a VM's affinity-group (the VM placed
 * or pinned where the group forbids it), a VM's host (pinned against its
 * group), a group's policy or enforcement (its placed members would break
 * the new rule).  A group with members is not removed: the store refuses
 * that (a reference in use), with EBUSY too.
 */
#ifndef CFS_PRECOND_AFFINITY_H
#define CFS_PRECOND_AFFINITY_H

#include "store.h"

/* 0 when value (normalised) may be written to attribute a of r now. */
int affinity_precond_attr(struct cfs_store *st, const struct cfs_res *r,
                          const struct cfs_attr_def *a, const char *value, struct cfs_err *err);

#endif
