/* default_cloud.h: the embedded default cloud created by "cloudfs init" (not guest cloud-init). */
#ifndef CFS_DEFAULT_CLOUD_H
#define CFS_DEFAULT_CLOUD_H

#include "conf.h"
#include "store.h"

/* Create whatever is missing of: zone "default", its cluster "default",
 * host "local" (conf->hypervisor), dir pool "local" (conf->pool_path), the
 * offering catalogue and, unless conf->default_subnet is empty, VPC
 * "default" with subnet "default" (conf->default_subnet).  Idempotent.  Marks the store initialised. */
int default_cloud_seed(struct cfs_store *st, const struct cfs_conf *conf, struct cfs_err *err);

/* True once default_cloud_seed has run on this store. */
bool default_cloud_seeded(struct cfs_store *st);

#endif
