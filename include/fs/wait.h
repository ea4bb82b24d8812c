/* wait.h: the "wait" file of reconciled resources (DESIGN point 6).
 *
 * A reader blocks until the reconciler has converged the resource on the
 * spec it had when the file was opened, then gets the observed state; if
 * the attempt fails instead (status/state error, or a status/error reported
 * after that spec was written and still standing), the read fails with EIO
 * and status/error says why.
 */
#ifndef CFS_WAIT_H
#define CFS_WAIT_H

#include <stdbool.h>

#include "notify_fs.h"
#include "store.h"

/* How often a blocked reader wakes without a commit, to notice that its
 * request was interrupted. */
#define WAIT_TICK_MS 500

/* What to wait for: captured when the file is opened. */
struct wait_mark {
    int64_t gen;    /* spec generation at open */
};

void wait_mark_take(struct cfs_store *st, const struct cfs_res *r, struct wait_mark *m);

/* Block until converged (0, *out = "STATE\n", malloc'd), failed (-EIO), or
 * interrupted() returns true (-EINTR).  The reconciler is another process
 * and commits are what it leaves behind: the store is looked at again only
 * when nf has seen a commit (nf NULL: every WAIT_TICK_MS). */
int wait_converged(struct cfs_store *st, struct notify_fs *nf, const struct cfs_res *r,
                   const struct wait_mark *m, bool (*interrupted)(void), char **out);

#endif
