/* quota.c: per-user and per-group quotas (see quota.h). */
#include "quota.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offering.h"
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

static bool group_name(gid_t gid, char *name, size_t len)
{
    struct group gr, *res = NULL;
    char buf[16384];
    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    snprintf(name, len, "%s", gr.gr_name);
    return true;
}

/* The groups of uid, its primary group included (malloc'd; *n of them).
 * A uid without a passwd entry has none. */
static int groups_of(uid_t uid, gid_t **out, int *n, struct cfs_err *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int want = 32;
    *out = NULL;
    *n = 0;
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return 0;
    for (;;) {
        gid_t *g = calloc((size_t)want, sizeof(*g));
        int got = want;
        if (!g)
            return cfs_err_set(err, ENOMEM, "out of memory");
        if (getgrouplist(pw.pw_name, pw.pw_gid, g, &got) >= 0) {
            *out = g;
            *n = got;
            return 0;
        }
        free(g);
        if (got <= want || got > 65536)
            return cfs_err_set(err, EIO, "cannot list the groups of user %s", pw.pw_name);
        want = got;
    }
}

/* Whose quota a check is against: a user (quotas/NAME/) or a group
 * (quotas/@NAME/), its limits and what it uses. */
struct scope {
    bool group;
    uid_t uid;              /* user scope */
    gid_t gid;              /* group scope */
    char name[256];         /* the user's or group's name */
    char dir[260];          /* the quota directory's name: NAME or @NAME */
    struct amounts lim, use;
};

/* The limits in quotas/dir/ (the layout's defaults for any value not set
 * or that does not parse); false when there is no such quota. */
static bool limits_in(struct cfs_store *st, const char *dir, struct amounts *lim)
{
    const struct cfs_kind *kq = layout_kind(store_layout(st), "quota");
    struct cfs_res q;
    struct cfs_err ignore;
    bool have = kq && dir[0] && store_res_find(st, 0, kq, dir, &q, &ignore) == 0 && !q.deleted;
    for (int i = 0; kq && i < Q_COUNT; i++) {
        const struct cfs_attr_def *a = layout_attr(kq, items[i].name);
        char *v = NULL;
        lim->v[i] = 0;
        if (a && a->def)
            parse(i, a->def, &lim->v[i]);
        if (have && store_attr_get(st, q.id, items[i].name, &v, NULL, &ignore) == 0 && v)
            parse(i, v, &lim->v[i]);
        free(v);
    }
    return have;
}

static bool active(const char *state)
{
    return !strcmp(state, "running") || !strcmp(state, "paused");
}

/* vCPUs and memory of an offering (0 when it cannot be read). */
static void offering_size(struct cfs_store *st, const char *name, long long *cpus, long long *mem)
{
    struct cfs_offering o;
    struct cfs_err ignore = {0};
    store_offering_get(st, name, &o, &ignore);
    *cpus = o.cpus;
    *mem = o.memory;
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

/* What the members of gid use together: the resources of every owner in
 * the store whose groups (primary or supplementary) include gid. */
static int group_usage(struct cfs_store *st, gid_t gid, int64_t except, struct amounts *use,
                       struct cfs_err *err)
{
    uid_t *owners = NULL;
    size_t n = 0;
    int ret = store_owner_uids(st, &owners, &n, err);
    memset(use, 0, sizeof(*use));
    for (size_t i = 0; ret == 0 && i < n; i++) {
        gid_t *groups = NULL;
        int ng = 0;
        bool member = false;
        struct amounts one;
        ret = groups_of(owners[i], &groups, &ng, err);
        for (int j = 0; ret == 0 && j < ng; j++)
            member = member || groups[j] == gid;
        free(groups);
        if (ret == 0 && member && (ret = usage_of(st, owners[i], except, &one, err)) == 0)
            for (int k = 0; k < Q_COUNT; k++)
                use->v[k] += one.v[k];
    }
    free(owners);
    return ret;
}

/* EDQUOT when use + more of item i exceeds the scope's limit, with the reason. */
static int over(const struct scope *sc, enum quota_item i, long long more, struct cfs_err *err)
{
    char have[32], want[32], top[32];
    if (more <= 0 || sc->use.v[i] + more <= sc->lim.v[i])
        return 0;
    format(i, sc->use.v[i], have, sizeof(have));
    format(i, more, want, sizeof(want));
    format(i, sc->lim.v[i], top, sizeof(top));
    return cfs_err_set(err, EDQUOT, "quota of %s %s: %s is %s, %s in use%s, %s more asked; "
                       "free some or ask an operator to raise quotas/%s/%s",
                       sc->group ? "group" : "user", sc->name, items[i].name, top, have,
                       sc->group ? " by its members" : "", want, sc->dir, items[i].name);
}

/* Each item asked for (more->v[i] > 0), in order, against sc. */
static int over_any(const struct scope *sc, const struct amounts *more, struct cfs_err *err)
{
    for (int i = 0; i < Q_COUNT; i++)
        if (over(sc, (enum quota_item)i, more->v[i], err) < 0)
            return -1;
    return 0;
}

/* What uid asks for (more), except's own activity or size left out of the
 * usage: against uid's quota (or the defaults), then against the quota of
 * each of uid's groups that has one. */
static int check(struct cfs_store *st, uid_t uid, int64_t except, const struct amounts *more,
                 struct cfs_err *err)
{
    struct scope sc;
    gid_t *groups = NULL;
    int ng = 0, ret = 0;
    memset(&sc, 0, sizeof(sc));
    sc.uid = uid;
    if (!user_name(uid, sc.name, sizeof(sc.name)))
        snprintf(sc.name, sizeof(sc.name), "%lu", (unsigned long)uid);
    snprintf(sc.dir, sizeof(sc.dir), "%s", sc.name);
    if (!layout_kind(store_layout(st), "quota"))
        return cfs_err_set(err, EIO, "the layout has no quota kind");
    limits_in(st, sc.dir, &sc.lim);
    if (usage_of(st, uid, except, &sc.use, err) < 0 || over_any(&sc, more, err) < 0 ||
        groups_of(uid, &groups, &ng, err) < 0)
        return -1;
    for (int j = 0; ret == 0 && j < ng; j++) {
        bool dup = false;
        for (int k = 0; k < j; k++)
            dup = dup || groups[k] == groups[j];
        memset(&sc, 0, sizeof(sc));
        sc.group = true;
        sc.gid = groups[j];
        if (dup || !group_name(sc.gid, sc.name, sizeof(sc.name)))
            continue;
        snprintf(sc.dir, sizeof(sc.dir), "@%s", sc.name);
        if (!limits_in(st, sc.dir, &sc.lim))
            continue;       /* no default group quota */
        if (group_usage(st, sc.gid, except, &sc.use, err) < 0 || over_any(&sc, more, err) < 0)
            ret = -1;
    }
    free(groups);
    return ret;
}

int quota_check_create(struct cfs_store *st, uid_t uid, const struct cfs_kind *k,
                       struct cfs_err *err)
{
    static const struct {
        const char *kind;
        enum quota_item item;
    } counted[] = {{"vm", Q_VMS}, {"volume", Q_VOLUMES}, {"image", Q_IMAGES},
                   {"snapshot", Q_SNAPSHOTS}};
    struct amounts more;
    for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        if (strcmp(k->name, counted[i].kind))
            continue;
        memset(&more, 0, sizeof(more));
        more.v[counted[i].item] = 1;
        if (counted[i].item == Q_VOLUMES) {
            const struct cfs_attr_def *a = layout_attr(k, "size");
            long long size = 0;
            if (a && a->def && value_parse_size(a->def, &size) == 0)
                more.v[Q_VOLSIZE] = size;
        }
        return check(st, uid, 0, &more, err);
    }
    return 0;
}

int quota_check_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err)
{
    struct amounts more;
    int rc = 0;
    memset(&more, 0, sizeof(more));
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
            offering_size(st, off, &more.v[Q_CPUS], &more.v[Q_MEMORY]);
            more.v[Q_RUNNING] = was ? 0 : 1;
            rc = check(st, r->uid, r->id, &more, err);
        }
        free(state);
        free(offering);
    } else if (!strcmp(r->kind->name, "volume") && !strcmp(a->name, "size")) {
        if (value_parse_size(value, &more.v[Q_VOLSIZE]) == 0)
            rc = check(st, r->uid, r->id, &more, err);
    }
    return rc;
}

int quota_check_name(const char *name, struct cfs_err *err)
{
    struct passwd pw, *res = NULL;
    struct group gr, *gres = NULL;
    char buf[16384];
    if (name[0] == '@') {
        if (getgrnam_r(name + 1, &gr, buf, sizeof(buf), &gres) != 0 || !gres)
            return cfs_err_set(err, EINVAL, "quotas/%s: there is no local group %s", name,
                               name + 1);
        return 0;
    }
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return cfs_err_set(err, EINVAL, "quotas/%s: there is no local user %s", name, name);
    return 0;
}

int quota_usage_text(struct cfs_store *st, const struct cfs_res *q, const char *name, char **out,
                     struct cfs_err *err)
{
    struct passwd pw, *res = NULL;
    struct group gr, *gres = NULL;
    char buf[16384], text[48];
    struct amounts use;
    *out = NULL;
    for (int i = 0; i < Q_COUNT; i++) {
        if (strcmp(items[i].name, name))
            continue;
        bool group = q->name[0] == '@';
        if (group ? getgrnam_r(q->name + 1, &gr, buf, sizeof(buf), &gres) != 0 || !gres
                  : getpwnam_r(q->name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
            *out = strdup("");      /* the user or group is gone: nothing to count */
        } else {
            if ((group ? group_usage(st, gr.gr_gid, 0, &use, err)
                       : usage_of(st, pw.pw_uid, 0, &use, err)) < 0)
                return -1;
            format(i, use.v[i], text, sizeof(text));
            *out = strdup(text);
        }
        return *out ? 0 : cfs_err_set(err, ENOMEM, "out of memory");
    }
    return cfs_err_set(err, ENOENT, "no usage named %s", name);
}
