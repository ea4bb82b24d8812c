/* host_failure.h: a lost host is detected, fenced off shared storage and
 * its HA VMs restarted elsewhere (host_failure.c). */
#ifndef CFS_HOST_FAILURE_H
#define CFS_HOST_FAILURE_H

#include <stdbool.h>

#include "rc_state.h"

/* The host's pass, before it reconnects a host (connected: its connection
 * is alive).  0: go on (reconnect); > 0: the host is lost or being confirmed
 * lost, look again in that many ms (no reconnect that could hang on a
 * frozen host). */
int host_failure_pass(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                      bool connected);
/* The host's pass, once connected: a host that was lost gets its stale
 * domains (VMs that were restarted elsewhere) destroyed and is then
 * unfenced.  0 (nothing to do, or done), or -1 with err (it stays lost). */
int host_failure_back(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                      struct cfs_err *err);
/* A VM's pass, on the host it is placed on (h read-locked): -1 when that
 * host is not lost; else the pass's result (ms): the VM is unknown, with
 * the reason, or unplaced to be restarted elsewhere (ha on, the host
 * fenced, its disks on shared storage, no host pinned). */
int host_failure_vm(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *h, bool ha,
                    const char *want, const char *pin);

#endif
