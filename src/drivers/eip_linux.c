/* eip_linux.c: public IPs on Linux (see eip.h and PUBLIC IPS in cloudfs(7)).
 *
 *   outside ── uplink ─┐                         [netns cfs-vpc-UUID]
 *                      ├─ bridge cfspPOOL ── cfseVPC ═veth═ eip0   vpc0 ── VPC bridge
 *   other VPCs' cfse ──┘   (no address)                 EIPs/prefix     gateways
 *                                                        nft table ip cfs_eip:
 *                                                        DNAT EIP -> NIC, SNAT NIC -> EIP
 *
 * - One Linux bridge per pool on the host, without an address: the
 *   external segment.  The operator's uplink (the pool's uplink) is a
 *   port of it, and so is the external side of every VPC router holding
 *   EIPs of the pool.
 * - The VPC's router answers for its EIPs itself: they are addresses of
 *   its eip0 (with the pool's prefix), so ARP on the external segment is
 *   answered by the router's kernel, no proxy ARP and nothing in the
 *   host's own routing table (the host never routes a public address).
 *   Its default route goes via the pool's gateway.
 * - Translation happens in the router, where the private addresses live
 *   (two VPCs may use the same ones): nat prerouting DNATs EIP -> the NIC's
 *   address, nat postrouting SNATs the NIC's address -> its EIP on the way
 *   out; replies follow conntrack.  A filter forward chain lets out only
 *   the traffic of bound NICs and in only what was DNATed or belongs to a
 *   connection, so the default route opens nothing else; a bandwidth cap
 *   is an nftables limit per EIP and direction (excess is dropped).
 * - The whole table is replaced in one nft transaction (a file of
 *   "table; delete table; table {...}"), so a half-applied rule set never
 *   exists, and running it again repairs any drift (a flushed table).
 */
#include "eip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netfilter.h>

#include "netaddr.h"
#include "netlink.h"
#include "network.h"
#include "subprocess.h"

#define POOL_ALIAS "cfs-eip-pool:"
#define VETH_ALIAS "cfs-eip:"

static int hex11(const char *uuid, const char *prefix, char out[16])
{
    if (!netaddr_uuid_valid(uuid))
        return -1;
    char hex[33];
    size_t n = 0;
    for (const char *p = uuid; *p && n < 32; p++)
        if (*p != '-')
            hex[n++] = *p;
    hex[n] = '\0';
    snprintf(out, 16, "%s%.11s", prefix, hex);
    return 0;
}

int eip_pool_bridge_name(const char *pool_uuid, char out[16])
{
    return hex11(pool_uuid, "cfsp", out);
}

/* Run argv (NULL-terminated); 0 or -1 with the program's last stderr line. */
static int run(struct cfs_err *err, const char *const *argv)
{
    return spawn_run((char *const *)argv, NULL, NULL, 30, err);
}

static int links_of(const char *netns, struct nl_list *l, struct cfs_err *err)
{
    memset(l, 0, sizeof(*l));
    return nl_links(netns, l, err);
}

int eip_pool_ensure(const char *pool_uuid, const char *uplink, struct cfs_err *err)
{
    char br[16], alias[64];
    struct nl_list links;
    int ret = -1;
    if (eip_pool_bridge_name(pool_uuid, br) < 0)
        return cfs_err_set(err, EINVAL, "eip pool: bad UUID");
    snprintf(alias, sizeof(alias), POOL_ALIAS "%s", pool_uuid);
    if (links_of(NULL, &links, err) < 0)
        return -1;
    const struct nl_link *b = nl_link_named(&links, br);
    if (b && (strcmp(b->kind, "bridge") || strcmp(b->alias, alias))) {
        cfs_err_set(err, EEXIST, "eip pool: device %s exists and is not this pool's bridge", br);
        goto cleanup;
    }
    if (!b) {
        const char *add[] = {"ip", "link", "add", br, "type", "bridge", NULL};
        const char *al[] = {"ip", "link", "set", br, "alias", alias, NULL};
        if (run(err, add) < 0 || run(err, al) < 0)
            goto cleanup;
        char path[128];
        snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", br);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {      /* the external segment gets no link-local address of the host */
            if (write(fd, "1", 1) != 1)
                (void)0;
            close(fd);
        }
    }
    const char *up[] = {"ip", "link", "set", br, "up", NULL};
    if (run(err, up) < 0)
        goto cleanup;
    if (uplink && uplink[0]) {
        const struct nl_link *u = nl_link_named(&links, uplink);
        b = nl_link_named(&links, br);
        if (!u) {
            cfs_err_set(err, ENOENT, "uplink: no network interface %s on this host", uplink);
            goto cleanup;
        }
        if (!b || u->master != b->index) {
            const char *m[] = {"ip", "link", "set", uplink, "master", br, "up", NULL};
            if (run(err, m) < 0)
                goto cleanup;
        }
    }
    ret = 0;
cleanup:
    nl_list_free(&links);
    return ret;
}

int eip_pool_remove(const char *pool_uuid, struct cfs_err *err)
{
    char br[16], alias[64];
    struct nl_list links;
    int ret = 0;
    if (eip_pool_bridge_name(pool_uuid, br) < 0)
        return 0;
    snprintf(alias, sizeof(alias), POOL_ALIAS "%s", pool_uuid);
    if (links_of(NULL, &links, err) < 0)
        return -1;
    const struct nl_link *b = nl_link_named(&links, br);
    if (b && !strcmp(b->alias, alias))
        ret = nl_link_del(NULL, b->index, err);
    nl_list_free(&links);
    return ret;
}

bool eip_router_present(const char *vpc_uuid)
{
    char ns[64];
    snprintf(ns, sizeof(ns), "cfs-vpc-%s", vpc_uuid);
    return netaddr_uuid_valid(vpc_uuid) && netns_exists(ns, NULL);
}

/* The nftables file of r: the table replaced as one transaction. */
static int write_table(const struct cfs_eip_router *r, const char *path, struct cfs_err *err)
{
    FILE *f = fopen(path, "we");
    char a[CFS_IPV4_LEN], p[CFS_IPV4_LEN];
    if (!f)
        return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    fprintf(f, "table ip " CFS_EIP_TABLE " {}\ndelete table ip " CFS_EIP_TABLE "\n"
               "table ip " CFS_EIP_TABLE " {\n");
    fprintf(f, "  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n");
    for (int i = 0; i < r->n; i++) {
        netaddr_ipv4_format(r->rules[i].eip, a);
        netaddr_ipv4_format(r->rules[i].private_ip, p);
        fprintf(f, "    iifname \"" CFS_EIP_ROUTER_IF "\" ip daddr %s dnat to %s\n", a, p);
    }
    fprintf(f, "  }\n  chain post {\n    type nat hook postrouting priority srcnat; "
               "policy accept;\n");
    for (int i = 0; i < r->n; i++) {
        bool first = true;      /* a NIC with several EIPs leaves by its first */
        for (int j = 0; j < i; j++)
            first = first && r->rules[j].private_ip != r->rules[i].private_ip;
        if (!first)
            continue;
        netaddr_ipv4_format(r->rules[i].eip, a);
        netaddr_ipv4_format(r->rules[i].private_ip, p);
        fprintf(f, "    oifname \"" CFS_EIP_ROUTER_IF "\" ip saddr %s snat to %s\n", p, a);
    }
    fprintf(f, "  }\n  chain guard {\n    type filter hook forward priority filter; "
               "policy accept;\n");
    for (int i = 0; i < r->n; i++) {
        if (!r->rules[i].mbit)
            continue;
        long long bytes = (long long)r->rules[i].mbit * 125000LL;
        long long burst = bytes / 10 > 16000 ? bytes / 10 : 16000;
        netaddr_ipv4_format(r->rules[i].private_ip, p);
        netaddr_ipv4_format(r->rules[i].eip, a);
        fprintf(f, "    iifname \"" CFS_EIP_ROUTER_IF "\" ct original ip daddr %s "
                   "limit rate over %lld bytes/second burst %lld bytes counter drop\n", a, bytes, burst);
        fprintf(f, "    oifname \"" CFS_EIP_ROUTER_IF "\" ip saddr %s "
                   "limit rate over %lld bytes/second burst %lld bytes counter drop\n", p, bytes, burst);
    }
    fprintf(f, "    iifname \"" CFS_EIP_ROUTER_IF "\" ct status dnat accept\n"
               "    iifname \"" CFS_EIP_ROUTER_IF "\" ct state established,related accept\n"
               "    iifname \"" CFS_EIP_ROUTER_IF "\" drop\n");
    for (int i = 0; i < r->n; i++) {
        netaddr_ipv4_format(r->rules[i].private_ip, p);
        fprintf(f, "    oifname \"" CFS_EIP_ROUTER_IF "\" ip saddr %s accept\n", p);
    }
    fprintf(f, "    oifname \"" CFS_EIP_ROUTER_IF "\" drop\n  }\n}\n");
    if (fclose(f) != 0)
        return cfs_err_set(err, EIO, "%s: write failed", path);
    return 0;
}

/* The router's external side, eip0, joined to the pool's bridge. */
static int ensure_veth(const struct cfs_eip_router *r, const char *ns, const char *host,
                       struct cfs_err *err)
{
    char br[16], alias[64];
    struct nl_list links, inner;
    int ret = -1;
    memset(&inner, 0, sizeof(inner));
    if (eip_pool_bridge_name(r->pool, br) < 0)
        return cfs_err_set(err, EINVAL, "eip pool: bad UUID");
    snprintf(alias, sizeof(alias), VETH_ALIAS "%s", r->vpc);
    if (links_of(NULL, &links, err) < 0)
        return -1;
    if (links_of(ns, &inner, err) < 0)
        goto cleanup;
    const struct nl_link *h = nl_link_named(&links, host);
    const struct nl_link *in = nl_link_named(&inner, CFS_EIP_ROUTER_IF);
    if (h && (strcmp(h->kind, "veth") || strcmp(h->alias, alias))) {
        cfs_err_set(err, EEXIST, "device %s exists and is not VPC %s's external side", host,
                    r->vpc);
        goto cleanup;
    }
    if (h && !in) {         /* half of a pair: remade */
        if (nl_link_del(NULL, h->index, err) < 0)
            goto cleanup;
        h = NULL;
    }
    if (!h) {
        const char *add[] = {"ip", "link", "add", host, "type", "veth", "peer", "name",
                             CFS_EIP_ROUTER_IF, "netns", ns, NULL};
        const char *al[] = {"ip", "link", "set", host, "alias", alias, NULL};
        if (run(err, add) < 0 || run(err, al) < 0)
            goto cleanup;
    }
    const char *m[] = {"ip", "link", "set", host, "master", br, "up", NULL};
    const char *up[] = {"ip", "-n", ns, "link", "set", CFS_EIP_ROUTER_IF, "up", NULL};
    if (run(err, m) < 0 || run(err, up) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    nl_list_free(&links);
    nl_list_free(&inner);
    return ret;
}

/* eip0's addresses: exactly the EIPs of r with the pool's prefix. */
static int sync_addrs(const struct cfs_eip_router *r, const char *ns, struct cfs_err *err)
{
    struct nl_list links, addrs;
    int ret = -1;
    char a[CFS_IPV4_LEN + 4];
    memset(&addrs, 0, sizeof(addrs));
    if (links_of(ns, &links, err) < 0)
        return -1;
    if (nl_addrs(ns, &addrs, err) < 0)
        goto cleanup;
    const struct nl_link *l = nl_link_named(&links, CFS_EIP_ROUTER_IF);
    if (!l) {
        cfs_err_set(err, ENOENT, "router %s has no " CFS_EIP_ROUTER_IF, ns);
        goto cleanup;
    }
    for (int i = 0; i < addrs.n; i++) {
        const struct nl_addr *x = NL_AT(&addrs, struct nl_addr, i);
        bool want = false;
        for (int j = 0; j < r->n; j++)
            want = want || (x->addr == r->rules[j].eip && x->prefix == r->prefix);
        if (x->index != l->index || want)
            continue;
        char ip[CFS_IPV4_LEN];
        netaddr_ipv4_format(x->addr, ip);
        snprintf(a, sizeof(a), "%s/%d", ip, x->prefix);
        const char *del[] = {"ip", "-n", ns, "addr", "del", a, "dev", CFS_EIP_ROUTER_IF, NULL};
        if (run(err, del) < 0)
            goto cleanup;
    }
    for (int j = 0; j < r->n; j++) {
        bool have = false;
        for (int i = 0; i < addrs.n; i++) {
            const struct nl_addr *x = NL_AT(&addrs, struct nl_addr, i);
            have = have || (x->index == l->index && x->addr == r->rules[j].eip &&
                            x->prefix == r->prefix);
        }
        if (have)
            continue;
        char ip[CFS_IPV4_LEN];
        netaddr_ipv4_format(r->rules[j].eip, ip);
        snprintf(a, sizeof(a), "%s/%d", ip, r->prefix);
        const char *add[] = {"ip", "-n", ns, "addr", "add", a, "dev", CFS_EIP_ROUTER_IF, NULL};
        if (run(err, add) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    nl_list_free(&links);
    nl_list_free(&addrs);
    return ret;
}

/* No EIP left: the external side and the table go. */
static int router_clear(const char *ns, const char *host, const char *vpc, struct cfs_err *err)
{
    struct nl_list links;
    char alias[64];
    struct nl_chain c;
    snprintf(alias, sizeof(alias), VETH_ALIAS "%s", vpc);
    if (links_of(NULL, &links, err) < 0)
        return -1;
    const struct nl_link *h = nl_link_named(&links, host);
    int ret = h && !strcmp(h->alias, alias) ? nl_link_del(NULL, h->index, err) : 0;
    nl_list_free(&links);
    if (ret == 0 && nl_nft_chain(ns, NFPROTO_IPV4, CFS_EIP_TABLE, "pre", &c, err) == 0 &&
        c.exists) {
        const char *del[] = {"ip", "netns", "exec", ns, "nft", "delete", "table", "ip",
                             CFS_EIP_TABLE, NULL};
        ret = run(err, del);
    }
    return ret;
}

/* Whether the router had EIP rules made before (eip0 is there) and a chain
 * of the table is missing now: changed behind cloudfs's back. */
static bool drifted(const char *ns)
{
    static const char *const chains[] = {"pre", "post", "guard"};
    struct nl_list links;
    struct cfs_err ignore;
    bool had = false, missing = false;
    if (links_of(ns, &links, &ignore) < 0)
        return false;
    had = nl_link_named(&links, CFS_EIP_ROUTER_IF) != NULL;
    nl_list_free(&links);
    for (size_t i = 0; had && i < sizeof(chains) / sizeof(chains[0]); i++) {
        struct nl_chain c;
        if (nl_nft_chain(ns, NFPROTO_IPV4, CFS_EIP_TABLE, chains[i], &c, &ignore) == 0 &&
            !c.exists)
            missing = true;
    }
    return had && missing;
}

int eip_router_apply(const struct cfs_eip_router *r, bool *repaired, struct cfs_err *err)
{
    char ns[64], host[16], path[128];
    *repaired = false;
    if (hex11(r->vpc, "cfse", host) < 0)
        return cfs_err_set(err, EINVAL, "eip: bad VPC UUID");
    snprintf(ns, sizeof(ns), "cfs-vpc-%s", r->vpc);
    if (!netns_exists(ns, NULL))
        return cfs_err_set(err, ENOENT, "VPC %s has no router on this machine", r->vpc);
    if (r->n == 0)
        return router_clear(ns, host, r->vpc, err);
    *repaired = drifted(ns);
    if (ensure_veth(r, ns, host, err) < 0 || sync_addrs(r, ns, err) < 0)
        return -1;
    if (r->gateway) {
        char gw[CFS_IPV4_LEN];
        netaddr_ipv4_format(r->gateway, gw);
        const char *rt[] = {"ip", "-n", ns, "route", "replace", "default", "via", gw, "dev",
                            CFS_EIP_ROUTER_IF, NULL};
        if (run(err, rt) < 0)
            return -1;
    }
    if (mkdir("/run/cloudfs", 0755) < 0 && errno != EEXIST)
        return cfs_err_set(err, errno, "/run/cloudfs: %s", strerror(errno));
    if (mkdir(CFS_NET_STATE_DIR, 0755) < 0 && errno != EEXIST)
        return cfs_err_set(err, errno, CFS_NET_STATE_DIR ": %s", strerror(errno));
    snprintf(path, sizeof(path), CFS_NET_STATE_DIR "/eip-%s.nft", r->vpc);
    if (write_table(r, path, err) < 0)
        return -1;
    const char *nft[] = {"ip", "netns", "exec", ns, "nft", "-f", path, NULL};
    int ret = run(err, nft);
    unlink(path);
    return ret;
}
