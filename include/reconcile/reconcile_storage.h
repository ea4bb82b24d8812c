/* reconcile_storage.h: open pools and what volumes, images and VMs share. */
#ifndef CFS_RECONCILE_STORAGE_H
#define CFS_RECONCILE_STORAGE_H

#include "reconcile.h"
#include "storage.h"

/* An open storage pool, shared like a host's connection: operations run
 * with rw read-locked, (re)opening takes it write-locked. */
struct rc_pool {
    int64_t id;
    pthread_rwlock_t rw;
    const struct cfs_storage_driver *drv;
    struct cfs_pool *handle;
    char sig[2400];         /* the spec it was opened with */
    bool swept;             /* leftovers of crashed operations removed */
    int64_t next_try;       /* monotonic ns of the next open attempt */
    char error[CFS_ERR_MSG_MAX];
};

/* The open pool of a pool resource, read-locked, or NULL with the reason
 * (pool unreachable, bad spec).  Release with rc_pool_put. */
struct rc_pool *rc_pool_get(struct reconciler *rc, const struct cfs_res *pool, struct cfs_err *err);
void rc_pool_put(struct rc_pool *p);
void rc_pools_close(struct reconciler *rc);
/* Claim a volume for one storage operation (false: another pass works on
 * it; look again shortly).  Release with rc_vol_release. */
bool rc_vol_claim(int64_t vol);
void rc_vol_release(int64_t vol);
/* The object name of a volume or image copy in a pool. */
void rc_vol_object(const struct cfs_res *vol, char *buf, size_t len);
void rc_img_object(const struct cfs_res *img, char *buf, size_t len);
/* The name of a snapshot in its volume's pool (reconcile_snapshot.c). */
void rc_snap_object(const struct cfs_res *snap, char *buf, size_t len);
/* The catalogue copy of an image. */
void rc_img_file(struct reconciler *rc, const struct cfs_res *img, char *buf, size_t len);
/* Make sure the pool holds its copy of the image (imported on first use). */
int rc_img_ensure(struct reconciler *rc, struct rc_pool *p, const struct cfs_res *pool,
                  const struct cfs_res *img, struct cfs_err *err);
/* The disk serial of a volume: its UUID's first 20 hex digits. */
void rc_vol_serial(const struct cfs_res *vol, char serial[21]);
/* Wake the VMs using a volume (its root VM, or the VM it is plugged into). */
void rc_wake_volume_users(struct reconciler *rc, const struct cfs_res *vol);
/* Delete every snapshot of a volume (a root volume going with its VM), and
 * how many of them, tombstones included, remain in the store
 * (reconcile_snapshot.c). */
int rc_snapshots_delete(struct reconciler *rc, const struct cfs_res *vol, struct cfs_err *err);
int rc_snapshots_left(struct reconciler *rc, const struct cfs_res *vol);
/* Whole-VM snapshots of vm not purged yet (reconcile_vmsnap.c): a VM
 * being deleted waits for them. */
int rc_vmsnaps_left(struct reconciler *rc, const struct cfs_res *vm);

#endif
