/* storage.c: the table of storage drivers (see storage.h). */
#include "storage.h"

#include <string.h>

const struct cfs_storage_driver *storage_driver(const char *type)
{
    if (!strcmp(type, "dir"))
        return &cfs_storage_dir;
    if (!strcmp(type, "rbd"))
        return &cfs_storage_rbd;
    return NULL;
}
