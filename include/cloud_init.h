/* cloud_init.h: the embedded default cloud created by "cloudfs init". */
#ifndef CFS_CLOUD_INIT_H
#define CFS_CLOUD_INIT_H

#include "conf.h"
#include "store.h"

/* Create whatever is missing of: zone "default", its cluster "default",
 * host "local" (conf->hypervisor), dir pool "local" (conf->pool_path) and the
 * offering catalogue.  Idempotent.  Marks the store initialised. */
int cloud_init(struct cfs_store *st, const struct cfs_conf *conf, struct cfs_err *err);

/* True once cloud_init has run on this store. */
bool cloud_is_initialized(struct cfs_store *st);

#endif
