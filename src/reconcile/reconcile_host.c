/* reconcile_host.c: keep a host's connection up and its status true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "value.h"

struct orphan_scan {
    struct reconciler *rc;
    const struct cfs_res *host;
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
    if (store_res_by_uuid(o->rc->st, uuid, &vm, &ignore) == 0 && vm.kind == o->rc->k_vm) {
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

static void set_size_status(struct reconciler *rc, const struct cfs_res *host, const char *name,
                            long long bytes)
{
    char buf[32];
    value_format_size(bytes < 0 ? 0 : bytes, buf, sizeof(buf));
    rc_set_status(rc, host, name, buf);
}

static void set_int_status(struct reconciler *rc, const struct cfs_res *host, const char *name,
                           long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    rc_set_status(rc, host, name, buf);
}

int reconcile_host(struct reconciler *rc, const struct cfs_res *host)
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
    if (!was_connected && h->next_try > now) {
        free(uri);
        return (int)((h->next_try - now) / 1000000LL) + 1;
    }
    if (reconcile_host_connect(rc, h, uri, &err) < 0) {
        h->failures++;
        int delay = 1000 << (h->failures < 5 ? h->failures : 5);   /* 2 s .. 32 s */
        h->next_try = now + (int64_t)delay * 1000000LL;
        /* The reason first: a reader who sees "disconnected" finds it. */
        rc_set_status(rc, host, "error", err.msg);
        rc_set_status(rc, host, "connection", "disconnected");
        free(uri);
        return delay;
    }
    free(uri);
    h->failures = 0;
    rc_set_status(rc, host, "connection", "connected");

    struct cfs_host_info info;
    pthread_rwlock_rdlock(&h->rw);
    info = h->info;
    pthread_rwlock_unlock(&h->rw);
    set_int_status(rc, host, "cpus", info.cpus);
    set_size_status(rc, host, "memory", info.memory_kib * 1024LL);
    rc_set_status(rc, host, "arch", info.arch);
    rc_set_status(rc, host, "cpu-model", info.cpu_model);
    char *dtype = rc_attr(rc, host->id, "domain-type");
    rc_set_status(rc, host, "domain-type",
                  strcmp(dtype, "auto") && dtype[0] ? dtype : info.domain_type);
    free(dtype);

    struct sched_capacity cap;
    if (scheduler_capacity(rc, host, h, 0, &cap, &err) == 0) {
        set_int_status(rc, host, "free-cpus", cap.cpus_total - cap.cpus_used);
        set_size_status(rc, host, "free-memory", cap.mem_total - cap.mem_used);
        set_int_status(rc, host, "vm-count", cap.vms);
        set_int_status(rc, host, "allocated-cpus", cap.cpus_used);
        set_size_status(rc, host, "allocated-memory", cap.mem_used);
    }

    struct orphan_scan o = {.rc = rc, .host = host};
    pthread_rwlock_rdlock(&h->rw);
    int listed = h->conn ? rc->drv->list(h->conn, orphan_check, &o, &err) : -1;
    pthread_rwlock_unlock(&h->rw);
    if (o.len)
        o.text[o.len - 1] = '\0';  /* the tree adds the final newline */
    if (listed == 0)
        rc_set_status(rc, host, "orphans", o.text ? o.text : "");
    free(o.text);
    rc_set_status(rc, host, "error", "");
    set_int_status(rc, host, "_gen", gen);     /* for readers of wait */

    if (!was_connected) {
        /* New capacity, and VMs here need their status refreshed. */
        struct cfs_res *vms = NULL;
        size_t n = 0;
        rc_wake_unplaced(rc, host->parent);
        if (store_res_by_status(rc->st, rc->k_vm, host->parent, "host", host->name, &vms, &n,
                                &err) == 0)
            for (size_t i = 0; i < n; i++)
                workq_add(&rc->q, vms[i].id, 0);
        free(vms);
    }
    return 0;
}
