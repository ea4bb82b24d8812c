/* readers.h: how many blocking readers each user may hold open.
 *
 * A read of /events or of a wait file blocks a FUSE worker thread until
 * there is something to return, so every open one is a thread the mount may
 * have to give away.  Opening one takes a slot here and closing it gives
 * the slot back: a user may hold user-readers of them (root and the admin
 * group: no per-user cap), and the whole mount mount-readers, which stays
 * below the FUSE loop's thread limit (fs_mount) so that ordinary requests
 * always find a thread.  The table is process-wide and has one mutex.
 */
#ifndef CFS_READERS_H
#define CFS_READERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "cfs_error.h"

/* Set the caps (at mount, before the FUSE loop starts). */
void readers_configure(unsigned per_user, unsigned mount);
/* Take a slot for uid; capped is false for root and the admin group.  0, or
 * -EMFILE (uid's cap reached) / -ENFILE (the mount's) with the reason. */
int readers_acquire(uid_t uid, bool capped, struct cfs_err *err);
/* Give back a slot taken by readers_acquire for uid. */
void readers_release(uid_t uid);

#endif
