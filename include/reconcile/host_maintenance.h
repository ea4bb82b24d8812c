/* host_maintenance.h: a host's state and the evacuation that maintenance
 * starts (host_maintenance.c). */
#ifndef CFS_HOST_MAINTENANCE_H
#define CFS_HOST_MAINTENANCE_H

#include "reconcile.h"

/* status/state of host from its state attribute; in maintenance, wakes
 * the VMs still running there (they move away, vm_migrate.c) and lists in
 * status/error those that had to be stopped.  Returns when to look again
 * (ms; 0: at the next resync).  The host's status _gen says gen (the spec
 * generation of the pass) only once it is in the state asked. */
int host_maintenance(struct reconciler *rc, const struct cfs_res *host, int64_t gen);

#endif
