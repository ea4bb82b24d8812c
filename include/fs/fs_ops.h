/* fs_ops.h: the FUSE filesystem (spec side of the tree). */
#ifndef CFS_FS_OPS_H
#define CFS_FS_OPS_H

#include <stdbool.h>

#include "conf.h"
#include "layout.h"

/* Mount the tree at mountpoint and serve it until unmounted.  The store
 * is opened inside the FUSE process after it has daemonised.  Returns the
 * process exit status. */
int fs_mount(const struct cfs_conf *conf, const struct cfs_layout *layout, const char *mountpoint,
             bool foreground, bool debug);

#endif
