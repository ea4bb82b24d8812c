/* driver_libvirt_migrate.c: live migration over libvirt (compute.h's
 * migrate slot).
 *
 * libvirt's managed direct migration (virDomainMigrate3 with both
 * connections, as `virsh migrate --live` does without --p2p): the source
 * QEMU sends the guest's memory straight to the target QEMU over TCP (the
 * target's migration address, qemu.conf).  The call blocks until the move
 * ends, so it runs on a thread of its own while the caller's thread reads
 * the job's progress (virDomainGetJobStats) every 500 ms and may abort it
 * (virDomainAbortJob).  On failure libvirt leaves the domain running on the
 * source.  Disks stay where they are: RBD images, or files on storage that
 * every host shares (the caller's flag); nothing is copied.
 */
#include "driver_libvirt_migrate.h"

#include <errno.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROGRESS_MS 500

struct mig_run {
    virDomainPtr dom;           /* on the source */
    virConnectPtr dvc;
    virTypedParameterPtr params;
    int nparams;
    unsigned flags;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;                  /* under lock */
    virDomainPtr ddom;          /* the domain on the target, when it worked */
    char msg[CFS_ERR_MSG_MAX];
};

static void *mig_thread(void *arg)
{
    struct mig_run *r = arg;
    virDomainPtr ddom = virDomainMigrate3(r->dom, r->dvc, r->params, r->nparams, r->flags);
    pthread_mutex_lock(&r->lock);
    r->ddom = ddom;
    if (!ddom)
        snprintf(r->msg, sizeof(r->msg), "%s", virGetLastErrorMessage());
    r->done = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static long long param_ull(virTypedParameterPtr p, int n, const char *name)
{
    unsigned long long v = 0;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? (long long)v : -1;
}

/* The job stats of dom (flags: 0 the running job, or
 * VIR_DOMAIN_JOB_STATS_COMPLETED) into out; -1 when there are none. */
static int job_stats(virDomainPtr dom, unsigned flags, struct cfs_migration_stats *out)
{
    virTypedParameterPtr p = NULL;
    int n = 0, type = 0;
    out->memory_total = out->memory_remaining = out->memory_processed = -1;
    out->elapsed_ms = out->downtime_ms = -1;
    if (virDomainGetJobStats(dom, &type, &p, &n, flags) < 0) {
        virResetLastError();
        return -1;
    }
    out->memory_total = param_ull(p, n, VIR_DOMAIN_JOB_MEMORY_TOTAL);
    out->memory_remaining = param_ull(p, n, VIR_DOMAIN_JOB_MEMORY_REMAINING);
    out->memory_processed = param_ull(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED);
    out->elapsed_ms = param_ull(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED);
    out->downtime_ms = param_ull(p, n, VIR_DOMAIN_JOB_DOWNTIME);
    virTypedParamsFree(p, n);
    return 0;
}

int libvirt_migrate(struct cfs_conn *c, struct cfs_conn *dst, const char *uuid, unsigned flags,
                    cfs_migrate_progress_cb cb, void *arg, struct cfs_migration_stats *out,
                    struct cfs_err *err)
{
    struct mig_run r = {.dvc = libvirt_conn_vc(dst), .lock = PTHREAD_MUTEX_INITIALIZER,
                        .cond = PTHREAD_COND_INITIALIZER};
    int maxparams = 0, ret = -1;
    bool aborted = false;
    pthread_t thread;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r.cond, &ca);
    pthread_condattr_destroy(&ca);
    memset(out, 0, sizeof(*out));
    out->memory_total = out->memory_remaining = out->memory_processed = -1;
    out->elapsed_ms = out->downtime_ms = -1;
    if (!uuid || !uuid[0]) {
        cfs_err_set(err, EINVAL, "migrate: no UUID given");
        goto cleanup;
    }
    r.dom = virDomainLookupByUUIDString(libvirt_conn_vc(c), uuid);
    if (!r.dom) {
        cfs_err_set(err, ENOENT, "migrate %s: %s", uuid, virGetLastErrorMessage());
        goto cleanup;
    }
    const char *name = virDomainGetName(r.dom);
    if (!name || virTypedParamsAddString(&r.params, &r.nparams, &maxparams,
                                         VIR_MIGRATE_PARAM_DEST_NAME, name) < 0) {
        cfs_err_set(err, ENOMEM, "migrate %s: %s", uuid, virGetLastErrorMessage());
        goto cleanup;
    }
    r.flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
    /* libvirt calls a file disk shared only on NFS, CephFS, GFS2 and the
     * like; the caller knows the pool is shared (RBD disks pass as they are). */
    if (flags & CFS_MIGRATE_SHARED_FILES)
        r.flags |= VIR_MIGRATE_UNSAFE;
    if (pthread_create(&thread, NULL, mig_thread, &r) != 0) {
        cfs_err_set(err, EAGAIN, "migrate %s: no thread for the migration", uuid);
        goto cleanup;
    }
    pthread_mutex_lock(&r.lock);
    while (!r.done) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += PROGRESS_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r.cond, &r.lock, &until);
        if (r.done)
            break;
        pthread_mutex_unlock(&r.lock);
        struct cfs_migration_stats now;
        if (job_stats(r.dom, 0, &now) == 0 && cb && !aborted && cb(&now, arg)) {
            aborted = true;
            if (virDomainAbortJob(r.dom) < 0)
                virResetLastError();
        }
        pthread_mutex_lock(&r.lock);
    }
    pthread_mutex_unlock(&r.lock);
    pthread_join(thread, NULL);
    if (!r.ddom) {
        cfs_err_set(err, aborted ? ECANCELED : EIO, "migrate %s: %s", uuid,
                    aborted ? "cancelled" : r.msg);
        goto cleanup;
    }
    job_stats(r.ddom, VIR_DOMAIN_JOB_STATS_COMPLETED, out);
    ret = 0;
cleanup:
    if (r.ddom)
        virDomainFree(r.ddom);
    if (r.dom)
        virDomainFree(r.dom);
    virTypedParamsFree(r.params, r.nparams);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.lock);
    return ret;
}
