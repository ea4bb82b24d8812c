/* precond_pool_move.h: the write of a volume's pool, or of a VM's pool
 * once its root disk exists: a storage migration (volume_move.h) when the
 * volume holds data.  The mount calls pool_move_check with the other
 * preconditions and pool_move_apply after the write is stored, both inside
 * the write's transaction. */
#ifndef CFS_PRECOND_POOL_MOVE_H
#define CFS_PRECOND_POOL_MOVE_H

#include "cfs_error.h"
#include "conf.h"
#include "layout.h"
#include "store.h"

/* 0 when the write may go ahead, else -1 with err: ENOENT (no such pool in
 * the cluster), EBUSY (snapshots, a VM between states or with whole-VM
 * snapshots, a busy volume or pool), ENOSPC (the 90 % rule: the target's
 * real usage plus the volume's size above pool-usage-threshold). */
int pool_move_check(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                    const struct cfs_attr_def *a, const char *value, struct cfs_err *err);

/* A VM's pool and its root volume's pool follow each other. */
int pool_move_apply(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                    const char *value, const struct cfs_actor *actor, struct cfs_err *err);

#endif
