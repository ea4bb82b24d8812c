/* fence_rbd.c: a lost host's Ceph clients are blocklisted before its VMs
 * start elsewhere, so that a host that only seemed dead (frozen, cut off)
 * cannot write to an RBD image another host now writes: the OSDs refuse
 * its requests (EBLOCKLISTED) and drop its watches at once, which also lets
 * the new instance take the image's exclusive lock without waiting for the
 * watch timeout.  The entry is "ADDR:0/0", every client of that address. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rados/librados.h>

#include "fence.h"

/* Ten years: until cloudfs removes it (rados_blocklist_add's 0 would be
 * Ceph's default hour, after which a fenced host would write again). */
#define FENCE_EXPIRE_S (10U * 365U * 24U * 3600U)

static int mon_rm(rados_t cluster, const char *entry)
{
    char cmd[160];
    const char *cmds[1] = {cmd};
    char *buf = NULL, *outs = NULL;
    size_t buflen = 0, outslen = 0;
    snprintf(cmd, sizeof(cmd),
             "{\"prefix\": \"osd blocklist\", \"blocklistop\": \"rm\", \"addr\": \"%s\"}", entry);
    int r = rados_mon_command(cluster, cmds, 1, "", 0, &buf, &buflen, &outs, &outslen);
    rados_buffer_free(buf);
    rados_buffer_free(outs);
    return r;
}

int fence_rbd(const char *conf, const char *user, const char *addr, bool add, int timeout,
              struct cfs_err *err)
{
    rados_t cluster = NULL;
    char entry[64], tmo[16];
    int ret = -1, r;
    if (!conf || conf[0] != '/')
        return cfs_err_set(err, EINVAL, "fence: no Ceph configuration");
    if (!addr || !addr[0] || strlen(addr) > 45 || strpbrk(addr, "\"\\/ "))
        return cfs_err_set(err, EINVAL, "fence: bad address");
    snprintf(entry, sizeof(entry), "%s:0/0", addr);
    snprintf(tmo, sizeof(tmo), "%d", timeout > 0 ? timeout : 10);
    if ((r = rados_create(&cluster, user && user[0] ? user : NULL)) < 0) {
        cluster = NULL;
        cfs_err_set(err, -r, "fence %s: %s", addr, strerror(-r));
        goto cleanup;
    }
    if ((r = rados_conf_read_file(cluster, conf)) < 0) {
        cfs_err_set(err, -r, "fence %s: cannot read %s: %s", addr, conf, strerror(-r));
        goto cleanup;
    }
    rados_conf_set(cluster, "rados_mon_op_timeout", tmo);
    rados_conf_set(cluster, "rados_osd_op_timeout", tmo);
    rados_conf_set(cluster, "client_mount_timeout", tmo);
    rados_conf_set(cluster, "log_to_stderr", "false");
    rados_conf_set(cluster, "err_to_stderr", "false");
    if ((r = rados_connect(cluster)) < 0) {
        cfs_err_set(err, -r, "fence %s: cannot reach the Ceph cluster of %s: %s", addr, conf,
                    strerror(-r));
        goto cleanup;
    }
    r = add ? rados_blocklist_add(cluster, entry, FENCE_EXPIRE_S) : mon_rm(cluster, entry);
    if (r < 0 && !(!add && r == -ENOENT)) {
        cfs_err_set(err, -r, "fence %s: %s blocklist: %s", addr, add ? "adding to" : "removing from",
                    strerror(-r));
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (cluster)
        rados_shutdown(cluster);
    return ret;
}
