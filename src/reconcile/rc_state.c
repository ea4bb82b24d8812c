/* rc_state.c: the reconciler's host and VM tables (see rc_state.h). */
#include "rc_state.h"

#include "rc_store.h"
#include "reconcile.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rc_host *rc_host_get(struct reconciler *rc, const struct cfs_res *host)
{
    struct rc_host *h = NULL;
    pthread_mutex_lock(&rc->hosts_lock);
    for (size_t i = 0; i < rc->nhosts && !h; i++)
        if (rc->hosts[i]->id == host->id)
            h = rc->hosts[i];
    if (!h) {
        struct rc_host **grown = realloc(rc->hosts, (rc->nhosts + 1) * sizeof(*grown));
        if (grown)
            rc->hosts = grown;
        h = grown ? calloc(1, sizeof(*h)) : NULL;
        if (h) {
            h->id = host->id;
            h->rc = rc;
            pthread_rwlock_init(&h->rw, NULL);
            rc->hosts[rc->nhosts++] = h;
        }
    }
    if (h)
        snprintf(h->name, sizeof(h->name), "%s", host->name);
    pthread_mutex_unlock(&rc->hosts_lock);
    return h;
}

struct rc_host *rc_host_find_name(struct reconciler *rc, int64_t cluster, const char *name)
{
    struct cfs_res host;
    struct cfs_err ignore;
    if (!name[0] ||
        store_res_find(rc->st, cluster, rc_layout_kind(rc, &rc_kind_host), name, &host,
                       &ignore) < 0)
        return NULL;
    return rc_host_get(rc, &host);
}

bool rc_host_untried(struct rc_host *h)
{
    pthread_rwlock_rdlock(&h->rw);
    bool untried = !h->tried;
    pthread_rwlock_unlock(&h->rw);
    return untried;
}

int rc_domain_remove(struct reconciler *rc, struct rc_host *h, const char *uuid,
                     struct cfs_err *err)
{
    pthread_rwlock_rdlock(&h->rw);
    int ok = h->conn && rc->drv->destroy(h->conn, uuid, err) == 0 &&
             rc->drv->undefine(h->conn, uuid, err) == 0;
    if (!h->conn)
        cfs_err_set(err, EHOSTDOWN, "host %s is not connected", h->name);
    pthread_rwlock_unlock(&h->rw);
    return ok ? 0 : -1;
}

void rc_hosts_close(struct reconciler *rc)
{
    for (size_t i = 0; i < rc->nhosts; i++) {
        if (rc->hosts[i]->conn)
            rc->drv->close(rc->hosts[i]->conn);
        pthread_rwlock_destroy(&rc->hosts[i]->rw);
        free(rc->hosts[i]);
    }
    free(rc->hosts);
    rc->hosts = NULL;
    rc->nhosts = 0;
}

/* rc->vms is sorted by id: a resync looks up every VM, so a linear scan
 * made each pass quadratic in the number of VMs. */
static size_t vm_slot(const struct reconciler *rc, int64_t id)
{
    size_t lo = 0, hi = rc->nvms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rc->vms[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct rc_vm *rc_vm_get(struct reconciler *rc, int64_t id)
{
    size_t i = vm_slot(rc, id);
    if (i < rc->nvms && rc->vms[i].id == id)
        return &rc->vms[i];
    if (rc->nvms == rc->vms_cap) {
        size_t cap = rc->vms_cap ? rc->vms_cap * 2 : 64;
        struct rc_vm *grown = realloc(rc->vms, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        rc->vms = grown;
        rc->vms_cap = cap;
    }
    memmove(&rc->vms[i + 1], &rc->vms[i], (rc->nvms - i) * sizeof(rc->vms[0]));
    rc->vms[i] = (struct rc_vm){.id = id};
    rc->nvms++;
    return &rc->vms[i];
}

void rc_vm_forget(struct reconciler *rc, int64_t id)
{
    pthread_mutex_lock(&rc->vms_lock);
    size_t i = vm_slot(rc, id);
    if (i < rc->nvms && rc->vms[i].id == id) {
        memmove(&rc->vms[i], &rc->vms[i + 1], (rc->nvms - i - 1) * sizeof(rc->vms[0]));
        rc->nvms--;
    }
    pthread_mutex_unlock(&rc->vms_lock);
}

void rc_wake_unplaced(struct reconciler *rc, int64_t cluster)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    /* One query: every host that connects calls this, and a status read
     * per VM made 1,000 hosts x 100,000 VMs a hundred million reads. */
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), cluster, "host", "", &vms,
                            &n, &ignore) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        rc_wake(rc, vms[i].id);
    free(vms);
}

int rc_backoff_ms(int failures)
{
    return 1000 << (failures < 5 ? (failures > 0 ? failures : 0) : 5);
}
