/* viewer.h: who looks at the tree, and what of it they may see.
 *
 * A reader of /events, /metrics or /tags is described by its credentials at
 * open time.  What it may see of a resource follows the kernel's rule for
 * the tree: search permission on the resource's directory and on every
 * resource above it (collections and the root are 0755 or 1777, so the
 * resources decide).  Root and the admin group see everything.
 */
#ifndef CFS_VIEWER_H
#define CFS_VIEWER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

struct events_viewer {
    bool all;               /* root or the admin group */
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[64];       /* supplementary groups (the first 64) */
};

enum viewer_reach {
    VIEWER_GONE,            /* the resource no longer exists */
    VIEWER_HIDDEN,          /* it exists, but w lacks search permission on the way */
    VIEWER_SEES,
};

bool viewer_in_group(const struct events_viewer *w, gid_t gid);
/* The kernel's search rule on one resource directory. */
bool viewer_may_search(const struct events_viewer *w, const struct cfs_res *r);
/* May w read r's status files?  Those of root's resources are everyone's
 * (the operator's kinds: hosts, pools, offerings); a tenant's resource
 * shows its status to its owner and group only (fs_ops.c gives the
 * files no "other" bits). */
bool viewer_may_read_status(const struct events_viewer *w, const struct cfs_res *r);
/* May w reach resource id (0 = the root) through the tree? */
enum viewer_reach viewer_may_reach(struct cfs_store *st, const struct events_viewer *w,
                                   int64_t id);

#endif
