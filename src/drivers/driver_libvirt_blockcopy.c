/* driver_libvirt_blockcopy.c: live storage migration over libvirt
 * (compute.h's block_copy slot).
 *
 * virDomainBlockCopy with VIR_DOMAIN_BLOCK_COPY_REUSE_EXT into the
 * destination the caller made (a blank volume of the disk's size in the
 * target pool), a full copy (the backing chain folded in); the job is
 * polled with virDomainGetBlockJobInfo until it is ready (cur == end, the
 * mirror in sync), then virDomainBlockJobAbort(PIVOT) switches the guest
 * to the copy without stopping it.  Any failure before the pivot aborts
 * the job: the guest goes on from the source.  libvirt 9.0 refuses a block
 * copy of a persistent domain ("domain is not transient") unless the job
 * is transient (VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB: it would not survive
 * a libvirtd restart), and the pivot changes only the live definition:
 * the persistent one is given the new disk after the pivot
 * (virDomainUpdateDeviceFlags on the config).
 */
#include "driver_libvirt_blockcopy.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain_xml.h"
#include "driver_libvirt_migrate.h"
#include "xml.h"

#define POLL_MS 200

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fail(struct cfs_err *err, int code, const char *what, const char *target)
{
    return cfs_err_set(err, code, "block copy of %s: %s: %s", target, what,
                       virGetLastErrorMessage());
}

int libvirt_block_copy(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                       int timeout, cfs_progress_cb cb, void *arg, struct cfs_err *err)
{
    virDomainPtr dom = NULL;
    struct xbuf b = {0};
    char *xml = NULL;
    bool started = false;
    int ret = -1;
    if (!uuid || !uuid[0] || !d || !d->target || !d->src) {
        cfs_err_set(err, EINVAL, "block copy: nothing to copy");
        goto cleanup;
    }
    if (!(dom = virDomainLookupByUUIDString(libvirt_conn_vc(c), uuid))) {
        fail(err, ENOENT, "no domain", d->target);
        goto cleanup;
    }
    domain_xml_disk(&b, d);
    if (!(xml = xbuf_steal(&b))) {
        cfs_err_set(err, ENOMEM, "block copy of %s: out of memory", d->target);
        goto cleanup;
    }
    unsigned flags = VIR_DOMAIN_BLOCK_COPY_REUSE_EXT;
    if (virDomainIsPersistent(dom) == 1)
        flags |= VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB;
    if (virDomainBlockCopy(dom, d->target, xml, NULL, 0, flags) < 0) {
        fail(err, EIO, "start", d->target);
        goto cleanup;
    }
    started = true;
    /* Ready when the mirror has caught up; a stall (no progress for
     * timeout seconds) gives up. */
    long long last_move = now_ms();
    unsigned long long last_cur = 0;
    for (;;) {
        virDomainBlockJobInfo info;
        int r = virDomainGetBlockJobInfo(dom, d->target, &info, 0);
        if (r < 0) {
            fail(err, EIO, "job", d->target);
            goto cleanup;
        }
        if (r == 0) {
            cfs_err_set(err, EIO, "block copy of %s: the job ended before it was ready "
                        "(libvirtd's log says why)", d->target);
            started = false;
            goto cleanup;
        }
        if (info.cur != last_cur) {
            last_cur = info.cur;
            last_move = now_ms();
        }
        int pct = info.end ? (int)(info.cur * 100 / info.end) : 0;
        if (cb && cb(pct > 99 && info.cur != info.end ? 99 : pct, arg)) {
            cfs_err_set(err, ECANCELED, "block copy of %s: cancelled", d->target);
            goto cleanup;
        }
        if (info.end > 0 && info.cur == info.end)
            break;
        /* A guest starved of CPU (TCG on a loaded host) copies in bursts:
         * a stall is only given up on after 120 s at least. */
        if (timeout > 0 && now_ms() - last_move > (long long)(timeout < 120 ? 120 : timeout) * 1000) {
            cfs_err_set(err, ETIMEDOUT, "block copy of %s: no progress for %d s", d->target,
                        timeout < 120 ? 120 : timeout);
            goto cleanup;
        }
        sleep_ms(POLL_MS);
    }
    /* The pivot fails while the mirror is not reported ready yet: retry a
     * little while. */
    long long until = now_ms() + 30000;
    while (virDomainBlockJobAbort(dom, d->target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) < 0) {
        if (now_ms() > until) {
            fail(err, EIO, "pivot", d->target);
            goto cleanup;
        }
        virResetLastError();
        sleep_ms(POLL_MS);
    }
    started = false;
    /* Without VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC the call returns once the
     * guest runs on the copy: from here the move has happened, whatever
     * follows.  The definition follows too, so that the next start uses
     * the copy (else the VM's next define sees to it). */
    if (virDomainIsPersistent(dom) == 1 &&
        virDomainUpdateDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_CONFIG) < 0)
        virResetLastError();
    if (cb)
        cb(100, arg);
    ret = 0;
cleanup:
    if (started && virDomainBlockJobAbort(dom, d->target, 0) < 0)
        virResetLastError();
    if (dom)
        virDomainFree(dom);
    free(xml);
    return ret;
}
