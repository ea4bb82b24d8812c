/* storage.h: the storage driver interface.
 *
 * The reconciler reaches pools only through this table; storage_dir.c
 * implements it over a directory of qcow2 files, storage_rbd.c over a Ceph
 * pool (librados/librbd).  Objects in a pool are named by the caller after
 * the UUID of the resource they belong to ("cfs-vol-UUID", "cfs-img-UUID"),
 * so nothing a user typed ever becomes a file or image name.  Every call is
 * idempotent: creating what exists (at the same size) and deleting what is
 * gone succeed.  Objects are made under a temporary name and renamed when
 * complete, so a crash never leaves a half-made object under a real name;
 * sweep() removes such leftovers.
 */
#ifndef CFS_STORAGE_H
#define CFS_STORAGE_H

#include <stdbool.h>

#include "cfs_error.h"

struct cfs_pool;    /* an open pool, opaque; safe for use by several threads */

struct cfs_pool_def {
    const char *type;       /* "dir" or "rbd" */
    const char *path;       /* dir */
    const char *ceph_conf;  /* rbd */
    const char *rbd_pool;
    const char *ceph_user;  /* "" for the default client */
    int timeout;            /* seconds before a stalled operation fails */
};

struct cfs_pool_stats {
    long long capacity, allocation, available;  /* bytes */
};

struct cfs_vol_info {
    bool exists;
    long long size;         /* virtual size, bytes */
    long long allocation;   /* bytes really used */
};

/* How a domain reaches a volume. */
struct cfs_disk_source {
    bool network;           /* false: a file; true: rbd */
    char path[4096];        /* file path, or "pool/image" */
    char format[8];         /* qcow2 or raw */
    char hosts[8][64];      /* rbd: monitor addresses "ip:port" */
    int nhosts;
    char user[64];          /* rbd: client name, "" for none */
    char conf[1024];        /* rbd: ceph.conf the client reads */
};

/* Percent done; a non-zero return aborts the operation. */
typedef int (*cfs_progress_cb)(int percent, void *arg);
typedef int (*cfs_object_cb)(const char *name, void *arg);

/* A snapshot of a volume, as the pool records it. */
struct cfs_snap_info {
    char name[128];
    long long size;         /* the volume's virtual size when it was taken, bytes */
    long long created;      /* seconds since the epoch */
};
typedef int (*cfs_snap_cb)(const struct cfs_snap_info *s, void *arg);

struct cfs_storage_driver {
    const char *type;
    int (*open)(const struct cfs_pool_def *def, struct cfs_pool **out, struct cfs_err *err);
    void (*close)(struct cfs_pool *p);
    int (*stats)(struct cfs_pool *p, struct cfs_pool_stats *out, struct cfs_err *err);
    /* Volumes and image copies alike. */
    int (*info)(struct cfs_pool *p, const char *name, struct cfs_vol_info *out,
                struct cfs_err *err);
    /* A blank volume, or (base != NULL) a copy-on-write child of the image
     * copy named base, of size bytes. */
    int (*create)(struct cfs_pool *p, const char *name, long long size, const char *base,
                  struct cfs_err *err);
    int (*resize)(struct cfs_pool *p, const char *name, long long size, struct cfs_err *err);
    int (*remove)(struct cfs_pool *p, const char *name, struct cfs_err *err);
    /* Copy a local image file of the given format (qcow2/raw) into the pool
     * as the base that create() clones from. */
    int (*import)(struct cfs_pool *p, const char *name, const char *file, const char *format,
                  cfs_progress_cb progress, void *arg, struct cfs_err *err);
    int (*list)(struct cfs_pool *p, cfs_object_cb cb, void *arg, struct cfs_err *err);
    int (*source)(struct cfs_pool *p, const char *name, struct cfs_disk_source *out,
                  struct cfs_err *err);
    /* Remove leftovers of operations that a crash interrupted. */
    void (*sweep)(struct cfs_pool *p);
    /* Disk snapshots of volume name, taken by the storage itself (qcow2
     * internal snapshots, RBD snapshots); snap is named by the caller after
     * the snapshot resource's UUID (CFS_SNAP_PREFIX).  Creating one that
     * exists and deleting one (or of a volume) that is gone succeed;
     * reverting to one that is gone fails with ENOENT.  remove() takes a
     * volume's snapshots with it. */
    int (*snapshot_create)(struct cfs_pool *p, const char *name, const char *snap,
                           struct cfs_err *err);
    int (*snapshot_list)(struct cfs_pool *p, const char *name, cfs_snap_cb cb, void *arg,
                         struct cfs_err *err);
    int (*snapshot_revert)(struct cfs_pool *p, const char *name, const char *snap,
                           struct cfs_err *err);
    int (*snapshot_delete)(struct cfs_pool *p, const char *name, const char *snap,
                           struct cfs_err *err);
    /* A new volume name of size bytes (at least the snapshot's) holding
     * what volume src held when snap was taken: a copy-on-write clone
     * where the storage has one (rbd: the snapshot is protected and
     * cloned), a full copy where not (dir: a qcow2 internal snapshot
     * cannot be another file's backing).  Fails with ENOENT when snap is
     * gone. */
    int (*snapshot_clone)(struct cfs_pool *p, const char *name, const char *src,
                          const char *snap, long long size, struct cfs_err *err);
    /* Copy volume name whole (a backing image folded in) into a new local
     * qcow2 file, which must not exist: an image made from a disk. */
    int (*export)(struct cfs_pool *p, const char *name, const char *file,
                  cfs_progress_cb progress, void *arg, struct cfs_err *err);
};

extern const struct cfs_storage_driver cfs_storage_dir;
extern const struct cfs_storage_driver cfs_storage_rbd;

/* The driver for a pool type, or NULL. */
const struct cfs_storage_driver *storage_driver(const char *type);

/* Object names in pools. */
#define CFS_VOL_PREFIX "cfs-vol-"
#define CFS_IMG_PREFIX "cfs-img-"
#define CFS_PART_SUFFIX ".part"
#define CFS_SNAP_PREFIX "cfs-snap-"

#endif
