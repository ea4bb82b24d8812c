/* rc_state.h: what the reconciler keeps in memory between passes.
 *
 * The host table (one libvirt connection per host, shared by the host's
 * pass and the passes of the VMs placed on it) and the VM table (retry
 * counts and graceful-stop deadlines).  Both are lost on restart by
 * design: every pass recomputes from spec and reality.
 */
#ifndef CFS_RC_STATE_H
#define CFS_RC_STATE_H

#include "reconcile.h"

/* A host's connection.  conn is used under rw read-locked; (re)connecting
 * takes it write-locked (reconcile_host.c). */
struct rc_host {
    int64_t id;
    char name[CFS_NAME_MAX + 1];
    char uri[1100];
    pthread_rwlock_t rw;
    struct cfs_conn *conn;
    struct cfs_host_info info;
    int failures;
    int64_t next_try;       /* monotonic ns of the next reconnect attempt */
    bool tried;             /* a connection was attempted since the daemon started */
    struct reconciler *rc;
    /* host_failure.c, on the host's pass only */
    bool hf_seen;           /* connected (or lost) since the daemon started */
    int hf_probes_failed;   /* reconnect probes failed since the connection went */
    int64_t hf_down_since;  /* monotonic ns the connection was first seen gone, or 0 */
};

/* What the reconciler remembers about a VM between passes. */
struct rc_vm {
    int64_t id;
    int64_t stop_deadline;  /* monotonic ns; 0 when no graceful stop is running */
    int failures;
};

/* The host entry for a host resource, created on first use (never freed
 * while the daemon runs), or NULL when out of memory. */
struct rc_host *rc_host_get(struct reconciler *rc, const struct cfs_res *host);
/* The entry of the host named name in cluster, or NULL (no such host). */
struct rc_host *rc_host_find_name(struct reconciler *rc, int64_t cluster, const char *name);
/* Whether h has not yet been tried since the daemon started: a VM pass
 * that needs it waits for the host's first pass (which wakes the VMs placed
 * there) instead of reporting the host as down. */
bool rc_host_untried(struct rc_host *h);
/* Destroy and undefine the domain uuid on h (gone already succeeds);
 * EHOSTDOWN when h is not connected. */
int rc_domain_remove(struct reconciler *rc, struct rc_host *h, const char *uuid,
                     struct cfs_err *err);
/* Close every connection and free the table (after the workers stopped). */
void rc_hosts_close(struct reconciler *rc);

/* The entry of VM id, made on first use; NULL when out of memory.  The
 * caller holds vms_lock while it uses the entry. */
struct rc_vm *rc_vm_get(struct reconciler *rc, int64_t id);
/* Drop the entry of a VM that is gone. */
void rc_vm_forget(struct reconciler *rc, int64_t id);

/* Enqueue every VM of a cluster that has no host yet. */
void rc_wake_unplaced(struct reconciler *rc, int64_t cluster);

/* Retry delay after the n-th failure in a row: 2 s, 4 s .. 32 s. */
int rc_backoff_ms(int failures);

#endif
