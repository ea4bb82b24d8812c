/* reconcile.h: the reconciler daemon ("cloudfs reconcile").
 *
 * Level-triggered: a worker handed a resource compares its spec with what
 * the host really has and takes the next step; change-log entries, libvirt
 * events, timers and the periodic resync only decide *when* a resource is
 * looked at.  Work on one resource is serialised by the work queue; hosts
 * and VMs proceed in parallel on a pool of workers.  What each kind's pass
 * does is in its reconcile_<kind>.c, found through the table of rc_kind.h.
 */
#ifndef CFS_RECONCILE_H
#define CFS_RECONCILE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "compute.h"
#include "conf.h"
#include "rc_kind.h"
#include "store.h"
#include "workq.h"

struct rc_host;
struct rc_vm;
struct rc_pool;

/* Lock order.  A thread holding one of these locks takes only locks that
 * come after it here:
 *
 *   place_lock -> hosts_lock -> a host's rw -> pools_lock -> a pool's rw
 *     -> copy_lock -> task_lock -> vms_lock -> the store's lock
 *
 * and the work queue's lock last of all (change dispatch adds to the queue
 * under the store's lock).  A store batch (store_read_begin,
 * store_write_begin, rc_flush) holds the store's lock: nothing else is
 * taken inside one.  Two hosts' rw locks (live migration: source and
 * destination) are taken in the order of their host ids, the lower first,
 * and both released before anything before them in this list is taken;
 * the same for two pools. */
struct reconciler {
    struct cfs_store *st;
    const struct cfs_conf *conf;
    const struct cfs_layout *layout;
    const struct cfs_compute_driver *drv;
    struct rc_bound *kinds;         /* rc_kinds resolved against the layout, same order */
    struct workq q;
    pthread_mutex_t place_lock;     /* one placement decision at a time */
    pthread_mutex_t hosts_lock;     /* the hosts array (rc_state.c) */
    struct rc_host **hosts;
    size_t nhosts;
    pthread_mutex_t pools_lock;     /* the pools array (reconcile_storage.c) */
    struct rc_pool **pools;
    size_t npools;
    pthread_mutex_t copy_lock;      /* one image copy into a pool at a time */
    pthread_mutex_t task_lock;      /* task numbering */
    pthread_mutex_t vms_lock;       /* the vms array (rc_state.c) */
    struct rc_vm *vms;              /* sorted by id */
    size_t nvms, vms_cap;
    int64_t seq;                    /* last change-log entry dispatched */
    volatile sig_atomic_t stopping;
};

extern const struct cfs_actor rc_actor;

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int reconcile_main(const struct cfs_conf *conf, const struct cfs_layout *layout, bool foreground);

#endif
