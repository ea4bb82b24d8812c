/* driver_libvirt_blockcopy.h: live storage migration for the libvirt
 * compute driver (its block_copy slot, compute.h), in a file of its own. */
#ifndef CFS_DRIVER_LIBVIRT_BLOCKCOPY_H
#define CFS_DRIVER_LIBVIRT_BLOCKCOPY_H

#include "compute.h"

int libvirt_block_copy(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                       int timeout, cfs_progress_cb cb, void *arg, struct cfs_err *err);

#endif
