/* reconcile.c: the reconciler daemon: wake-ups and workers.
 *
 * Wake-ups come from three places: the store's changes log (inotify on the
 * store's notify file, touched after every commit by either process), libvirt domain
 * events, and a periodic full resync.  All of them only enqueue resource
 * ids; the pass of the resource's kind (the table of rc_kind.h) decides
 * what to do.
 */
#include "reconcile.h"

#include "rc_lease.h"
#include "rc_state.h"
#include "rc_store.h"
#include "reconcile_metrics.h"
#include "alarm_notify.h"
#include "reconcile_storage.h"

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

/* ---- wake-ups ---- */

static void enqueue_kind(struct reconciler *rc, const struct cfs_kind *k)
{
    struct cfs_res *list = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    if (store_res_all(rc->st, k, &list, &n, &ignore) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        workq_add(&rc->q, list[i].id, 0);
    free(list);
}

/* Every resource of every kind that has a pass, in table order. */
static void resync_all(struct reconciler *rc)
{
    for (size_t i = 0; i < rc_nkinds; i++)
        if (rc->kinds[i].row->pass)
            enqueue_kind(rc, rc->kinds[i].kind);
}

struct dispatch {
    struct reconciler *rc;
    bool resync;
    /* Rows whose changes wake other kinds (wakes_kinds), seen this round. */
    const struct rc_bound *woke[16];
    size_t nwoke;
};

static void note_wakes_kinds(struct dispatch *d, const struct rc_bound *b)
{
    if (!b->row->wakes_kinds)
        return;
    for (size_t i = 0; i < d->nwoke; i++)
        if (d->woke[i] == b)
            return;
    if (d->nwoke < sizeof(d->woke) / sizeof(d->woke[0]))
        d->woke[d->nwoke++] = b;
    else
        d->resync = true;
}

/* Every resource of the kinds b's row names in wakes_kinds. */
static void wake_kinds(struct reconciler *rc, const struct rc_bound *b)
{
    char names[128];
    char *save = NULL;
    snprintf(names, sizeof(names), "%s", b->row->wakes_kinds);
    for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        const struct cfs_kind *k = layout_kind(rc->layout, t);
        if (k)
            enqueue_kind(rc, k);
    }
}

/* Runs under the store's lock: only the work queue may be touched here. */
static int dispatch_change(const struct cfs_change *c, void *arg)
{
    struct dispatch *d = arg;
    struct reconciler *rc = d->rc;
    rc->seq = c->seq;
    if (!strcmp(c->op, "status"))
        return 0;   /* observations never need action */
    const struct cfs_kind *k = layout_kind(rc->layout, c->kind);
    const struct rc_bound *b = rc_bound_of(rc, k);
    if (!b)
        return 0;   /* a kind whose changes need nobody (zones) */
    const struct cfs_attr_def *a = k && c->attr && !strcmp(c->op, "set") ? layout_attr(k, c->attr)
                                                                         : NULL;
    if (a && a->type == CFS_T_TAGS)
        return 0;   /* tags are the mount's index only (/tags) */
    note_wakes_kinds(d, b);
    switch (b->row->wakes) {
    case RC_WAKE_SELF:
        workq_add(&rc->q, c->res, 0);
        break;
    case RC_WAKE_RESYNC:
        d->resync = true;
        break;
    case RC_WAKE_NONE:
    default:
        break;
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
    else
        for (size_t i = 0; i < d.nwoke; i++)
            wake_kinds(rc, d.woke[i]);
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
        const struct rc_bound *b = NULL;
        if (store_res_get(rc->st, key, &r, &err) == 0)
            b = rc_bound_of(rc, r.kind);
        if (b && b->row->pass) {
            rc_pass_begin(rc, b->row);
            again = b->row->pass(rc, &r);
            rc_pass_end(rc);
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

/* Retention: the changes log and the audit lose what is older than their
 * configured periods, once every consumer has read it (store_prune). */
static void prune(struct reconciler *rc)
{
    int64_t now = store_now(), changes = 0, audit = 0;
    const struct cfs_conf *c = rc->conf;
    struct cfs_err err;
    int64_t cb = c->changes_retention ? now - (int64_t)c->changes_retention * 1000000000LL : 0;
    int64_t ab = c->audit_retention ? now - (int64_t)c->audit_retention * 1000000000LL : 0;
    if (!cb && !ab)
        return;
    if (store_prune(rc->st, rc->seq, cb, ab, &changes, &audit, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: retention: %s\n", err.msg);
    else if (changes || audit)
        fprintf(stderr, "cloudfs reconcile: retention: pruned %lld change entries, %lld audit rows\n",
                (long long)changes, (long long)audit);
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
    for (size_t i = 0; i < rc_nkinds; i++)
        if (rc->kinds[i].row->start)
            rc->kinds[i].row->start(rc);
    int64_t resync_started = workq_now();
    resync_all(rc);
    size_t resync_size = workq_depth(&rc->q);
    int64_t next_resync = workq_now() + (int64_t)rc->conf->resync_interval * 1000000000LL;
    int64_t next_prune = 0;     /* after each full pass, at most once a minute */

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
            if (now >= next_prune) {
                prune(rc);
                /* Once a minute, or as often as the shortest retention. */
                int every = 60;
                if (rc->conf->changes_retention > 0 && rc->conf->changes_retention < every)
                    every = rc->conf->changes_retention;
                if (rc->conf->audit_retention > 0 && rc->conf->audit_retention < every)
                    every = rc->conf->audit_retention;
                next_prune = now + (int64_t)every * 1000000000LL;
            }
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
    alarm_notify_stop();
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
    if (rc_kinds_bind(layout, &rc.kinds, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        return 1;
    }
    if (!foreground && daemon(0, 0) < 0) {
        perror("cloudfs reconcile: daemon");
        rc_kinds_unbind(rc.kinds);
        return 1;
    }
    /* Blocked before any thread exists (libvirt's event loop, metrics,
     * workers), so that only the main loop's signalfd receives them: a
     * SIGHUP landing on another thread killed the process. */
    sigset_t mask;
    control_signals(&mask);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    int lease = -1;
    int took = rc_lease_take(conf->store, &mask, &lease, &err);
    if (took != 0) {
        if (took < 0)
            fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        rc_kinds_unbind(rc.kinds);
        return took < 0 ? 1 : 0;
    }
    workq_init(&rc.q);
    pthread_mutex_init(&rc.place_lock, NULL);
    pthread_mutex_init(&rc.hosts_lock, NULL);
    pthread_mutex_init(&rc.pools_lock, NULL);
    pthread_mutex_init(&rc.copy_lock, NULL);
    pthread_mutex_init(&rc.task_lock, NULL);
    pthread_mutex_init(&rc.vms_lock, NULL);
    if (store_open(conf->store, layout, conf->sync_full, &rc.st, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        goto cleanup;
    }
    if (rc.drv->init(&err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s\n", err.msg);
        goto cleanup;
    }
    status = run(&rc);
    rc_hosts_close(&rc);
    rc.drv->shutdown();
    rc_pools_close(&rc);
cleanup:
    free(rc.hosts);
    free(rc.vms);
    store_close(rc.st);
    workq_destroy(&rc.q);
    pthread_mutex_destroy(&rc.place_lock);
    pthread_mutex_destroy(&rc.hosts_lock);
    pthread_mutex_destroy(&rc.pools_lock);
    pthread_mutex_destroy(&rc.copy_lock);
    pthread_mutex_destroy(&rc.task_lock);
    pthread_mutex_destroy(&rc.vms_lock);
    rc_kinds_unbind(rc.kinds);
    rc_lease_drop(lease);
    return status;
}
