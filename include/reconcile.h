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

struct reconciler {
    struct cfs_store *st;
    const struct cfs_conf *conf;
    const struct cfs_layout *layout;
    const struct cfs_compute_driver *drv;
    const struct cfs_kind *k_vm, *k_host, *k_cluster, *k_offering;
    struct workq q;
    pthread_mutex_t hosts_lock;
    struct rc_host **hosts;
    size_t nhosts;
    pthread_mutex_t place_lock;     /* one placement decision at a time */
    pthread_mutex_t vms_lock;
    struct rc_vm *vms;              /* sorted by id */
    size_t nvms, vms_cap;
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
