/* quota.c: per-user quotas (see quota.h). */
#include "quota.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

enum quota_item { Q_VMS, Q_RUNNING, Q_CPUS, Q_MEMORY, Q_VOLUMES, Q_VOLSIZE, Q_IMAGES, Q_SNAPSHOTS,
                  Q_COUNT };

/* The quota's attribute (and status) names; size: a size, not a count. */
static const struct {
    const char *name;
    bool size;
} items[Q_COUNT] = {
    [Q_VMS] = {"vms", false},          [Q_RUNNING] = {"running-vms", false},
    [Q_CPUS] = {"cpus", false},        [Q_MEMORY] = {"memory", true},
    [Q_VOLUMES] = {"volumes", false},  [Q_VOLSIZE] = {"volume-size", true},
    [Q_IMAGES] = {"images", false},    [Q_SNAPSHOTS] = {"snapshots", false},
};

struct amounts {
    long long v[Q_COUNT];
};

static int parse(enum quota_item i, const char *text, long long *out)
{
    if (items[i].size)
        return value_parse_size(text, out);
    char *end = NULL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno || end == text ? -1 : 0;
}

static void format(enum quota_item i, long long v, char *buf, size_t len)
{
    if (items[i].size)
        value_format_size(v, buf, len);
    else
        snprintf(buf, len, "%lld", v);
}

static bool user_name(uid_t uid, char *name, size_t len)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    snprintf(name, len, "%s", pw.pw_name);
    return true;
}

/* The limits of uid: quotas/NAME/ where there is one, the layout's
 * defaults otherwise (and for any value that does not parse). */
static int limits_of(struct cfs_store *st, uid_t uid, struct amounts *lim, struct cfs_err *err)
{
    const struct cfs_kind *kq = layout_kind(store_layout(st), "quota");
    struct cfs_res q;
    struct cfs_err ignore;
    char name[256];
    if (!kq)
        return cfs_err_set(err, EIO, "the layout has no quota kind");
    bool have = user_name(uid, name, sizeof(name)) &&
                store_res_find(st, 0, kq, name, &q, &ignore) == 0 && !q.deleted;
    for (int i = 0; i < Q_COUNT; i++) {
        const struct cfs_attr_def *a = layout_attr(kq, items[i].name);
        char *v = NULL;
        lim->v[i] = 0;
        if (a && a->def)
            parse(i, a->def, &lim->v[i]);
        if (have && store_attr_get(st, q.id, items[i].name, &v, NULL, &ignore) == 0 && v)
            parse(i, v, &lim->v[i]);
        free(v);
    }
    return 0;
}

static bool active(const char *state)
{
    return !strcmp(state, "running") || !strcmp(state, "paused");
}

/* vCPUs and memory of an offering (0 when it cannot be read). */
static void offering_size(struct cfs_store *st, const char *name, long long *cpus, long long *mem)
{
    const struct cfs_kind *ko = layout_kind(store_layout(st), "offering");
    struct cfs_res off;
    struct cfs_err ignore;
    char *c = NULL, *m = NULL;
    *cpus = *mem = 0;
    if (ko && name[0] && store_res_find(st, 0, ko, name, &off, &ignore) == 0) {
        if (store_attr_get(st, off.id, "cpus", &c, NULL, &ignore) == 0 && c)
            *cpus = atoll(c);
        if (store_attr_get(st, off.id, "memory", &m, NULL, &ignore) == 0 && m &&
            value_parse_size(m, mem) < 0)
            *mem = 0;
    }
    free(c);
    free(m);
}

struct tally {
    struct cfs_store *st;
    int64_t except;         /* a resource whose own contribution is being replaced */
    struct amounts *use;
};

static int vm_one(int64_t id, const char *state, const char *offering, void *arg)
{
    struct tally *t = arg;
    t->use->v[Q_VMS]++;
    if (id != t->except && active(state)) {
        long long cpus, mem;
        offering_size(t->st, offering, &cpus, &mem);
        t->use->v[Q_RUNNING]++;
        t->use->v[Q_CPUS] += cpus;
        t->use->v[Q_MEMORY] += mem;
    }
    return 0;
}

static int volume_one(int64_t id, const char *size, const char *unused, void *arg)
{
    struct tally *t = arg;
    long long bytes = 0;
    (void)unused;
    t->use->v[Q_VOLUMES]++;
    if (id != t->except && value_parse_size(size, &bytes) == 0)
        t->use->v[Q_VOLSIZE] += bytes;
    return 0;
}

static int count_one(int64_t id, const char *a, const char *b, void *arg)
{
    (void)id;
    (void)a;
    (void)b;
    (*(long long *)arg)++;
    return 0;
}

/* What uid uses now; except's VM activity or volume size is left out. */
static int usage_of(struct cfs_store *st, uid_t uid, int64_t except, struct amounts *use,
                    struct cfs_err *err)
{
    struct tally t = {.st = st, .except = except, .use = use};
    memset(use, 0, sizeof(*use));
    if (store_owned(st, "vm", uid, "state", "offering", vm_one, &t, err) < 0 ||
        store_owned(st, "volume", uid, "size", NULL, volume_one, &t, err) < 0 ||
        store_owned(st, "image", uid, NULL, NULL, count_one, &use->v[Q_IMAGES], err) < 0 ||
        store_owned(st, "snapshot", uid, NULL, NULL, count_one, &use->v[Q_SNAPSHOTS], err) < 0)
        return -1;
    return 0;
}

/* EDQUOT when use + more of item i exceeds the limit, with the reason. */
static int over(uid_t uid, enum quota_item i, const struct amounts *use, long long more,
                const struct amounts *lim, struct cfs_err *err)
{
    char name[256], have[32], want[32], top[32];
    if (more <= 0 || use->v[i] + more <= lim->v[i])
        return 0;
    if (!user_name(uid, name, sizeof(name)))
        snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
    format(i, use->v[i], have, sizeof(have));
    format(i, more, want, sizeof(want));
    format(i, lim->v[i], top, sizeof(top));
    return cfs_err_set(err, EDQUOT, "quota of user %s: %s is %s, %s in use, %s more asked; "
                       "free some or ask an operator to raise quotas/%s/%s", name,
                       items[i].name, top, have, want, name, items[i].name);
}

int quota_check_create(struct cfs_store *st, uid_t uid, const struct cfs_kind *k,
                       struct cfs_err *err)
{
    static const struct {
        const char *kind;
        enum quota_item item;
    } counted[] = {{"vm", Q_VMS}, {"volume", Q_VOLUMES}, {"image", Q_IMAGES},
                   {"snapshot", Q_SNAPSHOTS}};
    struct amounts lim, use;
    for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        if (strcmp(k->name, counted[i].kind))
            continue;
        if (limits_of(st, uid, &lim, err) < 0 || usage_of(st, uid, 0, &use, err) < 0 ||
            over(uid, counted[i].item, &use, 1, &lim, err) < 0)
            return -1;
        if (counted[i].item == Q_VOLUMES) {
            const struct cfs_attr_def *a = layout_attr(k, "size");
            long long size = 0;
            if (a && a->def && value_parse_size(a->def, &size) == 0 &&
                over(uid, Q_VOLSIZE, &use, size, &lim, err) < 0)
                return -1;
        }
        return 0;
    }
    return 0;
}

int quota_check_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err)
{
    struct amounts lim, use;
    int rc = 0;
    if (!strcmp(r->kind->name, "vm") &&
        (!strcmp(a->name, "state") || !strcmp(a->name, "offering"))) {
        char *state = NULL, *offering = NULL;
        struct cfs_err ignore;
        store_attr_get(st, r->id, "state", &state, NULL, &ignore);
        store_attr_get(st, r->id, "offering", &offering, NULL, &ignore);
        bool was = state && active(state);
        bool will = !strcmp(a->name, "state") ? active(value) : was;
        const char *off = !strcmp(a->name, "offering") ? value : offering ? offering : "";
        if (will) {
            long long cpus, mem;
            offering_size(st, off, &cpus, &mem);
            if (limits_of(st, r->uid, &lim, err) < 0 || usage_of(st, r->uid, r->id, &use, err) < 0)
                rc = -1;
            else if ((!was && over(r->uid, Q_RUNNING, &use, 1, &lim, err) < 0) ||
                     over(r->uid, Q_CPUS, &use, cpus, &lim, err) < 0 ||
                     over(r->uid, Q_MEMORY, &use, mem, &lim, err) < 0)
                rc = -1;
        }
        free(state);
        free(offering);
    } else if (!strcmp(r->kind->name, "volume") && !strcmp(a->name, "size")) {
        long long size = 0;
        if (value_parse_size(value, &size) == 0 &&
            (limits_of(st, r->uid, &lim, err) < 0 || usage_of(st, r->uid, r->id, &use, err) < 0 ||
             over(r->uid, Q_VOLSIZE, &use, size, &lim, err) < 0))
            rc = -1;
    }
    return rc;
}

int quota_check_name(const char *name, struct cfs_err *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return cfs_err_set(err, EINVAL, "quotas/%s: there is no local user %s", name, name);
    return 0;
}

int quota_usage_text(struct cfs_store *st, const struct cfs_res *q, const char *name, char **out,
                     struct cfs_err *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096], text[48];
    struct amounts use;
    *out = NULL;
    for (int i = 0; i < Q_COUNT; i++) {
        if (strcmp(items[i].name, name))
            continue;
        if (getpwnam_r(q->name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
            *out = strdup("");      /* the user is gone: nothing to count */
        } else {
            if (usage_of(st, pw.pw_uid, 0, &use, err) < 0)
                return -1;
            format(i, use.v[i], text, sizeof(text));
            *out = strdup(text);
        }
        return *out ? 0 : cfs_err_set(err, ENOMEM, "out of memory");
    }
    return cfs_err_set(err, ENOENT, "no usage named %s", name);
}
