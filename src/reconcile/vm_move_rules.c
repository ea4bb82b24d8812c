/* vm_move_rules.c: the storage and CPU rules of moving a VM
 * (vm_move_rules.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_store.h"
#include "status_keys.h"
#include "vm_move_rules.h"

/* The rule for one volume: 0, or -1 with why. */
static int volume_shared(struct reconciler *rc, const struct cfs_res *vm,
                         const struct cfs_res *vol, bool *shared_files, char *why, size_t len)
{
    struct cfs_res pool;
    struct cfs_err err;
    int ret = -1;
    char *pname = rc_attr(rc, vol->id, "pool");
    char *type = NULL, *shared = NULL;
    if (!pname[0] || store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_pool), pname,
                                    &pool, &err) < 0) {
        ret = 0;                /* no pool (yet): nothing on a host's disk */
        goto cleanup;
    }
    type = rc_attr(rc, pool.id, "type");
    shared = rc_attr(rc, pool.id, "shared");
    if (!strcmp(type, "rbd")) {
        ret = 0;
    } else if (!strcmp(shared, "on")) {
        *shared_files = true;
        ret = 0;
    } else {
        snprintf(why, len, "volume %.64s is on the %.16s pool %.64s, which is not shared "
                 "(pool attribute shared): its disk stays with its host", vol->name, type,
                 pname);
    }
cleanup:
    free(pname);
    free(type);
    free(shared);
    return ret;
}

int vm_move_storage(struct reconciler *rc, const struct cfs_res *vm, bool *shared_files,
                    char *why, size_t len)
{
    const struct cfs_kind *vk = rc_layout_kind(rc, &rc_kind_volume);
    struct cfs_res vol, *vols = NULL;
    struct cfs_err err;
    size_t n = 0;
    int ret = 0;
    *shared_files = false;
    char *root = rc_status(rc, vm->id, "root-volume");
    if (root[0] && store_res_find(rc->st, vm->parent, vk, root, &vol, &err) == 0 &&
        volume_shared(rc, vm, &vol, shared_files, why, len) < 0)
        ret = -1;
    if (ret == 0 && store_res_by_status(rc->st, vk, vm->parent, CFS_ST_ATTACHED, vm->uuid, &vols,
                                        &n, &err) == 0) {
        for (size_t i = 0; i < n && ret == 0; i++)
            if (!vols[i].deleted && volume_shared(rc, vm, &vols[i], shared_files, why, len) < 0)
                ret = -1;
    }
    free(vols);
    free(root);
    return ret;
}

/* The cpu-signature of the host named name in vm's cluster ("" unknown). */
static char *host_signature(struct reconciler *rc, const struct cfs_res *vm, const char *name)
{
    struct cfs_res host;
    struct cfs_err err;
    if (!name[0] || store_res_find(rc->st, vm->parent, rc_layout_kind(rc, &rc_kind_host), name,
                                   &host, &err) < 0)
        return strdup("");
    return rc_status(rc, host.id, "cpu-signature");
}

char *vm_move_cpu_origin(struct reconciler *rc, const struct cfs_res *vm)
{
    char *mode = rc_attr(rc, vm->id, "cpu-mode");
    char *origin = NULL;
    if (strcmp(mode, "host-passthrough")) {
        origin = strdup("");
        goto cleanup;
    }
    char *placed = rc_status(rc, vm->id, "host");
    origin = placed[0] ? host_signature(rc, vm, placed) : rc_status(rc, vm->id, CFS_ST_CPU_FROM);
    free(placed);
cleanup:
    free(mode);
    return origin;
}

bool vm_move_cpu_fits(struct reconciler *rc, const char *origin, const struct cfs_res *host,
                      char *why, size_t len)
{
    if (!origin || !origin[0])
        return true;
    char *sig = rc_status(rc, host->id, "cpu-signature");
    bool fits = !strcmp(sig, origin);
    if (!fits)
        snprintf(why, len, "host %.64s has another CPU (%.80s) than the host-passthrough VM's "
                 "(%.80s)", host->name, sig[0] ? sig : "unknown", origin);
    free(sig);
    return fits;
}

void vm_move_cpu_remember(struct reconciler *rc, const struct cfs_res *vm, int64_t host_id)
{
    char *sig = rc_status(rc, host_id, "cpu-signature");
    rc_set_status(rc, vm, CFS_ST_CPU_FROM, sig);
    free(sig);
}
