/* reconcile_metrics.c: publish the reconciler's metrics (see reconcile_metrics.h). */
#include "reconcile_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prom_text.h"
#include "rc_state.h"
#include "textbuf.h"

struct rc_metrics {
    struct reconciler *rc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

struct vm_sample {
    struct cfs_domain_stats s;
    char host[CFS_NAME_MAX + 1];
};

struct collect {
    struct vm_sample *v;
    size_t n;
    const char *host;
};

static void on_stats(const struct cfs_domain_stats *s, void *arg)
{
    struct collect *c = arg;
    /* A defined domain that is off has a balloon size but uses nothing. */
    if (s->power != CFS_POWER_RUNNING && s->power != CFS_POWER_PAUSED &&
        s->power != CFS_POWER_SHUTDOWN)
        return;
    struct vm_sample *grown = realloc(c->v, (c->n + 1) * sizeof(*grown));
    if (!grown)
        return;
    c->v = grown;
    c->v[c->n].s = *s;
    snprintf(c->v[c->n].host, sizeof(c->v[c->n].host), "%s", c->host);
    c->n++;
}

/* One libvirt bulk call per connected host. */
static void collect_vms(struct reconciler *rc, struct collect *c)
{
    if (!rc->drv->all_stats)
        return;
    pthread_mutex_lock(&rc->hosts_lock);
    size_t nhosts = rc->nhosts;
    struct rc_host **hosts = nhosts ? malloc(nhosts * sizeof(*hosts)) : NULL;
    if (hosts)
        memcpy(hosts, rc->hosts, nhosts * sizeof(*hosts));
    pthread_mutex_unlock(&rc->hosts_lock);
    for (size_t i = 0; hosts && i < nhosts; i++) {
        struct rc_host *h = hosts[i];   /* never freed while the daemon runs */
        struct cfs_err err;
        pthread_rwlock_rdlock(&h->rw);
        c->host = h->name;
        if (h->conn && rc->drv->all_stats(h->conn, on_stats, c, &err) < 0)
            fprintf(stderr, "cloudfs reconcile: host %s: %s\n", h->name, err.msg);
        pthread_rwlock_unlock(&h->rw);
    }
    free(hosts);
}

struct vm_family {
    const char *name, *type, *help;
    size_t off;
    double scale;
};

static const struct vm_family vm_families[] = {
    {"cloudfs_vm_cpu_seconds_total", "counter", "CPU time used by the VM.",
     offsetof(struct cfs_domain_stats, cpu_time_ns), 1e-9},
    {"cloudfs_vm_memory_bytes", "gauge", "Memory of the VM (balloon size).",
     offsetof(struct cfs_domain_stats, memory_kib), 1024},
    {"cloudfs_vm_rss_bytes", "gauge", "Resident memory of the VM's QEMU process.",
     offsetof(struct cfs_domain_stats, rss_kib), 1024},
    {"cloudfs_vm_disk_read_bytes_total", "counter", "Bytes read from all disks of the VM.",
     offsetof(struct cfs_domain_stats, disk_rd_bytes), 1},
    {"cloudfs_vm_disk_written_bytes_total", "counter", "Bytes written to all disks of the VM.",
     offsetof(struct cfs_domain_stats, disk_wr_bytes), 1},
    {"cloudfs_vm_disk_reads_total", "counter", "Read requests on all disks of the VM.",
     offsetof(struct cfs_domain_stats, disk_rd_reqs), 1},
    {"cloudfs_vm_disk_writes_total", "counter", "Write requests on all disks of the VM.",
     offsetof(struct cfs_domain_stats, disk_wr_reqs), 1},
    {"cloudfs_vm_network_receive_bytes_total", "counter", "Bytes received on all interfaces.",
     offsetof(struct cfs_domain_stats, net_rx_bytes), 1},
    {"cloudfs_vm_network_transmit_bytes_total", "counter", "Bytes sent on all interfaces.",
     offsetof(struct cfs_domain_stats, net_tx_bytes), 1},
    {"cloudfs_vm_network_receive_packets_total", "counter", "Packets received on all interfaces.",
     offsetof(struct cfs_domain_stats, net_rx_pkts), 1},
    {"cloudfs_vm_network_transmit_packets_total", "counter", "Packets sent on all interfaces.",
     offsetof(struct cfs_domain_stats, net_tx_pkts), 1},
};

static void vm_part(struct reconciler *rc, struct textbuf *out)
{
    struct collect c = {0};
    collect_vms(rc, &c);
    /* Labels once per VM: domains no VM of the tree owns are left out. */
    char **labels = c.n ? calloc(c.n, sizeof(*labels)) : NULL;
    for (size_t i = 0; labels && i < c.n; i++) {
        struct cfs_res vm;
        struct cfs_err ignore;
        if (store_res_by_uuid(rc->st, c.v[i].s.uuid, &vm, &ignore) < 0 || vm.deleted ||
            vm.kind != rc_layout_kind(rc, &rc_kind_vm))
            continue;
        struct textbuf b = {0};
        /* The mount shows a VM's samples only to who may see it (metrics.c). */
        tb_printf(&b, "@%lld ", (long long)vm.id);
        metrics_res_labels(rc->st, &vm, &b);
        tb_puts(&b, ",host=\"");
        metrics_label_value(&b, c.v[i].host);
        tb_puts(&b, "\"");
        labels[i] = tb_steal(&b, NULL);
    }
    for (size_t f = 0; labels && f < sizeof(vm_families) / sizeof(vm_families[0]); f++) {
        const struct vm_family *fam = &vm_families[f];
        struct textbuf s = {0};
        for (size_t i = 0; i < c.n; i++) {
            long long v = *(const long long *)((const char *)&c.v[i].s + fam->off);
            if (!labels[i] || v < 0)
                continue;
            /* labels[i] is "@ID labels": the prefix goes first. */
            const char *sp = strchr(labels[i], ' ');
            int pre = (int)(sp - labels[i]) + 1;
            if (fam->scale == 1)
                tb_printf(&s, "%.*s%s{%s} %lld\n", pre, labels[i], fam->name, sp + 1, v);
            else
                tb_printf(&s, "%.*s%s{%s} %.9g\n", pre, labels[i], fam->name, sp + 1,
                          (double)v * fam->scale);
        }
        if (s.len) {
            tb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                      fam->type);
            tb_put(out, s.s, s.len);
        }
        tb_free(&s);
    }
    for (size_t i = 0; labels && i < c.n; i++)
        free(labels[i]);
    free(labels);
    free(c.v);
}

static void publish(struct reconciler *rc)
{
    struct workq_stats ws;
    struct textbuf b = {0};
    struct cfs_err err;
    workq_stats(&rc->q, &ws);
    tb_printf(&b, "%lld %d\n", (long long)store_now(), rc->conf->metrics_interval);
    tb_printf(&b,
              "# HELP cloudfs_reconciler_queue_depth Resources queued or being reconciled.\n"
              "# TYPE cloudfs_reconciler_queue_depth gauge\n"
              "cloudfs_reconciler_queue_depth %zu\n"
              "# HELP cloudfs_reconciler_queue_wait_seconds Time resources waited in the queue "
              "after they were due.\n"
              "# TYPE cloudfs_reconciler_queue_wait_seconds summary\n"
              "cloudfs_reconciler_queue_wait_seconds_sum %.9f\n"
              "cloudfs_reconciler_queue_wait_seconds_count %llu\n"
              "# HELP cloudfs_reconciler_queue_wait_max_seconds Longest queue wait since the "
              "previous publication.\n"
              "# TYPE cloudfs_reconciler_queue_wait_max_seconds gauge\n"
              "cloudfs_reconciler_queue_wait_max_seconds %.9f\n"
              "# HELP cloudfs_reconciler_pass_seconds Duration of reconcile passes.\n"
              "# TYPE cloudfs_reconciler_pass_seconds summary\n"
              "cloudfs_reconciler_pass_seconds_sum %.9f\n"
              "cloudfs_reconciler_pass_seconds_count %llu\n",
              ws.depth, (double)ws.wait_ns / 1e9, (unsigned long long)ws.done,
              (double)ws.wait_max_ns / 1e9, (double)ws.run_ns / 1e9,
              (unsigned long long)ws.done);
    vm_part(rc, &b);
    char *text = tb_steal(&b, NULL);
    if (text && store_meta_set(rc->st, METRICS_META_KEY, text, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: metrics: %s\n", err.msg);
    free(text);
}

static void *metrics_main(void *arg)
{
    struct rc_metrics *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        publish(m->rc);
        pthread_mutex_lock(&m->lock);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += m->rc->conf->metrics_interval;
        while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &ts) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

struct rc_metrics *rc_metrics_start(struct reconciler *rc)
{
    struct rc_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rc = rc;
    pthread_mutex_init(&m->lock, NULL);
    workq_cond_init(&m->cond);
    if (pthread_create(&m->thread, NULL, metrics_main, m) != 0) {
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        free(m);
        fprintf(stderr, "cloudfs reconcile: cannot start the metrics thread\n");
        return NULL;
    }
    return m;
}

void rc_metrics_stop(struct rc_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
