/* pool_cap.c: pools' allocated totals and their limits (see pool_cap.h). */
#include "pool_cap.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_keys.h"
#include "value.h"

/* One pool of the cluster, as observed and as promised. */
struct pool_fig {
    struct cfs_res res;
    bool observed;          /* status capacity is known */
    long long capacity;     /* bytes, status capacity */
    long long used;         /* bytes really used, status allocation */
    long long ratio;        /* over-subscription in hundredths */
    long long allowed;      /* capacity x ratio */
    long long allocated;    /* sizes placed or to be placed in it */
};

struct cluster_use {
    struct pool_fig *pools;
    size_t n;
    long long unplaced;     /* sizes without a pool yet (the scheduler's to place) */
};

/* What one resource asks of the pools: bytes in pool (name, "" for the
 * scheduler's choice). */
struct demand {
    char pool[CFS_NAME_MAX + 1];
    long long bytes;
};

static char *text(char *s)
{
    return s ? s : calloc(1, 1);
}

static long long size_or(const char *s, long long dflt)
{
    long long v = 0;
    return s && s[0] && value_parse_size(s, &v) == 0 ? v : dflt;
}

static long long attr_size(struct cfs_store *st, const struct cfs_res *r, const char *name)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, name);
    char *v = store_attr_text(st, r->id, name);
    long long n = size_or(v, a && a->def ? size_or(a->def, 0) : 0);
    free(v);
    return n;
}

/* "80G", or "78.4G" when the largest unit does not divide it exactly. */
static void fmt_size(long long b, char *buf, size_t len)
{
    static const char units[] = "KMGTPE";
    long long unit = 1;
    int u = -1;
    while (u < 5 && b / 1024 >= unit) {
        unit *= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%lld", b);
    else if (b % unit == 0)
        snprintf(buf, len, "%lld%c", b / unit, units[u]);
    else
        snprintf(buf, len, "%.1f%c", (double)b / (double)unit, units[u]);
}

static void fmt_ratio(long long h, char *buf, size_t len)
{
    value_format_ratio(h, buf, len);
}

static long long times_ratio(long long capacity, long long ratio)
{
    long double v = (long double)capacity * (long double)ratio / 100.0L;
    return v >= (long double)LLONG_MAX ? LLONG_MAX : (long long)v;
}

static long long ratio_of(struct cfs_store *st, const struct cfs_conf *conf, int64_t pool)
{
    char *v = store_attr_text(st, pool, "over-subscription");
    long long h = 0;
    if (!v || !v[0] || value_parse_ratio(v, &h) < 0 || h <= 0)
        h = conf->pool_ratio;
    free(v);
    return h;
}

static struct pool_fig *fig_named(struct cluster_use *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->pools[i].res.name, name))
            return &u->pools[i];
    return NULL;
}

static void add(struct cluster_use *u, const char *pool, long long bytes)
{
    struct pool_fig *f = pool[0] ? fig_named(u, pool) : NULL;
    if (bytes <= 0)
        return;
    if (f)
        f->allocated += bytes;
    else if (!pool[0])
        u->unplaced += bytes;
    /* a pool that is gone: its volumes go nowhere until it is named again */
}

/* The pool a volume is in or goes to: where it was made, else the one it
 * names; pool_override (non-NULL) replaces the named one. */
static void volume_pool(struct cfs_store *st, const struct cfs_res *v, const char *pool_override,
                        char *out, size_t len)
{
    char *made = text(store_status_text(st, v->id, "pool"));
    char *want = pool_override ? NULL : text(store_attr_text(st, v->id, "pool"));
    const char *named = pool_override ? pool_override : want ? want : "";
    /* A named pool other than the one it is in moves it there (remake). */
    snprintf(out, len, "%s", named[0] ? named : made);
    free(made);
    free(want);
}

/* What a VM asks beyond its root volume: the whole root-size while its
 * root disk is still to be made, the growth its root volume has not taken
 * yet after.  image/root_size/pool: overrides, or NULL for the stored ones. */
static void vm_demand(struct cfs_store *st, const struct cfs_res *vm, const char *image,
                      const long long *root_size, const char *pool, struct demand *d)
{
    char *img = image ? NULL : text(store_attr_text(st, vm->id, "image"));
    char *have = text(store_status_text(st, vm->id, "root-volume"));
    long long want = root_size ? *root_size : attr_size(st, vm, "root-size");
    const struct cfs_kind *kv = layout_kind(store_layout(st), "volume");
    struct cfs_res vol;
    struct cfs_err ignore;
    d->pool[0] = '\0';
    d->bytes = 0;
    if (have[0] && kv && store_res_find(st, vm->parent, kv, have, &vol, &ignore) == 0) {
        if (!vol.deleted) {
            volume_pool(st, &vol, NULL, d->pool, sizeof(d->pool));
            long long cur = attr_size(st, &vol, "size");
            d->bytes = want > cur ? want - cur : 0;
        }
    } else if ((image ? image : img)[0]) {
        char *named = pool ? NULL : text(store_attr_text(st, vm->id, "pool"));
        snprintf(d->pool, sizeof(d->pool), "%s", pool ? pool : named);
        d->bytes = want;
        free(named);
    }
    free(img);
    free(have);
}

/* The cluster's pools, collected by store_children. */
struct pools_acc {
    struct cfs_store *st;
    const struct cfs_conf *conf;
    struct cluster_use *u;
    size_t cap;
    int failed;
};

static int pool_one(int64_t id, const char *name, char *const v[4], void *arg)
{
    struct pools_acc *acc = arg;
    struct cluster_use *u = acc->u;
    if (u->n == acc->cap) {
        size_t ncap = acc->cap ? acc->cap * 2 : 8;
        struct pool_fig *grown = realloc(u->pools, ncap * sizeof(*grown));
        if (!grown) {
            acc->failed = 1;
            return 1;
        }
        u->pools = grown;
        acc->cap = ncap;
    }
    struct pool_fig *f = &u->pools[u->n++];
    memset(f, 0, sizeof(*f));
    f->res.id = id;
    snprintf(f->res.name, sizeof(f->res.name), "%s", name);
    char *used = text(store_status_text(acc->st, id, "allocation"));
    f->observed = v[3][0] != '\0';
    f->capacity = atoll(v[3]);
    f->used = atoll(used);
    free(used);
    f->ratio = 0;
    if (!v[0][0] || value_parse_ratio(v[0], &f->ratio) < 0 || f->ratio <= 0)
        f->ratio = acc->conf->pool_ratio;
    f->allowed = times_ratio(f->capacity, f->ratio);
    return 0;
}

/* A volume of the cluster: its name, size and pool (for the VMs' root
 * volumes). */
struct vol_row {
    char name[CFS_NAME_MAX + 1];
    char pool[CFS_NAME_MAX + 1];
    long long size;
};

struct vols_acc {
    struct cluster_use *u;
    int64_t except;
    long long dflt;         /* the layout's default size */
    struct vol_row *rows;
    size_t n, cap;
    int failed;
};

static int volume_one(int64_t id, const char *name, char *const v[4], void *arg)
{
    struct vols_acc *acc = arg;
    if (acc->n == acc->cap) {
        size_t ncap = acc->cap ? acc->cap * 2 : 64;
        struct vol_row *grown = realloc(acc->rows, ncap * sizeof(*grown));
        if (!grown) {
            acc->failed = 1;
            return 1;
        }
        acc->rows = grown;
        acc->cap = ncap;
    }
    struct vol_row *r = &acc->rows[acc->n++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    /* A named pool other than the one it is in moves it there (remake). */
    snprintf(r->pool, sizeof(r->pool), "%s", v[1][0] ? v[1] : v[3]);
    r->size = size_or(v[0], acc->dflt);
    if (id != acc->except)
        add(acc->u, r->pool, r->size);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct vol_row *)a)->name, ((const struct vol_row *)b)->name);
}

struct vms_acc {
    struct cluster_use *u;
    int64_t except;
    long long dflt;         /* the layout's default root-size */
    const struct vol_row *vols;
    size_t nvols;
};

/* See vm_demand: v = image, root-size, pool, status root-volume. */
static int vm_one(int64_t id, const char *name, char *const v[4], void *arg)
{
    struct vms_acc *acc = arg;
    long long want = size_or(v[1], acc->dflt);
    (void)name;
    if (id == acc->except)
        return 0;
    if (v[3][0]) {
        struct vol_row key = {.size = 0};
        snprintf(key.name, sizeof(key.name), "%s", v[3]);
        const struct vol_row *vol =
            acc->nvols ? bsearch(&key, acc->vols, acc->nvols, sizeof(key), by_name) : NULL;
        if (vol && want > vol->size)
            add(acc->u, vol->pool, want - vol->size);
    } else if (v[0][0]) {
        add(acc->u, v[2], want);
    }
    return 0;
}

static long long layout_default(struct cfs_store *st, const char *kind, const char *attr)
{
    const struct cfs_kind *k = layout_kind(store_layout(st), kind);
    const struct cfs_attr_def *a = k ? layout_attr(k, attr) : NULL;
    return a && a->def ? size_or(a->def, 0) : 0;
}

/* The pools of cluster and what is promised in them, leaving out
 * except's own demand.  A few queries whatever the number of volumes
 * and VMs (store_children). */
static int tally(struct cfs_store *st, const struct cfs_conf *conf, int64_t cluster,
                 int64_t except, struct cluster_use *u, struct cfs_err *err)
{
    static const char *const pool_names[4] = {"over-subscription", NULL, NULL, "capacity"};
    static const char *const vol_names[4] = {"size", "pool", NULL, "pool"};
    static const char *const vm_names[4] = {"image", "root-size", "pool", "root-volume"};
    struct pools_acc pa = {.st = st, .conf = conf, .u = u};
    struct vols_acc va = {.u = u, .except = except,
                          .dflt = layout_default(st, "volume", "size")};
    int ret = -1;
    memset(u, 0, sizeof(*u));
    if (store_children(st, cluster, "pool", pool_names, pool_one, &pa, err) < 0)
        goto cleanup;
    if (pa.failed || !(u->pools || (u->pools = calloc(1, sizeof(*u->pools))))) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (store_children(st, cluster, "volume", vol_names, volume_one, &va, err) < 0)
        goto cleanup;
    if (va.failed) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (va.n)
        qsort(va.rows, va.n, sizeof(*va.rows), by_name);
    struct vms_acc ma = {.u = u, .except = except, .vols = va.rows, .nvols = va.n,
                         .dflt = layout_default(st, "vm", "root-size")};
    if (store_children(st, cluster, "vm", vm_names, vm_one, &ma, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    free(va.rows);
    if (ret < 0) {
        free(u->pools);
        u->pools = NULL;
        u->n = 0;
    }
    return ret;
}

static bool over_threshold(const struct cfs_conf *conf, const struct pool_fig *f)
{
    return f->capacity > 0 &&
           (long double)f->used * 100.0L > (long double)f->capacity * conf->pool_threshold;
}

static int refuse_threshold(const struct cfs_conf *conf, const struct pool_fig *f,
                            struct cfs_err *err)
{
    char used[32], cap[32], th[32];
    fmt_size(f->used, used, sizeof(used));
    fmt_size(f->capacity, cap, sizeof(cap));
    snprintf(th, sizeof(th), "%lld", conf->pool_threshold);
    return cfs_err_set(err, ENOSPC,
                       "pool %s: %s of its %s capacity really used (%lld%%), above the %s%% "
                       "usage threshold: nothing new is allocated in it",
                       f->res.name, used, cap,
                       (long long)((long double)f->used * 100.0L / (long double)f->capacity), th);
}

static int refuse_room(const struct pool_fig *f, long long bytes, long long unplaced,
                       struct cfs_err *err)
{
    char ask[32], cap[32], ratio[32], allowed[32], alloc[32], other[32];
    fmt_size(bytes, ask, sizeof(ask));
    fmt_size(f->capacity, cap, sizeof(cap));
    fmt_ratio(f->ratio, ratio, sizeof(ratio));
    fmt_size(f->allowed, allowed, sizeof(allowed));
    fmt_size(f->allocated, alloc, sizeof(alloc));
    fmt_size(unplaced, other, sizeof(other));
    return cfs_err_set(err, ENOSPC,
                       "pool %s: %s asked, %s capacity \xc3\x97 %s allows %s, %s allocated%s%s%s",
                       f->res.name, ask, cap, ratio, allowed, alloc,
                       unplaced > 0 ? " (and " : "", unplaced > 0 ? other : "",
                       unplaced > 0 ? " waiting for a pool in the cluster)" : "");
}

/* 0 when d fits in the cluster's pools next to everything else, with
 * old (r's demand now) left out. */
static int fits(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                const struct demand *d, const struct demand *old, struct cfs_err *err)
{
    struct cluster_use u;
    int ret = -1;
    if (d->bytes <= 0 || (d->bytes <= old->bytes && !strcmp(d->pool, old->pool)))
        return 0;   /* asks nothing more */
    if (tally(st, conf, r->parent, r->id, &u, err) < 0)
        goto cleanup;
    ret = 0;
    if (d->pool[0]) {
        struct pool_fig *f = fig_named(&u, d->pool);
        if (!f || !f->observed)
            goto cleanup;   /* unknown yet: the reconciler waits for it */
        if (over_threshold(conf, f))
            ret = refuse_threshold(conf, f, err);
        else if (f->allocated > f->allowed || d->bytes > f->allowed - f->allocated)
            ret = refuse_room(f, d->bytes, 0, err);
        goto cleanup;
    }
    /* The scheduler's choice: the pool with the most room must hold it, and
     * all of them together whatever waits for a pool besides. */
    struct pool_fig *best = NULL, *full = NULL;
    long long room_all = 0;
    for (size_t i = 0; i < u.n; i++) {
        struct pool_fig *f = &u.pools[i];
        if (!f->observed)
            goto cleanup;   /* a pool not seen yet may hold it */
        if (over_threshold(conf, f)) {
            full = full ? full : f;
            continue;
        }
        long long room = f->allowed - f->allocated;
        if (room > 0)
            room_all += room;
        if (!best || room > best->allowed - best->allocated)
            best = f;
    }
    if (!best) {
        if (full)
            ret = refuse_threshold(conf, full, err);
        goto cleanup;   /* no pool at all: the reconciler says so */
    }
    if (best->allocated > best->allowed || d->bytes > best->allowed - best->allocated ||
        d->bytes > room_all - u.unplaced)
        ret = refuse_room(best, d->bytes, u.unplaced, err);
cleanup:
    free(u.pools);
    return ret;
}

int pool_cap_check_create(struct cfs_store *st, const struct cfs_conf *conf,
                          const struct cfs_res *parent, const struct cfs_kind *k,
                          struct cfs_err *err)
{
    if (!parent || strcmp(k->name, "volume"))
        return 0;   /* a VM's root disk comes with its image, written later */
    const struct cfs_attr_def *a = layout_attr(k, "size");
    struct cfs_res none = {.id = -1, .parent = parent->id, .kind = k};
    struct demand d = {.pool = "", .bytes = a && a->def ? size_or(a->def, 0) : 0};
    struct demand old = {.pool = "", .bytes = 0};
    return fits(st, conf, &none, &d, &old, err);
}

int pool_cap_check_attr(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                        const struct cfs_attr_def *a, const char *value, struct cfs_err *err)
{
    struct demand d, old;
    if (!strcmp(r->kind->name, "volume") && (!strcmp(a->name, "size") || !strcmp(a->name, "pool"))) {
        bool size = !strcmp(a->name, "size");
        volume_pool(st, r, NULL, old.pool, sizeof(old.pool));
        old.bytes = attr_size(st, r, "size");
        volume_pool(st, r, size ? NULL : value, d.pool, sizeof(d.pool));
        d.bytes = size ? size_or(value, 0) : old.bytes;
    } else if (!strcmp(r->kind->name, "vm") &&
               (!strcmp(a->name, "image") || !strcmp(a->name, "root-size") ||
                !strcmp(a->name, "pool"))) {
        long long rs = 0;
        bool is_rs = !strcmp(a->name, "root-size");
        if (is_rs)
            rs = size_or(value, 0);
        vm_demand(st, r, NULL, NULL, NULL, &old);
        vm_demand(st, r, !strcmp(a->name, "image") ? value : NULL, is_rs ? &rs : NULL,
                  !strcmp(a->name, "pool") ? value : NULL, &d);
    } else {
        return 0;
    }
    return fits(st, conf, r, &d, &old, err);
}

int pool_cap_room(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *vol,
                  const char *pool, long long *room, struct cfs_err *err)
{
    struct cluster_use u;
    *room = LLONG_MAX;
    if (tally(st, conf, vol->parent, vol->id, &u, err) < 0)
        return -1;
    struct pool_fig *f = fig_named(&u, pool);
    if (f && f->observed)
        *room = f->allowed - f->allocated;
    free(u.pools);
    return 0;
}

int pool_cap_status_text(struct cfs_store *st, const struct cfs_conf *conf,
                         const struct cfs_res *p, const char *name, char **out,
                         struct cfs_err *err)
{
    struct cluster_use u;
    char buf[64] = "";
    *out = NULL;
    if (strcmp(p->kind->name, "pool") ||
        (strcmp(name, "allocated") && strcmp(name, "over-subscription") && strcmp(name, "allowed")))
        return 0;
    if (!strcmp(name, "over-subscription")) {
        fmt_ratio(ratio_of(st, conf, p->id), buf, sizeof(buf));
    } else {
        if (tally(st, conf, p->parent, 0, &u, err) < 0)
            return -1;
        struct pool_fig *f = fig_named(&u, p->name);
        if (f && !strcmp(name, "allocated"))
            snprintf(buf, sizeof(buf), "%lld", f->allocated);
        else if (f && f->observed)
            snprintf(buf, sizeof(buf), "%lld", f->allowed);
        free(u.pools);
    }
    *out = strdup(buf);
    return *out ? 1 : cfs_err_set(err, ENOMEM, "out of memory");
}
