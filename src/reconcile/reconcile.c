/* reconcile.c: the reconciler daemon: wake-ups, workers, host table.
 *
 * Wake-ups come from three places: the store's changes log (inotify on the
 * store's notify file, touched after every commit by either process), libvirt domain
 * events, and a periodic full resync.  All of them only enqueue resource
 * ids; reconcile_vm() and reconcile_host() decide what to do.
 */
#include "reconcile.h"
#include "reconcile_metrics.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

const struct cfs_actor rc_actor = {.who = "reconciler", .uid = 0, .pid = 0, .comm = "cloudfs"};

char *rc_attr(struct reconciler *rc, int64_t res, const char *name)
{
    return store_attr_text(rc->st, res, name);
}

char *rc_status(struct reconciler *rc, int64_t res, const char *name)
{
    return store_status_text(rc->st, res, name);
}

void rc_set_status(struct reconciler *rc, const struct cfs_res *r, const char *name,
                   const char *value)
{
    struct cfs_err err;
    if (!value)
        value = "";
    if (!strcmp(name, "error")) {
        /* status/error also carries the reasons of writes the mount
         * refused: the reconciler clears only what it reported itself
         * (kept in _rc_error), the user's next accepted write the rest. */
        char *mine = rc_status(rc, r->id, "_rc_error");
        bool same = !strcmp(mine, value);
        /* Clearing with nothing of ours standing (every converged pass):
         * nothing to write, and a refusal's reason stays. */
        bool skip = !value[0] && !mine[0];
        if (!value[0] && mine[0]) {
            char *cur = rc_status(rc, r->id, "error");
            skip = strcmp(cur, mine) != 0;
            free(cur);
        }
        if (!same)
            store_status_set(rc->st, r, "_rc_error", value, &rc_actor, &err);
        free(mine);
        if (skip)
            return;
    }
    if (store_status_set(rc->st, r, name, value, &rc_actor, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: %s/%s: %s\n", r->name, name, err.msg);
}

/* ---- hosts ---- */

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

struct rc_host *rc_host_get(struct reconciler *rc, const struct cfs_res *host)
{
    struct rc_host *h = NULL;
    pthread_mutex_lock(&rc->hosts_lock);
    for (size_t i = 0; i < rc->nhosts; i++)
        if (rc->hosts[i]->id == host->id)
            h = rc->hosts[i];
    if (!h) {
        struct rc_host **grown = realloc(rc->hosts, (rc->nhosts + 1) * sizeof(*grown));
        h = calloc(1, sizeof(*h));
        if (grown)
            rc->hosts = grown;
        if (grown && h) {
            h->id = host->id;
            h->rc = rc;
            pthread_rwlock_init(&h->rw, NULL);
            rc->hosts[rc->nhosts++] = h;
        } else {
            free(h);
            h = NULL;
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
    if (!name[0] || store_res_find(rc->st, cluster, rc->k_host, name, &host, &ignore) < 0)
        return NULL;
    return rc_host_get(rc, &host);
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
    /* Callers hold vms_lock. */
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

int reconcile_host_connect(struct reconciler *rc, struct rc_host *h, const char *uri,
                           struct cfs_err *err)
{
    int rc_ = 0;
    pthread_rwlock_wrlock(&h->rw);
    if (h->conn && (strcmp(h->uri, uri) || !rc->drv->alive(h->conn))) {
        rc->drv->close(h->conn);
        h->conn = NULL;
        memset(&h->info, 0, sizeof(h->info));
    }
    if (!h->conn) {
        snprintf(h->uri, sizeof(h->uri), "%s", uri);
        if (rc->drv->connect(uri, on_domain_event, on_conn_lost, h, &h->conn, err) < 0) {
            h->conn = NULL;
            rc_ = -1;
        } else if (rc->drv->host_info(h->conn, &h->info, err) < 0) {
            rc->drv->close(h->conn);
            h->conn = NULL;
            rc_ = -1;
        }
    }
    pthread_rwlock_unlock(&h->rw);
    return rc_;
}

void rc_wake_unplaced(struct reconciler *rc, int64_t cluster)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    /* One query: every host that connects calls this, and a status read
     * per VM made 1,000 hosts x 100,000 VMs a hundred million reads. */
    if (store_res_by_status(rc->st, rc->k_vm, cluster, "host", "", &vms, &n, &ignore) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        workq_add(&rc->q, vms[i].id, 0);
    free(vms);
}

/* ---- wake-ups ---- */

static void enqueue_kind(struct reconciler *rc, const struct cfs_kind *k)
{
    struct cfs_res *list = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    if (!k || store_res_all(rc->st, k, &list, &n, &ignore) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        workq_add(&rc->q, list[i].id, 0);
    free(list);
}

static void resync_all(struct reconciler *rc)
{
    enqueue_kind(rc, rc->k_host);
    enqueue_kind(rc, rc->k_pool);
    enqueue_kind(rc, rc->k_image);
    enqueue_kind(rc, rc->k_volume);
    enqueue_kind(rc, rc->k_vm);
    enqueue_kind(rc, rc->k_task);
}

struct dispatch {
    struct reconciler *rc;
    bool resync;
};

/* Runs under the store's lock: only the work queue may be touched here. */
static int dispatch_change(const struct cfs_change *c, void *arg)
{
    struct dispatch *d = arg;
    struct reconciler *rc = d->rc;
    rc->seq = c->seq;
    if (!strcmp(c->op, "status"))
        return 0;   /* observations never need action */
    if (!strcmp(c->kind, "vm") || !strcmp(c->kind, "host") || !strcmp(c->kind, "volume") ||
        !strcmp(c->kind, "pool") || !strcmp(c->kind, "image")) {
        workq_add(&rc->q, c->res, 0);
    } else if (!strcmp(c->kind, "cluster") || !strcmp(c->kind, "offering")) {
        /* Capacity or sizes changed: look at everything again. */
        d->resync = true;
    }
    return 0;
}

static void drain_changes(struct reconciler *rc)
{
    struct cfs_err err;
    struct dispatch d = {.rc = rc};
    int64_t before;
    do {
        before = rc->seq;
        if (store_changes_since(rc->st, rc->seq, 1000, dispatch_change, &d, &err) < 0) {
            fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
            break;
        }
    } while (rc->seq != before);
    if (d.resync)
        resync_all(rc);
}

/* ---- workers ---- */

static void *worker(void *arg)
{
    struct reconciler *rc = arg;
    int64_t key;
    while (workq_take(&rc->q, &key)) {
        struct cfs_res r;
        struct cfs_err err;
        int again = 0;
        if (store_res_get(rc->st, key, &r, &err) == 0) {
            if (r.kind == rc->k_vm)
                again = reconcile_vm(rc, &r);
            else if (r.kind == rc->k_host)
                again = reconcile_host(rc, &r);
            else if (r.kind == rc->k_volume)
                again = reconcile_volume(rc, &r);
            else if (r.kind == rc->k_pool)
                again = reconcile_pool(rc, &r);
            else if (r.kind == rc->k_image)
                again = reconcile_image(rc, &r);
            else if (r.kind == rc->k_task)
                again = reconcile_task(rc, &r);
        }
        workq_done(&rc->q, key);
        if (again > 0)
            workq_add(&rc->q, key, again);
    }
    return NULL;
}

/* The signals the main loop reads from its signalfd. */
static void control_signals(sigset_t *mask)
{
    sigemptyset(mask);
    sigaddset(mask, SIGTERM);
    sigaddset(mask, SIGINT);
    sigaddset(mask, SIGHUP);
}

static int run(struct reconciler *rc)
{
    sigset_t mask;
    control_signals(&mask);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    /* Watch the store's directory for the notify file, which every commit
     * touches once it is visible (store.c), by either process. */
    char dir[PATH_MAX], notify[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", rc->conf->store);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), slash ? "/" : ".");
    const char *base = strrchr(rc->conf->store, '/');
    snprintf(notify, sizeof(notify), "%s-notify", base ? base + 1 : rc->conf->store);
    int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd < 0 || inotify_add_watch(ifd, dir, IN_ATTRIB | IN_CREATE | IN_MOVED_TO) < 0) {
        fprintf(stderr, "cloudfs reconcile: inotify on %s: %s\n", dir, strerror(errno));
        return 1;
    }

    int nworkers = rc->conf->workers;
    pthread_t *threads = calloc((size_t)nworkers, sizeof(*threads));
    if (!threads)
        return 1;
    for (int i = 0; i < nworkers; i++)
        pthread_create(&threads[i], NULL, worker, rc);

    struct rc_metrics *metrics = rc_metrics_start(rc);
    rc->seq = store_last_seq(rc->st);
    task_fail_orphans(rc);
    int64_t resync_started = workq_now();
    resync_all(rc);
    size_t resync_size = workq_depth(&rc->q);
    int64_t next_resync = workq_now() + (int64_t)rc->conf->resync_interval * 1000000000LL;

    while (!rc->stopping) {
        int64_t now = workq_now();
        /* Operators (and make bench) learn how long a full pass over
         * everything took.  The next periodic pass is due an interval after
         * this one ends, not after it began: at 100,000 VMs a pass takes
         * minutes, and passes started every 30 s piled up on each other and
         * the queue never drained. */
        if (resync_started && workq_idle(&rc->q)) {
            fprintf(stderr, "cloudfs reconcile: resync of %zu resources took %lld ms\n",
                    resync_size, (long long)((now - resync_started) / 1000000LL));
            resync_started = 0;
            next_resync = now + (int64_t)rc->conf->resync_interval * 1000000000LL;
        }
        /* During a pass, look for its end every 100 ms (the next one waits
         * for it, so a due time already past must not make this spin). */
        int timeout = resync_started ? 100
                      : next_resync > now ? (int)((next_resync - now) / 1000000LL) + 1 : 0;
        struct pollfd pfd[2] = {{.fd = ifd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int n = poll(pfd, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        bool resync_now = false;
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP) {
                resync_now = true;      /* kill -HUP: a full pass now */
            } else {
                rc->stopping = 1;
                break;
            }
        }
        if (pfd[0].revents & POLLIN) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            bool store_changed = false;
            ssize_t len;
            while ((len = read(ifd, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + len;) {
                    struct inotify_event *ev = (struct inotify_event *)p;
                    if (ev->len && !strcmp(ev->name, notify))
                        store_changed = true;
                    p += sizeof(*ev) + ev->len;
                }
            }
            if (store_changed)
                drain_changes(rc);
        }
        if (resync_now || (!resync_started && workq_now() >= next_resync)) {
            drain_changes(rc);
            if (!resync_started)    /* else the last pass is still running */
                resync_started = workq_now();
            resync_all(rc);
            resync_size = workq_depth(&rc->q);
        }
    }

    rc_metrics_stop(metrics);
    workq_stop(&rc->q);
    /* Passes in flight finish (a domain start, a graceful shutdown) for up
     * to 3 s; after that the process leaves without them, which is what a
     * kill -9 does and what the next start recovers from (crash-safe by
     * design).  A stop must not wait on a slow host. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 3;
    for (int i = 0; i < nworkers; i++) {
        if (pthread_timedjoin_np(threads[i], NULL, &deadline) != 0) {
            fprintf(stderr, "cloudfs reconcile: stopping with work in flight\n");
            _exit(0);
        }
    }
    free(threads);
    close(ifd);
    if (sfd >= 0)
        close(sfd);
    return 0;
}

int reconcile_main(const struct cfs_conf *conf, const struct cfs_layout *layout, bool foreground)
{
    struct reconciler rc = {.conf = conf, .layout = layout, .drv = &cfs_libvirt_driver};
    struct cfs_err err;
    int status = 1;
    rc.k_vm = layout_kind(layout, "vm");
    rc.k_host = layout_kind(layout, "host");
    rc.k_cluster = layout_kind(layout, "cluster");
    rc.k_offering = layout_kind(layout, "offering");
    rc.k_pool = layout_kind(layout, "pool");
    rc.k_volume = layout_kind(layout, "volume");
    rc.k_image = layout_kind(layout, "image");
    rc.k_task = layout_kind(layout, "task");
    if (!rc.k_vm || !rc.k_host || !rc.k_cluster || !rc.k_offering || !rc.k_pool ||
        !rc.k_volume || !rc.k_image) {
        fprintf(stderr, "cloudfs reconcile: the layout lacks vm, host, cluster, offering, "
                        "pool, volume or image\n");
        return 1;
    }
    if (!foreground && daemon(0, 0) < 0) {
        perror("cloudfs reconcile: daemon");
        return 1;
    }
    /* Blocked before any thread exists (libvirt's event loop, metrics,
     * workers), so that only the main loop's signalfd receives them: a
     * SIGHUP landing on another thread killed the process. */
    sigset_t mask;
    control_signals(&mask);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    workq_init(&rc.q);
    pthread_mutex_init(&rc.hosts_lock, NULL);
    pthread_mutex_init(&rc.place_lock, NULL);
    pthread_mutex_init(&rc.vms_lock, NULL);
    pthread_mutex_init(&rc.pools_lock, NULL);
    pthread_mutex_init(&rc.copy_lock, NULL);
    pthread_mutex_init(&rc.task_lock, NULL);
    if (store_open(conf->store, layout, conf->sync_full, &rc.st, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        goto cleanup;
    }
    if (rc.drv->init(&err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        goto cleanup;
    }
    status = run(&rc);
    for (size_t i = 0; i < rc.nhosts; i++) {
        if (rc.hosts[i]->conn)
            rc.drv->close(rc.hosts[i]->conn);
        pthread_rwlock_destroy(&rc.hosts[i]->rw);
        free(rc.hosts[i]);
    }
    rc.drv->shutdown();
    rc_pools_close(&rc);
cleanup:
    free(rc.hosts);
    free(rc.vms);
    store_close(rc.st);
    workq_destroy(&rc.q);
    pthread_mutex_destroy(&rc.hosts_lock);
    pthread_mutex_destroy(&rc.place_lock);
    pthread_mutex_destroy(&rc.vms_lock);
    pthread_mutex_destroy(&rc.pools_lock);
    pthread_mutex_destroy(&rc.copy_lock);
    pthread_mutex_destroy(&rc.task_lock);
    return status;
}
