/* driver_libvirt.c: the compute driver over libvirt (see compute.h).
 *
 * One event-loop thread (started by init) runs libvirt's default event
 * implementation; every connection's lifecycle and close callbacks run on it
 * (a close may also be noticed by a thread inside an RPC).  All other calls
 * come from the reconciler's worker threads; libvirt connections are
 * thread-safe, and each struct cfs_conn guards its own small state.
 *
 * Errors carry libvirt's own message.  Codes: ENOENT for a missing domain
 * where that is an error, EHOSTDOWN for a lost or refused connection, EEXIST
 * for a UUID taken by a foreign domain, EINVAL/ENOMEM for problems found
 * here, EIO for everything else libvirt reports.
 */
#include "compute.h"

#include <arpa/inet.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain_xml.h"
#include "driver_libvirt_migrate.h"
#include "driver_libvirt_blockcopy.h"
#include "nic_xml.h"
#include "xml.h"

struct cfs_conn {
    virConnectPtr vc;
    cfs_domain_event_cb on_event;
    cfs_conn_lost_cb on_lost;
    void *arg;
    int lifecycle_id;           /* -1 when not registered */
    int agent_id;               /* guest agent lifecycle, -1 when not registered */
    bool close_cb_registered;

    pthread_mutex_t lock;       /* guards the fields below */
    pthread_cond_t idle;        /* broadcast when busy drops to 0 */
    int refs;                   /* the owner, plus one while the lifecycle callback is registered */
    int busy;                   /* user callbacks running right now */
    bool closing;               /* close() started: no more user callbacks */
};

/* The connection whose user callback this thread is running, so that a
 * callback closing its own connection does not wait for itself. */
static _Thread_local struct cfs_conn *callback_conn;

/* ---- event loop ---- */

static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static bool loop_registered;    /* virEventRegisterDefaultImpl done (once per process) */
static bool loop_running;
static pthread_t loop_thread;
static int loop_timer = -1;
static atomic_bool loop_quit;   /* read by the loop thread without loop_lock */

/* libvirt's default handler prints every error to stderr; errors reach the
 * caller through struct cfs_err instead. */
static void silent_error(void *opaque, virErrorPtr error)
{
    (void)opaque;
    (void)error;
}

/* A periodic timer makes virEventRunDefaultImpl return, so the loop notices
 * loop_quit even when no other event arrives. */
static void loop_tick(int timer, void *opaque)
{
    (void)timer;
    (void)opaque;
}

static void *loop_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&loop_quit)) {
        if (virEventRunDefaultImpl() < 0) {
            /* Nothing to report to: back off instead of spinning. */
            virResetLastError();
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        }
    }
    return NULL;
}

static int libvirt_init(struct cfs_err *err)
{
    int ret = -1;
    pthread_mutex_lock(&loop_lock);
    if (loop_running) {
        ret = 0;
        goto cleanup;
    }
    if (virInitialize() < 0) {
        cfs_err_set(err, EIO, "libvirt initialisation failed: %s", virGetLastErrorMessage());
        goto cleanup;
    }
    virSetErrorFunc(NULL, silent_error);
    /* The default implementation cannot be registered twice; a later init
     * after shutdown reuses it. */
    if (!loop_registered) {
        if (virEventRegisterDefaultImpl() < 0) {
            cfs_err_set(err, EIO, "libvirt event loop: %s", virGetLastErrorMessage());
            goto cleanup;
        }
        loop_registered = true;
    }
    atomic_store(&loop_quit, false);
    loop_timer = virEventAddTimeout(500, loop_tick, NULL, NULL);
    if (loop_timer < 0) {
        cfs_err_set(err, EIO, "libvirt event loop timer: %s", virGetLastErrorMessage());
        goto cleanup;
    }
    int e = pthread_create(&loop_thread, NULL, loop_main, NULL);
    if (e) {
        virEventRemoveTimeout(loop_timer);
        loop_timer = -1;
        cfs_err_set(err, e, "libvirt event thread: %s", strerror(e));
        goto cleanup;
    }
    loop_running = true;
    ret = 0;

cleanup:
    pthread_mutex_unlock(&loop_lock);
    return ret;
}

static void libvirt_shutdown(void)
{
    pthread_mutex_lock(&loop_lock);
    if (!loop_running)
        goto cleanup;
    atomic_store(&loop_quit, true);
    /* Fire the timer now: the loop wakes up and sees loop_quit. */
    virEventUpdateTimeout(loop_timer, 0);
    pthread_join(loop_thread, NULL);
    virEventRemoveTimeout(loop_timer);
    loop_timer = -1;
    loop_running = false;

cleanup:
    pthread_mutex_unlock(&loop_lock);
}

/* ---- errors ---- */

/* Fill err from libvirt's last error of this thread; returns -1. */
static int lv_fail(struct cfs_err *err, const char *what, const char *subject)
{
    virErrorPtr e = virGetLastError();
    int code = EIO;
    if (e) {
        switch (e->code) {
        case VIR_ERR_NO_DOMAIN:
            code = ENOENT;
            break;
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
        case VIR_ERR_RPC:
        case VIR_ERR_AUTH_FAILED:
        case VIR_ERR_AUTH_CANCELLED:
        case VIR_ERR_AUTH_UNAVAILABLE:
            code = EHOSTDOWN;
            break;
        default:
            /* Transport failures (EOF, reset, keepalive timeout) come from
             * the RPC layer whatever their code. */
            if (e->domain == VIR_FROM_RPC)
                code = EHOSTDOWN;
            break;
        }
    }
    return cfs_err_set(err, code, "%s %s: %s", what, subject, virGetLastErrorMessage());
}

static bool last_error_is(int code)
{
    virErrorPtr e = virGetLastError();
    return e && e->code == code;
}

/* ---- connections ---- */

static void conn_unref(struct cfs_conn *c)
{
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (!last)
        return;
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* libvirt calls this once the lifecycle callback is gone for good, which may
 * be after close() returned (a dispatch in progress finishes first). */
static void conn_unref_cb(void *opaque)
{
    conn_unref(opaque);
}

/* Enter a user callback unless the connection is closing. */
static bool callback_enter(struct cfs_conn *c)
{
    pthread_mutex_lock(&c->lock);
    bool ok = !c->closing;
    if (ok)
        c->busy++;
    pthread_mutex_unlock(&c->lock);
    if (ok)
        callback_conn = c;
    return ok;
}

static void callback_leave(struct cfs_conn *c)
{
    callback_conn = NULL;
    pthread_mutex_lock(&c->lock);
    if (--c->busy == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
}

static enum cfs_power power_from_state(int state)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return CFS_POWER_RUNNING;
    case VIR_DOMAIN_PAUSED:
        return CFS_POWER_PAUSED;
    case VIR_DOMAIN_SHUTDOWN:
        return CFS_POWER_SHUTDOWN;
    case VIR_DOMAIN_SHUTOFF:
        return CFS_POWER_SHUTOFF;
    case VIR_DOMAIN_CRASHED:
        return CFS_POWER_CRASHED;
    default:
        return CFS_POWER_OTHER;
    }
}

/* Power of a domain right now; NONE once it is gone, fallback when the
 * host cannot tell. */
static enum cfs_power power_query(virDomainPtr dom, enum cfs_power fallback)
{
    int state, reason;
    enum cfs_power p = fallback;
    if (virDomainGetState(dom, &state, &reason, 0) == 0)
        p = power_from_state(state);
    else if (last_error_is(VIR_ERR_NO_DOMAIN))
        p = CFS_POWER_NONE;
    virResetLastError();
    return p;
}

static int lifecycle_cb(virConnectPtr vc, virDomainPtr dom, int event, int detail, void *opaque)
{
    struct cfs_conn *c = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    enum cfs_power p;
    (void)vc;
    (void)detail;
    if (virDomainGetUUIDString(dom, uuid) < 0) {
        virResetLastError();
        return 0;
    }
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
        p = CFS_POWER_RUNNING;
        break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
        p = CFS_POWER_PAUSED;
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
        p = CFS_POWER_SHUTOFF;
        break;
    case VIR_DOMAIN_EVENT_CRASHED:
        p = CFS_POWER_CRASHED;
        break;
    /* The rest do not say where the domain ended up: a running domain can
     * be (re)defined or undefined (it stays as a transient one), and a
     * guest shutdown is followed by STOPPED only once QEMU has exited. */
    case VIR_DOMAIN_EVENT_UNDEFINED:
        p = power_query(dom, CFS_POWER_NONE);
        break;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        p = power_query(dom, CFS_POWER_SHUTDOWN);
        break;
    default:
        p = power_query(dom, CFS_POWER_OTHER);
        break;
    }
    if (callback_enter(c)) {
        c->on_event(uuid, p, c->arg);
        callback_leave(c);
    }
    return 0;
}

/* The guest agent connected or went away: the VM's status/agent changes. */
static void agent_cb(virConnectPtr vc, virDomainPtr dom, int state, int reason, void *opaque)
{
    struct cfs_conn *c = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    (void)vc;
    (void)state;
    (void)reason;
    if (virDomainGetUUIDString(dom, uuid) < 0) {
        virResetLastError();
        return;
    }
    if (callback_enter(c)) {
        c->on_event(uuid, power_query(dom, CFS_POWER_OTHER), c->arg);
        callback_leave(c);
    }
}

static void close_cb(virConnectPtr vc, int reason, void *opaque)
{
    struct cfs_conn *c = opaque;
    (void)vc;
    (void)reason;
    if (callback_enter(c)) {
        c->on_lost(c->arg);
        callback_leave(c);
    }
}

/* Remote URIs name a host ("qemu+ssh://host/system"); local ones do not
 * ("qemu:///system", "test:///default"). */
static bool uri_is_remote(const char *uri)
{
    const char *p = strstr(uri, "://");
    return p && p[3] != '\0' && p[3] != '/';
}

/* After close() returns no callback reaches the caller's arg any more.  It
 * waits for a callback still running on the event thread, so it must not be
 * called while holding a lock that on_event/on_lost take; on_lost must not
 * call it at all (libvirt holds its close-callback lock while calling it). */
static void libvirt_close(struct cfs_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_mutex_unlock(&c->lock);
    if (c->vc) {
        /* Failures here mean the connection is already dead; libvirt drops
         * the registrations when it is closed below. */
        if (c->lifecycle_id >= 0)
            virConnectDomainEventDeregisterAny(c->vc, c->lifecycle_id);
        if (c->agent_id >= 0)
            virConnectDomainEventDeregisterAny(c->vc, c->agent_id);
        if (c->close_cb_registered)
            virConnectUnregisterCloseCallback(c->vc, close_cb);
        virResetLastError();
    }
    pthread_mutex_lock(&c->lock);
    int self = callback_conn == c ? 1 : 0;
    while (c->busy > self)
        pthread_cond_wait(&c->idle, &c->lock);
    pthread_mutex_unlock(&c->lock);
    if (c->vc) {
        virConnectClose(c->vc);
        c->vc = NULL;
        virResetLastError();
    }
    conn_unref(c);
}

static int libvirt_connect(const char *uri, cfs_domain_event_cb on_event,
                           cfs_conn_lost_cb on_lost, void *arg, struct cfs_conn **out,
                           struct cfs_err *err)
{
    int ret = -1;
    struct cfs_conn *c = NULL;
    *out = NULL;
    if (!uri || !uri[0])
        return cfs_err_set(err, EINVAL, "connect: empty URI");
    c = calloc(1, sizeof(*c));
    if (!c)
        return cfs_err_set(err, ENOMEM, "connect %s: out of memory", uri);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle, NULL);
    c->refs = 1;
    c->lifecycle_id = -1;
    c->agent_id = -1;
    c->on_event = on_event;
    c->on_lost = on_lost;
    c->arg = arg;

    c->vc = virConnectOpen(uri);
    if (!c->vc) {
        /* libvirt's text may quote the file a URI names (test:///FILE):
         * status/error is world-readable, so it gets the code only and the
         * text goes to the reconciler's own log. */
        virErrorPtr e = virGetLastError();
        fprintf(stderr, "cloudfs reconcile: connect %s: %s\n", uri, virGetLastErrorMessage());
        cfs_err_set(err, EHOSTDOWN,
                    "connect %s: libvirt error %d (domain %d); see the reconciler's log", uri,
                    e ? e->code : -1, e ? e->domain : -1);
        goto cleanup;
    }
    /* A dead remote host is noticed (and on_lost called) within ~20 s
     * instead of at the next TCP timeout.  Optional: ignore failure. */
    if (uri_is_remote(uri) && virConnectSetKeepAlive(c->vc, 5, 3) < 0)
        virResetLastError();

    if (on_event) {
        /* The registration holds its own reference, dropped by libvirt. */
        c->refs++;
        c->lifecycle_id = virConnectDomainEventRegisterAny(
            c->vc, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), c,
            conn_unref_cb);
        if (c->lifecycle_id < 0) {
            c->refs--;
            lv_fail(err, "connect", uri);
            goto cleanup;
        }
        /* Optional: drivers without guest agents (test:///) refuse it. */
        c->refs++;
        c->agent_id = virConnectDomainEventRegisterAny(
            c->vc, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(agent_cb),
            c, conn_unref_cb);
        if (c->agent_id < 0) {
            c->refs--;
            virResetLastError();
        }
    }
    if (on_lost) {
        /* No free callback: unregistering waits for a running close
         * callback, and drivers without close callbacks never call it. */
        if (virConnectRegisterCloseCallback(c->vc, close_cb, c, NULL) < 0) {
            lv_fail(err, "connect", uri);
            goto cleanup;
        }
        c->close_cb_registered = true;
    }
    *out = c;
    c = NULL;
    ret = 0;

cleanup:
    libvirt_close(c);
    return ret;
}

static bool libvirt_alive(struct cfs_conn *c)
{
    bool alive = c && c->vc && virConnectIsAlive(c->vc) == 1;
    virResetLastError();
    return alive;
}

/* ---- host ---- */

static int libvirt_host_info(struct cfs_conn *c, struct cfs_host_info *out, struct cfs_err *err)
{
    int ret = -1;
    char *caps = NULL;
    virNodeInfo ni;
    memset(out, 0, sizeof(*out));
    if (virNodeGetInfo(c->vc, &ni) < 0) {
        lv_fail(err, "host", "info");
        goto cleanup;
    }
    out->cpus = (int)ni.cpus;
    out->memory_kib = (long long)ni.memory;
    caps = virConnectGetCapabilities(c->vc);
    if (!caps) {
        lv_fail(err, "host", "capabilities");
        goto cleanup;
    }
    domain_xml_caps(caps, out);
    ret = 0;

cleanup:
    free(caps);
    return ret;
}

static int libvirt_list(struct cfs_conn *c, cfs_domain_list_cb cb, void *arg, struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c->vc, &doms, 0);
    if (n < 0) {
        lv_fail(err, "list", "domains");
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name = virDomainGetName(doms[i]);
        if (name && virDomainGetUUIDString(doms[i], uuid) == 0)
            cb(name, uuid, arg);
    }
    ret = 0;

cleanup:
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    return ret;
}

/* ---- domains ---- */

/* Look a domain up by UUID: 0 found (*dom owned by the caller), 1 missing,
 * -1 error. */
static int domain_find(struct cfs_conn *c, const char *uuid, const char *what, virDomainPtr *dom,
                       struct cfs_err *err)
{
    if (!uuid || !uuid[0])
        return cfs_err_set(err, EINVAL, "%s: no UUID given", what);
    *dom = virDomainLookupByUUIDString(c->vc, uuid);
    if (*dom)
        return 0;
    if (last_error_is(VIR_ERR_NO_DOMAIN)) {
        virResetLastError();
        return 1;
    }
    return lv_fail(err, what, uuid);
}

/* Like domain_find, but a missing domain is an ENOENT error. */
static int domain_get(struct cfs_conn *c, const char *uuid, const char *what, virDomainPtr *dom,
                      struct cfs_err *err)
{
    int r = domain_find(c, uuid, what, dom, err);
    if (r == 1)
        return cfs_err_set(err, ENOENT, "%s %s: no such domain on this host", what, uuid);
    return r;
}

/* The end of one libvirt call rc on dom (from domain_get): its failure
 * reported as "what subject", dom freed (after: freeing resets the
 * thread's libvirt error).  0 or -1. */
static int call_done(virDomainPtr dom, int rc, const char *what, const char *subject,
                     struct cfs_err *err)
{
    if (rc < 0)
        lv_fail(err, what, subject);
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static bool is_set(const char *s)
{
    return s && s[0];
}

static int libvirt_define(struct cfs_conn *c, const struct cfs_domain_spec *spec,
                          struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr old = NULL, dom = NULL;
    char *title = NULL, *xml = NULL;
    char name[256];

    if (!spec || !is_set(spec->uuid) || !is_set(spec->type))
        return cfs_err_set(err, EINVAL, "define: UUID and domain type are required");
    if (strlen(spec->uuid) >= sizeof(name) - strlen(CFS_DOMAIN_PREFIX))
        return cfs_err_set(err, EINVAL, "define: UUID too long");
    /* A zero ceiling means "no hot-plug room": the ceiling is the start value. */
    int max_vcpus = spec->max_vcpus > 0 ? spec->max_vcpus : spec->vcpus;
    long long max_mem = spec->max_memory_kib > 0 ? spec->max_memory_kib : spec->memory_kib;
    if (spec->vcpus < 1 || max_vcpus < spec->vcpus || spec->memory_kib <= 0 ||
        max_mem < spec->memory_kib)
        return cfs_err_set(err, EINVAL,
                           "define %s: need 1 <= vcpus (%d) <= max_vcpus (%d) and "
                           "0 < memory (%lld KiB) <= max_memory (%lld KiB)",
                           spec->uuid, spec->vcpus, max_vcpus, spec->memory_kib, max_mem);
    snprintf(name, sizeof(name), "%s%s", CFS_DOMAIN_PREFIX, spec->uuid);
    for (int i = 0; i < spec->nnics; i++) {
        struct xbuf t = {0};
        int bad = nic_xml_interface(&t, &spec->nics[i], err);
        xbuf_free(&t);
        if (bad < 0)
            return -1;
    }

    /* Redefining our own domain updates it; a foreign domain that already
     * holds the UUID must not be taken over (libvirt would refuse anyway,
     * with a less helpful message). */
    int r = domain_find(c, spec->uuid, "define", &old, err);
    if (r < 0)
        goto cleanup;
    if (r == 0 && strcmp(virDomainGetName(old), name)) {
        cfs_err_set(err, EEXIST, "define %s: UUID already used by domain '%s'", spec->uuid,
                    virDomainGetName(old));
        goto cleanup;
    }

    /* Titles are one line (libvirt refuses newlines in them). */
    if (is_set(spec->title)) {
        title = strdup(spec->title);
        if (!title) {
            cfs_err_set(err, ENOMEM, "define %s: out of memory", spec->uuid);
            goto cleanup;
        }
        for (char *p = title; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    xml = domain_xml_build(spec, name, title, max_mem, max_vcpus);
    if (!xml) {
        cfs_err_set(err, ENOMEM, "define %s: out of memory", spec->uuid);
        goto cleanup;
    }
    dom = virDomainDefineXML(c->vc, xml);
    if (!dom) {
        lv_fail(err, "define", spec->uuid);
        goto cleanup;
    }
    ret = 0;

cleanup:
    if (old)
        virDomainFree(old);
    if (dom)
        virDomainFree(dom);
    free(title);
    free(xml);
    return ret;
}

static int libvirt_undefine(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr dom = NULL;
    int r = domain_find(c, uuid, "undefine", &dom, err);
    if (r != 0) {
        ret = r > 0 ? 0 : -1;
        goto cleanup;
    }
    /* A transient domain (undefined while running) has no definition left. */
    int persistent = virDomainIsPersistent(dom);
    if (persistent == 0) {
        ret = 0;
        goto cleanup;
    }
    unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                     VIR_DOMAIN_UNDEFINE_NVRAM;
    if (virDomainUndefineFlags(dom, flags) == 0) {
        ret = 0;
        goto cleanup;
    }
    /* Drivers that do not know some of the flags (test) reject them. */
    if ((last_error_is(VIR_ERR_INVALID_ARG) || last_error_is(VIR_ERR_NO_SUPPORT)) &&
        virDomainUndefine(dom) == 0) {
        ret = 0;
        goto cleanup;
    }
    if (last_error_is(VIR_ERR_NO_DOMAIN)) {     /* removed meanwhile */
        virResetLastError();
        ret = 0;
        goto cleanup;
    }
    lv_fail(err, "undefine", uuid);

cleanup:
    if (dom)
        virDomainFree(dom);
    return ret;
}

static int libvirt_info(struct cfs_conn *c, const char *uuid, struct cfs_domain_info *out,
                        struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr dom = NULL;
    char *xml = NULL;
    int state, reason;
    virDomainInfo di;

    memset(out, 0, sizeof(*out));
    out->power = CFS_POWER_NONE;
    out->vnc_port = -1;
    int r = domain_find(c, uuid, "info", &dom, err);
    if (r != 0) {
        ret = r > 0 ? 0 : -1;
        goto cleanup;
    }
    if (virDomainGetState(dom, &state, &reason, 0) < 0 || virDomainGetInfo(dom, &di) < 0) {
        /* Undefined between the lookup and now: that is "none", too. */
        if (last_error_is(VIR_ERR_NO_DOMAIN)) {
            virResetLastError();
            memset(out, 0, sizeof(*out));
            out->power = CFS_POWER_NONE;
            out->vnc_port = -1;
            ret = 0;
        } else {
            lv_fail(err, "info", uuid);
        }
        goto cleanup;
    }
    out->power = power_from_state(state);
    out->reason = reason;
    out->vcpus = di.nrVirtCpu;
    out->memory_kib = (long long)di.memory;
    out->max_memory_kib = (long long)di.maxMem;
    out->cpu_time_ns = di.cpuTime;
    out->persistent = virDomainIsPersistent(dom) == 1;
    int max = virDomainGetVcpusFlags(dom, VIR_DOMAIN_VCPU_MAXIMUM);
    out->max_vcpus = max > 0 ? max : out->vcpus;
    xml = virDomainGetXMLDesc(dom, 0);
    if (xml)
        domain_xml_live(xml, out);
    /* Without a balloon driver in the guest, GetInfo and the live XML
     * report the maximum; the persistent balloon target is what the VM was
     * given (set_memory updates it too). */
    free(xml);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    long long current = xml ? domain_xml_current_memory_kib(xml) : 0;
    if (current > 0)
        out->memory_kib = current;
    virResetLastError();        /* the optional parts may have failed */
    ret = 0;

cleanup:
    if (dom)
        virDomainFree(dom);
    free(xml);
    return ret;
}

/* What a failed operation may find that means it has nothing to do. */
enum already {
    ALREADY_NEVER,
    ALREADY_ACTIVE,             /* start: running or paused */
    ALREADY_INACTIVE,           /* destroy, shutdown */
    ALREADY_PAUSED,             /* suspend */
    ALREADY_RUNNING,            /* resume */
};

static bool already_done(virDomainPtr dom, enum already want)
{
    int state, reason;
    bool done = false;
    switch (want) {
    case ALREADY_NEVER:
        break;
    case ALREADY_ACTIVE:
        done = virDomainIsActive(dom) == 1;
        break;
    case ALREADY_INACTIVE:
        done = virDomainIsActive(dom) == 0 || last_error_is(VIR_ERR_NO_DOMAIN);
        break;
    case ALREADY_PAUSED:
        done = virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED;
        break;
    case ALREADY_RUNNING:
        done = virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_RUNNING;
        break;
    }
    return done;
}

typedef int (*domain_op_fn)(virDomainPtr dom, unsigned flags);

/* Run one state-changing operation on the domain with that UUID.  A missing
 * domain is an ENOENT error unless missing_ok; a failure that left the
 * domain where the caller wanted it anyway counts as success, which makes
 * every operation safe to retry. */
static int domain_op(struct cfs_conn *c, const char *uuid, const char *what, domain_op_fn op,
                     unsigned flags, bool missing_ok, enum already want, struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr dom = NULL;
    int r = domain_find(c, uuid, what, &dom, err);
    if (r < 0)
        goto cleanup;
    if (r > 0) {
        if (missing_ok)
            ret = 0;
        else
            cfs_err_set(err, ENOENT, "%s %s: no such domain on this host", what, uuid);
        goto cleanup;
    }
    if (op(dom, flags) == 0) {
        ret = 0;
        goto cleanup;
    }
    lv_fail(err, what, uuid);   /* before the check below replaces the error */
    if ((missing_ok && last_error_is(VIR_ERR_NO_DOMAIN)) || already_done(dom, want)) {
        cfs_err_clear(err);
        ret = 0;
    }
    virResetLastError();

cleanup:
    if (dom)
        virDomainFree(dom);
    return ret;
}

static int op_create(virDomainPtr dom, unsigned flags)
{
    if (virDomainCreateWithFlags(dom, flags) == 0)
        return 0;
    /* The test driver rejects START_PAUSED as an unknown flag: start, then
     * pause at once. */
    if (!(flags & VIR_DOMAIN_START_PAUSED) || !last_error_is(VIR_ERR_INVALID_ARG))
        return -1;
    if (virDomainCreateWithFlags(dom, flags & ~(unsigned)VIR_DOMAIN_START_PAUSED) < 0)
        return -1;
    return virDomainSuspend(dom);
}

static int op_shutdown(virDomainPtr dom, unsigned flags)
{
    (void)flags;
    return virDomainShutdown(dom);
}

static int op_destroy(virDomainPtr dom, unsigned flags)
{
    (void)flags;
    return virDomainDestroy(dom);
}

static int op_suspend(virDomainPtr dom, unsigned flags)
{
    (void)flags;
    return virDomainSuspend(dom);
}

static int op_resume(virDomainPtr dom, unsigned flags)
{
    (void)flags;
    return virDomainResume(dom);
}

static int op_reboot(virDomainPtr dom, unsigned flags)
{
    return virDomainReboot(dom, flags);
}

static int op_reset(virDomainPtr dom, unsigned flags)
{
    return virDomainReset(dom, flags);
}

static int libvirt_start(struct cfs_conn *c, const char *uuid, bool paused, struct cfs_err *err)
{
    return domain_op(c, uuid, "start", op_create, paused ? VIR_DOMAIN_START_PAUSED : 0, false,
                     ALREADY_ACTIVE, err);
}

/* Shutdown and destroy only have to leave the domain not running, which a
 * missing domain already satisfies (teardown destroys before undefining). */
static int libvirt_shutdown_guest(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "shutdown", op_shutdown, 0, true, ALREADY_INACTIVE, err);
}

static int libvirt_destroy(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "destroy", op_destroy, 0, true, ALREADY_INACTIVE, err);
}

static int libvirt_suspend(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "suspend", op_suspend, 0, false, ALREADY_PAUSED, err);
}

static int libvirt_resume(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "resume", op_resume, 0, false, ALREADY_RUNNING, err);
}

static int libvirt_reboot(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "reboot", op_reboot, 0, false, ALREADY_NEVER, err);
}

static int libvirt_reset(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return domain_op(c, uuid, "reset", op_reset, 0, false, ALREADY_NEVER, err);
}

typedef int (*domain_set_fn)(virDomainPtr dom, unsigned long value, unsigned flags);

static int set_vcpus_fn(virDomainPtr dom, unsigned long value, unsigned flags)
{
    return virDomainSetVcpusFlags(dom, (unsigned)value, flags);
}

static int set_memory_fn(virDomainPtr dom, unsigned long value, unsigned flags)
{
    return virDomainSetMemoryFlags(dom, value, flags);
}

/* Change the running domain and its stored definition, whichever of the two
 * exist; a missing domain is ENOENT. */
static int domain_set(struct cfs_conn *c, const char *uuid, const char *what, domain_set_fn set,
                      unsigned long value, struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr dom = NULL;
    if (domain_get(c, uuid, what, &dom, err) < 0)
        goto cleanup;
    int active = virDomainIsActive(dom);
    int persistent = virDomainIsPersistent(dom);
    if (active < 0 || persistent < 0) {
        lv_fail(err, what, uuid);
        goto cleanup;
    }
    unsigned live = active ? VIR_DOMAIN_AFFECT_LIVE : 0;
    unsigned config = persistent ? VIR_DOMAIN_AFFECT_CONFIG : 0;
    if (set(dom, value, live | config) == 0) {
        ret = 0;
        goto cleanup;
    }
    /* Some drivers (test, for memory) refuse LIVE|CONFIG together: apply
     * the two one after the other. */
    if (live && config && last_error_is(VIR_ERR_INVALID_ARG) && set(dom, value, live) == 0 &&
        set(dom, value, config) == 0) {
        ret = 0;
        goto cleanup;
    }
    lv_fail(err, what, uuid);

cleanup:
    if (dom)
        virDomainFree(dom);
    return ret;
}

static int libvirt_set_vcpus(struct cfs_conn *c, const char *uuid, int vcpus, struct cfs_err *err)
{
    if (vcpus < 1)
        return cfs_err_set(err, EINVAL, "set vcpus %s: %d is not a vCPU count", uuid, vcpus);
    return domain_set(c, uuid, "set vcpus", set_vcpus_fn, (unsigned long)vcpus, err);
}

static int libvirt_set_memory(struct cfs_conn *c, const char *uuid, long long kib,
                              struct cfs_err *err)
{
    if (kib <= 0)
        return cfs_err_set(err, EINVAL, "set memory %s: %lld KiB is not a memory size", uuid, kib);
    return domain_set(c, uuid, "set memory", set_memory_fn, (unsigned long)kib, err);
}

/* The password of user in the running guest, through its agent; hash is a
 * crypt(3) hash (the agent hands it to chpasswd -e). */
static int libvirt_set_password(struct cfs_conn *c, const char *uuid, const char *user,
                                const char *hash, struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    if (domain_get(c, uuid, "set password", &dom, err) < 0)
        return -1;
    /* libvirt's message names the agent's failure, never the hash. */
    return call_done(dom, virDomainSetUserPassword(dom, user, hash, VIR_DOMAIN_PASSWORD_ENCRYPTED),
                     "set password", uuid, err);
}

/* Insert iso into the CD-ROM drive of the domain (NULL/"": eject), live
 * when it runs and in its definition. */
static int libvirt_change_media(struct cfs_conn *c, const char *uuid, const char *iso,
                                struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    struct xbuf b = {0};
    int ret = -1;
    char *xml = NULL;
    if (domain_get(c, uuid, "change media", &dom, err) < 0)
        goto cleanup;
    domain_xml_cdrom(&b, iso, "");
    xml = xbuf_steal(&b);
    if (!xml) {
        cfs_err_set(err, ENOMEM, "change media %s: out of memory", uuid);
        goto cleanup;
    }
    int active = virDomainIsActive(dom);
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG | (active == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0);
    if (virDomainUpdateDeviceFlags(dom, xml, flags) < 0) {
        lv_fail(err, "change media", uuid);
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(xml);
    if (dom)
        virDomainFree(dom);
    return ret;
}

/* A new VNC password for the running domain, valid until valid_to (live
 * only: the definition gets a new one before each start). */
static int libvirt_set_vnc_password(struct cfs_conn *c, const char *uuid, const char *password,
                                    long long valid_to, struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    struct xbuf b = {0};
    int ret = -1;
    char *xml = NULL;
    if (!is_set(password))
        return cfs_err_set(err, EINVAL, "vnc password %s: empty", uuid);
    if (domain_get(c, uuid, "vnc password", &dom, err) < 0)
        goto cleanup;
    domain_xml_graphics(&b, password, valid_to, "");
    xml = xbuf_steal(&b);
    if (!xml) {
        cfs_err_set(err, ENOMEM, "vnc password %s: out of memory", uuid);
        goto cleanup;
    }
    if (virDomainUpdateDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        /* libvirt's message names the device, not the password. */
        lv_fail(err, "vnc password", uuid);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (xml) {
        explicit_bzero(xml, strlen(xml));
        free(xml);
    }
    if (dom)
        virDomainFree(dom);
    return ret;
}

static int libvirt_guest_ips(struct cfs_conn *c, const char *uuid, char *out, size_t len,
                             struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    virDomainInterfacePtr *ifs = NULL;
    int n = -1, ret = -1;
    size_t used = 0;
    out[0] = '\0';
    if (domain_get(c, uuid, "guest addresses", &dom, err) < 0)
        goto cleanup;
    n = virDomainInterfaceAddresses(dom, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0);
    if (n < 0) {
        lv_fail(err, "guest addresses", uuid);
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ifs[i]->name ? ifs[i]->name : "?";
        if (!strcmp(name, "lo"))
            continue;
        for (unsigned j = 0; j < ifs[i]->naddrs; j++) {
            const virDomainIPAddress *a = &ifs[i]->addrs[j];
            /* Names and addresses come from the guest: only what parses
             * as an address is kept, and names are cut to safe bytes. */
            char safe[32];
            size_t k = 0;
            for (const char *q = name; *q && k < sizeof(safe) - 1; q++)
                safe[k++] = (char)((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                                           (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' ||
                                           *q == '_' ? *q : '_');
            safe[k] = '\0';
            unsigned char bin[16];
            int fam = a->type == VIR_IP_ADDR_TYPE_IPV6 ? AF_INET6 : AF_INET;
            if (!a->addr || inet_pton(fam, a->addr, bin) != 1 || a->prefix > 128)
                continue;
            if (used < len)
                used += (size_t)snprintf(out + used, len - used, "%s%s %s/%u", used ? "\n" : "",
                                         safe, a->addr, a->prefix);
        }
    }
    if (used >= len && len > 0)
        out[len - 1] = '\0';
    ret = 0;
cleanup:
    for (int i = 0; i < n; i++)
        virDomainInterfaceFree(ifs[i]);
    free(ifs);
    if (dom)
        virDomainFree(dom);
    return ret;
}

/* The live XML of a running domain, or its definition (inactive). */
static char *xml_flags(struct cfs_conn *c, const char *uuid, unsigned flags, struct cfs_err *err)
{
    char *ret = NULL, *xml = NULL;
    virDomainPtr dom = NULL;
    if (domain_get(c, uuid, "xml", &dom, err) < 0)
        goto cleanup;
    xml = virDomainGetXMLDesc(dom, flags);
    if (!xml) {
        lv_fail(err, "xml", uuid);
        goto cleanup;
    }
    /* Hand out memory from our own allocator, not libvirt's. */
    ret = strdup(xml);
    if (!ret)
        cfs_err_set(err, ENOMEM, "xml %s: out of memory", uuid);
cleanup:
    if (dom)
        virDomainFree(dom);
    free(xml);
    return ret;
}

static char *libvirt_xml(struct cfs_conn *c, const char *uuid, struct cfs_err *err)
{
    return xml_flags(c, uuid, 0, err);
}

/* ---- disks ---- */

static int libvirt_disks(struct cfs_conn *c, const char *uuid, cfs_disk_list_cb cb, void *arg,
                         struct cfs_err *err)
{
    char *xml = xml_flags(c, uuid, 0, err);
    if (!xml)
        return -1;
    domain_xml_disks(xml, cb, arg);
    free(xml);
    return 0;
}

struct disk_find {
    const char *serial;
    bool found;
};

static void disk_find_cb(const char *serial, const char *target, void *arg)
{
    struct disk_find *f = arg;
    (void)target;
    if (!strcmp(serial, f->serial))
        f->found = true;
}

/* A device that can be plugged in and out of a domain: how its XML is made
 * and found in a view of the domain (by the disk's serial, the NIC's MAC). */
struct device_kind {
    const char *attach, *detach;    /* what errors say */
    bool config;                    /* the definition too, not only the live domain */
    int (*build)(struct xbuf *b, const void *dev, struct cfs_err *err);
    bool (*present)(const char *xml, const void *dev);
    const char *(*subject)(const void *dev);
};

/* Plug (attach) or unplug dev in each view of the domain (live, when it
 * runs, and its definition when kind->config) that does not have it as
 * wanted yet: a definition updated earlier must not make the live change
 * fail. */
static int device_change(struct cfs_conn *c, const char *uuid, const struct device_kind *kind,
                         const void *dev, bool attach, struct cfs_err *err)
{
    int ret = -1;
    virDomainPtr dom = NULL;
    struct xbuf b = {0};
    char *xml = NULL, *view = NULL;
    const char *what = attach ? kind->attach : kind->detach;
    unsigned flags = 0;
    if (domain_get(c, uuid, what, &dom, err) < 0 || kind->build(&b, dev, err) < 0)
        goto cleanup;
    if (!(xml = xbuf_steal(&b))) {
        cfs_err_set(err, ENOMEM, "%s %s: out of memory", what, uuid);
        goto cleanup;
    }
    int active = virDomainIsActive(dom);
    if (active < 0 && kind->config) {
        lv_fail(err, what, uuid);
        goto cleanup;
    }
    const struct {
        bool wanted;
        unsigned xml_flags, affect;
    } views[] = {
        {active == 1, 0, VIR_DOMAIN_AFFECT_LIVE},
        {kind->config, VIR_DOMAIN_XML_INACTIVE, VIR_DOMAIN_AFFECT_CONFIG},
    };
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
        if (!views[i].wanted)
            continue;
        if (!(view = virDomainGetXMLDesc(dom, views[i].xml_flags))) {
            lv_fail(err, what, kind->subject(dev));
            goto cleanup;
        }
        if (kind->present(view, dev) != attach)
            flags |= views[i].affect;
        free(view);
        view = NULL;
    }
    if (flags && (attach ? virDomainAttachDeviceFlags(dom, xml, flags)
                         : virDomainDetachDeviceFlags(dom, xml, flags)) < 0) {
        lv_fail(err, what, kind->subject(dev));
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (dom)
        virDomainFree(dom);
    xbuf_free(&b);
    free(xml);
    free(view);
    return ret;
}

static int disk_build(struct xbuf *b, const void *dev, struct cfs_err *err)
{
    (void)err;
    domain_xml_disk(b, dev);
    return 0;
}

static bool disk_in(const char *xml, const void *dev)
{
    struct disk_find f = {.serial = ((const struct cfs_disk *)dev)->serial};
    domain_xml_disks(xml, disk_find_cb, &f);
    return f.found;
}

static const char *disk_target(const void *dev)
{
    return ((const struct cfs_disk *)dev)->target;
}

/* Disks: live and in the definition, found by serial. */
static const struct device_kind disk_kind = {"attach", "detach", true, disk_build, disk_in,
                                             disk_target};

static int nic_build(struct xbuf *b, const void *dev, struct cfs_err *err)
{
    return nic_xml_interface(b, dev, err);
}

static bool nic_in(const char *xml, const void *dev)
{
    return domain_xml_has_mac(xml, ((const struct cfs_nic *)dev)->mac);
}

static const char *nic_mac(const void *dev)
{
    return ((const struct cfs_nic *)dev)->mac;
}

/* NICs: in the live domain only, found by MAC. */
static const struct device_kind nic_kind = {"attach nic", "detach nic", false, nic_build, nic_in,
                                            nic_mac};

static int libvirt_attach_disk(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                               struct cfs_err *err)
{
    return device_change(c, uuid, &disk_kind, d, true, err);
}

static int libvirt_detach_disk(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                               struct cfs_err *err)
{
    return device_change(c, uuid, &disk_kind, d, false, err);
}

static int libvirt_attach_nic(struct cfs_conn *c, const char *uuid, const struct cfs_nic *nic,
                              struct cfs_err *err)
{
    return device_change(c, uuid, &nic_kind, nic, true, err);
}

static int libvirt_detach_nic(struct cfs_conn *c, const char *uuid, const struct cfs_nic *nic,
                              struct cfs_err *err)
{
    return device_change(c, uuid, &nic_kind, nic, false, err);
}

static int libvirt_block_resize(struct cfs_conn *c, const char *uuid, const char *target,
                                long long bytes, struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    if (domain_get(c, uuid, "resize", &dom, err) < 0)
        return -1;
    return call_done(dom, virDomainBlockResize(dom, target, (unsigned long long)bytes,
                                               VIR_DOMAIN_BLOCK_RESIZE_BYTES),
                     "resize", target, err);
}

/* ---- bulk statistics ---- */

static void stat_add(long long *sum, unsigned long long v)
{
    *sum = (*sum < 0 ? 0 : *sum) + (long long)v;
}

/* Sum the per-device counters "net.N.rx.bytes" and the like. */
static void stats_devices(const virTypedParameterPtr p, int n, struct cfs_domain_stats *s)
{
    static const struct {
        const char *prefix, *suffix;
        size_t off;
    } map[] = {
        {"block.", ".rd.bytes", offsetof(struct cfs_domain_stats, disk_rd_bytes)},
        {"block.", ".wr.bytes", offsetof(struct cfs_domain_stats, disk_wr_bytes)},
        {"block.", ".rd.reqs", offsetof(struct cfs_domain_stats, disk_rd_reqs)},
        {"block.", ".wr.reqs", offsetof(struct cfs_domain_stats, disk_wr_reqs)},
        {"net.", ".rx.bytes", offsetof(struct cfs_domain_stats, net_rx_bytes)},
        {"net.", ".tx.bytes", offsetof(struct cfs_domain_stats, net_tx_bytes)},
        {"net.", ".rx.pkts", offsetof(struct cfs_domain_stats, net_rx_pkts)},
        {"net.", ".tx.pkts", offsetof(struct cfs_domain_stats, net_tx_pkts)},
    };
    for (int i = 0; i < n; i++) {
        if (p[i].type != VIR_TYPED_PARAM_ULLONG)
            continue;
        const char *f = p[i].field;
        size_t fl = strlen(f);
        for (size_t j = 0; j < sizeof(map) / sizeof(map[0]); j++) {
            size_t pl = strlen(map[j].prefix), sl = strlen(map[j].suffix);
            if (fl > pl + sl && !strncmp(f, map[j].prefix, pl) &&
                !strcmp(f + fl - sl, map[j].suffix) && f[pl] >= '0' && f[pl] <= '9')
                stat_add((long long *)((char *)s + map[j].off), p[i].value.ul);
        }
    }
}

static int libvirt_all_stats(struct cfs_conn *c,
                             void (*cb)(const struct cfs_domain_stats *s, void *arg), void *arg,
                             struct cfs_err *err)
{
    virDomainStatsRecordPtr *recs = NULL;
    unsigned int what = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                        VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_INTERFACE |
                        VIR_DOMAIN_STATS_BLOCK;
    int n = virConnectGetAllDomainStats(c->vc, what, &recs, 0);
    if (n < 0)
        return lv_fail(err, "stats", "of all domains");
    for (int i = 0; i < n; i++) {
        struct cfs_domain_stats s;
        unsigned long long v;
        int state;
        memset(&s, 0xff, sizeof(s));    /* every counter -1: not reported */
        if (virDomainGetUUIDString(recs[i]->dom, s.uuid) < 0)
            continue;
        virTypedParameterPtr p = recs[i]->params;
        int np = recs[i]->nparams;
        s.power = virTypedParamsGetInt(p, np, "state.state", &state) == 1 ? power_from_state(state)
                                                                          : CFS_POWER_OTHER;
        if (virTypedParamsGetULLong(p, np, "cpu.time", &v) == 1)
            s.cpu_time_ns = (long long)v;
        if (virTypedParamsGetULLong(p, np, "balloon.current", &v) == 1)
            s.memory_kib = (long long)v;
        if (virTypedParamsGetULLong(p, np, "balloon.rss", &v) == 1)
            s.rss_kib = (long long)v;
        stats_devices(p, np, &s);
        cb(&s, arg);
    }
    virDomainStatsRecordListFree(recs);
    return 0;
}

/* ---- whole-VM snapshots (reconcile_vmsnap.c) ---- */

/* Freeze (thaw false) or thaw the guest's file systems through its agent. */
static int libvirt_fs_freeze(struct cfs_conn *c, const char *uuid, bool thaw, struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    const char *what = thaw ? "fs thaw" : "fs freeze";
    if (domain_get(c, uuid, what, &dom, err) < 0)
        return -1;
    int rc = thaw ? virDomainFSThaw(dom, NULL, 0, 0) : virDomainFSFreeze(dom, NULL, 0, 0);
    return call_done(dom, rc, what, uuid, err);
}

/* A domain and one of its snapshots, as snap_find leaves them. */
struct snap_ref {
    virDomainPtr dom;
    virDomainSnapshotPtr snap;
};

/* The domain's snapshot named name into *ref: 0 found, 1 when there is
 * none (ref->dom is NULL when there is no domain either), -1 error.
 * snap_release frees what it found in every case. */
static int snap_find(struct cfs_conn *c, const char *uuid, const char *name, const char *what,
                     struct snap_ref *ref, struct cfs_err *err)
{
    *ref = (struct snap_ref){0};
    int r = domain_find(c, uuid, what, &ref->dom, err);
    if (r != 0)
        return r;
    ref->snap = virDomainSnapshotLookupByName(ref->dom, name, 0);
    if (ref->snap)
        return 0;
    if (last_error_is(VIR_ERR_NO_DOMAIN_SNAPSHOT)) {
        virResetLastError();
        return 1;
    }
    return lv_fail(err, what, name);
}

static void snap_release(struct snap_ref *ref)
{
    if (ref->snap)
        virDomainSnapshotFree(ref->snap);
    if (ref->dom)
        virDomainFree(ref->dom);
}

/* An internal snapshot of the running domain with its memory and every
 * disk, named name (the caller's plain [a-z0-9-] name, also every qcow2
 * disk's tag). */
static int libvirt_vm_snapshot_create(struct cfs_conn *c, const char *uuid, const char *name,
                                      struct cfs_err *err)
{
    struct snap_ref ref;
    char xml[512];
    int ret = -1;
    int r = snap_find(c, uuid, name, "snapshot", &ref, err);
    if (r < 0)
        goto cleanup;
    if (r == 0) {
        ret = 0;    /* taken already */
        goto cleanup;
    }
    if (!ref.dom) {
        cfs_err_set(err, ENOENT, "snapshot %s: no such domain on this host", uuid);
        goto cleanup;
    }
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            cfs_err_set(err, EINVAL, "snapshot name '%s' is not plain", name);
            goto cleanup;
        }
    if (snprintf(xml, sizeof(xml), "<domainsnapshot><name>%s</name>"
                 "<memory snapshot='internal'/></domainsnapshot>", name) >= (int)sizeof(xml)) {
        cfs_err_set(err, ENAMETOOLONG, "snapshot name '%.64s...' is too long", name);
        goto cleanup;
    }
    ref.snap = virDomainSnapshotCreateXML(ref.dom, xml, VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC);
    if (!ref.snap) {
        lv_fail(err, "snapshot", uuid);
        goto cleanup;
    }
    ret = 0;
cleanup:
    snap_release(&ref);
    return ret;
}

/* 1 when the domain has snapshot name, 0 when not (or no domain). */
static int libvirt_vm_snapshot_exists(struct cfs_conn *c, const char *uuid, const char *name,
                                      struct cfs_err *err)
{
    struct snap_ref ref;
    int r = snap_find(c, uuid, name, "snapshot", &ref, err);
    snap_release(&ref);
    return r < 0 ? -1 : r == 0;
}

/* Delete snapshot name (its internal snapshots in the disks and libvirt's
 * record of it; one that is gone succeeds), or revert the domain to it,
 * memory and disks (it runs after; one that is gone is ENOENT). */
static int snapshot_apply(struct cfs_conn *c, const char *uuid, const char *name, bool revert,
                          struct cfs_err *err)
{
    struct snap_ref ref;
    int ret = -1;
    const char *what = revert ? "revert to snapshot" : "delete snapshot";
    int r = snap_find(c, uuid, name, revert ? "revert" : what, &ref, err);
    if (r > 0 && revert)
        cfs_err_set(err, ENOENT, "revert: the domain has no snapshot %s", name);
    else if (r > 0)
        ret = 0;
    if (r != 0)
        goto cleanup;
    if ((revert ? virDomainRevertToSnapshot(ref.snap, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING |
                                                          VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)
                : virDomainSnapshotDelete(ref.snap, 0)) < 0) {
        lv_fail(err, what, name);
        goto cleanup;
    }
    ret = 0;
cleanup:
    snap_release(&ref);
    return ret;
}

static int libvirt_vm_snapshot_delete(struct cfs_conn *c, const char *uuid, const char *name,
                                      struct cfs_err *err)
{
    return snapshot_apply(c, uuid, name, false, err);
}

static int libvirt_vm_snapshot_revert(struct cfs_conn *c, const char *uuid, const char *name,
                                      struct cfs_err *err)
{
    return snapshot_apply(c, uuid, name, true, err);
}

const struct cfs_compute_driver cfs_libvirt_driver = {
    .name = "libvirt",
    .init = libvirt_init,
    .shutdown = libvirt_shutdown,
    .connect = libvirt_connect,
    .close = libvirt_close,
    .alive = libvirt_alive,
    .host_info = libvirt_host_info,
    .list = libvirt_list,
    .define = libvirt_define,
    .undefine = libvirt_undefine,
    .info = libvirt_info,
    .start = libvirt_start,
    .shutdown_guest = libvirt_shutdown_guest,
    .destroy = libvirt_destroy,
    .suspend = libvirt_suspend,
    .resume = libvirt_resume,
    .reboot = libvirt_reboot,
    .reset = libvirt_reset,
    .set_vcpus = libvirt_set_vcpus,
    .set_memory = libvirt_set_memory,
    .set_password = libvirt_set_password,
    .set_vnc_password = libvirt_set_vnc_password,
    .guest_ips = libvirt_guest_ips,
    .change_media = libvirt_change_media,
    .xml = libvirt_xml,
    .disks = libvirt_disks,
    .attach_disk = libvirt_attach_disk,
    .detach_disk = libvirt_detach_disk,
    .block_resize = libvirt_block_resize,
    .attach_nic = libvirt_attach_nic,
    .detach_nic = libvirt_detach_nic,
    .all_stats = libvirt_all_stats,
    .migrate = libvirt_migrate,     /* driver_libvirt_migrate.c */
    .fs_freeze = libvirt_fs_freeze,
    .vm_snapshot_create = libvirt_vm_snapshot_create,
    .vm_snapshot_exists = libvirt_vm_snapshot_exists,
    .vm_snapshot_delete = libvirt_vm_snapshot_delete,
    .vm_snapshot_revert = libvirt_vm_snapshot_revert,
    .block_copy = libvirt_block_copy,   /* driver_libvirt_blockcopy.c */
};

virConnectPtr libvirt_conn_vc(struct cfs_conn *c)
{
    return c->vc;
}
