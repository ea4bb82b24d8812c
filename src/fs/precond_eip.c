/* precond_eip.c: the public IP kinds' rules and an EIP's address
 * allocation (see precond_eip.h).
 *
 * A pool's taken addresses are the status ip values of the live EIPs whose
 * pool attribute names it.  Everything here runs inside the mount's write
 * batch (BEGIN IMMEDIATE), so what it reads is what is committed with the
 * write.  Removing a pool that EIPs name, or a NIC (or its VM) an EIP is
 * bound to, is refused by the store (a reference in use: EBUSY).
 */
#include "precond_eip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "status_keys.h"

struct pool_info {
    bool ok;                    /* cidr and range set and valid */
    struct cfs_cidr cidr;
    uint32_t gateway;           /* 0: none */
    uint32_t first, last;
};

int eip_range_parse(const char *s, uint32_t *first, uint32_t *last, struct cfs_err *err)
{
    char a[CFS_IPV4_LEN], b[CFS_IPV4_LEN];
    const char *dash = strchr(s, '-');
    struct cfs_err why;
    if (!dash || (size_t)(dash - s) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
        return cfs_err_set(err, EINVAL, "range: '%.40s' is not FIRST-LAST (two IPv4 addresses)",
                           s);
    snprintf(a, sizeof(a), "%.*s", (int)(dash - s), s);
    snprintf(b, sizeof(b), "%s", dash + 1);
    if (netaddr_ipv4_parse(a, first, &why) < 0 || netaddr_ipv4_parse(b, last, &why) < 0)
        return cfs_err_set(err, EINVAL, "range: %s", why.msg);
    if (*first > *last)
        return cfs_err_set(err, EINVAL, "range: %s comes after %s", a, b);
    return 0;
}

/* The pool's cidr, gateway and range, with the given values in place of
 * the stored ones (NULL: stored); -1 with the reason when they disagree
 * (range or gateway outside cidr, the gateway inside the range). */
static int pool_load(struct cfs_store *st, int64_t pool, const char *cidr_v, const char *gw_v,
                     const char *range_v, struct pool_info *out, struct cfs_err *err)
{
    char *cidr = cidr_v ? strdup(cidr_v) : store_attr_text(st, pool, "cidr");
    char *gw = gw_v ? strdup(gw_v) : store_attr_text(st, pool, "gateway");
    char *range = range_v ? strdup(range_v) : store_attr_text(st, pool, "range");
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!cidr || !gw || !range) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (cidr[0] && netaddr_cidr_parse(cidr, &out->cidr, err) < 0)
        goto cleanup;
    if (gw[0] && netaddr_ipv4_parse(gw, &out->gateway, err) < 0)
        goto cleanup;
    if (range[0] && eip_range_parse(range, &out->first, &out->last, err) < 0)
        goto cleanup;
    if (cidr[0] && out->cidr.prefix > 30) {
        cfs_err_set(err, EINVAL, "cidr: %s holds no range and gateway (at most /30)", cidr);
        goto cleanup;
    }
    if (cidr[0] && gw[0] && !netaddr_cidr_host(&out->cidr, out->gateway)) {
        cfs_err_set(err, EINVAL, "gateway: %s is not a host address of %s", gw, cidr);
        goto cleanup;
    }
    if (cidr[0] && range[0] && (!netaddr_cidr_host(&out->cidr, out->first) ||
                                !netaddr_cidr_host(&out->cidr, out->last))) {
        cfs_err_set(err, EINVAL, "range: %s is not inside the host addresses of %s", range,
                    cidr);
        goto cleanup;
    }
    if (gw[0] && range[0] && out->gateway >= out->first && out->gateway <= out->last) {
        cfs_err_set(err, EINVAL, "range: %s holds the gateway %s", range, gw);
        goto cleanup;
    }
    out->ok = cidr[0] && range[0];
    rc = 0;
cleanup:
    free(cidr);
    free(gw);
    free(range);
    return rc;
}

/* Whether address a is held by a live EIP of pool (by name, in zone)
 * other than except; the holder's name in who. */
static int ip_taken(struct cfs_store *st, int64_t zone, const char *pool, int64_t except,
                    uint32_t a, char *who, size_t len, struct cfs_err *err)
{
    const struct cfs_kind *ke = layout_kind(store_layout(st), "eip");
    struct cfs_res *all = NULL;
    size_t n = 0;
    int found = 0;
    if (!ke || store_res_all(st, ke, &all, &n, err) < 0)
        return ke ? -1 : 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (all[i].deleted || all[i].id == except || all[i].parent != zone)
            continue;
        char *p = store_attr_text(st, all[i].id, "pool");
        char *ip = store_status_text(st, all[i].id, "ip");
        uint32_t b;
        struct cfs_err ignore;
        if (!strcmp(p, pool) && netaddr_ipv4_parse(ip, &b, &ignore) == 0 && a == b) {
            snprintf(who, len, "%s", all[i].name);
            found = 1;
        }
        free(p);
        free(ip);
    }
    free(all);
    return found;
}

/* The EIP's address in pool (name) of r's zone: want (fixed, or "auto"
 * keeping keep when it is still free); 0 and *out, or -1 and why. */
static int choose_ip(struct cfs_store *st, const struct cfs_res *r, const char *pool,
                     const char *want, const char *keep, uint32_t *out, struct cfs_err *err)
{
    const struct cfs_kind *kp = layout_kind(store_layout(st), "eip-pool");
    struct cfs_res pres;
    struct pool_info p;
    char who[CFS_NAME_MAX + 1];
    uint32_t a;
    int t;
    if (!kp || store_res_find(st, r->parent, kp, pool, &pres, err) < 0)
        return -1;
    if (pool_load(st, pres.id, NULL, NULL, NULL, &p, err) < 0)
        return -1;
    if (!p.ok)
        return cfs_err_set(err, EINVAL, "pool %s has no cidr and range yet", pool);
    if (strcmp(want, "auto")) {
        if (netaddr_ipv4_parse(want, &a, err) < 0)
            return -1;
        if (a < p.first || a > p.last) {
            char f[CFS_IPV4_LEN], l[CFS_IPV4_LEN];
            netaddr_ipv4_format(p.first, f);
            netaddr_ipv4_format(p.last, l);
            return cfs_err_set(err, EINVAL, "ip: %s is outside pool %s's range %s-%s", want,
                               pool, f, l);
        }
        if ((t = ip_taken(st, r->parent, pool, r->id, a, who, sizeof(who), err)) != 0)
            return t < 0 ? -1 : cfs_err_set(err, EEXIST, "ip: %s is already held by eip %s",
                                            want, who);
        *out = a;
        return 0;
    }
    struct cfs_err ignore;
    if (keep[0] && netaddr_ipv4_parse(keep, &a, &ignore) == 0 && a >= p.first && a <= p.last &&
        ip_taken(st, r->parent, pool, r->id, a, who, sizeof(who), err) == 0) {
        *out = a;
        return 0;
    }
    for (uint64_t x = p.first; x <= p.last; x++) {
        if ((t = ip_taken(st, r->parent, pool, r->id, (uint32_t)x, who, sizeof(who), err)) < 0)
            return -1;
        if (t == 0) {
            *out = (uint32_t)x;
            return 0;
        }
    }
    return cfs_err_set(err, ENOSPC, "pool %s: every address of its range is held", pool);
}

/* The NIC an eip's nic value names, with its address; -1 and why. */
static int nic_of(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_res *nic, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, "nic");
    if (store_ref_resolve(st, r, a, value, nic, err) < 0)
        return -1;
    char *ip = store_status_text(st, nic->id, "ip");
    bool has = ip[0] != '\0';
    free(ip);
    if (!has)
        return cfs_err_set(err, EINVAL, "nic: %s has no address (no subnet): nothing to "
                           "translate to", value);
    return 0;
}

/* EIPs other than r bound to NICs of vm. */
static int vm_eips(struct cfs_store *st, const struct cfs_res *r, int64_t vm, int *count,
                   struct cfs_err *err)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    *count = 0;
    if (store_res_all(st, r->kind, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (all[i].deleted || all[i].id == r->id)
            continue;
        char *v = store_attr_text(st, all[i].id, "nic");
        struct cfs_res nic;
        struct cfs_err ignore;
        if (v[0] && store_ref_resolve(st, &all[i], layout_attr(r->kind, "nic"), v, &nic,
                                      &ignore) == 0 && nic.parent == vm)
            (*count)++;
        free(v);
    }
    free(all);
    return 0;
}

int eip_nic(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    struct cfs_res nic;
    int count = 0;
    if (!value[0])
        return 0;
    char *ip = store_status_text(st, r->id, "ip");
    bool has = ip[0] != '\0';
    free(ip);
    if (!has)
        return cfs_err_set(err, EINVAL, "eip %s has no address yet: write its pool first",
                           r->name);
    if (nic_of(st, r, value, &nic, err) < 0 || vm_eips(st, r, nic.parent, &count, err) < 0)
        return -1;
    if (count >= CFS_EIPS_PER_VM)
        return cfs_err_set(err, EDQUOT, "nic: the VM of %s already has %d EIPs (at most %d "
                           "IPv4 EIPs per VM)", value, count, CFS_EIPS_PER_VM);
    return 0;
}

int eip_pool(struct cfs_store *st, const struct cfs_res *r, const char *value,
                    struct cfs_err *err)
{
    char *cur = store_attr_text(st, r->id, "pool");
    char *nic = store_attr_text(st, r->id, "nic");
    char *ip = store_attr_text(st, r->id, "ip");
    char *keep = store_status_text(st, r->id, "ip");
    uint32_t a;
    int rc = 0;
    if (strcmp(cur, value) && nic[0])
        rc = cfs_err_set(err, EBUSY, "eip %s is bound to %s: unbind it (write nic empty) to "
                         "change its pool", r->name, nic);
    else if (value[0])
        rc = choose_ip(st, r, value, ip, strcmp(cur, value) ? "" : keep, &a, err);
    free(cur);
    free(nic);
    free(ip);
    free(keep);
    return rc;
}

int eip_ip(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    char *pool = store_attr_text(st, r->id, "pool");
    char *nic = store_attr_text(st, r->id, "nic");
    char *keep = store_status_text(st, r->id, "ip");
    uint32_t a;
    int rc = 0;
    if (nic[0] && strcmp(value, "auto") && strcmp(value, keep))
        rc = cfs_err_set(err, EBUSY, "eip %s is bound to %s: unbind it to change its address",
                         r->name, nic);
    else if (pool[0])
        rc = choose_ip(st, r, pool, value, keep, &a, err);
    free(pool);
    free(nic);
    free(keep);
    return rc;
}

/* Whether a live EIP names pool p (its cidr and range are then fixed). */
static int pool_used(struct cfs_store *st, const struct cfs_res *p, char *who, size_t len,
                     struct cfs_err *err)
{
    const struct cfs_kind *ke = layout_kind(store_layout(st), "eip");
    struct cfs_res *all = NULL;
    size_t n = 0;
    int found = 0;
    if (!ke || store_res_all(st, ke, &all, &n, err) < 0)
        return ke ? -1 : 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (all[i].deleted || all[i].parent != p->parent)
            continue;
        char *v = store_attr_text(st, all[i].id, "pool");
        if (!strcmp(v, p->name)) {
            snprintf(who, len, "%s", all[i].name);
            found = 1;
        }
        free(v);
    }
    free(all);
    return found;
}

static int pool_attr(struct cfs_store *st, const struct cfs_res *r, const char *name,
                     const char *value, struct cfs_err *err)
{
    bool cidr = !strcmp(name, "cidr"), gw = !strcmp(name, "gateway"),
         range = !strcmp(name, "range");
    struct pool_info p;
    char who[CFS_NAME_MAX + 1];
    if (pool_load(st, r->id, cidr ? value : NULL, gw ? value : NULL, range ? value : NULL, &p,
                  err) < 0)
        return -1;
    if (cidr || range) {
        char *cur = store_attr_text(st, r->id, name);
        bool same = !strcmp(cur, value);
        free(cur);
        int used = same ? 0 : pool_used(st, r, who, sizeof(who), err);
        if (used < 0)
            return -1;
        if (used)
            return cfs_err_set(err, EBUSY, "%s: eip %s takes its address from pool %s; fixed "
                               "while EIPs use it", name, who, r->name);
    }
    return 0;
}

int eip_pool_cidr(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    return pool_attr(st, r, "cidr", value, err);
}

int eip_pool_gateway(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err)
{
    return pool_attr(st, r, "gateway", value, err);
}

int eip_pool_range(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    return pool_attr(st, r, "range", value, err);
}

int eip_applied(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                struct cfs_err *err)
{
    char *pool = store_attr_text(st, r->id, "pool");
    char *ip = store_attr_text(st, r->id, "ip");
    char *keep = store_status_text(st, r->id, "ip");
    char *nic = store_attr_text(st, r->id, "nic");
    char *state = store_status_text(st, r->id, "state");
    char got[CFS_IPV4_LEN] = "";
    uint32_t addr;
    struct cfs_err why;
    int rc = 0;
    if (pool[0] && choose_ip(st, r, pool, ip, keep, &addr, &why) == 0)
        netaddr_ipv4_format(addr, got);
    if (strcmp(got, keep))
        rc = store_status_set(st, r, "ip", got, actor, err);
    if (rc == 0 && (!state[0] || (!nic[0] && strcmp(state, "unbound"))))
        rc = store_status_set(st, r, "state", nic[0] ? "pending" : "unbound", actor, err);
    else if (rc == 0 && nic[0] && !strcmp(state, "unbound"))
        rc = store_status_set(st, r, "state", "pending", actor, err);
    free(pool);
    free(ip);
    free(keep);
    free(nic);
    free(state);
    return rc < 0 ? -1 : 0;
}
