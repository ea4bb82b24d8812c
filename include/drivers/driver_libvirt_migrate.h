/* driver_libvirt_migrate.h: live migration for the libvirt compute driver
 * (its migrate slot, compute.h), kept in a file of its own. */
#ifndef CFS_DRIVER_LIBVIRT_MIGRATE_H
#define CFS_DRIVER_LIBVIRT_MIGRATE_H

#include <libvirt/libvirt.h>

#include "compute.h"

/* The libvirt connection behind c (driver_libvirt.c). */
virConnectPtr libvirt_conn_vc(struct cfs_conn *c);

int libvirt_migrate(struct cfs_conn *c, struct cfs_conn *dst, const char *uuid, unsigned flags,
                    cfs_migrate_progress_cb cb, void *arg, struct cfs_migration_stats *out,
                    struct cfs_err *err);

#endif
