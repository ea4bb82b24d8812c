/* reconcile_network.c: the passes of VPCs, subnets and NICs.
 *
 * The network side of every connected host of the zone is made through the
 * network driver (network.h): one cfs_net_host per host, opened for the
 * pass, on this machine (or, on the test rig, in the network namespace the
 * host's test-only netns names; a remote URI: EOPNOTSUPP).  Hosts on
 * test:/// URIs have no network.  What a VPC or subnet was set up on is
 * remembered (status _hosts) so that a host that left the tree has it
 * removed, and rmdir removes it everywhere.
 *
 * VXLAN: when two or more hosts of the zone have a vtep, each of them
 * carries every VPC with VNI CFS_NET_VNI_BASE + the VPC's id and one
 * flooding entry per other such host (vpc_def); with fewer, none does.  A
 * host's change (rc_kind_host.wakes_kinds) or connection wakes every VPC
 * and subnet, so the peers follow.
 *
 * A VPC pass ensures the VPC on each host; a subnet pass ensures the VPC,
 * the subnet and its NIC entries (DHCP host, DNS name), which come from
 * the NICs whose _subnet (written by the mount with their address) names
 * it.  A NIC pass only wakes its VM (which plugs it, reconcile_vm.c) and
 * its subnet.  Every call is idempotent, so the periodic resync repairs
 * drift (a bridge deleted, dnsmasq killed, a libvirt network destroyed).
 */
#include "reconcile_network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "rc_state.h"
#include "rc_store.h"
#include "status_keys.h"
#include "uri_policy.h"

#define NET_RETRY_MS 5000
#define NET_MAX_HOSTS 64

static const struct cfs_network_driver *const net = &cfs_network_linux;

/* The network side of one host: where it is (URI, and on the test rig the
 * namespace standing in for it), its VXLAN address, and what the pass
 * knows of it. */
struct net_host {
    char uri[1100];
    char netns[64];             /* "": the machine the daemon runs on */
    char vtep[CFS_IPV4_LEN];    /* "": none */
    bool in_tree;               /* a live host of the zone */
    bool connected;
    bool recorded;              /* in status _hosts: set up there before */
    bool failed;                /* a host that left: removing the VPC failed */
    bool ready;                 /* the VPC is set up there (this pass) */
};

struct hosts {
    struct net_host v[NET_MAX_HOSTS];
    int n;
};

static struct net_host *hosts_find(struct hosts *hs, const char *uri, const char *netns)
{
    for (int i = 0; i < hs->n; i++)
        if (!strcmp(hs->v[i].uri, uri) && !strcmp(hs->v[i].netns, netns))
            return &hs->v[i];
    return NULL;
}

/* Add (uri, netns) unless known; NULL when full or a test:/// URI (no
 * network). */
static struct net_host *hosts_add(struct hosts *hs, const char *uri, const char *netns)
{
    struct net_host *h = hosts_find(hs, uri, netns);
    if (h)
        return h;
    if (hs->n == NET_MAX_HOSTS || !uri[0] || !strncmp(uri, "test:", 5) ||
        strlen(uri) >= sizeof(h->uri) || strlen(netns) >= sizeof(h->netns))
        return NULL;
    h = &hs->v[hs->n++];
    memset(h, 0, sizeof(*h));
    snprintf(h->uri, sizeof(h->uri), "%s", uri);
    snprintf(h->netns, sizeof(h->netns), "%s", netns);
    return h;
}

/* The live hosts of zone (zone 0: of every zone) with their vtep and
 * netns; connected says whether the reconciler holds their connection. */
static void zone_hosts(struct reconciler *rc, int64_t zone, struct hosts *out)
{
    const struct cfs_kind *kh = rc_layout_kind(rc, &rc_kind_host);
    struct cfs_res *hosts = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    if (store_res_all(rc->st, kh, &hosts, &n, &ignore) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct cfs_res cluster;
        if (hosts[i].deleted || store_res_get(rc->st, hosts[i].parent, &cluster, &ignore) < 0 ||
            (zone && cluster.parent != zone))
            continue;
        struct rc_host *h = rc_host_get(rc, &hosts[i]);
        if (!h)
            continue;
        char *uri = rc_attr(rc, hosts[i].id, "uri");
        char *netns = rc_attr(rc, hosts[i].id, "netns");
        char *vtep = rc_attr(rc, hosts[i].id, "vtep");
        struct net_host *x = hosts_add(out, uri, netns);
        if (x) {
            x->in_tree = true;
            snprintf(x->vtep, sizeof(x->vtep), "%s", vtep);
            pthread_rwlock_rdlock(&h->rw);
            x->connected = x->connected || (h->conn && !strcmp(h->uri, uri));
            pthread_rwlock_unlock(&h->rw);
        }
        free(uri);
        free(netns);
        free(vtep);
    }
    free(hosts);
}

/* The hosts of status _hosts ("URI" or "URI NETNS" a line) not yet in out. */
static void recorded_hosts(struct reconciler *rc, int64_t res, struct hosts *out)
{
    char *list = rc_status(rc, res, CFS_ST_HOSTS);
    char *save = NULL;
    for (char *u = strtok_r(list, "\n", &save); u; u = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(u, ' ');
        if (sp)
            *sp = '\0';
        struct net_host *x = hosts_add(out, u, sp ? sp + 1 : "");
        if (x)
            x->recorded = true;
    }
    free(list);
}

/* Record the hosts of hs for which keep(h) holds. */
static void record_hosts(struct reconciler *rc, const struct cfs_res *r, const struct hosts *hs,
                         bool (*keep)(const struct net_host *h))
{
    char buf[NET_MAX_HOSTS * 160] = "";
    size_t used = 0;
    for (int i = 0; i < hs->n && used < sizeof(buf); i++)
        if (keep(&hs->v[i]))
            used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s%s%s",
                                     used ? "\n" : "", hs->v[i].uri,
                                     hs->v[i].netns[0] ? " " : "", hs->v[i].netns);
    rc_set_status(rc, r, CFS_ST_HOSTS, buf);
}

/* The network side of host x; the URI passes the same allow-list as the
 * host's own connection (uri_policy.h), a netns only with allow-test-uri.
 * The driver works on this machine (or a namespace of it): a remote host's
 * bridges are out of reach, EOPNOTSUPP. */
static int host_open(struct reconciler *rc, const struct net_host *x, struct cfs_net_host **h,
                     struct cfs_err *err)
{
    char state[128];
    struct cfs_net_host_def def = {.libvirt_uri = x->uri, .netns = x->netns,
                                   .vtep = x->vtep[0] ? x->vtep : NULL};
    if (uri_policy_check(x->uri, rc->conf->allow_test_uri, err) < 0)
        return -1;
    if (x->netns[0]) {
        if (!rc->conf->allow_test_uri)
            return cfs_err_set(err, EPERM, "host netns %s: test only (cloudfs.conf "
                               "allow-test-uri)", x->netns);
        /* Each simulated host keeps its dnsmasq files apart. */
        snprintf(state, sizeof(state), CFS_NET_STATE_DIR "/ns-%s", x->netns);
        def.state_dir = state;
    } else if (uri_is_remote(x->uri)) {
        return cfs_err_set(err, EOPNOTSUPP, "a remote host: its VPC bridges, VXLAN and "
                           "routers cannot be built from here (only on the machine the "
                           "reconciler runs on)");
    }
    return net->open(&def, h, err);
}

/* The host of the tree reached by uri (its netns and vtep), or just the URI. */
static void host_by_uri(struct reconciler *rc, const char *uri, struct net_host *out)
{
    struct hosts *hs = calloc(1, sizeof(*hs));
    memset(out, 0, sizeof(*out));
    snprintf(out->uri, sizeof(out->uri), "%s", uri);
    if (!hs)
        return;
    zone_hosts(rc, 0, hs);
    for (int i = 0; i < hs->n; i++)
        if (!strcmp(hs->v[i].uri, uri)) {
            *out = hs->v[i];
            break;
        }
    free(hs);
}

static int fail(struct reconciler *rc, const struct cfs_res *r, const char *uri,
                const struct cfs_err *err)
{
    rc_set_error(rc, r, uri, err);
    rc_set_status(rc, r, "state", "error");
    return NET_RETRY_MS;
}

/* After the network objects are gone: the tombstone goes too. */
static int purge(struct reconciler *rc, const struct cfs_res *r)
{
    struct cfs_err err;
    if (rc_res_purge(rc, r, &err) < 0)
        return fail(rc, r, NULL, &err);
    return 0;
}

/* ---- VPC ---- */

/* The VPC as host x carries it: VXLAN (VNI CFS_NET_VNI_BASE + the VPC's
 * store id, to every other live host of the zone with a vtep) when x and
 * at least one other host have a vtep; else it stays on x. */
static void vpc_def(const struct cfs_res *vpc, const struct hosts *hs, const struct net_host *x,
                    const char **peers, struct cfs_vpc_def *d)
{
    memset(d, 0, sizeof(*d));
    d->uuid = vpc->uuid;
    d->peers = peers;
    if (!x->vtep[0])
        return;
    for (int i = 0; i < hs->n; i++)
        if (&hs->v[i] != x && hs->v[i].in_tree && hs->v[i].vtep[0] &&
            strcmp(hs->v[i].vtep, x->vtep))
            peers[d->npeers++] = hs->v[i].vtep;
    if (d->npeers)
        d->vni = (unsigned)(CFS_NET_VNI_BASE + vpc->id);
}

/* Ensure the VPC on every connected host of the zone in hs; lines "URI
 * BRIDGE" into bridges.  A failing host does not stop the others: the
 * first failure is returned (*bad: its URI). */
static int vpc_ensure(struct reconciler *rc, const struct cfs_res *vpc, struct hosts *hs,
                      char *bridges, size_t len, const char **bad, struct cfs_err *err)
{
    const char *peers[NET_MAX_HOSTS];
    size_t used = 0;
    int ret = 0;
    bridges[0] = '\0';
    *bad = NULL;
    for (int i = 0; i < hs->n; i++) {
        struct net_host *x = &hs->v[i];
        struct cfs_net_host *h = NULL;
        struct cfs_net_attach at;
        struct cfs_vpc_def d;
        struct cfs_err e;
        if (!x->in_tree || !x->connected)
            continue;
        vpc_def(vpc, hs, x, peers, &d);
        int r = host_open(rc, x, &h, &e);
        if (r == 0)
            r = net->ensure_vpc(h, &d, &e);
        if (r == 0)
            r = net->attachment(h, vpc->uuid, &at, &e);
        net->close(h);
        if (r < 0) {
            if (ret == 0) {
                *err = e;
                *bad = x->uri;
            }
            ret = -1;
            continue;
        }
        x->ready = true;
        if (used < len)
            used += (size_t)snprintf(bridges + used, len - used, "%s%s %s", used ? "\n" : "",
                                     x->uri, at.bridge);
    }
    return ret;
}

/* Hosts a VPC or subnet is recorded on: live ones it is (being) set up
 * on, and ones that left whose removal failed. */
static bool keep_host(const struct net_host *h)
{
    return h->in_tree ? h->connected || h->recorded : h->failed;
}

/* Remove the VPC from recorded hosts that left the zone (their peers
 * already dropped them); a host whose removal fails stays recorded
 * (flagged connected) and is tried again. */
static int vpc_leave_gone(struct reconciler *rc, const struct cfs_res *vpc, struct hosts *hs,
                          struct cfs_err *err)
{
    int ret = 0;
    for (int i = 0; i < hs->n; i++) {
        struct net_host *x = &hs->v[i];
        struct cfs_net_host *h = NULL;
        struct cfs_err e;
        if (x->in_tree)
            continue;
        int r = host_open(rc, x, &h, &e);
        if (r < 0 && (e.code == EOPNOTSUPP || e.code == ENOENT))
            r = 0;      /* remote, or its namespace is gone: nothing left to remove */
        else if (r == 0)
            r = net->remove_vpc(h, vpc->uuid, &e);
        if (r < 0) {
            x->failed = true;
            if (ret == 0)
                *err = e;
            ret = -1;
        }
        net->close(h);
    }
    return ret;
}

/* Whether a subnet of the VPC (a tombstone too) is still there: its
 * teardown needs the VPC's data plane, so the VPC waits for it. */
static bool vpc_has_subnets(struct reconciler *rc, const struct cfs_res *vpc)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    bool found = false;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_subnet), &all, &n, &ignore) < 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (all[i].parent == vpc->id) {
            rc_wake(rc, all[i].id);
            found = true;
        }
    free(all);
    return found;
}

static int vpc_teardown(struct reconciler *rc, const struct cfs_res *vpc)
{
    if (vpc_has_subnets(rc, vpc))
        return 500;
    struct hosts *u = calloc(1, sizeof(*u));
    struct cfs_err err;
    int result = 0;
    if (!u)
        return NET_RETRY_MS;
    rc_set_status(rc, vpc, "state", "deleting");
    recorded_hosts(rc, vpc->id, u);
    for (int i = 0; i < u->n; i++) {
        struct cfs_net_host *h = NULL;
        int r = host_open(rc, &u->v[i], &h, &err);
        if (r < 0 && err.code == EOPNOTSUPP)
            continue;       /* a remote host: nothing was ever made there */
        if (r < 0 || net->remove_vpc(h, vpc->uuid, &err) < 0) {
            net->close(h);
            result = fail(rc, vpc, u->v[i].uri, &err);
            goto cleanup;
        }
        net->close(h);
    }
    result = purge(rc, vpc);
cleanup:
    free(u);
    return result;
}

static int reconcile_vpc(struct reconciler *rc, const struct cfs_res *vpc)
{
    if (vpc->deleted)
        return vpc_teardown(rc, vpc);
    int64_t gen = store_spec_generation(rc->st, vpc->id);
    struct hosts *u = calloc(1, sizeof(*u));
    struct cfs_err err;
    char bridges[NET_MAX_HOSTS * 80];
    const char *bad = NULL;
    int result = 0, made = 0;
    if (!u)
        return NET_RETRY_MS;
    cfs_err_clear(&err);
    zone_hosts(rc, vpc->parent, u);
    recorded_hosts(rc, vpc->id, u);     /* set up there before: known until removed */
    for (int i = 0; i < u->n; i++)
        made += u->v[i].in_tree && u->v[i].connected;
    /* The VXLAN identifier: unique and stable for the VPC's life. */
    rc_set_status_int(rc, vpc, "vni", CFS_NET_VNI_BASE + vpc->id);
    int ensured = vpc_ensure(rc, vpc, u, bridges, sizeof(bridges), &bad, &err);
    struct cfs_err gone_err;
    int left = vpc_leave_gone(rc, vpc, u, &gone_err);
    record_hosts(rc, vpc, u, keep_host);
    if (ensured < 0) {
        result = fail(rc, vpc, bad, &err);
        goto cleanup;
    }
    if (left < 0) {
        result = fail(rc, vpc, NULL, &gone_err);
        goto cleanup;
    }
    rc_set_status(rc, vpc, "bridge", bridges);
    rc_set_status(rc, vpc, "error", "");
    rc_set_status(rc, vpc, "state", made ? "available" : "creating");
    if (made)
        rc_set_status_int(rc, vpc, CFS_ST_GEN, gen);
    result = made ? 0 : NET_RETRY_MS;    /* no connected host yet */
cleanup:
    free(u);
    return result;
}

#define HOST_ATTRS "host/uri host/netns host/vtep"

const struct rc_kind rc_kind_vpc = {
    .name = "vpc", .pass = reconcile_vpc, .wakes = RC_WAKE_SELF,
    .attrs_read = HOST_ATTRS,
    .status_read = CFS_ST_HOSTS " state",
    .status_written = "state vni bridge error " CFS_ST_HOSTS " " CFS_ST_GEN,
};

void rc_wake_networks(struct reconciler *rc)
{
    const struct cfs_kind *kinds[] = {rc_layout_kind(rc, &rc_kind_vpc),
                                      rc_layout_kind(rc, &rc_kind_subnet)};
    for (size_t k = 0; k < 2; k++) {
        struct cfs_res *all = NULL;
        size_t n = 0;
        struct cfs_err ignore;
        if (!kinds[k] || store_res_all(rc->st, kinds[k], &all, &n, &ignore) < 0)
            continue;
        for (size_t i = 0; i < n; i++)
            rc_wake(rc, all[i].id);
        free(all);
    }
}

/* ---- subnet ---- */

struct nic_list {
    struct cfs_net_nic *v;
    char (*mac)[CFS_MAC_LEN];
    char (*ip)[CFS_IPV4_LEN];
    char (*name)[CFS_NAME_MAX + 1];
    int n;
};

static void nic_list_free(struct nic_list *l)
{
    free(l->v);
    free(l->mac);
    free(l->ip);
    free(l->name);
    memset(l, 0, sizeof(*l));
}

/* The live NICs whose _subnet is s, with their VMs' names as host names. */
static int subnet_nics(struct reconciler *rc, const struct cfs_res *s, struct nic_list *out,
                       struct cfs_err *err)
{
    const struct cfs_kind *kn = rc_layout_kind(rc, &rc_kind_nic);
    struct cfs_res *nics = NULL;
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    if (store_res_all(rc->st, kn, &nics, &n, err) < 0)
        return -1;
    size_t cap = n ? n : 1;
    out->v = calloc(cap, sizeof(*out->v));
    out->mac = calloc(cap, sizeof(*out->mac));
    out->ip = calloc(cap, sizeof(*out->ip));
    out->name = calloc(cap, sizeof(*out->name));
    if (!out->v || !out->mac || !out->ip || !out->name) {
        free(nics);
        nic_list_free(out);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (nics[i].deleted)
            continue;
        char *sub = rc_status(rc, nics[i].id, CFS_ST_SUBNET);
        char *mac = rc_status(rc, nics[i].id, "mac");
        char *ip = rc_status(rc, nics[i].id, "ip");
        struct cfs_res vm;
        struct cfs_err ignore;
        if (!strcmp(sub, s->uuid) && mac[0] && ip[0] &&
            store_res_get(rc->st, nics[i].parent, &vm, &ignore) == 0 && !vm.deleted) {
            int k = out->n++;
            snprintf(out->mac[k], sizeof(out->mac[k]), "%s", mac);
            snprintf(out->ip[k], sizeof(out->ip[k]), "%s", ip);
            /* The VM's name is the DNS name of its first NIC by name (a
             * name appears once in a VPC). */
            bool first = true;
            for (size_t j = 0; j < n; j++)
                if (nics[j].parent == nics[i].parent && !nics[j].deleted &&
                    strcmp(nics[j].name, nics[i].name) < 0)
                    first = false;
            snprintf(out->name[k], sizeof(out->name[k]), "%s", vm.name);
            out->v[k].mac = out->mac[k];
            out->v[k].ip = out->ip[k];
            out->v[k].hostname =
                first && netaddr_hostname_check(vm.name, &ignore) == 0 ? out->name[k] : NULL;
        }
        free(sub);
        free(mac);
        free(ip);
    }
    free(nics);
    return 0;
}

/* Split "a\nb" into at most max pointers into text (modified). */
static int split_lines(char *text, const char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(text, "\n", &save); t && n < max; t = strtok_r(NULL, "\n", &save))
        out[n++] = t;
    return n;
}

static int subnet_teardown(struct reconciler *rc, const struct cfs_res *s)
{
    struct hosts *u = calloc(1, sizeof(*u));
    struct cfs_err err;
    struct cfs_res vpc;
    int result = 0;
    if (!u)
        return NET_RETRY_MS;
    rc_set_status(rc, s, "state", "deleting");
    recorded_hosts(rc, s->id, u);
    if (store_res_get(rc->st, s->parent, &vpc, &err) < 0) {
        result = purge(rc, s);      /* the VPC is gone, and everything of it */
        goto cleanup;
    }
    for (int i = 0; i < u->n; i++) {
        struct cfs_net_host *h = NULL;
        int r = host_open(rc, &u->v[i], &h, &err);
        if (r < 0 && (err.code == EOPNOTSUPP || (err.code == ENOENT && u->v[i].netns[0])))
            continue;   /* remote (nothing made), or the simulated host is gone */
        if (r == 0) {
            r = net->set_nics(h, vpc.uuid, s->uuid, NULL, 0, &err);
            if (r < 0 && err.code == ENOENT)
                r = 0;      /* the VPC is not set up there */
            if (r == 0)
                r = net->remove_subnet(h, vpc.uuid, s->uuid, &err);
        }
        net->close(h);
        if (r < 0) {
            result = fail(rc, s, u->v[i].uri, &err);
            goto cleanup;
        }
    }
    result = purge(rc, s);
    rc_wake(rc, vpc.id);
cleanup:
    free(u);
    return result;
}

static int reconcile_subnet(struct reconciler *rc, const struct cfs_res *s)
{
    if (s->deleted)
        return subnet_teardown(rc, s);
    int64_t gen = store_spec_generation(rc->st, s->id);
    struct cfs_res vpc;
    struct hosts *u = calloc(1, sizeof(*u));
    struct cfs_err err;
    struct nic_list nics = {0};
    struct cfs_cidr c;
    char gw[CFS_IPV4_LEN], bridges[NET_MAX_HOSTS * 80];
    const char *bad = NULL;
    char *cidr = rc_attr(rc, s->id, "cidr");
    char *gateway = rc_attr(rc, s->id, "gateway");
    char *dhcp = rc_attr(rc, s->id, "dhcp");
    char *dns = rc_attr(rc, s->id, "dns");
    char *routes = rc_attr(rc, s->id, "routes");
    const char *dnsv[CFS_NET_MAX_DNS];
    const char *routev[CFS_NET_MAX_ROUTES];
    struct cfs_net_route rv[CFS_NET_MAX_ROUTES];
    int result = 0, made = 0;
    cfs_err_clear(&err);
    if (!u) {
        result = NET_RETRY_MS;
        goto cleanup;
    }
    if (!cidr[0] || netaddr_cidr_parse(cidr, &c, &err) < 0) {
        rc_set_status(rc, s, "state", "unconfigured");
        rc_set_status(rc, s, "error", cidr[0] ? err.msg : "");
        rc_set_status_int(rc, s, CFS_ST_GEN, gen);
        goto cleanup;
    }
    if (strcmp(gateway, "auto"))
        snprintf(gw, sizeof(gw), "%s", gateway);
    else
        netaddr_ipv4_format(c.net + 1, gw);
    int nroutes = split_lines(routes, routev, CFS_NET_MAX_ROUTES);
    for (int i = 0; i < nroutes; i++) {
        char *via = strstr(routev[i], " via ");
        if (via) {
            *via = '\0';
            rv[i].dest = routev[i];
            rv[i].via = via + 5;
        }
    }
    struct cfs_subnet_def d = {
        .uuid = s->uuid, .vpc = NULL, .cidr = cidr, .gateway = gw, .dhcp = !strcmp(dhcp, "on"),
        .dns = dnsv, .ndns = split_lines(dns, dnsv, CFS_NET_MAX_DNS),
        .routes = rv, .nroutes = nroutes,
    };
    if (store_res_get(rc->st, s->parent, &vpc, &err) < 0) {
        result = fail(rc, s, NULL, &err);
        goto cleanup;
    }
    d.vpc = vpc.uuid;
    if (subnet_nics(rc, s, &nics, &err) < 0) {
        result = fail(rc, s, NULL, &err);
        goto cleanup;
    }
    zone_hosts(rc, vpc.parent, u);
    recorded_hosts(rc, s->id, u);
    for (int i = 0; i < u->n; i++)
        made += u->v[i].in_tree && u->v[i].connected;
    record_hosts(rc, s, u, keep_host);  /* not a host that left: its VPC pass removes it all */
    rc_flush(rc);   /* where it is being set up: known before it is */
    /* A host where the VPC fails (a remote one: EOPNOTSUPP) keeps the
     * others from nothing; its reason is the subnet's error after them. */
    struct cfs_err vpc_err;
    int vpc_ok = vpc_ensure(rc, &vpc, u, bridges, sizeof(bridges), &bad, &vpc_err);
    for (int i = 0; i < u->n; i++) {
        struct cfs_net_host *h = NULL;
        if (!u->v[i].ready)
            continue;
        int r = host_open(rc, &u->v[i], &h, &err);
        if (r == 0)
            r = net->ensure_subnet(h, &d, &err);
        if (r == 0)
            r = net->set_nics(h, vpc.uuid, s->uuid, nics.v, nics.n, &err);
        net->close(h);
        if (r < 0) {
            result = fail(rc, s, u->v[i].uri, &err);
            goto cleanup;
        }
    }
    if (vpc_ok < 0) {
        result = fail(rc, s, bad, &vpc_err);
        goto cleanup;
    }
    long long hosts = (1LL << (32 - c.prefix)) - 2;
    rc_set_status(rc, s, "gateway", gw);
    rc_set_status_int(rc, s, "used-ips", nics.n);
    rc_set_status_int(rc, s, "free-ips", hosts - 1 - nics.n);
    rc_set_status(rc, s, "bridge", bridges);
    rc_set_status(rc, s, "error", "");
    rc_set_status(rc, s, "state", made ? "available" : "creating");
    if (made)
        rc_set_status_int(rc, s, CFS_ST_GEN, gen);
    result = made ? 0 : NET_RETRY_MS;
cleanup:
    nic_list_free(&nics);
    free(u);
    free(cidr);
    free(gateway);
    free(dhcp);
    free(dns);
    free(routes);
    return result;
}

const struct rc_kind rc_kind_subnet = {
    .name = "subnet", .pass = reconcile_subnet, .wakes = RC_WAKE_SELF,
    .attrs_read = "cidr gateway dhcp dns routes " HOST_ATTRS,
    .status_read = CFS_ST_HOSTS " nic/mac nic/ip nic/" CFS_ST_SUBNET,
    .status_written = "state gateway used-ips free-ips bridge error " CFS_ST_HOSTS " "
                      CFS_ST_GEN,
};

/* ---- NIC ---- */

static void wake_subnet(struct reconciler *rc, const char *uuid)
{
    struct cfs_res s;
    struct cfs_err ignore;
    if (uuid[0] && store_res_by_uuid(rc->st, uuid, &s, &ignore) == 0)
        rc_wake(rc, s.id);
}

/* A NIC's changes matter to its VM (plugging) and its subnet (DHCP). */
static int reconcile_nic(struct reconciler *rc, const struct cfs_res *nic)
{
    char *sub = rc_status(rc, nic->id, CFS_ST_SUBNET);
    int64_t gen = store_spec_generation(rc->st, nic->id);
    int result = 0;
    char *was = rc_status(rc, nic->id, CFS_ST_SUBNET_WAS);
    rc_wake(rc, nic->parent);
    wake_subnet(rc, sub);
    if (was[0]) {       /* the subnet it left drops its entry */
        wake_subnet(rc, was);
        rc_set_status(rc, nic, CFS_ST_SUBNET_WAS, "");
    }
    free(was);
    struct cfs_res vm;
    struct cfs_err ignore;
    if (nic->deleted) {
        /* A NIC of a VM being deleted goes with it (rc_vm_nics_release):
         * its tree path, which the purge logs, needs the VM. */
        if (store_res_get(rc->st, nic->parent, &vm, &ignore) == 0 && !vm.deleted)
            result = purge(rc, nic);
    } else {
        if (!sub[0])
            rc_set_status(rc, nic, "state", "unconnected");
        rc_set_status_int(rc, nic, CFS_ST_GEN, gen);
    }
    free(sub);
    return result;
}

const struct rc_kind rc_kind_nic = {
    .name = "nic", .pass = reconcile_nic, .wakes = RC_WAKE_SELF,
    .wakes_kinds = "secgroup",      /* its groups and address: the security groups' rules */
    .status_read = CFS_ST_SUBNET " " CFS_ST_SUBNET_WAS,
    .status_written = "state error " CFS_ST_SUBNET_WAS " " CFS_ST_GEN,
};

void rc_vm_nics_release(struct reconciler *rc, const struct cfs_res *vm)
{
    const struct cfs_kind *kn = rc_layout_kind(rc, &rc_kind_nic);
    struct cfs_res *all = NULL;
    size_t n = 0;
    struct cfs_err err;
    if (store_res_all(rc->st, kn, &all, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (all[i].parent != vm->id)
            continue;
        char *sub = rc_status(rc, all[i].id, CFS_ST_SUBNET);
        if (rc_res_purge(rc, &all[i], &err) == 0)
            wake_subnet(rc, sub);
        free(sub);
    }
    free(all);
}

/* ---- a VM's NICs ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct rc_nic *)a)->res.name, ((const struct rc_nic *)b)->res.name);
}

int rc_vm_nics(struct reconciler *rc, const struct cfs_res *vm, const char *uri,
               struct rc_nic **out, int *n, struct cfs_err *err)
{
    const struct cfs_kind *kn = rc_layout_kind(rc, &rc_kind_nic);
    struct cfs_res *all = NULL;
    size_t count = 0;
    struct cfs_net_host *h = NULL;
    *out = NULL;
    *n = 0;
    if (store_res_all(rc->st, kn, &all, &count, err) < 0)
        return -1;
    struct rc_nic *v = calloc(count ? count : 1, sizeof(*v));
    if (!v) {
        free(all);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    int ret = 0;
    for (size_t i = 0; i < count && ret == 0; i++) {
        if (all[i].deleted || all[i].parent != vm->id)
            continue;
        char *sub = rc_status(rc, all[i].id, CFS_ST_SUBNET);
        char *mac = rc_status(rc, all[i].id, "mac");
        char *model = rc_attr(rc, all[i].id, "model");
        struct cfs_res s, vpc;
        if (sub[0] && mac[0] && store_res_by_uuid(rc->st, sub, &s, err) == 0 &&
            store_res_get(rc->st, s.parent, &vpc, err) == 0) {
            struct rc_nic *x = &v[*n];
            x->res = all[i];
            snprintf(x->mac, sizeof(x->mac), "%s", mac);
            snprintf(x->model, sizeof(x->model), "%s", model);
            if (net_tap_name(all[i].uuid, x->target) < 0)
                x->target[0] = '\0';
            if (!h) {
                struct net_host x;
                host_by_uri(rc, uri, &x);
                if ((ret = host_open(rc, &x, &h, err)) < 0)
                    break;
            }
            if ((ret = net->attachment(h, vpc.uuid, &x->at, err)) < 0)
                break;
            (*n)++;
        }
        free(sub);
        free(mac);
        free(model);
    }
    if (h)
        net->close(h);
    free(all);
    if (ret < 0) {
        free(v);
        *n = 0;
        return -1;
    }
    qsort(v, (size_t)*n, sizeof(*v), by_name);
    for (int i = 0; i < *n; i++) {
        struct rc_nic *x = &v[i];
        x->nic.mac = x->mac;
        x->nic.network = x->at.network;
        x->nic.bridge = x->at.bridge;
        x->nic.target = x->target[0] ? x->target : NULL;
        x->nic.model = x->model;
        x->nic.mtu = x->at.mtu;
    }
    *out = v;
    return 0;
}

void rc_nics_signature(const struct rc_nic *nics, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s@%s/%s/%s", i ? " " : "",
                                 nics[i].mac, nics[i].at.network, nics[i].at.bridge,
                                 nics[i].model);
}
