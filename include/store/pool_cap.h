/* pool_cap.h: what a pool may hold (capacity x over-subscription), checked
 * at the write.
 *
 * A pool's allocated total is the sum of the sizes of the live volumes
 * placed in it (status pool) or to be placed in it (attribute pool), and of
 * the root disks still to be made for VMs that name it (root-size), or the
 * part of a VM's root-size its root volume has not grown to yet.  It may
 * reach capacity (status capacity, as last observed) times the pool's
 * over-subscription (its attribute, else pool-over-subscription of
 * cloudfs.conf).  Nothing new is allocated in a pool whose real usage
 * (status allocation) is above pool-usage-threshold of its capacity (the
 * seeds' 90 % rule).  A volume or root disk without a pool goes where the
 * scheduler puts it: it must fit in the pool with the most room, and the
 * cluster's pools together must hold it besides whatever else is not yet
 * placed.  A pool not observed yet has no known capacity: nothing is refused
 * for it (its volumes wait for the observation).  The checks run inside the
 * write's transaction, for every writer (root too); a write that does not
 * grow what is asked is never refused.
 */
#ifndef CFS_POOL_CAP_H
#define CFS_POOL_CAP_H

#include "cfs_error.h"
#include "conf.h"
#include "layout.h"
#include "store.h"

/* mkdir of a resource of kind k under parent (a volume takes its default
 * size from the scheduler's choice of pool).  ENOSPC with the figures. */
int pool_cap_check_create(struct cfs_store *st, const struct cfs_conf *conf,
                          const struct cfs_res *parent, const struct cfs_kind *k,
                          struct cfs_err *err);

/* A write of attribute a of r: a volume's size or pool, a VM's image,
 * root-size or pool.  0 for anything that allocates nothing. */
int pool_cap_check_attr(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                        const struct cfs_attr_def *a, const char *value, struct cfs_err *err);

/* What pool (a pool of vol's cluster) may still take besides vol: allowed
 * minus allocated, negative when over-promised, LLONG_MAX before the
 * pool's first observation.  For the scheduler, which places a volume only
 * where it fits. */
int pool_cap_room(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *vol,
                  const char *pool, long long *room, struct cfs_err *err);

/* status/NAME of pool p, counted now: 1 with *out (malloc'd) for allocated,
 * over-subscription and allowed, 0 for any other name, -1 with err. */
int pool_cap_status_text(struct cfs_store *st, const struct cfs_conf *conf,
                         const struct cfs_res *p, const char *name, char **out,
                         struct cfs_err *err);

#endif
