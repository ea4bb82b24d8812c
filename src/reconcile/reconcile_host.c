/* reconcile_host.c: keep a host's connection up and its status true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_failure.h"
#include "host_maintenance.h"
#include "rc_state.h"
#include "reconcile_network.h"
#include "rc_store.h"
#include "scheduler.h"
#include "status_keys.h"
#include "uri_policy.h"

/* Called on libvirt's event thread: only the queue is touched. */
static void on_domain_event(const char *uuid, enum cfs_power power, void *arg)
{
    struct rc_host *h = arg;
    struct cfs_res vm;
    struct cfs_err ignore;
    (void)power;
    if (store_res_by_uuid(h->rc->st, uuid, &vm, &ignore) == 0)
        workq_add(&h->rc->q, vm.id, 0);
}

static void on_conn_lost(void *arg)
{
    struct rc_host *h = arg;
    workq_add(&h->rc->q, h->id, 0);
}

/* (Re)connect h to uri when it is not connected there; only the host's
 * pass calls it.  0, or -1 with err and h not connected. */
static int host_connect(struct reconciler *rc, struct rc_host *h, const char *uri,
                        struct cfs_err *err)
{
    int ret = 0;
    pthread_rwlock_wrlock(&h->rw);
    if (h->conn && (strcmp(h->uri, uri) || !rc->drv->alive(h->conn))) {
        rc->drv->close(h->conn);
        h->conn = NULL;
        memset(&h->info, 0, sizeof(h->info));
    }
    if (!h->conn) {
        h->tried = true;
        snprintf(h->uri, sizeof(h->uri), "%s", uri);
        if (uri_policy_check(uri, rc->conf->allow_test_uri, err) < 0) {
            ret = -1;   /* written before the allow-list, or by hand in the store */
        } else if (rc->drv->connect(uri, on_domain_event, on_conn_lost, h, &h->conn, err) < 0) {
            h->conn = NULL;
            ret = -1;
        } else if (rc->drv->host_info(h->conn, &h->info, err) < 0) {
            rc->drv->close(h->conn);
            h->conn = NULL;
            ret = -1;
        }
    }
    pthread_rwlock_unlock(&h->rw);
    return ret;
}

struct orphan_scan {
    struct reconciler *rc;
    const struct cfs_res *host;
    const struct cfs_kind *vm_kind;
    char *text;
    size_t len;
};

/* A domain is ours when its UUID is a live VM placed on this host. */
static void orphan_check(const char *name, const char *uuid, void *arg)
{
    struct orphan_scan *o = arg;
    struct cfs_res vm;
    struct cfs_err ignore;
    bool ours = false;
    if (store_res_by_uuid(o->rc->st, uuid, &vm, &ignore) == 0 && vm.kind == o->vm_kind) {
        char *placed = rc_status(o->rc, vm.id, "host");
        /* A tombstone's domain is still being torn down: not an orphan. */
        ours = vm.parent == o->host->parent && !strcmp(placed, o->host->name);
        free(placed);
    }
    if (ours)
        return;
    size_t add = strlen(name) + 1;
    char *grown = realloc(o->text, o->len + add + 1);
    if (!grown)
        return;
    o->text = grown;
    memcpy(o->text + o->len, name, add - 1);
    o->text[o->len + add - 1] = '\n';
    o->len += add;
    o->text[o->len] = '\0';
}

/* The host's facts, its free capacity and the domains no VM owns. */
static void observe(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h)
{
    struct cfs_err err;
    struct cfs_host_info info;
    pthread_rwlock_rdlock(&h->rw);
    info = h->info;
    pthread_rwlock_unlock(&h->rw);
    rc_set_status_int(rc, host, "cpus", info.cpus);
    rc_set_status_size(rc, host, "memory", info.memory_kib * 1024LL);
    rc_set_status(rc, host, "arch", info.arch);
    rc_set_status(rc, host, "cpu-model", info.cpu_model);
    rc_set_status(rc, host, "cpu-signature", info.cpu_sig);
    char *dtype = rc_attr(rc, host->id, "domain-type");
    rc_set_status(rc, host, "domain-type",
                  strcmp(dtype, "auto") && dtype[0] ? dtype : info.domain_type);
    free(dtype);

    struct sched_capacity cap;
    if (scheduler_capacity(rc, host, h, 0, &cap, &err) == 0) {
        rc_set_status_int(rc, host, "free-cpus", cap.cpus_total - cap.cpus_used);
        rc_set_status_size(rc, host, "free-memory", cap.mem_total - cap.mem_used);
        rc_set_status_int(rc, host, "vm-count", cap.vms);
        rc_set_status_int(rc, host, "allocated-cpus", cap.cpus_used);
        rc_set_status_size(rc, host, "allocated-memory", cap.mem_used);
    }

    struct orphan_scan o = {.rc = rc, .host = host, .vm_kind = rc_layout_kind(rc, &rc_kind_vm)};
    pthread_rwlock_rdlock(&h->rw);
    int listed = h->conn ? rc->drv->list(h->conn, orphan_check, &o, &err) : -1;
    pthread_rwlock_unlock(&h->rw);
    if (o.len)
        o.text[o.len - 1] = '\0';  /* the tree adds the final newline */
    if (listed == 0)
        rc_set_status(rc, host, "orphans", o.text ? o.text : "");
    free(o.text);
}

static int reconcile_host(struct reconciler *rc, const struct cfs_res *host)
{
    struct rc_host *h = rc_host_get(rc, host);
    struct cfs_err err;
    int64_t gen = store_spec_generation(rc->st, host->id);   /* before the spec: see reconcile_vm */
    cfs_err_clear(&err);
    if (!h)
        return 5000;
    char *uri = rc_attr(rc, host->id, "uri");
    bool was_connected;
    pthread_rwlock_rdlock(&h->rw);
    was_connected = h->conn != NULL && rc->drv->alive(h->conn);
    pthread_rwlock_unlock(&h->rw);

    int64_t now = workq_now();
    int lost = host_failure_pass(rc, host, h, was_connected);
    if (lost > 0) {
        free(uri);
        return lost;
    }
    if (!was_connected && h->next_try > now) {
        free(uri);
        return (int)((h->next_try - now) / 1000000LL) + 1;
    }
    /* Connected to the same URI: no reconnect, and no write lock that
     * would wait behind a VM pass stuck on a frozen host (host_failure.c). */
    bool same = was_connected && !strcmp(h->uri, uri);
    if (!same && host_connect(rc, h, uri, &err) < 0) {
        int delay = rc_backoff_ms(++h->failures);
        h->next_try = now + (int64_t)delay * 1000000LL;
        /* The reason with the state (one transaction): a reader who sees
         * "disconnected" finds it. */
        rc_set_status(rc, host, "error", err.msg);
        rc_set_status(rc, host, "connection", "disconnected");
        free(uri);
        return delay;
    }
    free(uri);
    h->failures = 0;
    if (host_failure_back(rc, host, h, &err) < 0) {
        rc_set_status(rc, host, "error", err.msg);
        return 5000;
    }
    rc_set_status(rc, host, "connection", "connected");
    observe(rc, host, h);
    rc_set_status(rc, host, "error", "");
    rc_set_status_int(rc, host, CFS_ST_GEN, gen);     /* for readers of wait */

    if (!was_connected) {
        /* New capacity, and VMs here need their status refreshed. */
        struct cfs_res *vms = NULL;
        size_t n = 0;
        rc_wake_unplaced(rc, host->parent);
        rc_wake_networks(rc);   /* VPCs and subnets can be set up on it now */
        if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), host->parent, "host",
                                host->name, &vms, &n, &err) == 0)
            for (size_t i = 0; i < n; i++)
                rc_wake(rc, vms[i].id);
        free(vms);
    }
    return host_maintenance(rc, host, gen);
}

const struct rc_kind rc_kind_host = {
    .name = "host", .pass = reconcile_host, .wakes = RC_WAKE_SELF,
    .wakes_kinds = "vpc subnet",    /* vtep, netns, uri, a host added or removed: VXLAN peers */
    .attrs_read = "uri state domain-type fence-address pool/type pool/ceph-conf pool/ceph-user "
                  "cluster/cpu-overcommit cluster/memory-overcommit "
                  "vm/offering offering/cpus offering/memory",
    .status_read = "vm/host vm/state vm/" CFS_ST_EVACUATED " vm/" CFS_ST_MIGRATING_TO " connection fenced",
    .status_written = "connection error cpus memory arch cpu-model cpu-signature domain-type free-cpus "
                      "free-memory vm-count allocated-cpus allocated-memory orphans fenced state " CFS_ST_GEN,
};
