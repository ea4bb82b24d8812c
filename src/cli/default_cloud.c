/* default_cloud.c: the embedded default cloud that "cloudfs init" seeds (zone, cluster, host, pool, offerings, default network). */
#include "default_cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "netaddr.h"
#include "precond_secgroup.h"

/* The offering catalogue of the reference platforms: 2 GiB per vCPU. */
static const struct {
    const char *name, *cpus, *memory;
} offerings[] = {
    {"1C2G", "1", "2G"},     {"2C4G", "2", "4G"},      {"4C8G", "4", "8G"},
    {"8C16G", "8", "16G"},   {"16C32G", "16", "32G"},  {"64C128G", "64", "128G"},
};

static const struct cfs_actor init_actor = {.who = "init", .uid = 0, .pid = 0, .comm = "cloudfs"};

/* Find or create; *created tells which. */
static int ensure(struct cfs_store *st, int64_t parent, const char *kind, const char *name,
                  struct cfs_res *out, bool *created, struct cfs_err *err)
{
    const struct cfs_kind *k = layout_kind(store_layout(st), kind);
    struct cfs_err ignore;
    *created = false;
    if (!k)
        return cfs_err_set(err, EINVAL, "layout has no kind %s", kind);
    if (store_res_find(st, parent, k, name, out, &ignore) == 0)
        return 0;
    *created = true;
    return store_res_create(st, parent, k, name, 0, 0, &init_actor, out, err);
}

static int set(struct cfs_store *st, const struct cfs_res *r, const char *attr, const char *value,
               struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, attr);
    char *norm = NULL;
    if (!a)
        return cfs_err_set(err, EINVAL, "layout: %s has no attribute %s", r->kind->name, attr);
    if (value_normalize(a, value, strlen(value), &norm, err) < 0)
        return -1;
    int rc = store_attr_set(st, r, a, norm, &init_actor, NULL, err);
    free(norm);
    return rc;
}

static void mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0711);   /* the pool: volume files are reached, not listed */
}

/* A VPC whose cidr holds subnet (the VPC's own default, or subnet itself). */
static int vpc_holding(struct cfs_store *st, const struct cfs_res *vpc, const char *subnet,
                       struct cfs_err *err)
{
    struct cfs_cidr v, s;
    char *cur = store_attr_text(st, vpc->id, "cidr");
    bool inside = netaddr_cidr_parse(cur, &v, err) == 0 &&
                  netaddr_cidr_parse(subnet, &s, err) == 0 && s.prefix >= v.prefix &&
                  netaddr_cidr_contains(&v, s.net);
    free(cur);
    return inside ? 0 : set(st, vpc, "cidr", subnet, err);
}

int default_cloud_seed(struct cfs_store *st, const struct cfs_conf *conf, struct cfs_err *err)
{
    struct cfs_res zone, cluster, host, pool, off;
    bool created;
    if (ensure(st, 0, "zone", "default", &zone, &created, err) < 0 ||
        sg_zone_seed(st, &zone, &init_actor, err) < 0 ||    /* its default security group */
        ensure(st, zone.id, "cluster", "default", &cluster, &created, err) < 0 ||
        ensure(st, cluster.id, "host", "local", &host, &created, err) < 0 ||
        (created && set(st, &host, "uri", conf->hypervisor, err) < 0) ||
        ensure(st, cluster.id, "pool", "local", &pool, &created, err) < 0 ||
        (created && (set(st, &pool, "type", "dir", err) < 0 ||
                     set(st, &pool, "path", conf->pool_path, err) < 0)))
        return -1;
    /* The default network: VPC "default" and its subnet "default", which
     * every new VM of the zone gets a NIC in (precond_net.c). */
    struct cfs_res vpc = {0}, subnet = {0};
    if (conf->default_subnet && conf->default_subnet[0] &&
        (ensure(st, zone.id, "vpc", "default", &vpc, &created, err) < 0 ||
         ensure(st, vpc.id, "subnet", "default", &subnet, &created, err) < 0 ||
         (created && (vpc_holding(st, &vpc, conf->default_subnet, err) < 0 ||
                      set(st, &subnet, "cidr", conf->default_subnet, err) < 0))))
        return -1;
    mkdir_p(conf->pool_path);
    for (size_t i = 0; i < sizeof(offerings) / sizeof(offerings[0]); i++) {
        if (ensure(st, 0, "offering", offerings[i].name, &off, &created, err) < 0)
            return -1;
        if (created && (set(st, &off, "cpus", offerings[i].cpus, err) < 0 ||
                        set(st, &off, "memory", offerings[i].memory, err) < 0))
            return -1;
    }
    return store_meta_set(st, "initialized", "1", err);
}

bool default_cloud_seeded(struct cfs_store *st)
{
    char *v = NULL;
    struct cfs_err ignore;
    if (store_meta_get(st, "initialized", &v, &ignore) < 0)
        return false;
    free(v);
    return true;
}
