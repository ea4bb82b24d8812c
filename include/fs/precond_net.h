/* precond_net.h: the network kinds' rules (VPCs, subnets, NICs).
 *
 * precond.c calls the checks; the mount calls net_applied after an accepted
 * write or mkdir, inside the same store write batch, so that a NIC's address
 * is chosen and recorded (status ip, mac and the internal _subnet) in the
 * transaction that stores the write: two writers never get one address.
 */
#ifndef CFS_PRECOND_NET_H
#define CFS_PRECOND_NET_H

#include "store.h"

/* 0 when value may be written to attribute a of r (a vpc, subnet or nic). */
int net_precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err);
/* 0 when a NIC (kind k) may be made under VM parent: at most CFS_NICS_MAX.
 * precond.c's create rules pick the kinds. */
int net_precond_create(struct cfs_store *st, const struct cfs_res *parent,
                       const struct cfs_kind *k, struct cfs_err *err);
/* 0 when subnet r may be deleted (not while it has NICs). */
int net_precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err);
/* After a write of attribute a (NULL: after mkdir) of r: a NIC's status
 * ip, mac and _subnet follow its spec; a new VM in a zone with a default
 * network (VPC default, subnet default) gets NIC eth0 in it. */
int net_applied(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                const struct cfs_actor *actor, struct cfs_err *err);

/* Before rmdir of r: the NICs of a VM go with it (tombstones torn down
 * with the VM). */
int net_delete_parts(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                     struct cfs_err *err);

#endif
