/* offering.h: what an offering gives a VM, read in one place.
 *
 * An offering (offerings/NAME/) holds cpus and memory; the mount's checks
 * (quota, live resize) and the scheduler all size a VM through this.
 */
#ifndef CFS_OFFERING_H
#define CFS_OFFERING_H

#include "cfs_error.h"
#include "store.h"

struct cfs_offering {
    int cpus;             /* vCPUs, >= 1 */
    long long memory;     /* bytes, > 0 */
};

/* Read offering NAME.  ENOENT when there is none, EINVAL when its cpus or
 * memory are missing or unreadable (the message names the offering). */
int store_offering_get(struct cfs_store *st, const char *name, struct cfs_offering *out,
                       struct cfs_err *err);

#endif
