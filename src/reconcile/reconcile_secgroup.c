/* reconcile_secgroup.c: the pass of security groups.
 *
 * The kernel's rules of a NIC depend on its groups, their rules, and the
 * addresses of the NICs of groups its rules name, so every pass rebuilds
 * the whole: one nftables table per VPC with NICs (secgroup_nft.c), on
 * every host of this machine (the machine itself, or on the test rig the
 * namespaces standing in for hosts), the tables that change replaced in
 * one nft transaction per host.  A change of a group, of a rule
 * (rc_kind_sgrule) or of a NIC (rc_kind_nic.wakes_kinds) wakes every group.
 *
 * DRIFT.  The pass remembers, per host and VPC, the text it built and the
 * kernel's listing of the table right after loading it.  A listing that no
 * longer matches (nft flush table, delete table, a rule added) while the
 * tree did not change is drift: the table is loaded again and the groups
 * of the zone say so in status/drift.  The first group (lowest id) looks
 * every 2 s, so drift is put back within about 2 s without a tree change.
 * A table whose VPC has no NIC any more, or is gone, is deleted; a deleted
 * group's tombstone is purged once the tables no longer hold its rules.
 */
#include "rc_kind.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netaddr.h"
#include "precond_secgroup.h"
#include "rc_store.h"
#include "secgroup_nft.h"
#include "status_keys.h"
#include "uri_policy.h"

#define SG_WATCH_MS 2000
#define SG_RETRY_MS 5000
#define SG_MAX_HOSTS 16
#define SG_MAX_SEEN 1024

/* What was loaded where: (netns, VPC) -> hash of the built text and of the
 * kernel's listing after loading it. */
struct seen {
    char netns[64];
    char hex[33];
    uint64_t want, kern;
};

static pthread_mutex_t sg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen seen[SG_MAX_SEEN];
static int nseen;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

static struct seen *seen_get(const char *netns, const char *hex, bool make)
{
    for (int i = 0; i < nseen; i++)
        if (!strcmp(seen[i].netns, netns) && !strcmp(seen[i].hex, hex))
            return &seen[i];
    if (!make || nseen == SG_MAX_SEEN)
        return NULL;
    struct seen *s = &seen[nseen++];
    memset(s, 0, sizeof(*s));
    snprintf(s->netns, sizeof(s->netns), "%s", netns);
    snprintf(s->hex, sizeof(s->hex), "%s", hex);
    return s;
}

/* ---- the tree ---- */

struct grp {
    struct cfs_res res;
    int64_t zone;
    int nics, nrules;
    uint32_t *ips;          /* addresses of its member NICs */
    int nips;
};

struct rule_in {
    int64_t group;
    struct sg_rule r;
    char ref[CFS_NAME_MAX * 2 + 2];     /* a group remote, as written */
    char name[2 * CFS_NAME_MAX + 2];
};

struct nic_in {
    struct cfs_res res;
    int64_t zone, vpc;
    char vpc_uuid[37];
    uint32_t ip;
    int64_t groups[SG_MAX_PER_NIC];
    int ngroups;
};

struct model {
    struct grp *g;
    size_t ng;
    struct rule_in *r;
    size_t nr;
    struct nic_in *n;
    size_t nn;
    struct cfs_res *vpcs;       /* every VPC, tombstones too */
    size_t nv;
};

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->ng; i++)
        free(m->g[i].ips);
    free(m->g);
    free(m->r);
    free(m->n);
    free(m->vpcs);
    memset(m, 0, sizeof(*m));
}

static struct grp *grp_by_id(struct model *m, int64_t id)
{
    for (size_t i = 0; i < m->ng; i++)
        if (m->g[i].res.id == id)
            return &m->g[i];
    return NULL;
}

static struct grp *grp_by_name(struct model *m, int64_t zone, const char *ref)
{
    const char *slash = strchr(ref, '/');
    for (size_t i = 0; i < m->ng; i++)
        if (m->g[i].zone == zone && !strcmp(m->g[i].res.name, slash ? slash + 1 : ref))
            return &m->g[i];
    return NULL;
}

static int64_t parent_of(struct reconciler *rc, int64_t id, int up)
{
    struct cfs_res r = {.parent = id};
    struct cfs_err ignore;
    for (int i = 0; i < up; i++)
        if (store_res_get(rc->st, r.parent, &r, &ignore) < 0 || r.deleted)
            return 0;
    return r.id;
}

static int load_groups(struct reconciler *rc, struct model *m, struct cfs_err *err)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_secgroup), &all, &n, err) < 0)
        return -1;
    m->g = calloc(n ? n : 1, sizeof(*m->g));
    if (!m->g) {
        free(all);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (!all[i].deleted) {
            m->g[m->ng].res = all[i];
            m->g[m->ng++].zone = all[i].parent;
        }
    free(all);
    return 0;
}

static int load_rules(struct reconciler *rc, struct model *m, struct cfs_err *err)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_sgrule), &all, &n, err) < 0)
        return -1;
    m->r = calloc(n ? n : 1, sizeof(*m->r));
    if (!m->r) {
        free(all);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct grp *g = all[i].deleted ? NULL : grp_by_id(m, all[i].parent);
        if (!g)
            continue;
        struct rule_in *x = &m->r[m->nr];
        char *dir = rc_attr(rc, all[i].id, "direction");
        char *proto = rc_attr(rc, all[i].id, "protocol");
        char *ports = rc_attr(rc, all[i].id, "ports");
        char *remote = rc_attr(rc, all[i].id, "remote");
        char *action = rc_attr(rc, all[i].id, "action");
        char *prio = rc_attr(rc, all[i].id, "priority");
        struct cfs_err e;
        int c = 0;
        memset(x, 0, sizeof(*x));
        x->group = g->res.id;
        x->r.out = !strcmp(dir, "out");
        snprintf(x->name, sizeof(x->name), "%s/%s", g->res.name, all[i].name);
        x->r.name = x->name;
        /* The mount refused what does not parse; a rule that still does
         * not (written by an older cloudfs) is left out, never guessed. */
        if (sg_parse_proto(proto, &x->r.proto, &e) == 0 &&
            sg_parse_ports(ports, &x->r.port_lo, &x->r.port_hi, &e) == 0 &&
            sg_parse_action(action, &x->r.action, &e) == 0 &&
            sg_parse_priority(prio, &x->r.priority, &e) == 0 &&
            (c = sg_parse_remote(remote, &x->r.net, &x->r.prefix, &e)) >= 0) {
            x->r.group = c == 0;
            snprintf(x->ref, sizeof(x->ref), "%s", remote);
            g->nrules++;
            m->nr++;
        }
        free(dir);
        free(proto);
        free(ports);
        free(remote);
        free(action);
        free(prio);
    }
    free(all);
    return 0;
}

static int load_nics(struct reconciler *rc, struct model *m, struct cfs_err *err)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_nic), &all, &n, err) < 0)
        return -1;
    m->n = calloc(n ? n : 1, sizeof(*m->n));
    if (!m->n) {
        free(all);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int64_t zone = all[i].deleted ? 0 : parent_of(rc, all[i].id, 4);   /* nic, vm, cluster, zone */
        if (!zone)
            continue;
        char *sub = rc_status(rc, all[i].id, CFS_ST_SUBNET);
        char *ip = rc_status(rc, all[i].id, "ip");
        char *groups = rc_attr(rc, all[i].id, "security-groups");
        struct cfs_res s, vpc;
        struct cfs_err ignore;
        uint32_t addr;
        if (sub[0] && ip[0] && netaddr_ipv4_parse(ip, &addr, &ignore) == 0 &&
            store_res_by_uuid(rc->st, sub, &s, &ignore) == 0 &&
            store_res_get(rc->st, s.parent, &vpc, &ignore) == 0 && !vpc.deleted) {
            struct nic_in *x = &m->n[m->nn++];
            char buf[512];
            const char *names[SG_MAX_PER_NIC + 1];
            int k = sg_split_names(groups, buf, sizeof(buf), names, SG_MAX_PER_NIC);
            x->res = all[i];
            x->zone = zone;
            x->vpc = vpc.id;
            snprintf(x->vpc_uuid, sizeof(x->vpc_uuid), "%s", vpc.uuid);
            x->ip = addr;
            for (int j = 0; j < k && j < SG_MAX_PER_NIC; j++) {
                struct grp *g = grp_by_name(m, zone, names[j]);
                if (g) {        /* a group gone: it allows nothing */
                    x->groups[x->ngroups++] = g->res.id;
                    g->nics++;
                }
            }
        }
        free(sub);
        free(ip);
        free(groups);
    }
    free(all);
    /* Each group's members' addresses, for rules that name it. */
    for (size_t i = 0; i < m->ng; i++) {
        struct grp *g = &m->g[i];
        g->ips = calloc(g->nics ? (size_t)g->nics : 1, sizeof(*g->ips));
        if (!g->ips)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t j = 0; j < m->nn; j++)
            for (int k = 0; k < m->n[j].ngroups; k++)
                if (m->n[j].groups[k] == g->res.id)
                    g->ips[g->nips++] = m->n[j].ip;
    }
    for (size_t i = 0; i < m->nr; i++) {
        struct rule_in *x = &m->r[i];
        struct grp *owner = grp_by_id(m, x->group);
        struct grp *g = x->r.group && owner ? grp_by_name(m, owner->zone, x->ref) : NULL;
        x->r.ips = g ? g->ips : NULL;
        x->r.nips = g ? g->nips : 0;
    }
    return store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_vpc), &m->vpcs, &m->nv, err);
}

/* The tables of VPC vpc (NULL v->nics when it has none): caller frees. */
static int vpc_model(struct model *m, const struct cfs_res *vpc, struct sg_vpc *v,
                     struct cfs_err *err)
{
    memset(v, 0, sizeof(*v));
    sg_vpc_names(vpc->uuid, v);
    v->zone = (unsigned)(vpc->id & 0xffff);
    int count = 0;
    for (size_t i = 0; i < m->nn; i++)
        count += m->n[i].vpc == vpc->id;
    if (!count)
        return 0;
    v->nics = calloc((size_t)count, sizeof(*v->nics));
    if (!v->nics)
        return cfs_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nn; i++) {
        struct nic_in *x = &m->n[i];
        if (x->vpc != vpc->id)
            continue;
        struct sg_nic *n = &v->nics[v->nnics++];
        int nr = 0;
        for (size_t j = 0; j < m->nr; j++)
            for (int k = 0; k < x->ngroups; k++)
                nr += m->r[j].group == x->groups[k];
        n->rules = calloc(nr ? (size_t)nr : 1, sizeof(*n->rules));
        if (!n->rules)
            return cfs_err_set(err, ENOMEM, "out of memory");
        int h = 0;
        for (int c = 0; x->res.uuid[c] && h < 32; c++)
            if (x->res.uuid[c] != '-')
                n->hex[h++] = x->res.uuid[c];
        n->hex[h] = '\0';
        n->ip = x->ip;
        for (int k = 0; k < x->ngroups; k++)
            for (size_t j = 0; j < m->nr; j++)
                if (m->r[j].group == x->groups[k]) {
                    n->rules[n->nrules] = m->r[j].r;
                    n->rules[n->nrules++].order = k;
                }
        sg_rules_sort(n->rules, n->nrules);
    }
    return 0;
}

static void vpc_model_free(struct sg_vpc *v)
{
    for (int i = 0; i < v->nnics; i++)
        free(v->nics[i].rules);
    free(v->nics);
    v->nics = NULL;
    v->nnics = 0;
}

/* ---- hosts ---- */

/* The distinct namespaces ("": this machine) of the live hosts whose VPC
 * bridges are here. */
static int local_hosts(struct reconciler *rc, char out[][64], int max)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    int k = 0;
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_host), &all, &n, &ignore) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].deleted)
            continue;
        char *uri = rc_attr(rc, all[i].id, "uri");
        char *ns = rc_attr(rc, all[i].id, "netns");
        bool ok = uri[0] && strncmp(uri, "test:", 5) && !uri_is_remote(uri) &&
                  uri_policy_check(uri, rc->conf->allow_test_uri, &ignore) == 0 &&
                  (!ns[0] || rc->conf->allow_test_uri) && strlen(ns) < 64;
        for (int j = 0; ok && j < k; j++)
            ok = strcmp(out[j], ns) != 0;
        if (ok && k < max)
            snprintf(out[k++], 64, "%s", ns);
        free(uri);
        free(ns);
    }
    free(all);
    return k;
}

/* Bridged IPv4 reaches the inet hooks only with br_netfilter's switch on. */
static int bridge_nf_check(const char *netns, struct cfs_err *err)
{
    if (netns[0])
        return 0;
    FILE *f = fopen("/proc/sys/net/bridge/bridge-nf-call-iptables", "re");
    int c = f ? fgetc(f) : EOF;
    if (f)
        fclose(f);
    if (c != '1')
        return cfs_err_set(err, EOPNOTSUPP, "net.bridge.bridge-nf-call-iptables is not 1 (or "
                           "br_netfilter is not loaded): bridged traffic would pass the security "
                           "groups' rules unfiltered; load br_netfilter and set it to 1");
    return 0;
}

/* ---- one host ---- */

struct drift {
    int64_t zone;
    char msg[240];
};

/* Bring host netns's tables in line with the model; drifted VPCs' zones
 * into dr (*ndr). */
static int host_apply(struct reconciler *rc, struct model *m, const char *netns,
                      struct drift *dr, int *ndr, int maxdr, struct cfs_err *err)
{
    static const char *const list_args[] = {"list", "ruleset", "inet", NULL};
    static const char *const load_args[] = {"-f", "-", NULL};
    char *listing = NULL;
    struct textbuf tx = {0};
    int ret = -1, changes = 0;
    uint64_t *want = calloc(m->nv ? m->nv : 1, sizeof(*want));
    (void)rc;
    if (!want)
        return cfs_err_set(err, ENOMEM, "out of memory");
    if (bridge_nf_check(netns, err) < 0 || sg_nft_run(netns, list_args, NULL, &listing, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < m->nv; i++) {
        struct sg_vpc v;
        char name[48];
        if (vpc_model(m, &m->vpcs[i], &v, err) < 0) {
            vpc_model_free(&v);
            goto cleanup;
        }
        snprintf(name, sizeof(name), SG_TABLE_PREFIX "%s", v.hex);
        char *kern = sg_nft_table_text(listing, name);
        struct seen *s = seen_get(netns, v.hex, false);
        if (v.nnics && !m->vpcs[i].deleted) {
            struct textbuf t = {0};
            sg_nft_table(&v, &t);
            char *text = tb_steal(&t, NULL);
            want[i] = fnv(text);
            if (!s || s->want != want[i] || !kern || fnv(kern) != s->kern) {
                if (s && s->want == want[i] && *ndr < maxdr) {
                    dr[*ndr].zone = m->vpcs[i].parent;
                    char when[40];
                    rc_iso_time(when, sizeof(when));
                    snprintf(dr[(*ndr)++].msg, sizeof(dr[0].msg), "%.39s: table inet %.47s%s%.63s was "
                             "%s behind cloudfs's back; put back", when, name,
                             netns[0] ? " in netns " : "", netns, kern ? "changed" : "deleted");
                }
                tb_puts(&tx, text ? text : "");
                changes++;
            } else {
                want[i] = 0;    /* as loaded */
            }
            free(text);
        } else if (kern) {
            sg_nft_table_gone(v.hex, &tx);
            changes++;
        }
        free(kern);
        vpc_model_free(&v);
    }
    if (tx.oom) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (changes) {
        char *text = tb_steal(&tx, NULL);
        int r = text ? sg_nft_run(netns, load_args, text, NULL, err) : -1;
        free(text);
        free(listing);
        listing = NULL;
        if (r < 0 || sg_nft_run(netns, list_args, NULL, &listing, err) < 0)
            goto cleanup;
        for (size_t i = 0; i < m->nv; i++) {
            if (!want[i])
                continue;
            struct sg_vpc v;
            char name[48];
            sg_vpc_names(m->vpcs[i].uuid, &v);
            snprintf(name, sizeof(name), SG_TABLE_PREFIX "%s", v.hex);
            char *kern = sg_nft_table_text(listing, name);
            struct seen *s = seen_get(netns, v.hex, true);
            if (s) {
                s->want = want[i];
                s->kern = fnv(kern);
            }
            free(kern);
        }
    }
    ret = 0;
cleanup:
    tb_free(&tx);
    free(listing);
    free(want);
    return ret;
}

/* ---- the pass ---- */

static int rebuild(struct reconciler *rc, const struct cfs_res *r)
{
    struct model m = {0};
    struct cfs_err err;
    char hosts[SG_MAX_HOSTS][64];
    struct drift dr[16];
    int ndr = 0, result = 0;
    cfs_err_clear(&err);
    pthread_mutex_lock(&sg_lock);
    int nh = local_hosts(rc, hosts, SG_MAX_HOSTS);
    int failed = 0;
    const char *bad = NULL;
    if (load_groups(rc, &m, &err) < 0 || load_rules(rc, &m, &err) < 0 ||
        load_nics(rc, &m, &err) < 0) {
        failed = 1;
    }
    for (int i = 0; i < nh && !failed; i++) {
        struct cfs_err e;
        if (host_apply(rc, &m, hosts[i], dr, &ndr, 16, &e) < 0) {
            if (!failed) {
                err = e;
                bad = hosts[i][0] ? hosts[i] : NULL;
            }
            failed = 1;
        }
    }
    pthread_mutex_unlock(&sg_lock);
    int64_t first = 0;
    for (size_t i = 0; i < m.ng; i++) {
        const struct cfs_res *g = &m.g[i].res;
        if (!first || g->id < first)
            first = g->id;
        rc_set_status_int(rc, g, "nics", m.g[i].nics);
        rc_set_status_int(rc, g, "rules", m.g[i].nrules);
        for (int d = 0; d < ndr; d++)
            if (dr[d].zone == m.g[i].zone)
                rc_set_status(rc, g, "drift", dr[d].msg);
        if (failed) {
            rc_set_error(rc, g, bad, &err);
            rc_set_status(rc, g, "state", "error");
        } else {
            rc_set_status(rc, g, "error", "");
            rc_set_status(rc, g, "state", nh ? "active" : "pending");
        }
    }
    if (failed)
        result = SG_RETRY_MS;
    else if (r->deleted && rc_res_purge(rc, r, &err) < 0)
        result = SG_RETRY_MS;
    else
        result = r->id == first ? SG_WATCH_MS : 0;
    model_free(&m);
    return result;
}

const struct rc_kind rc_kind_secgroup = {
    .name = "secgroup", .pass = rebuild, .wakes = RC_WAKE_SELF, .wakes_kinds = "secgroup",
    .attrs_read = "sgrule/direction sgrule/protocol sgrule/ports sgrule/remote sgrule/action "
                  "sgrule/priority nic/security-groups host/uri host/netns",
    .status_read = "nic/ip nic/" CFS_ST_SUBNET,
    .status_written = "state nics rules drift error",
};

/* A rule has no pass: its change wakes the groups. */
const struct rc_kind rc_kind_sgrule = {
    .name = "sgrule", .wakes = RC_WAKE_NONE, .wakes_kinds = "secgroup",
};
