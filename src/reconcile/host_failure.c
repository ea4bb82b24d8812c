/* host_failure.c: host failure detection, fencing and HA restarts.
 *
 * Detection takes two signals: the libvirt connection goes (its keepalive,
 * driver_libvirt.c, closes it when a host stops answering; a killed
 * libvirtd closes it at once), and opening a new connection then fails
 * twice, HF_CONFIRM_MS apart at least, each attempt bounded by
 * HF_PROBE_MS (a probe thread: opening a connection to a frozen libvirtd
 * never returns).  The host is then "lost" (status/connection) and fenced
 * before anything of it starts elsewhere: each Ceph cluster of its
 * cluster's rbd pools blocklists the host's fence-address (fence_rbd.c),
 * recorded in status/fenced.  Its VMs show "unknown"; those with ha on or
 * never-stop whose disks every host reaches are unplaced and the scheduler
 * starts them on another host.  A lost host
 * that answers again stays fenced until its stale domains (VMs now placed
 * elsewhere) are destroyed; then it is unfenced and connected. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fence.h"
#include "host_failure.h"
#include "rc_store.h"
#include "status_keys.h"
#include "vm_ha.h"
#include "vm_move_rules.h"

#define HF_PROBE_MS 2000        /* one reconnect attempt */
#define HF_CONFIRM_MS 2000      /* the connection gone at least this long */
#define HF_FENCE_TIMEOUT_S 10

/* ---- probes ---- */

struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int result;
    int slot;                   /* in probing[] */
    struct cfs_err err;
    const struct cfs_compute_driver *drv;
    char uri[1100];
};

/* Probe threads still running (waiting on frozen hosts): bounded, so that
 * a host frozen for hours does not pile up a thread per attempt.  One at a
 * time per URI: a frozen host's attempts would otherwise take every slot
 * and the healthy hosts' heartbeats would fail (all of them lost and
 * fenced, seen in tests/82 under load). */
#define HF_PROBES_MAX 16
static pthread_mutex_t probes_mu = PTHREAD_MUTEX_INITIALIZER;
static int probes_running;
static char probing[HF_PROBES_MAX][1100];     /* URIs with a probe still running */

static void probe_unref(struct probe *p)
{
    pthread_mutex_lock(&p->mu);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
    }
}

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    struct cfs_conn *c = NULL;
    struct cfs_err e;
    cfs_err_clear(&e);
    int r = p->drv->connect(p->uri, NULL, NULL, NULL, &c, &e);
    if (r == 0)
        p->drv->close(c);
    pthread_mutex_lock(&probes_mu);
    probes_running--;
    probing[p->slot][0] = '\0';
    pthread_mutex_unlock(&probes_mu);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->result = r;
    p->err = e;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    probe_unref(p);
    return NULL;
}

/* Open and close a connection to uri within HF_PROBE_MS.  A thread still
 * waiting on a frozen host is left behind; it ends when the host answers
 * (or the daemon exits). */
static int probe(const struct cfs_compute_driver *drv, const char *uri, struct cfs_err *err)
{
    pthread_t t;
    pthread_attr_t attr;
    int ret = -1, slot = -1;
    bool busy = false;
    pthread_mutex_lock(&probes_mu);
    for (int i = 0; i < HF_PROBES_MAX; i++) {
        busy = busy || !strcmp(probing[i], uri);
        if (slot < 0 && !probing[i][0])
            slot = i;
    }
    bool room = !busy && slot >= 0 && probes_running < HF_PROBES_MAX;
    if (room) {
        probes_running++;
        snprintf(probing[slot], sizeof(probing[slot]), "%s", uri);
    }
    pthread_mutex_unlock(&probes_mu);
    if (busy)
        return cfs_err_set(err, ETIMEDOUT, "no answer: an earlier attempt still waits");
    if (!room)
        return cfs_err_set(err, EAGAIN, "no answer: %d earlier attempts still wait", HF_PROBES_MAX);
    struct probe *p = calloc(1, sizeof(*p));
    if (!p) {
        pthread_mutex_lock(&probes_mu);
        probes_running--;
        probing[slot][0] = '\0';
        pthread_mutex_unlock(&probes_mu);
        return cfs_err_set(err, ENOMEM, "probe: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->refs = 2;
    p->slot = slot;
    p->drv = drv;
    snprintf(p->uri, sizeof(p->uri), "%s", uri);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, probe_main, p) != 0) {
        pthread_attr_destroy(&attr);
        pthread_mutex_lock(&probes_mu);
        probes_running--;
        probing[slot][0] = '\0';
        pthread_mutex_unlock(&probes_mu);
        p->refs = 1;
        probe_unref(p);
        return cfs_err_set(err, EAGAIN, "probe: no thread");
    }
    pthread_attr_destroy(&attr);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HF_PROBE_MS / 1000;
    pthread_mutex_lock(&p->mu);
    while (!p->done)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    if (!p->done)
        cfs_err_set(err, ETIMEDOUT, "no answer within %d ms", HF_PROBE_MS);
    else if (p->result < 0)
        *err = p->err;
    else
        ret = 0;
    pthread_mutex_unlock(&p->mu);
    probe_unref(p);
    return ret;
}

/* ---- cutting a frozen host's connection ---- */

/* The unix socket a URI reaches libvirtd by ("" when none: TCP, TLS, ssh). */
static void uri_socket(const char *uri, char *path, size_t len)
{
    const char *q = strstr(uri, "?socket=");
    if (!q)
        q = strstr(uri, "&socket=");
    path[0] = '\0';
    if (q) {
        q += strlen("?socket=");
        size_t n = strcspn(q, "&");
        if (n < len)
            snprintf(path, len, "%.*s", (int)n, q);
    } else if (!strncmp(uri, "qemu:///system", 14)) {
        snprintf(path, len, "%s", "/var/run/libvirt/libvirt-sock");
    }
}

/* A call in flight on a frozen host's connection waits for ever.  Shutting
 * down every socket of this process connected to the host's libvirtd makes
 * those calls fail (EOF), so that the passes they hold go on (and find the
 * host lost).  The sockets are found by their peer's process: the peer's
 * path is the one libvirtd bound in its own mount namespace, the same for
 * every host of the rig. */
static void cut_sockets(const char *uri, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct ucred server, peer;
    socklen_t len = sizeof(server);
    uri_socket(uri, sa.sun_path, sizeof(sa.sun_path));
    if (!sa.sun_path[0])
        return;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return;
    /* A frozen server's listening socket still takes connections (its
     * backlog): the credentials say which process it is. */
    int known = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                getsockopt(s, SOL_SOCKET, SO_PEERCRED, &server, &len) == 0 && server.pid > 0;
    close(s);
    DIR *d = known ? opendir("/proc/self/fd") : NULL;
    if (!d)
        return;
    int cut = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct sockaddr_un mine;
        socklen_t ml = sizeof(mine);
        len = sizeof(peer);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
            continue;
        if (getsockname(fd, (struct sockaddr *)&mine, &ml) == 0 && mine.sun_family == AF_UNIX &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.pid == server.pid &&
            shutdown(fd, SHUT_RDWR) == 0)
            cut++;
    }
    closedir(d);
    if (cut)
        fprintf(stderr, "cloudfs reconcile: host %s: shut down %d socket(s) to its libvirtd\n",
                name, cut);
}

/* ---- the heartbeat ----
 *
 * A frozen libvirtd keeps its socket open and never answers: a call in
 * flight waits for ever, and libvirt's keepalive, which closes such a
 * connection, can strand the threads waiting on it (seen with libvirt 9.0),
 * so it is not used for these hosts.  Instead one thread opens a new
 * connection to each connected host every HF_BEAT_MS (bounded by
 * HF_PROBE_MS); after two failures in a row it shuts down this process's
 * sockets to that libvirtd: the calls in flight end (EOF), the connection
 * is lost, and the host's pass takes over.  Hosts reached over TCP have
 * libvirt's keepalive (driver_libvirt.c); the machine's own libvirtd
 * (qemu:///system) is not watched. */

#define HF_BEAT_MS 2000
#define HF_WATCH_MAX 256

struct watch {
    int64_t id;
    bool active;
    int failures;
    char uri[1100];
    char name[CFS_NAME_MAX + 1];
};

static struct {
    pthread_mutex_t mu;
    pthread_once_t once;
    const struct cfs_compute_driver *drv;
    struct watch w[HF_WATCH_MAX];
    int n;
} beat = {.mu = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static void *beat_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {.tv_sec = HF_BEAT_MS / 1000, .tv_nsec = (HF_BEAT_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        for (int i = 0;; i++) {
            struct watch w;
            pthread_mutex_lock(&beat.mu);
            bool more = i < beat.n;
            if (more)
                w = beat.w[i];
            pthread_mutex_unlock(&beat.mu);
            if (!more)
                break;
            if (!w.active)
                continue;
            struct cfs_err err;
            cfs_err_clear(&err);
            bool ok = probe(beat.drv, w.uri, &err) == 0;
            int failures;
            pthread_mutex_lock(&beat.mu);
            if (beat.w[i].id == w.id && !strcmp(beat.w[i].uri, w.uri))
                beat.w[i].failures = ok ? 0 : beat.w[i].failures + 1;
            failures = beat.w[i].failures;
            pthread_mutex_unlock(&beat.mu);
            if (failures == 2) {
                fprintf(stderr, "cloudfs reconcile: host %s: no answer to 2 heartbeats: %s\n",
                        w.name, err.msg);
                cut_sockets(w.uri, w.name);
            }
        }
    }
    return NULL;
}

static void beat_start(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, beat_main, NULL) != 0)
        fprintf(stderr, "cloudfs reconcile: no heartbeat thread: frozen hosts are not noticed\n");
    pthread_attr_destroy(&attr);
}

/* Whether the heartbeat watches uri: a libvirtd reached by a socket path
 * of its own (socket=, as on the test rig). */
static bool beat_wanted(const char *uri)
{
    return strstr(uri, "?socket=") || strstr(uri, "&socket=");
}

/* Watch host id at uri while active; the failures in a row so far. */
static int beat_set(const struct cfs_compute_driver *drv, int64_t id, const char *uri,
                    const char *name, bool active)
{
    int failures = 0, i;
    if (!beat_wanted(uri))
        return 0;
    pthread_mutex_lock(&beat.mu);
    beat.drv = drv;
    for (i = 0; i < beat.n && beat.w[i].id != id; i++)
        ;
    if (i == beat.n && beat.n < HF_WATCH_MAX)
        beat.w[beat.n++].id = id;
    if (i < beat.n) {
        if (strcmp(beat.w[i].uri, uri) || (active && !beat.w[i].active))
            beat.w[i].failures = 0;
        snprintf(beat.w[i].uri, sizeof(beat.w[i].uri), "%s", uri);
        snprintf(beat.w[i].name, sizeof(beat.w[i].name), "%s", name);
        beat.w[i].active = active;
        failures = beat.w[i].failures;
    }
    pthread_mutex_unlock(&beat.mu);
    pthread_once(&beat.once, beat_start);
    return failures;
}

/* ---- fencing ---- */

struct fence_walk {
    struct reconciler *rc;
    const char *addr;
    bool add;
    int clusters;
    int failed;
    char seen[8][600];      /* conf + user of the clusters done */
    struct cfs_err err;
};

static int fence_pool(const struct cfs_res *pool, void *arg)
{
    struct fence_walk *w = arg;
    char *type = rc_attr(w->rc, pool->id, "type");
    char *conf = rc_attr(w->rc, pool->id, "ceph-conf");
    char *user = rc_attr(w->rc, pool->id, "ceph-user");
    char key[600];
    bool done = false;
    snprintf(key, sizeof(key), "%s\n%s", conf, user);
    for (int i = 0; i < w->clusters && i < 8; i++)
        done = done || !strcmp(w->seen[i], key);
    if (!strcmp(type, "rbd") && conf[0] && !done) {
        if (w->clusters < 8)
            snprintf(w->seen[w->clusters], sizeof(w->seen[0]), "%s", key);
        w->clusters++;
        struct cfs_err e;
        if (fence_rbd(conf, user, w->addr, w->add, HF_FENCE_TIMEOUT_S, &e) < 0) {
            w->failed++;
            w->err = e;
        }
    }
    free(type);
    free(conf);
    free(user);
    return 0;
}

/* Blocklist (add) or unblocklist addr on every Ceph cluster of the host's
 * cluster's rbd pools.  0, or -1 with err. */
static int fence_host(struct reconciler *rc, const struct cfs_res *host, const char *addr,
                      bool add, struct cfs_err *err)
{
    struct fence_walk *w = calloc(1, sizeof(*w));
    int ret = -1;
    if (!w)
        return cfs_err_set(err, ENOMEM, "fence: out of memory");
    w->rc = rc;
    w->addr = addr;
    w->add = add;
    if (store_res_list(rc->st, host->parent, rc_layout_kind(rc, &rc_kind_pool), fence_pool, w,
                       err) < 0)
        goto cleanup;
    if (w->failed) {
        *err = w->err;
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(w);
    return ret;
}

/* ---- the host's pass ---- */

static void wake_vms(struct reconciler *rc, const struct cfs_res *host)
{
    struct cfs_res *vms = NULL;
    size_t n = 0;
    struct cfs_err err;
    if (store_res_by_status(rc->st, rc_layout_kind(rc, &rc_kind_vm), host->parent, "host",
                            host->name, &vms, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            rc_wake(rc, vms[i].id);
    free(vms);
}

/* The host is lost: say so, fence it (once), wake its VMs. */
static void lost(struct reconciler *rc, const struct cfs_res *host, const char *why)
{
    struct cfs_err err;
    char msg[1024];
    char *fenced = rc_status(rc, host->id, "fenced");
    char *addr = rc_attr(rc, host->id, "fence-address");
    if (fenced[0]) {
        snprintf(msg, sizeof(msg), "lost (%.400s); fenced", why);
    } else if (!addr[0]) {
        snprintf(msg, sizeof(msg), "lost (%.400s); cannot be fenced: no fence-address, so its VMs are "
                 "not restarted elsewhere", why);
    } else if (fence_host(rc, host, addr, true, &err) < 0) {
        snprintf(msg, sizeof(msg), "lost (%.400s); fencing failed, retried: %.255s", why, err.msg);
    } else {
        char when[32];
        rc_iso_time(when, sizeof(when));
        fprintf(stderr, "cloudfs reconcile: host %s lost (%s); fenced %s in Ceph at %s\n",
                host->name, why, addr, when);
        rc_set_status(rc, host, "fenced", addr);
        snprintf(msg, sizeof(msg), "lost (%.400s); fenced", why);
    }
    rc_set_status(rc, host, "error", msg);
    rc_set_status(rc, host, "connection", "lost");
    rc_flush(rc);
    wake_vms(rc, host);
    free(fenced);
    free(addr);
}

int host_failure_pass(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                      bool connected)
{
    struct cfs_err err;
    int result = 0;
    char *uri = rc_attr(rc, host->id, "uri");
    char *conn = NULL;
    /* Again: it may have gone since the caller looked, and the reconnect
     * that would follow could wait for ever on a frozen host.  Only this
     * pass changes h->conn. */
    connected = connected && h->conn && rc->drv->alive(h->conn);
    if (strncmp(uri, "test:", 5))
        beat_set(rc->drv, h->id, uri, host->name, connected);
    if (connected || !strncmp(uri, "test:", 5)) {
        h->hf_seen = h->hf_seen || connected;
        h->hf_probes_failed = 0;
        h->hf_down_since = 0;
        goto cleanup;
    }
    conn = rc_status(rc, host->id, "connection");
    if (!h->hf_seen && strcmp(conn, "lost"))
        goto cleanup;   /* never connected here: the usual (re)connect with backoff */
    h->hf_seen = true;
    int64_t now = workq_now();
    if (!h->hf_down_since)
        h->hf_down_since = now;
    cfs_err_clear(&err);
    if (probe(rc->drv, uri, &err) == 0)
        goto cleanup;   /* it answers: reconnect (host_failure_back if it was lost) */
    h->hf_probes_failed++;
    /* Two heartbeats missed before (a frozen host) count as two probes. */
    int missed = beat_set(rc->drv, h->id, uri, host->name, false);
    if (missed >= 2 && h->hf_probes_failed < 2) {
        h->hf_probes_failed = 2;
        h->hf_down_since -= HF_CONFIRM_MS * 1000000LL;
    }
    if (h->hf_probes_failed < 2 || now - h->hf_down_since < HF_CONFIRM_MS * 1000000LL) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "connection lost; reconnecting failed: %.255s", err.msg);
        rc_set_status(rc, host, "error", msg);
        if (strcmp(conn, "lost"))
            rc_set_status(rc, host, "connection", "disconnected");
        result = 1000;
        goto cleanup;
    }
    char why[512];
    snprintf(why, sizeof(why), "the libvirt connection closed%s and %d reconnects failed: %.255s",
             missed >= 2 ? " after 2 missed heartbeats" : "", h->hf_probes_failed, err.msg);
    lost(rc, host, why);
    result = 2000;
cleanup:
    free(uri);
    free(conn);
    return result;
}

struct stale_scan {
    struct reconciler *rc;
    const struct cfs_res *host;
    char (*uuids)[40];
    size_t n, cap;
};

/* A domain here whose VM is placed on another host (restarted there). */
static void stale_check(const char *name, const char *uuid, void *arg)
{
    struct stale_scan *s = arg;
    struct cfs_res vm;
    struct cfs_err ignore;
    (void)name;
    if (store_res_by_uuid(s->rc->st, uuid, &vm, &ignore) < 0 ||
        vm.kind != rc_layout_kind(s->rc, &rc_kind_vm) || vm.parent != s->host->parent)
        return;
    char *placed = rc_status(s->rc, vm.id, "host");
    bool stale = strcmp(placed, s->host->name) != 0;
    free(placed);
    if (!stale)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char (*grown)[40] = realloc(s->uuids, cap * sizeof(*grown));
        if (!grown)
            return;
        s->uuids = grown;
        s->cap = cap;
    }
    snprintf(s->uuids[s->n++], 40, "%s", uuid);
}

int host_failure_back(struct reconciler *rc, const struct cfs_res *host, struct rc_host *h,
                      struct cfs_err *err)
{
    struct stale_scan s = {.rc = rc, .host = host};
    char *fenced = rc_status(rc, host->id, "fenced");
    char *conn = rc_status(rc, host->id, "connection");
    int ret = -1;
    if (!fenced[0] && strcmp(conn, "lost")) {
        ret = 0;
        goto cleanup;
    }
    /* The stale copies go before the host may write again. */
    pthread_rwlock_rdlock(&h->rw);
    int ok = h->conn && rc->drv->list(h->conn, stale_check, &s, err) == 0;
    for (size_t i = 0; ok && i < s.n; i++) {
        ok = rc->drv->destroy(h->conn, s.uuids[i], err) == 0 &&
             rc->drv->undefine(h->conn, s.uuids[i], err) == 0;
        if (ok)
            fprintf(stderr, "cloudfs reconcile: host %s is back: destroyed the stale domain of "
                            "VM %s (it runs elsewhere)\n", host->name, s.uuids[i]);
    }
    if (!h->conn)
        cfs_err_set(err, EHOSTDOWN, "host %s is not connected", host->name);
    pthread_rwlock_unlock(&h->rw);
    if (!ok)
        goto cleanup;
    if (fenced[0] && fence_host(rc, host, fenced, false, err) < 0)
        goto cleanup;
    if (fenced[0])
        fprintf(stderr, "cloudfs reconcile: host %s is back: unfenced %s\n", host->name, fenced);
    rc_set_status(rc, host, "fenced", "");
    rc_flush(rc);
    wake_vms(rc, host);
    ret = 0;
cleanup:
    free(s.uuids);
    free(fenced);
    free(conn);
    return ret;
}

/* ---- a VM's pass ---- */

/* Whether the VM's disks are on storage every host reaches (rbd, shared
 * dir pools: vm_move_rules.h); else why not, in why. */
static bool disks_shared(struct reconciler *rc, const struct cfs_res *vm, char *why, size_t len)
{
    bool files = false;
    return vm_move_storage(rc, vm, &files, why, len) == 0;
}

int host_failure_vm(struct reconciler *rc, const struct cfs_res *vm, struct rc_host *h, bool ha,
                    const char *want, const char *pin)
{
    char *conn = rc_status(rc, h->id, "connection");
    char *fenced = NULL;
    char msg[1024], why[512] = "";
    int result = -1;
    if (strcmp(conn, "lost"))
        goto cleanup;
    fenced = rc_status(rc, h->id, "fenced");
    result = 5000;
    if (!ha || !strcmp(want, "stopped")) {
        snprintf(msg, sizeof(msg), "host %s is lost: state unknown until it comes back (%s)",
                 h->name, ha ? "desired state is stopped" : "ha is off");
    } else if (pin[0]) {
        snprintf(msg, sizeof(msg), "host %s is lost: not restarted elsewhere, the VM is pinned to "
                 "it (attribute host)", h->name);
    } else if (!fenced[0]) {
        snprintf(msg, sizeof(msg), "host %s is lost: waiting for it to be fenced before the VM "
                 "is restarted elsewhere", h->name);
        result = 1000;
    } else if (!disks_shared(rc, vm, why, sizeof(why))) {
        snprintf(msg, sizeof(msg), "host %s is lost: not restarted elsewhere, %.400s", h->name, why);
    } else {
        /* Unplaced: the next pass has the scheduler choose among the
         * enabled, connected hosts, and starts it there. */
        fprintf(stderr, "cloudfs reconcile: host %s lost and fenced: restarting VM %s elsewhere\n",
                h->name, vm->name);
        snprintf(msg, sizeof(msg), "host %s was lost and fenced: restarting on another host",
                 h->name);
        rc_set_status(rc, vm, "error", msg);
        snprintf(why, sizeof(why), "host %.64s was lost and fenced; started on another host",
                 h->name);
        vm_ha_record(rc, vm, why);
        rc_set_state(rc, vm, "unknown");
        vm_move_cpu_remember(rc, vm, h->id);    /* host-passthrough: the same CPU again */
        rc_set_status(rc, vm, "host", "");
        rc_flush(rc);
        result = 1;
        goto cleanup;
    }
    rc_set_state(rc, vm, "unknown");
    rc_set_status(rc, vm, "error", msg);
cleanup:
    free(conn);
    free(fenced);
    return result;
}
