/* rc_lease.h: one active reconciler per store.
 *
 * The reconciler holds an exclusive flock on STORE.reconciler (beside the
 * SQLite file) for as long as it runs.  A second reconciler started on the
 * same store finds it held, says so once and stands by, taking the lock the
 * moment the first one exits or dies (the kernel drops a dead process's
 * flock, so no stale lease outlives it).  The file holds the holder's PID.
 */
#ifndef CFS_RC_LEASE_H
#define CFS_RC_LEASE_H

#include <signal.h>

#include "cfs_error.h"

/* Take the store's reconciler lock, waiting as a standby while another
 * process holds it.  signals: the daemon's control signals, already blocked
 * in the caller; SIGTERM or SIGINT among them ends the wait, others are
 * consumed.  Returns 0 with *fd holding the lock, 1 when told to stop
 * first, -1 with err on failure. */
int rc_lease_take(const char *store, const sigset_t *signals, int *fd, struct cfs_err *err);

/* Give the lock back (fd from rc_lease_take; -1 is a no-op). */
void rc_lease_drop(int fd);

#endif
