/* scheduler.h: VM placement within a cluster (scheduler.c). */
#ifndef CFS_SCHEDULER_H
#define CFS_SCHEDULER_H

#include "rc_state.h"

/* Choose a host for a VM needing vcpus and memory bytes.  Fills host (a
 * name) or returns -1 with ENOSPC and the reason, or with EAGAIN when none
 * fits yet but an enabled host has not been tried since start-up. */
int scheduler_place(struct reconciler *rc, const struct cfs_res *vm, int vcpus,
                    long long memory, char *host, size_t len, struct cfs_err *err);
/* May vm run on host (a name of its cluster) under its affinity group's
 * hard rule (affinity.h)?  1 yes, 0 no with the reason in why ("vm a on
 * host h1 would break hard anti-affinity group g (vm b is on h1)"), -1
 * error.  scheduler_place applies it to every host it considers; moves
 * that choose their target otherwise (a live migration to a named host,
 * evacuation, HA restarts) call it before they move the VM. */
int scheduler_may_run(struct reconciler *rc, const struct cfs_res *vm, const char *host, char *why,
                      size_t len, struct cfs_err *err);
/* The same, leaving out the host named except (a migration's source). */
int scheduler_place_except(struct reconciler *rc, const struct cfs_res *vm, int vcpus,
                           long long memory, const char *except, char *host, size_t len,
                           struct cfs_err *err);
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
