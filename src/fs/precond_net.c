/* precond_net.c: the network kinds' rules and a NIC's address allocation
 * (see precond_net.h).
 *
 * Addresses: a subnet's NICs are the live NICs whose internal status
 * _subnet holds the subnet's UUID; their status ip values are the taken
 * addresses, with the subnet's gateway.  The checks and the allocation run
 * inside the mount's write batch (BEGIN IMMEDIATE), so what they read is
 * what is committed with the write.
 */
#include "precond_net.h"
#include "precond_secgroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "netaddr.h"
#include "network.h"
#include "status_keys.h"

struct subnet_info {
    struct cfs_res res;
    bool has_cidr;
    struct cfs_cidr cidr;
    uint32_t gateway;
};

static bool is_active(const char *state)
{
    return state[0] && strcmp(state, "stopped") && strcmp(state, "error");
}

static uint32_t first_host(const struct cfs_cidr *c)
{
    return c->prefix >= 31 ? c->net : c->net + 1;
}

static uint32_t broadcast(const struct cfs_cidr *c)
{
    return c->net | ~netaddr_mask(c->prefix);
}

/* The subnet's cidr and gateway; gateway_value/cidr_value override the stored ones (NULL: stored). */
static void subnet_load(struct cfs_store *st, const struct cfs_res *s, const char *cidr_value,
                        const char *gateway_value, struct subnet_info *out)
{
    struct cfs_err ignore;
    char *cidr = cidr_value ? strdup(cidr_value) : store_attr_text(st, s->id, "cidr");
    char *gw = gateway_value ? strdup(gateway_value) : store_attr_text(st, s->id, "gateway");
    memset(out, 0, sizeof(*out));
    out->res = *s;
    if (cidr && cidr[0] && netaddr_cidr_parse(cidr, &out->cidr, &ignore) == 0) {
        out->has_cidr = true;
        if (!gw || !gw[0] || !strcmp(gw, "auto") || netaddr_ipv4_parse(gw, &out->gateway, &ignore) < 0)
            out->gateway = first_host(&out->cidr);
    }
    free(cidr);
    free(gw);
}

/* Addresses held in subnet s by NICs other than except (sorted, malloc'd). */
static int taken_ips(struct cfs_store *st, const struct cfs_res *s, int64_t except,
                     uint32_t **out, size_t *n, struct cfs_err *err)
{
    const struct cfs_kind *kn = layout_kind(store_layout(st), "nic");
    struct cfs_res *nics = NULL;
    size_t count = 0;
    *out = NULL;
    *n = 0;
    if (!kn || store_res_all(st, kn, &nics, &count, err) < 0)
        return kn ? -1 : 0;
    uint32_t *ips = calloc(count ? count : 1, sizeof(*ips));
    if (!ips) {
        free(nics);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        if (nics[i].deleted || nics[i].id == except)
            continue;
        char *sub = store_status_text(st, nics[i].id, CFS_ST_SUBNET);
        char *ip = store_status_text(st, nics[i].id, "ip");
        struct cfs_err ignore;
        uint32_t a;
        if (!strcmp(sub, s->uuid) && netaddr_ipv4_parse(ip, &a, &ignore) == 0)
            ips[(*n)++] = a;
        free(sub);
        free(ip);
    }
    free(nics);
    for (size_t i = 1; i < *n; i++)     /* insertion sort: a subnet's NICs */
        for (size_t j = i; j > 0 && ips[j - 1] > ips[j]; j--) {
            uint32_t t = ips[j];
            ips[j] = ips[j - 1];
            ips[j - 1] = t;
        }
    *out = ips;
    return 0;
}

static bool in_list(const uint32_t *ips, size_t n, uint32_t a)
{
    for (size_t i = 0; i < n; i++)
        if (ips[i] == a)
            return true;
    return false;
}

/* The NIC's address in subnet s: want (a fixed address, or "auto" keeping
 * keep when it is still free).  0 and *out, or -1 with the reason. */
static int choose_ip(struct cfs_store *st, const struct subnet_info *s, int64_t nic,
                     const char *want, const char *keep, uint32_t *out, struct cfs_err *err)
{
    uint32_t *ips = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    char cidr[CFS_CIDR_LEN];
    int rc = -1;
    netaddr_cidr_format(&s->cidr, cidr);
    if (taken_ips(st, &s->res, nic, &ips, &n, err) < 0)
        return -1;
    uint32_t a;
    if (strcmp(want, "auto")) {
        if (netaddr_ipv4_parse(want, &a, err) < 0)
            goto cleanup;
        if (!netaddr_cidr_host(&s->cidr, a)) {
            cfs_err_set(err, EINVAL, "ip %s is %s subnet %s (%s)", want,
                        netaddr_cidr_contains(&s->cidr, a) ? "the network or broadcast address of"
                                                             : "outside",
                        s->res.name, cidr);
            goto cleanup;
        }
        if (a == s->gateway) {
            cfs_err_set(err, EINVAL, "ip %s is the gateway of subnet %s", want, s->res.name);
            goto cleanup;
        }
        if (in_list(ips, n, a)) {
            cfs_err_set(err, EEXIST, "ip %s is already held by another NIC of subnet %s", want,
                        s->res.name);
            goto cleanup;
        }
        *out = a;
        rc = 0;
        goto cleanup;
    }
    if (keep[0] && netaddr_ipv4_parse(keep, &a, &ignore) == 0 && netaddr_cidr_host(&s->cidr, a) &&
        a != s->gateway && !in_list(ips, n, a)) {
        *out = a;
        rc = 0;
        goto cleanup;
    }
    for (uint32_t c = first_host(&s->cidr); c < broadcast(&s->cidr); c++) {
        if (c != s->gateway && netaddr_cidr_host(&s->cidr, c) && !in_list(ips, n, c)) {
            *out = c;
            rc = 0;
            goto cleanup;
        }
    }
    cfs_err_set(err, ENOSPC, "subnet %s (%s) has no free address", s->res.name, cidr);
cleanup:
    free(ips);
    return rc;
}

/* ---- VPC and subnet ---- */

struct each_ctx {
    struct cfs_store *st;
    const struct cfs_res *self;
    struct cfs_cidr cidr;
    const char *conflict;
    int code;
    char name[CFS_NAME_MAX + 1];
};

/* A sibling subnet overlapping ctx->cidr. */
static int overlap_cb(const struct cfs_res *r, void *arg)
{
    struct each_ctx *c = arg;
    struct subnet_info s;
    if (r->id == c->self->id || r->deleted)
        return 0;
    subnet_load(c->st, r, NULL, NULL, &s);
    if (s.has_cidr && (netaddr_cidr_contains(&s.cidr, c->cidr.net) ||
                       netaddr_cidr_contains(&c->cidr, s.cidr.net))) {
        snprintf(c->name, sizeof(c->name), "%s", r->name);
        return 1;
    }
    return 0;
}

/* A subnet not inside ctx->cidr. */
static int outside_cb(const struct cfs_res *r, void *arg)
{
    struct each_ctx *c = arg;
    struct subnet_info s;
    subnet_load(c->st, r, NULL, NULL, &s);
    if (s.has_cidr && (s.cidr.prefix < c->cidr.prefix || !netaddr_cidr_contains(&c->cidr, s.cidr.net))) {
        snprintf(c->name, sizeof(c->name), "%s", r->name);
        return 1;
    }
    return 0;
}

static int vpc_cidr(struct cfs_store *st, const struct cfs_res *r, const char *value,
                    struct cfs_err *err)
{
    struct each_ctx c = {.st = st, .self = r};
    const struct cfs_kind *ks = layout_kind(store_layout(st), "subnet");
    if (netaddr_cidr_parse(value, &c.cidr, err) < 0)
        return -1;
    /* store_res_list stops at a callback's non-zero result; c.name says why. */
    if (store_res_list(st, r->id, ks, outside_cb, &c, err) < 0)
        return -1;
    if (c.name[0])
        return cfs_err_set(err, EBUSY, "vpc %s: subnet %s would lie outside %s; change or "
                           "remove it first", r->name, c.name, value);
    return 0;
}

static int subnet_nic_count(struct cfs_store *st, const struct cfs_res *s, char *one, size_t len,
                            struct cfs_err *err)
{
    const struct cfs_kind *kn = layout_kind(store_layout(st), "nic");
    struct cfs_res *nics = NULL;
    size_t count = 0;
    int n = 0;
    if (store_res_all(st, kn, &nics, &count, err) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (nics[i].deleted)
            continue;
        char *sub = store_status_text(st, nics[i].id, CFS_ST_SUBNET);
        if (!strcmp(sub, s->uuid)) {
            struct cfs_res vm;
            struct cfs_err ignore;
            if (!n++ && store_res_get(st, nics[i].parent, &vm, &ignore) == 0)
                snprintf(one, len, "%s of vm %s", nics[i].name, vm.name);
        }
        free(sub);
    }
    free(nics);
    return n;
}

static int subnet_cidr(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    struct each_ctx c = {.st = st, .self = r};
    struct cfs_res vpc;
    struct cfs_cidr vc;
    char one[2 * CFS_NAME_MAX + 16] = "";
    struct subnet_info s;
    char *cur = store_attr_text(st, r->id, "cidr");
    bool same = !strcmp(cur, value);
    free(cur);
    if (same)
        return 0;
    int used = subnet_nic_count(st, r, one, sizeof(one), err);
    if (used < 0)
        return -1;
    if (used)
        return cfs_err_set(err, EBUSY, "subnet %s has %d NIC(s) (%s); remove them to change "
                           "its cidr", r->name, used, one);
    if (!value[0])
        return 0;
    if (netaddr_cidr_parse(value, &c.cidr, err) < 0)
        return -1;
    if (c.cidr.prefix > 30)
        return cfs_err_set(err, EINVAL, "subnet %s: %s holds no address for a NIC besides the "
                           "gateway; use a prefix of 30 or less", r->name, value);
    if (store_res_get(st, r->parent, &vpc, err) < 0)
        return -1;
    char *vcidr = store_attr_text(st, vpc.id, "cidr");
    int bad = netaddr_cidr_parse(vcidr, &vc, err) < 0 || c.cidr.prefix < vc.prefix ||
              !netaddr_cidr_contains(&vc, c.cidr.net);
    if (bad)
        cfs_err_set(err, EINVAL, "subnet %s: %s is not inside vpc %s (%s)", r->name, value,
                    vpc.name, vcidr);
    free(vcidr);
    if (bad)
        return -1;
    if (store_res_list(st, r->parent, r->kind, overlap_cb, &c, err) < 0)
        return -1;
    if (c.name[0])
        return cfs_err_set(err, EEXIST, "subnet %s: %s overlaps sibling subnet %s", r->name,
                           value, c.name);
    subnet_load(st, r, value, NULL, &s);
    char *gw = store_attr_text(st, r->id, "gateway");
    int rc = 0;
    if (strcmp(gw, "auto") && !netaddr_cidr_host(&s.cidr, s.gateway))
        rc = cfs_err_set(err, EINVAL, "subnet %s: gateway %s is not a host address of %s",
                         r->name, gw, value);
    free(gw);
    return rc;
}

static int subnet_gateway(struct cfs_store *st, const struct cfs_res *r, const char *value,
                          struct cfs_err *err)
{
    struct subnet_info s;
    char cidr[CFS_CIDR_LEN];
    subnet_load(st, r, NULL, value, &s);
    if (!s.has_cidr)
        return 0;   /* checked when cidr is written */
    netaddr_cidr_format(&s.cidr, cidr);
    if (!netaddr_cidr_host(&s.cidr, s.gateway))
        return cfs_err_set(err, EINVAL, "subnet %s: gateway %s is not a host address of %s",
                           r->name, value, cidr);
    uint32_t *ips = NULL;
    size_t n = 0;
    if (taken_ips(st, r, 0, &ips, &n, err) < 0)
        return -1;
    bool taken = in_list(ips, n, s.gateway);
    free(ips);
    if (taken)
        return cfs_err_set(err, EEXIST, "subnet %s: %s is held by a NIC", r->name, value);
    return 0;
}

static int subnet_routes(struct cfs_store *st, const struct cfs_res *r, const char *value,
                         struct cfs_err *err)
{
    struct subnet_info s;
    subnet_load(st, r, NULL, NULL, &s);
    for (const char *p = value; s.has_cidr && *p;) {
        const char *via = strstr(p, " via ");
        const char *end = strchr(p, '\n');
        char hop[CFS_IPV4_LEN];
        uint32_t a;
        if (!via)
            break;
        size_t l = end ? (size_t)(end - via - 5) : strlen(via + 5);
        snprintf(hop, sizeof(hop), "%.*s", (int)l, via + 5);
        if (netaddr_ipv4_parse(hop, &a, err) < 0)
            return -1;
        if (!netaddr_cidr_host(&s.cidr, a))
            return cfs_err_set(err, EINVAL, "subnet %s: route via %s: not a host address of "
                               "the subnet", r->name, hop);
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

/* ---- NIC ---- */

static char *vm_state(struct cfs_store *st, const struct cfs_res *nic)
{
    return store_status_text(st, nic->parent, "state");
}

/* The NIC's subnet and address with subnet_value/ip_value in place of the stored ones. */
static int nic_check(struct cfs_store *st, const struct cfs_res *r, const char *subnet_value,
                     const char *ip_value, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, "subnet");
    char *subnet = subnet_value ? strdup(subnet_value) : store_attr_text(st, r->id, "subnet");
    char *ip = ip_value ? strdup(ip_value) : store_attr_text(st, r->id, "ip");
    char *keep = store_status_text(st, r->id, "ip");
    struct cfs_res sres;
    struct subnet_info s;
    uint32_t got;
    int rc = 0;
    if (subnet && subnet[0]) {
        if (store_ref_resolve(st, r, a, subnet, &sres, err) < 0) {
            rc = -1;
        } else {
            subnet_load(st, &sres, NULL, NULL, &s);
            if (!s.has_cidr)
                rc = cfs_err_set(err, EINVAL, "subnet %s has no cidr yet", subnet);
            else
                rc = choose_ip(st, &s, r->id, ip, keep, &got, err);
        }
    }
    free(subnet);
    free(ip);
    free(keep);
    return rc;
}

static int nic_subnet(struct cfs_store *st, const struct cfs_res *r, const char *value,
                      struct cfs_err *err)
{
    char *cur = store_attr_text(st, r->id, "subnet");
    char *state = vm_state(st, r);
    int rc = 0;
    if (cur[0] && strcmp(cur, value) && is_active(state))
        rc = cfs_err_set(err, EBUSY, "nic %s: its vm is %s; stop it to move the NIC to "
                         "another subnet", r->name, state);
    free(cur);
    free(state);
    return rc < 0 ? rc : nic_check(st, r, value, NULL, err);
}

static int nic_ip(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    return nic_check(st, r, NULL, value, err);
}

static int mac_taken(struct cfs_store *st, const struct cfs_res *r, const char *mac, char *who,
                     size_t len, struct cfs_err *err)
{
    struct cfs_res *nics = NULL;
    size_t n = 0;
    int found = 0;
    if (store_res_all(st, r->kind, &nics, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && !found; i++) {
        if (nics[i].deleted || nics[i].id == r->id)
            continue;
        char *m = store_status_text(st, nics[i].id, "mac");
        if (!strcmp(m, mac)) {
            snprintf(who, len, "%s", nics[i].name);
            found = 1;
        }
        free(m);
    }
    free(nics);
    return found;
}

static int nic_mac(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    char *cur = store_attr_text(st, r->id, "mac");
    char *state = vm_state(st, r);
    char who[CFS_NAME_MAX + 1];
    int rc = 0;
    if (strcmp(cur, value) && is_active(state))
        rc = cfs_err_set(err, EBUSY, "nic %s: its vm is %s; the MAC changes only while it is "
                         "stopped", r->name, state);
    else if (strcmp(value, "auto") && (rc = mac_taken(st, r, value, who, sizeof(who), err)) > 0)
        rc = cfs_err_set(err, EEXIST, "mac %s is already used by nic %s", value, who);
    free(cur);
    free(state);
    return rc < 0 ? -1 : 0;
}

/* A host's VXLAN address: unicast, not loopback, and no other host's. */
static int host_vtep(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err)
{
    uint32_t ip;
    struct cfs_err why;
    if (!value[0])
        return 0;
    if (netaddr_ipv4_parse(value, &ip, &why) < 0)
        return cfs_err_set(err, EINVAL, "vtep: %s", why.msg);
    if (ip == 0 || ip == 0xffffffffu || (ip >> 24) == 127 || (ip >> 28) == 0xe)
        return cfs_err_set(err, EINVAL, "vtep: %s is not a unicast address other hosts can "
                           "reach (no 0.0.0.0, loopback, multicast or broadcast)", value);
    const struct cfs_kind *kh = layout_kind(store_layout(st), "host");
    struct cfs_res *hosts = NULL;
    size_t n = 0;
    int rc = 0;
    if (!kh || store_res_all(st, kh, &hosts, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (hosts[i].id == r->id || hosts[i].deleted)
            continue;
        char *other = store_attr_text(st, hosts[i].id, "vtep");
        if (!strcmp(other, value))
            rc = cfs_err_set(err, EEXIST, "vtep: %s is host %s's", value, hosts[i].name);
        free(other);
    }
    free(hosts);
    return rc;
}

static const struct {
    const char *kind, *attr;
    int (*check)(struct cfs_store *, const struct cfs_res *, const char *, struct cfs_err *);
} rules[] = {
    {"host", "vtep", host_vtep},
    {"vpc", "cidr", vpc_cidr},
    {"subnet", "cidr", subnet_cidr},
    {"subnet", "gateway", subnet_gateway},
    {"subnet", "routes", subnet_routes},
    {"nic", "subnet", nic_subnet},
    {"nic", "ip", nic_ip},
    {"nic", "mac", nic_mac},
};

int net_precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strcmp(rules[i].kind, r->kind->name) && !strcmp(rules[i].attr, a->name))
            return rules[i].check(st, r, value, err);
    return 0;
}

int net_precond_create(struct cfs_store *st, const struct cfs_res *parent,
                       const struct cfs_kind *k, struct cfs_err *err)
{
    int64_t n = 0;
    if (!parent)
        return 0;
    if (store_res_count(st, parent->id, k, &n, err) < 0)
        return -1;
    if (n >= CFS_NICS_MAX)
        return cfs_err_set(err, EDQUOT, "nics: at most %d NICs per vm", CFS_NICS_MAX);
    return 0;
}

int net_precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    char one[2 * CFS_NAME_MAX + 16] = "";
    int n = subnet_nic_count(st, r, one, sizeof(one), err);
    if (n < 0)
        return -1;
    if (n)
        return cfs_err_set(err, EBUSY, "subnet %s still has %d NIC(s) (%s); remove them first",
                           r->name, n, one);
    return 0;
}

/* A fresh locally administered MAC in QEMU's 52:54:00 range, unused. */
static int new_mac(struct cfs_store *st, const struct cfs_res *r, char out[CFS_MAC_LEN],
                   struct cfs_err *err)
{
    char who[CFS_NAME_MAX + 1];
    for (int tries = 0; tries < 16; tries++) {
        unsigned char m[6] = {0x52, 0x54, 0x00, 0, 0, 0};
        if (getrandom(m + 3, 3, 0) != 3)
            return cfs_err_set(err, EIO, "getrandom failed");
        netaddr_mac_format(m, out);
        int t = mac_taken(st, r, out, who, sizeof(who), err);
        if (t <= 0)
            return t;
    }
    return cfs_err_set(err, EEXIST, "no free MAC address found");
}

static int nic_check(struct cfs_store *st, const struct cfs_res *r, const char *subnet_value,
                     const char *ip_value, struct cfs_err *err);

/* A new VM of a zone with a default network gets NIC eth0 in it (the
 * seeds: a VM is made with its NIC); without a free address, eth0 stays
 * unconnected and says why. */
static int vm_default_nic(struct cfs_store *st, const struct cfs_res *vm,
                          const struct cfs_actor *actor, struct cfs_err *err)
{
    const struct cfs_layout *l = store_layout(st);
    const struct cfs_kind *kn = layout_kind(l, "nic"), *kv = layout_kind(l, "vpc"),
                          *ks = layout_kind(l, "subnet");
    struct cfs_res cluster, vpc, subnet, nic;
    struct cfs_err ignore;
    if (!kn || !kv || !ks || store_res_get(st, vm->parent, &cluster, &ignore) < 0 ||
        store_res_find(st, cluster.parent, kv, "default", &vpc, &ignore) < 0 ||
        store_res_find(st, vpc.id, ks, "default", &subnet, &ignore) < 0)
        return 0;
    char *cidr = store_attr_text(st, subnet.id, "cidr");
    bool ready = cidr[0] != '\0';
    free(cidr);
    if (!ready)
        return 0;
    if (store_res_create(st, vm->id, kn, "eth0", vm->uid, vm->gid, actor, &nic, err) < 0 ||
        net_applied(st, &nic, NULL, actor, err) < 0)
        return -1;
    const struct cfs_attr_def *a = layout_attr(kn, "subnet");
    if (nic_check(st, &nic, "default/default", NULL, &ignore) < 0)
        return store_status_set(st, &nic, "error", ignore.msg, actor, err);
    if (store_attr_set(st, &nic, a, "default/default", actor, NULL, err) < 0)
        return -1;
    return net_applied(st, &nic, a, actor, err);
}

int net_delete_parts(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                     struct cfs_err *err)
{
    const struct cfs_kind *kn = layout_kind(store_layout(st), "nic");
    struct cfs_res *nics = NULL;
    size_t n = 0;
    int rc = 0;
    if (sg_delete_parts(st, r, actor, err) < 0)     /* a zone's groups, a group's rules */
        return -1;
    if (!kn || kn->parent != r->kind)
        return 0;
    if (store_res_all(st, kn, &nics, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (nics[i].parent == r->id && !nics[i].deleted)
            rc = store_res_delete(st, &nics[i], actor, err);
    free(nics);
    return rc;
}

/* A NIC's status ip, mac and _subnet follow its spec. */
static int nic_applied(struct cfs_store *st, const struct cfs_res *r,
                       const struct cfs_actor *actor, struct cfs_err *err)
{
    char *mac = store_attr_text(st, r->id, "mac");
    char *cur_mac = store_status_text(st, r->id, "mac");
    char *subnet = store_attr_text(st, r->id, "subnet");
    char *ip = store_attr_text(st, r->id, "ip");
    char *keep = store_status_text(st, r->id, "ip");
    char got[CFS_IPV4_LEN] = "", mbuf[CFS_MAC_LEN];
    const char *uuid = "";
    struct cfs_res sres;
    struct subnet_info s;
    uint32_t addr;
    int rc = 0;
    if (strcmp(mac, "auto"))
        rc = store_status_set(st, r, "mac", mac, actor, err);
    else if (!cur_mac[0] && (rc = new_mac(st, r, mbuf, err)) == 0)
        rc = store_status_set(st, r, "mac", mbuf, actor, err);
    if (rc == 0 && subnet[0] &&
        store_ref_resolve(st, r, layout_attr(r->kind, "subnet"), subnet, &sres, err) == 0) {
        subnet_load(st, &sres, NULL, NULL, &s);
        if (s.has_cidr && choose_ip(st, &s, r->id, ip, keep, &addr, err) == 0) {
            netaddr_ipv4_format(addr, got);
            uuid = sres.uuid;
        }
    }
    if (rc == 0)
        rc = store_status_set(st, r, "ip", got, actor, err);
    char *was = store_status_text(st, r->id, CFS_ST_SUBNET);
    if (rc == 0 && was[0] && strcmp(was, uuid))
        rc = store_status_set(st, r, CFS_ST_SUBNET_WAS, was, actor, err);
    free(was);
    if (rc == 0)
        rc = store_status_set(st, r, CFS_ST_SUBNET, uuid, actor, err);
    char *state = store_status_text(st, r->id, "state");
    if (rc == 0 && !uuid[0])
        rc = store_status_set(st, r, "state", "unconnected", actor, err);
    else if (rc == 0 && (!state[0] || !strcmp(state, "unconnected")))
        rc = store_status_set(st, r, "state", "detached", actor, err);  /* the VM pass: attached */
    free(state);
    free(mac);
    free(cur_mac);
    free(subnet);
    free(ip);
    free(keep);
    return rc < 0 ? -1 : 0;
}

/* What follows an accepted write, by kind and attribute (NULL: the mkdir). */
static const struct {
    const char *kind, *attr;
    int (*apply)(struct cfs_store *, const struct cfs_res *, const struct cfs_actor *,
                 struct cfs_err *);
} applied_rules[] = {
    {"vm", NULL, vm_default_nic},
    {"zone", NULL, sg_zone_seed},       /* its default security group (precond_secgroup.c) */
    {"nic", NULL, nic_applied},
    {"nic", "subnet", nic_applied},
    {"nic", "ip", nic_applied},
    {"nic", "mac", nic_applied},
};

int net_applied(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                const struct cfs_actor *actor, struct cfs_err *err)
{
    const char *attr = a ? a->name : NULL;
    for (size_t i = 0; i < sizeof(applied_rules) / sizeof(applied_rules[0]); i++)
        if (!strcmp(applied_rules[i].kind, r->kind->name) &&
            (attr && applied_rules[i].attr ? !strcmp(applied_rules[i].attr, attr)
                                           : attr == applied_rules[i].attr))
            return applied_rules[i].apply(st, r, actor, err);
    return 0;
}
