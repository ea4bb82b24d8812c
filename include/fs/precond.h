/* precond.h: preconditions of writes that depend on observed state.
 *
 * The layout validates values; these hooks refuse values that are valid in
 * general but not now (moving a running VM, maintenance of a busy host),
 * from the same errno + status/error path, before anything is stored.
 */
#ifndef CFS_PRECOND_H
#define CFS_PRECOND_H

#include "conf.h"
#include "store.h"

/* 0 when writing value (normalised) to a of r is allowed now. */
int precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                 const char *value, struct cfs_err *err);
/* 0 when target may be linked from r's link directory l now. */
int precond_link(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                 const struct cfs_res *target, struct cfs_err *err);
/* 0 when a resource of kind k may be made under parent (NULL: the root)
 * now.  Called inside a store write batch with the creation, so that
 * counts it checks hold for the creation too. */
/* Removing a link (rm of vms/X/volumes/V, detach). */
int precond_unlink(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   struct cfs_err *err);
int precond_create(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *parent,
                   const struct cfs_kind *k, struct cfs_err *err);
/* 0 when r may be renamed now (what refers to it by a name the store does
 * not know of: a NIC's security-groups, a rule's remote). */
int precond_rename(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err);
/* 0 when r may be deleted now. */
int precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err);

#endif
