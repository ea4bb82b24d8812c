/* host_maintenance.c: maintenance with evacuation (host_maintenance.h).
 *
 * `maintenance` written to a host's state: status/state says
 * entering-maintenance while VMs still run there; each of them moves
 * live to another host in its own pass (vm_migrate.c, at most
 * migrations-per-host at a time), and one that cannot move is stopped
 * with the reason.  When none runs there any more the host is in
 * `maintenance`.  `enabled` written meanwhile cancels the moves not yet
 * done; the host takes VMs again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_maintenance.h"
#include "rc_store.h"
#include "status_keys.h"

/* Still on the host and not stopped: the evacuation is not over. */
static bool still_there(const char *state)
{
    return strcmp(state, "stopped") && strcmp(state, "error") && state[0];
}

int host_maintenance(struct reconciler *rc, const struct cfs_res *host, int64_t gen)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    struct cfs_err err;
    char *want = rc_attr(rc, host->id, "state");
    char stopped[1024] = "";
    int moving = 0, ret = 0;
    if (strcmp(want, "maintenance")) {
        rc_set_status(rc, host, "state", want);
        goto cleanup;
    }
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), host->parent, "host",
                            host->name, &vms, &n, &err) < 0) {
        rc_set_status_int(rc, host, CFS_ST_GEN, 0);     /* not known to be over */
        ret = 2000;
        goto cleanup;
    }
    /* Not converged while VMs still leave (`cat wait` returns once the
     * host is in maintenance): said before the first wake, which writes
     * the pass's status. */
    rc_set_status_int(rc, host, CFS_ST_GEN, 0);
    for (size_t i = 0; i < n; i++) {
        if (vms[i].deleted)
            continue;
        char *state = rc_status(rc, vms[i].id, "state");
        char *why = rc_status(rc, vms[i].id, CFS_ST_EVACUATED);
        if (still_there(state)) {
            moving++;
            rc_wake(rc, vms[i].id);
        }
        if (why[0]) {
            size_t used = strlen(stopped);
            snprintf(stopped + used, sizeof(stopped) - used, "%s%s (%s)", used ? "; " : "",
                     vms[i].name, why);
        }
        free(state);
        free(why);
    }
    rc_set_status(rc, host, "state", moving ? "entering-maintenance" : "maintenance");
    if (!moving)
        rc_set_status_int(rc, host, CFS_ST_GEN, gen);
    if (stopped[0]) {
        char msg[1100];
        snprintf(msg, sizeof(msg), "stopped, could not move: %s", stopped);
        rc_set_status(rc, host, "error", msg);
    }
    ret = moving ? 2000 : 0;
cleanup:
    free(want);
    free(vms);
    return ret;
}
