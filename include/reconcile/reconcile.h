/* reconcile.h: the reconciler daemon ("cloudfs reconcile").
 *
 * Level-triggered: a worker handed a resource compares its spec with what
 * the host really has and takes the next step; change-log entries, libvirt
 * events, timers and the periodic resync only decide *when* a resource is
 * looked at.  Work on one resource is serialised by the work queue; hosts
 * and VMs proceed in parallel on a pool of workers.
 */
#ifndef CFS_RECONCILE_H
#define CFS_RECONCILE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "compute.h"
#include "conf.h"
#include "storage.h"
#include "store.h"
#include "workq.h"

/* A host's connection, shared by the host's worker and the VMs placed on
 * it.  conn is used under rw read-locked; (re)connecting takes it
 * write-locked. */
struct rc_host {
    int64_t id;
    char name[CFS_NAME_MAX + 1];
    char uri[1100];
    pthread_rwlock_t rw;
    struct cfs_conn *conn;
    struct cfs_host_info info;
    int failures;
    int64_t next_try;       /* monotonic ns of the next reconnect attempt */
    struct reconciler *rc;
};

/* What the reconciler remembers about a VM between passes (lost on restart
 * by design: every pass recomputes from spec and reality). */
struct rc_vm {
    int64_t id;
    int64_t stop_deadline;  /* monotonic ns; 0 when no graceful stop is running */
    int failures;
};

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

struct reconciler {
    struct cfs_store *st;
    const struct cfs_conf *conf;
    const struct cfs_layout *layout;
    const struct cfs_compute_driver *drv;
    const struct cfs_kind *k_vm, *k_host, *k_cluster, *k_offering;
    const struct cfs_kind *k_pool, *k_volume, *k_image, *k_task;
    struct workq q;
    pthread_mutex_t hosts_lock;
    struct rc_host **hosts;
    size_t nhosts;
    pthread_mutex_t place_lock;     /* one placement decision at a time */
    pthread_mutex_t vms_lock;
    struct rc_vm *vms;              /* sorted by id */
    size_t nvms, vms_cap;
    pthread_mutex_t pools_lock;
    struct rc_pool **pools;
    size_t npools;
    pthread_mutex_t copy_lock;      /* one image copy into a pool at a time */
    pthread_mutex_t task_lock;      /* task numbering */
    int64_t seq;                    /* last change-log entry dispatched */
    volatile sig_atomic_t stopping;
};

extern const struct cfs_actor rc_actor;

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int reconcile_main(const struct cfs_conf *conf, const struct cfs_layout *layout, bool foreground);

/* Milliseconds after which to look again (> 0), 0 when converged, -1 on
 * an error recorded in the resource's status. */
int reconcile_vm(struct reconciler *rc, const struct cfs_res *vm);
int reconcile_host(struct reconciler *rc, const struct cfs_res *host);
int reconcile_pool(struct reconciler *rc, const struct cfs_res *pool);
int reconcile_image(struct reconciler *rc, const struct cfs_res *image);
int reconcile_volume(struct reconciler *rc, const struct cfs_res *vol);
int reconcile_task(struct reconciler *rc, const struct cfs_res *task);

/* reconcile_storage.c: the open pool of a pool resource, read-locked, or
 * NULL with the reason (pool unreachable, bad spec).  Release with
 * rc_pool_put. */
struct rc_pool *rc_pool_get(struct reconciler *rc, const struct cfs_res *pool, struct cfs_err *err);
void rc_pool_put(struct rc_pool *p);
void rc_pools_close(struct reconciler *rc);
/* The object name of a volume or image copy in a pool. */
void rc_vol_object(const struct cfs_res *vol, char *buf, size_t len);
void rc_img_object(const struct cfs_res *img, char *buf, size_t len);
/* The catalogue copy of an image. */
void rc_img_file(struct reconciler *rc, const struct cfs_res *img, char *buf, size_t len);
/* Make sure the pool holds its copy of the image (imported on first use). */
int rc_img_ensure(struct reconciler *rc, struct rc_pool *p, const struct cfs_res *pool,
                  const struct cfs_res *img, struct cfs_err *err);
/* The disk serial of a volume: its UUID's first 20 hex digits. */
void rc_vol_serial(const struct cfs_res *vol, char serial[21]);
/* Wake the VMs using a volume (its root VM, or the VMs linking it). */
void rc_wake_volume_users(struct reconciler *rc, const struct cfs_res *vol);

/* reconcile_vm_disks.c: a VM's root and data disks. */
struct vm_disks;
int vm_root_volume(struct reconciler *rc, const struct cfs_res *vm, const char *image,
                   bool *ready, struct cfs_err *err);
struct vm_disks *vm_disks_want(struct reconciler *rc, const struct cfs_res *vm);
/* The catalogue file of image when it is an ISO (for the CD-ROM drive). */
bool vm_cdrom(struct reconciler *rc, const char *image, char *path, size_t len);
/* Is the image's os attribute os ("windows")? */
bool vm_image_os_is(struct reconciler *rc, const char *image, const char *os);
const struct cfs_disk *vm_disks_array(const struct vm_disks *d, int *n);
void vm_disks_free(struct vm_disks *d);
int vm_disks_sync(struct reconciler *rc, const struct cfs_res *vm, struct cfs_conn *conn,
                  const struct vm_disks *want, struct cfs_err *err);
void vm_disks_release(struct reconciler *rc, const struct cfs_res *vm);

/* task.c: tasks/<id>/ of long operations. */
struct rc_task {
    struct reconciler *rc;
    struct cfs_res res;
    int progress;
    bool ok;
};
int task_begin(struct reconciler *rc, const char *op, const struct cfs_res *target,
               struct rc_task *t);
/* A progress callback (cfs_progress_cb) for arg = struct rc_task *. */
int task_progress(int percent, void *arg);
void task_end(struct rc_task *t, const struct cfs_err *err);
/* At start: tasks left running by a previous process failed. */
void task_fail_orphans(struct reconciler *rc);
/* Time (UTC, ISO 8601) for since/started/finished. */
void rc_iso_time(char *buf, size_t len);

/* The host entry for a host resource, created on first use (never freed
 * while the daemon runs). */
struct rc_host *rc_host_get(struct reconciler *rc, const struct cfs_res *host);
struct rc_host *rc_host_find_name(struct reconciler *rc, int64_t cluster, const char *name);
/* (Re)connect a host when needed; only the host's worker calls it. */
int reconcile_host_connect(struct reconciler *rc, struct rc_host *h, const char *uri,
                           struct cfs_err *err);
struct rc_vm *rc_vm_get(struct reconciler *rc, int64_t id);
void rc_vm_forget(struct reconciler *rc, int64_t id);

/* Helpers over the store: values as malloc'd strings ("" when absent). */
char *rc_attr(struct reconciler *rc, int64_t res, const char *name);
char *rc_status(struct reconciler *rc, int64_t res, const char *name);
void rc_set_status(struct reconciler *rc, const struct cfs_res *r, const char *name,
                   const char *value);
/* Enqueue every VM of a cluster that has no host yet. */
void rc_wake_unplaced(struct reconciler *rc, int64_t cluster);

/* scheduler.c: choose a host for a VM needing vcpus and memory bytes.
 * Fills host (a name) or returns -1 with ENOSPC and the reason. */
int scheduler_place(struct reconciler *rc, const struct cfs_res *vm, int vcpus,
                    long long memory, char *host, size_t len, struct cfs_err *err);
/* Capacity of one host for the status files. */
struct sched_capacity {
    long long cpus_total, cpus_used;        /* vCPUs placeable after overcommit */
    long long mem_total, mem_used;          /* bytes placeable after overcommit/reserve */
    int vms;
};
int scheduler_capacity(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                       int64_t exclude_vm, struct sched_capacity *cap, struct cfs_err *err);
/* vCPUs and memory (bytes) a VM's offering asks for. */
int scheduler_vm_size(struct reconciler *rc, const struct cfs_res *vm, int *vcpus,
                      long long *memory, struct cfs_err *err);

#endif
