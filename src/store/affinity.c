/* affinity.c: affinity and anti-affinity groups (see affinity.h). */
#include "affinity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

int affinity_rule_get(struct cfs_store *st, int64_t cluster, const char *group,
                      struct affinity_rule *rule, struct cfs_err *err)
{
    const struct cfs_kind *kg = layout_kind(store_layout(st), "affinity-group");
    struct cfs_res g;
    struct cfs_err ignore;
    memset(rule, 0, sizeof(*rule));
    if (!kg || !group[0] || store_res_find(st, cluster, kg, group, &g, &ignore) < 0 || g.deleted)
        return cfs_err_set(err, ENOENT, "affinity-group '%s' does not exist in this cluster",
                           group);
    char *policy = store_attr_text(st, g.id, "policy");
    char *enforcement = store_attr_text(st, g.id, "enforcement");
    snprintf(rule->group, sizeof(rule->group), "%s", g.name);
    rule->anti = strcmp(policy, "affinity") != 0;           /* the default: anti-affinity */
    rule->hard = strcmp(enforcement, "hard") == 0;          /* the default: soft */
    free(policy);
    free(enforcement);
    return 0;
}

struct collect {
    const char *group;
    int64_t exclude;
    struct affinity_view *v;
    size_t cap;
    bool oom;
};

static int collect_member(int64_t id, const char *name, char *const val[4], void *arg)
{
    struct collect *c = arg;
    if (id == c->exclude || strcmp(val[0], c->group))
        return 0;
    if (c->v->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct affinity_member *m = realloc(c->v->m, cap * sizeof(*m));
        if (!m) {
            c->oom = true;
            return 1;
        }
        c->v->m = m;
        c->cap = cap;
    }
    struct affinity_member *m = &c->v->m[c->v->n++];
    snprintf(m->vm, sizeof(m->vm), "%s", name);
    snprintf(m->host, sizeof(m->host), "%s", val[3][0] ? val[3] : val[1]);
    return 0;
}

static int by_host_then_name(const void *a, const void *b)
{
    const struct affinity_member *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    return c ? c : strcmp(x->vm, y->vm);
}

int affinity_view_load(struct cfs_store *st, int64_t cluster, const char *group,
                       int64_t exclude, struct affinity_view *v, struct cfs_err *err)
{
    /* The status host where the VM is placed, else the host it is pinned
     * to: a pinned VM starts there whatever the scheduler does meanwhile. */
    static const char *const names[4] = {"affinity-group", "host", NULL, "host"};
    struct collect c = {.group = group, .exclude = exclude, .v = v};
    memset(v, 0, sizeof(*v));
    if (!group[0])
        return 0;
    if (affinity_rule_get(st, cluster, group, &v->rule, err) < 0)
        return -1;
    if (store_children(st, cluster, "vm", names, collect_member, &c, err) < 0 || c.oom) {
        if (c.oom)
            cfs_err_set(err, ENOMEM, "out of memory");
        affinity_view_free(v);
        return -1;
    }
    if (v->n)
        qsort(v->m, v->n, sizeof(*v->m), by_host_then_name);
    return 0;
}

int affinity_view_of_vm(struct cfs_store *st, const struct cfs_res *vm, struct affinity_view *v,
                        struct cfs_err *err)
{
    char *group = store_attr_text(st, vm->id, "affinity-group");
    int ret = affinity_view_load(st, vm->parent, group, vm->id, v, err);
    free(group);
    return ret;
}

void affinity_view_free(struct affinity_view *v)
{
    free(v->m);
    v->m = NULL;
    v->n = 0;
}

int affinity_on_host(const struct affinity_view *v, const char *host)
{
    int n = 0;
    for (size_t i = 0; host[0] && i < v->n; i++)
        n += !strcmp(v->m[i].host, host);
    return n;
}

/* Append "vm A is on H" for the placed members that match (on host, or not
 * on host when others is set), comma-separated, as room allows. */
static void list_members(const struct affinity_view *v, const char *host, bool others,
                         char *why, size_t len)
{
    size_t used = strlen(why);
    for (size_t i = 0; i < v->n && used + 1 < len; i++) {
        const struct affinity_member *m = &v->m[i];
        if (!m->host[0] || (strcmp(m->host, host) == 0) == others)
            continue;
        int w = snprintf(why + used, len - used, "%svm %s is on %s", used ? ", " : "", m->vm,
                         m->host);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

bool affinity_keeps(const struct affinity_view *v, const char *host, char *why, size_t len)
{
    if (len)
        why[0] = '\0';
    if (!v->rule.group[0])
        return true;
    if (v->rule.anti) {
        if (affinity_on_host(v, host) == 0)
            return true;
        list_members(v, host, false, why, len);
        return false;
    }
    /* affinity: every placed member is on host (none placed: any host). */
    for (size_t i = 0; i < v->n; i++)
        if (v->m[i].host[0] && strcmp(v->m[i].host, host)) {
            list_members(v, host, true, why, len);
            return false;
        }
    return true;
}

int affinity_cost(const struct affinity_view *v, const char *host)
{
    if (!v->rule.group[0])
        return 0;
    int on = affinity_on_host(v, host);
    return v->rule.anti ? on : -on;
}

int affinity_may_run(struct cfs_store *st, const struct cfs_res *vm, const char *host,
                     char *why, size_t len, struct cfs_err *err)
{
    struct affinity_view v;
    char members[256];
    int ret = 1;
    if (len)
        why[0] = '\0';
    if (affinity_view_of_vm(st, vm, &v, err) < 0)
        return -1;
    if (v.rule.hard && !affinity_keeps(&v, host, members, sizeof(members))) {
        snprintf(why, len, "vm %s on host %s would break hard %s group %s (%s)", vm->name, host,
                 v.rule.anti ? "anti-affinity" : "affinity", v.rule.group, members);
        ret = 0;
    }
    affinity_view_free(&v);
    return ret;
}

char *affinity_violations(const struct affinity_view *v)
{
    struct textbuf b = {0};
    size_t placed = 0;
    tb_puts(&b, "");
    if (v->rule.anti) {
        /* Members are sorted by host: each run of two or more shares one. */
        for (size_t i = 0; i < v->n;) {
            size_t j = i;
            while (j < v->n && !strcmp(v->m[j].host, v->m[i].host))
                j++;
            if (v->m[i].host[0] && j - i > 1) {
                tb_puts(&b, b.len ? "\nvms" : "vms");
                for (size_t k = i; k < j; k++)
                    tb_printf(&b, "%s %s", k > i ? (k + 1 == j ? " and" : ",") : "", v->m[k].vm);
                tb_printf(&b, " share host %s", v->m[i].host);
            }
            i = j;
        }
    } else {
        const char *first = NULL;
        bool split = false;
        for (size_t i = 0; i < v->n; i++) {
            if (!v->m[i].host[0])
                continue;
            placed++;
            if (first && strcmp(first, v->m[i].host))
                split = true;
            first = first ? first : v->m[i].host;
        }
        if (split) {
            tb_puts(&b, "members on several hosts:");
            for (size_t i = 0; i < v->n; i++)
                if (v->m[i].host[0])
                    tb_printf(&b, " vm %s on %s%s", v->m[i].vm, v->m[i].host,
                              --placed ? "," : "");
        }
    }
    return tb_steal(&b, NULL);
}

static int by_name(const void *a, const void *b)
{
    const struct affinity_member *x = a, *y = b;
    return strcmp(x->vm, y->vm);
}

int affinity_status_text(struct cfs_store *st, const struct cfs_res *g, const char *name,
                         char **out, struct cfs_err *err)
{
    struct affinity_view v;
    struct textbuf b = {0};
    *out = NULL;
    if (strcmp(g->kind->name, "affinity-group") ||
        (strcmp(name, "members") && strcmp(name, "hosts") && strcmp(name, "violations")))
        return 0;
    if (affinity_view_load(st, g->parent, g->name, 0, &v, err) < 0)
        return -1;
    tb_puts(&b, "");
    if (!strcmp(name, "violations")) {
        *out = affinity_violations(&v);
    } else if (!strcmp(name, "hosts")) {
        for (size_t i = 0; i < v.n; i++) {
            if (!v.m[i].host[0])
                continue;
            if (i == 0 || strcmp(v.m[i - 1].host, v.m[i].host))
                tb_printf(&b, "%s%s", b.len ? "\n" : "", v.m[i].host);
            tb_printf(&b, " %s", v.m[i].vm);
        }
        *out = tb_steal(&b, NULL);
    } else {
        if (v.n)
            qsort(v.m, v.n, sizeof(*v.m), by_name);
        for (size_t i = 0; i < v.n; i++)
            tb_printf(&b, "%s%s", i ? "\n" : "", v.m[i].vm);
        *out = tb_steal(&b, NULL);
    }
    tb_free(&b);
    affinity_view_free(&v);
    if (!*out)
        return cfs_err_set(err, ENOMEM, "out of memory");
    return 1;
}
