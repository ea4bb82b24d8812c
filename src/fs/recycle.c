/* recycle.c: /recycle, the recycle bin (recycle.h). */
#include "recycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status_keys.h"

const char *const recycle_file_names[RECYCLE_NFILES] = {"origin", "kind", "expires"};

bool recycle_applies(const struct cfs_conf *conf, const struct cfs_kind *k)
{
    return conf->recycle && k->recycle;
}

int recycle_res(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                const struct cfs_actor *actor, struct cfs_err *err)
{
    int64_t expires = (int64_t)time(NULL) + conf->recycle_retention;
    return store_res_recycle(st, r, expires, actor, err);
}

void recycle_entry_name(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len)
{
    char *name = store_status_text(st, r->id, CFS_ST_RECYCLE_NAME);
    snprintf(buf, len, "%s.%lld", name[0] ? name : r->kind->name, (long long)r->id);
    free(name);
}

int recycle_step(struct cfs_store *st, struct cfs_node *cur, const char *name,
                 struct cfs_err *err)
{
    if (cur->type == NODE_RECYCLED) {
        for (int i = 0; i < RECYCLE_NFILES; i++) {
            if (!strcmp(name, recycle_file_names[i])) {
                cur->type = NODE_RECYCLEFILE;
                return 0;
            }
        }
        return cfs_err_set(err, ENOENT, "no such entry '%.64s'", name);
    }
    /* NAME.ID: the id finds the row, the whole name must match it. */
    const char *dot = strrchr(name, '.');
    char *end = NULL;
    long long id = dot ? strtoll(dot + 1, &end, 10) : 0;
    struct cfs_res r;
    char want[NAME_MAX + 1];
    struct cfs_err ignore;
    if (!dot || !dot[1] || *end || id <= 0 || store_res_get(st, id, &r, &ignore) < 0 ||
        !r.recycled)
        return cfs_err_set(err, ENOENT, "no such entry '%.64s'", name);
    recycle_entry_name(st, &r, want, sizeof(want));
    if (strcmp(want, name))
        return cfs_err_set(err, ENOENT, "no such entry '%.64s'", name);
    cur->type = NODE_RECYCLED;
    cur->res = r;
    cur->kind = r.kind;
    return 0;
}

int recycle_file_text(struct cfs_store *st, const struct cfs_node *n, char **out, size_t *len)
{
    char *v = NULL;
    char text[64];
    if (!strcmp(n->name, recycle_file_names[RECYCLE_ORIGIN])) {
        v = store_status_text(st, n->res.id, CFS_ST_RECYCLE_ORIGIN);
    } else if (!strcmp(n->name, recycle_file_names[RECYCLE_KIND])) {
        v = strdup(n->res.kind->name);
    } else {
        char *e = store_status_text(st, n->res.id, CFS_ST_RECYCLE_EXPIRES);
        time_t t = (time_t)strtoll(e, NULL, 10);
        struct tm tm;
        free(e);
        gmtime_r(&t, &tm);
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
        v = strdup(text);
    }
    if (!v)
        return -ENOMEM;
    size_t l = strlen(v);
    *out = malloc(l + 2);
    if (!*out) {
        free(v);
        return -ENOMEM;
    }
    memcpy(*out, v, l);
    (*out)[l] = '\n';
    (*out)[l + 1] = '\0';
    *len = l + 1;
    free(v);
    return 0;
}
