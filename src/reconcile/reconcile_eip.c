/* reconcile_eip.c: the passes of eip-pools and EIPs (public IPs).
 *
 * A VPC router's NAT table holds every EIP bound to a NIC of that VPC and
 * is replaced as a whole (eip.h), so a pass of either kind syncs all of
 * them: each pool's bridge, then each VPC of the store that has a router
 * on this machine gets exactly the rules of its bound EIPs (none: its
 * external side and table go).  One sync at a time (a mutex); the
 * periodic resync runs it again, which repairs drift (a table deleted or
 * flushed, an address removed) and follows NICs whose address or VM
 * changed.  A VPC's EIPs come from one pool at a time: its router has one
 * external side; an EIP of another pool in that VPC is in error until the
 * first pool's are unbound.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eip.h"
#include "netaddr.h"
#include "precond_eip.h"
#include "rc_kind.h"
#include "rc_store.h"
#include "reconcile.h"
#include "status_keys.h"

#define EIP_RETRY_MS 5000

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;

struct pool {
    struct cfs_res res;
    bool ok;
    struct cfs_cidr cidr;
    uint32_t gateway;
};

/* One EIP as the sync sees it. */
struct eip {
    struct cfs_res res;
    const struct pool *pool;
    uint32_t ip;
    int mbit;
    char vpc[CFS_UUID_LEN];     /* "": not bound (or not bindable) */
    uint32_t private_ip;
    char vm[2 * CFS_NAME_MAX + 2];
    char state[16];
    char error[256];
};

static void pool_load(struct reconciler *rc, const struct cfs_res *r, struct pool *p)
{
    char *cidr = rc_attr(rc, r->id, "cidr");
    char *gw = rc_attr(rc, r->id, "gateway");
    char *range = rc_attr(rc, r->id, "range");
    struct cfs_err ignore;
    uint32_t f, l;
    memset(p, 0, sizeof(*p));
    p->res = *r;
    p->ok = cidr[0] && range[0] && netaddr_cidr_parse(cidr, &p->cidr, &ignore) == 0 &&
            eip_range_parse(range, &f, &l, &ignore) == 0;
    if (gw[0] && netaddr_ipv4_parse(gw, &p->gateway, &ignore) < 0)
        p->gateway = 0;
    free(cidr);
    free(gw);
    free(range);
}

/* Where e is bound: its NIC's VPC and private address, or why not. */
static void eip_resolve(struct reconciler *rc, struct eip *e, const struct pool *pools, size_t np)
{
    char *pool = rc_attr(rc, e->res.id, "pool");
    char *nic = rc_attr(rc, e->res.id, "nic");
    char *ip = rc_status(rc, e->res.id, "ip");
    char *bw = rc_attr(rc, e->res.id, "bandwidth");
    char *mode = rc_attr(rc, e->res.id, "mode");
    struct cfs_err err;
    struct cfs_res n, vm, cluster, subnet, vpc;
    snprintf(e->state, sizeof(e->state), "unbound");
    e->mbit = atoi(bw);
    for (size_t i = 0; i < np; i++)
        if (pools[i].res.parent == e->res.parent && !strcmp(pools[i].res.name, pool))
            e->pool = &pools[i];
    if (!nic[0])
        goto cleanup;
    snprintf(e->state, sizeof(e->state), "error");
    if (!e->pool || !e->pool->ok || netaddr_ipv4_parse(ip, &e->ip, &err) < 0) {
        snprintf(e->error, sizeof(e->error), "pool %s gives it no address", pool);
        goto cleanup;
    }
    if (strcmp(mode, "nat")) {     /* the layout offers nat only */
        snprintf(e->error, sizeof(e->error), "mode %s: only nat is implemented", mode);
        goto cleanup;
    }
    if (store_ref_resolve(rc->st, &e->res, layout_attr(e->res.kind, "nic"), nic, &n, &err) < 0) {
        snprintf(e->error, sizeof(e->error), "%s", err.msg);
        goto cleanup;
    }
    char *sub = rc_status(rc, n.id, CFS_ST_SUBNET);
    char *pip = rc_status(rc, n.id, "ip");
    if (!sub[0] || netaddr_ipv4_parse(pip, &e->private_ip, &err) < 0 ||
        store_res_by_uuid(rc->st, sub, &subnet, &err) < 0 ||
        store_res_get(rc->st, subnet.parent, &vpc, &err) < 0) {
        snprintf(e->error, sizeof(e->error), "nic %s has no address in a subnet", nic);
    } else if (store_res_get(rc->st, n.parent, &vm, &err) == 0 &&
               store_res_get(rc->st, vm.parent, &cluster, &err) == 0) {
        snprintf(e->vpc, sizeof(e->vpc), "%s", vpc.uuid);
        snprintf(e->vm, sizeof(e->vm), "%s/%s", cluster.name, vm.name);
        snprintf(e->state, sizeof(e->state), "pending");
    }
    free(sub);
    free(pip);
cleanup:
    free(pool);
    free(nic);
    free(ip);
    free(bw);
    free(mode);
}

/* The bound EIPs of vpc into one router (rules: room for every EIP). */
static void router_of(const char *vpc, struct eip *e, size_t ne, struct cfs_eip_rule *rules,
                      struct cfs_eip_router *r)
{
    memset(r, 0, sizeof(*r));
    r->vpc = vpc;
    r->rules = rules;
    const struct pool *p = NULL;
    for (size_t i = 0; i < ne; i++) {
        if (strcmp(e[i].vpc, vpc))
            continue;
        if (!p)
            p = e[i].pool;
        if (e[i].pool != p) {
            snprintf(e[i].state, sizeof(e[i].state), "error");
            snprintf(e[i].error, sizeof(e[i].error), "VPC's router already holds EIPs of pool "
                     "%s (one pool per VPC at a time)", p->res.name);
            continue;
        }
        rules[r->n].eip = e[i].ip;
        rules[r->n].private_ip = e[i].private_ip;
        rules[r->n].mbit = e[i].mbit;
        r->n++;
    }
    if (p) {
        r->pool = p->res.uuid;
        r->prefix = p->cidr.prefix;
        r->gateway = p->gateway;
    }
}

static void set_state(struct reconciler *rc, const struct eip *e)
{
    char pip[CFS_IPV4_LEN] = "";
    if (e->vpc[0])
        netaddr_ipv4_format(e->private_ip, pip);
    rc_set_status(rc, &e->res, "state", e->state);
    rc_set_status(rc, &e->res, "vm", e->vpc[0] ? e->vm : "");
    rc_set_status(rc, &e->res, "nic", pip);
    rc_set_status(rc, &e->res, "error", e->error);
    rc_set_status_int(rc, &e->res, CFS_ST_GEN, store_spec_generation(rc->st, e->res.id));
}

/* Sync every pool and router of the store; 0 when all converged. */
static int eip_sync(struct reconciler *rc)
{
    const struct cfs_kind *kp = rc_layout_kind(rc, &rc_kind_eip_pool);
    const struct cfs_kind *ke = rc_layout_kind(rc, &rc_kind_eip);
    const struct cfs_kind *kv = layout_kind(rc->layout, "vpc");
    struct cfs_res *pr = NULL, *er = NULL, *vr = NULL;
    size_t np = 0, ne = 0, nv = 0;
    struct pool *pools = NULL;
    struct eip *eips = NULL;
    struct cfs_eip_rule *rules = NULL;
    struct cfs_err err;
    int result = 0;
    pthread_mutex_lock(&sync_lock);
    if (store_res_all(rc->st, kp, &pr, &np, &err) < 0 ||
        store_res_all(rc->st, ke, &er, &ne, &err) < 0 ||
        store_res_all(rc->st, kv, &vr, &nv, &err) < 0) {
        result = EIP_RETRY_MS;
        goto cleanup;
    }
    pools = calloc(np ? np : 1, sizeof(*pools));
    eips = calloc(ne ? ne : 1, sizeof(*eips));
    rules = calloc(ne ? ne : 1, sizeof(*rules));
    if (!pools || !eips || !rules) {
        result = EIP_RETRY_MS;
        goto cleanup;
    }
    size_t npools = 0, neips = 0;
    for (size_t i = 0; i < np; i++) {
        struct pool *p = &pools[npools];
        if (pr[i].deleted) {
            if (eip_pool_remove(pr[i].uuid, &err) < 0)
                fprintf(stderr, "cloudfs reconcile: eip-pool %s: %s\n", pr[i].name, err.msg);
            continue;
        }
        pool_load(rc, &pr[i], p);
        char *uplink = rc_attr(rc, pr[i].id, "uplink");
        char br[16] = "";
        if (!p->ok) {
            rc_set_status(rc, &pr[i], "state", "unconfigured");
            rc_set_status(rc, &pr[i], "error", "");
        } else if (eip_pool_ensure(pr[i].uuid, uplink, &err) < 0) {
            rc_set_error(rc, &pr[i], NULL, &err);
            rc_set_status(rc, &pr[i], "state", "error");
            result = EIP_RETRY_MS;
        } else {
            eip_pool_bridge_name(pr[i].uuid, br);
            rc_set_status(rc, &pr[i], "state", "available");
            rc_set_status(rc, &pr[i], "error", "");
        }
        rc_set_status(rc, &pr[i], "bridge", br);
        free(uplink);
        npools++;
    }
    for (size_t i = 0; i < ne; i++) {
        if (er[i].deleted)
            continue;
        eips[neips].res = er[i];
        eip_resolve(rc, &eips[neips], pools, npools);
        neips++;
    }
    for (size_t i = 0; i < npools; i++) {   /* free addresses of each pool */
        char *range = rc_attr(rc, pools[i].res.id, "range");
        uint32_t f, l;
        struct cfs_err ignore;
        if (pools[i].ok && eip_range_parse(range, &f, &l, &ignore) == 0) {
            long long held = 0;
            for (size_t j = 0; j < neips; j++) {
                char *ip = rc_status(rc, eips[j].res.id, "ip");
                held += eips[j].pool == &pools[i] && ip[0];
                free(ip);
            }
            rc_set_status_int(rc, &pools[i].res, "free-ips",
                              (long long)l - (long long)f + 1 - held);
        }
        free(range);
    }
    for (size_t v = 0; v < nv; v++) {
        struct cfs_eip_router r;
        if (vr[v].deleted || !eip_router_present(vr[v].uuid))
            continue;
        router_of(vr[v].uuid, eips, neips, rules, &r);
        bool repaired = false;
        int ok = eip_router_apply(&r, &repaired, &err);
        if (repaired) {
            char now[32];
            rc_iso_time(now, sizeof(now));
            fprintf(stderr, "cloudfs reconcile: eip: the NAT table of VPC %s's router had been "
                    "changed behind cloudfs's back: put back\n", vr[v].name);
            for (size_t i = 0; i < neips; i++)
                if (!strcmp(eips[i].vpc, vr[v].uuid))
                    rc_set_status(rc, &eips[i].res, "repaired", now);
        }
        for (size_t i = 0; i < neips; i++) {
            if (strcmp(eips[i].vpc, vr[v].uuid) || !strcmp(eips[i].state, "error"))
                continue;
            if (ok == 0) {
                snprintf(eips[i].state, sizeof(eips[i].state), "bound");
            } else {
                snprintf(eips[i].state, sizeof(eips[i].state), "error");
                snprintf(eips[i].error, sizeof(eips[i].error), "%s", err.msg);
            }
        }
        if (ok < 0)
            result = EIP_RETRY_MS;
    }
    for (size_t i = 0; i < neips; i++) {
        if (!strcmp(eips[i].state, "pending") && !eips[i].error[0])
            snprintf(eips[i].error, sizeof(eips[i].error), "the NIC's VPC has no router on "
                     "this machine yet");
        if (strcmp(eips[i].state, "bound") && strcmp(eips[i].state, "unbound"))
            result = EIP_RETRY_MS;
        set_state(rc, &eips[i]);
    }
    for (size_t i = 0; i < npools; i++)
        rc_set_status_int(rc, &pools[i].res, CFS_ST_GEN,
                          store_spec_generation(rc->st, pools[i].res.id));
cleanup:
    pthread_mutex_unlock(&sync_lock);
    free(pr);
    free(er);
    free(vr);
    free(pools);
    free(eips);
    free(rules);
    return result;
}

static int reconcile_eip_any(struct reconciler *rc, const struct cfs_res *r)
{
    int result = eip_sync(rc);
    struct cfs_err err;
    if (r->deleted && rc_res_purge(rc, r, &err) < 0) {
        rc_set_error(rc, r, NULL, &err);
        return EIP_RETRY_MS;
    }
    return result;
}

#define EIP_READS "eip/pool eip/ip eip/nic eip/mode eip/bandwidth eip-pool/cidr eip-pool/gateway " \
                  "eip-pool/range eip-pool/uplink"
#define EIP_STATUS_READ "eip/ip nic/ip nic/" CFS_ST_SUBNET
#define EIP_WRITES "eip/repaired eip/state eip/vm eip/nic eip/error eip/" CFS_ST_GEN " eip-pool/state " \
                   "eip-pool/bridge eip-pool/free-ips eip-pool/error eip-pool/" CFS_ST_GEN

const struct rc_kind rc_kind_eip_pool = {
    .name = "eip-pool", .pass = reconcile_eip_any, .wakes = RC_WAKE_SELF,
    .attrs_read = EIP_READS, .status_read = EIP_STATUS_READ, .status_written = EIP_WRITES,
};

const struct rc_kind rc_kind_eip = {
    .name = "eip", .pass = reconcile_eip_any, .wakes = RC_WAKE_SELF,
    .attrs_read = EIP_READS, .status_read = EIP_STATUS_READ, .status_written = EIP_WRITES,
};
