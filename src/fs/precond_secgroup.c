/* precond_secgroup.c: the security-group kinds' rules (precond_secgroup.h).
 *
 * Values are parsed by secgroup_nft.h's parsers, the same the reconciler
 * builds the kernel's rules from, so what is stored always builds.
 */
#include "precond_secgroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secgroup_nft.h"

static const struct cfs_kind *kind_of(struct cfs_store *st, const char *name)
{
    return layout_kind(store_layout(st), name);
}

/* The zone id of a rule (rule -> group -> zone) or a NIC (nic -> vm ->
 * cluster -> zone); 0 when not found. */
static int64_t zone_of(struct cfs_store *st, const struct cfs_res *r)
{
    const struct cfs_kind *kz = kind_of(st, "zone");
    struct cfs_res cur = *r;
    struct cfs_err ignore;
    while (cur.kind != kz)
        if (!cur.parent || store_res_get(st, cur.parent, &cur, &ignore) < 0)
            return 0;
    return cur.id;
}

int sg_rule_ports(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    int lo, hi;
    if (sg_parse_ports(value, &lo, &hi, err) < 0)
        return -1;
    char *proto = store_attr_text(st, r->id, "protocol");
    int rc = 0;
    if (value[0] && strcmp(proto, "tcp") && strcmp(proto, "udp"))
        rc = cfs_err_set(err, EINVAL, "ports: only tcp and udp rules take ports (protocol is "
                         "%s)", proto);
    free(proto);
    return rc;
}

int sg_rule_protocol(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err)
{
    enum sg_proto p;
    if (sg_parse_proto(value, &p, err) < 0)
        return -1;
    char *ports = store_attr_text(st, r->id, "ports");
    int rc = 0;
    if (ports[0] && p != SG_TCP && p != SG_UDP)
        rc = cfs_err_set(err, EINVAL, "protocol %s takes no ports: empty ports (%s) first", value,
                         ports);
    free(ports);
    return rc;
}

int sg_rule_priority(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err)
{
    int v;
    (void)st;
    (void)r;
    return sg_parse_priority(value, &v, err);
}

/* The group named by ref ("NAME" or "ZONE/NAME") for a resource of zone. */
static int group_ref(struct cfs_store *st, int64_t zone, const char *ref, struct cfs_res *out,
                     struct cfs_err *err)
{
    const struct cfs_kind *kg = kind_of(st, "secgroup"), *kz = kind_of(st, "zone");
    const char *slash = strchr(ref, '/');
    struct cfs_res z;
    struct cfs_err ignore;
    if (!kg || !kz || store_res_get(st, zone, &z, &ignore) < 0)
        return cfs_err_set(err, ENOENT, "no zone for security group %.64s", ref);
    if (slash) {
        if ((size_t)(slash - ref) != strlen(z.name) || strncmp(ref, z.name, strlen(z.name)))
            return cfs_err_set(err, EINVAL, "security group %.64s: a group of another zone; "
                               "only groups of zone %s may be named here", ref, z.name);
        ref = slash + 1;
    }
    if (!ref[0] || strchr(ref, '/'))
        return cfs_err_set(err, EINVAL, "security group '%.64s': a group name, or ZONE/NAME", ref);
    if (store_res_find(st, zone, kg, ref, out, &ignore) < 0 || out->deleted)
        return cfs_err_set(err, ENOENT, "no security group %.64s in zone %s", ref, z.name);
    return 0;
}

int sg_rule_remote(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    uint32_t net;
    int prefix;
    struct cfs_res g;
    int c = sg_parse_remote(value, &net, &prefix, err);
    if (c != 0)
        return c < 0 ? -1 : 0;
    return group_ref(st, zone_of(st, r), value, &g, err);
}

int sg_split_names(const char *value, char *buf, size_t len, const char **names, int max)
{
    int n = 0;
    char *save = NULL;
    snprintf(buf, len, "%s", value);
    for (char *t = strtok_r(buf, " ,\t\n", &save); t; t = strtok_r(NULL, " ,\t\n", &save)) {
        if (n == max)
            return max + 1;
        names[n++] = t;
    }
    return n;
}

int sg_nic_groups(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    char buf[512];
    const char *names[SG_MAX_PER_NIC + 1];
    int n = sg_split_names(value, buf, sizeof(buf), names, SG_MAX_PER_NIC);
    if (n > SG_MAX_PER_NIC)
        return cfs_err_set(err, EINVAL, "security-groups: at most %d groups a NIC",
                           SG_MAX_PER_NIC);
    int64_t zone = zone_of(st, r);
    for (int i = 0; i < n; i++) {
        struct cfs_res g;
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return cfs_err_set(err, EINVAL, "security-groups: %.64s is listed twice",
                                   names[i]);
        if (group_ref(st, zone, names[i], &g, err) < 0)
            return -1;
    }
    return 0;
}

/* Whether the NIC or rule value names group g of zone. */
static bool names_group(const char *value, const struct cfs_res *g, const char *zone_name)
{
    char buf[512], full[2 * CFS_NAME_MAX + 2];
    const char *names[SG_MAX_PER_NIC + 1];
    int n = sg_split_names(value, buf, sizeof(buf), names, SG_MAX_PER_NIC);
    snprintf(full, sizeof(full), "%s/%s", zone_name, g->name);
    for (int i = 0; i < n && i <= SG_MAX_PER_NIC; i++)
        if (!strcmp(names[i], g->name) || !strcmp(names[i], full))
            return true;
    return false;
}

int sg_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    const struct cfs_kind *kn = kind_of(st, "nic"), *kr = kind_of(st, "sgrule");
    struct cfs_res *all = NULL, z;
    size_t n = 0;
    int rc = 0;
    if (store_res_get(st, r->parent, &z, err) < 0)
        return -1;
    if (kn && store_res_all(st, kn, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (all[i].deleted || zone_of(st, &all[i]) != r->parent)
            continue;
        char *v = store_attr_text(st, all[i].id, "security-groups");
        struct cfs_res vm;
        if (names_group(v, r, z.name) && store_res_get(st, all[i].parent, &vm, err) == 0)
            rc = cfs_err_set(err, EBUSY, "security group %s is in use by nic %s of vm %s; take "
                             "it out of the NIC's security-groups first", r->name, all[i].name,
                             vm.name);
        free(v);
    }
    free(all);
    all = NULL;
    n = 0;
    if (rc == 0 && kr && store_res_all(st, kr, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct cfs_res g;
        if (all[i].deleted || all[i].parent == r->id || zone_of(st, &all[i]) != r->parent ||
            store_res_get(st, all[i].parent, &g, err) < 0)
            continue;
        char *v = store_attr_text(st, all[i].id, "remote");
        if (names_group(v, r, z.name))
            rc = cfs_err_set(err, EBUSY, "security group %s is the remote of rule %s of group "
                             "%s; change that rule first", r->name, all[i].name, g.name);
        free(v);
    }
    free(all);
    return rc;
}

static int set(struct cfs_store *st, const struct cfs_res *r, const char *attr, const char *value,
               const struct cfs_actor *actor, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, attr);
    if (!a)
        return cfs_err_set(err, EINVAL, "layout: %s has no attribute %s", r->kind->name, attr);
    return store_attr_set(st, r, a, value, actor, NULL, err);
}

int sg_zone_seed(struct cfs_store *st, const struct cfs_res *z, const struct cfs_actor *actor,
                 struct cfs_err *err)
{
    static const struct {
        const char *name, *direction, *protocol, *ports, *description;
    } rules[] = {
        {"icmp-in", "in", "icmp", "", "ICMP from anywhere"},
        {"ssh-in", "in", "tcp", "22", "SSH from anywhere"},
        {"all-out", "out", "all", "", "all outbound traffic"},
    };
    const struct cfs_kind *kg = kind_of(st, "secgroup"), *kr = kind_of(st, "sgrule");
    struct cfs_res g, rule;
    struct cfs_err ignore;
    if (!kg || !kr || kg->parent != z->kind)
        return 0;
    if (store_res_find(st, z->id, kg, "default", &g, &ignore) == 0)
        return 0;
    if (store_res_create(st, z->id, kg, "default", z->uid, z->gid, actor, &g, err) < 0 ||
        set(st, &g, "description", "the zone's default group: ICMP and SSH in, all out", actor,
            err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (store_res_create(st, g.id, kr, rules[i].name, z->uid, z->gid, actor, &rule, err) < 0 ||
            set(st, &rule, "direction", rules[i].direction, actor, err) < 0 ||
            set(st, &rule, "protocol", rules[i].protocol, actor, err) < 0 ||
            set(st, &rule, "ports", rules[i].ports, actor, err) < 0 ||
            set(st, &rule, "description", rules[i].description, actor, err) < 0)
            return -1;
    return 0;
}

/* Delete the live children of kind k under parent. */
static int delete_children(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                           const struct cfs_actor *actor, struct cfs_err *err)
{
    struct cfs_res *all = NULL;
    size_t n = 0;
    int rc = 0;
    if (!k || store_res_all(st, k, &all, &n, err) < 0)
        return k ? -1 : 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (all[i].parent == parent && !all[i].deleted) {
            if (k == kind_of(st, "secgroup"))
                rc = sg_delete(st, &all[i], err) < 0 ||
                     delete_children(st, all[i].id, kind_of(st, "sgrule"), actor, err) < 0
                         ? -1 : 0;
            if (rc == 0)
                rc = store_res_delete(st, &all[i], actor, err);
        }
    free(all);
    return rc;
}

int sg_delete_parts(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                    struct cfs_err *err)
{
    /* A zone's groups, a group's rules: the kinds whose parent r is. */
    const struct cfs_kind *kinds[] = {kind_of(st, "secgroup"), kind_of(st, "sgrule")};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i] && kinds[i]->parent == r->kind)
            return delete_children(st, r->id, kinds[i], actor, err);
    return 0;
}
