/* tags_index.c: the /tags index (see tags_index.h). */
#include "tags_index.h"

#include <stdio.h>
#include <string.h>

int tags_link_name(struct cfs_store *st, const struct cfs_res *r, char name[NAME_MAX + 1],
                   struct cfs_err *err)
{
    char path[PATH_MAX];
    if (store_res_path(st, r, path, sizeof(path), err) < 0)
        return -1;
    /* "zones/A/clusters/B/vms/N": the names are every second component. */
    size_t used = (size_t)snprintf(name, NAME_MAX + 1, "%s", r->kind->name);
    bool is_name = false, fits = true;
    for (char *save = NULL, *c = strtok_r(path, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (is_name) {
            int w = snprintf(name + used, NAME_MAX + 1 - used, ":%s", c);
            if (w < 0 || (size_t)w > NAME_MAX - used) {
                fits = false;
                break;
            }
            used += (size_t)w;
        }
        is_name = !is_name;
    }
    if (!fits)
        snprintf(name, NAME_MAX + 1, "%s:%s", r->kind->name, r->uuid);
    return 0;
}

int tags_link_text(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                   struct cfs_err *err)
{
    char path[PATH_MAX];
    if (store_res_path(st, r, path, sizeof(path), err) < 0)
        return -1;
    int w = snprintf(buf, len, "../../../%s", path);
    if (w < 0 || (size_t)w >= len)
        return cfs_err_set(err, ENAMETOOLONG, "path too long");
    return 0;
}

/* May w see r?  (NULL: anyone may.) */
static bool sees(struct cfs_store *st, const struct events_viewer *w, const struct cfs_res *r)
{
    return !w || w->all || viewer_may_reach(st, w, r->id) == VIEWER_SEES;
}

struct exist_walk {
    struct cfs_store *st;
    const struct events_viewer *w;
    bool found;
};

static int exist_one(const char *key, const char *value, const struct cfs_res *r, void *arg)
{
    (void)key;
    (void)value;
    struct exist_walk *e = arg;
    e->found = sees(e->st, e->w, r);
    return e->found;
}

int tags_exist(struct cfs_store *st, const struct events_viewer *w, const char *key,
               const char *value, struct cfs_err *err)
{
    struct exist_walk e = {st, w, false};
    if (store_tags_list(st, key, value, exist_one, &e, err) < 0)
        return -1;
    return e.found ? 1 : 0;
}

struct find_walk {
    struct cfs_store *st;
    const char *name;
    struct cfs_res *out;
    bool found;
};

static int find_one(const char *key, const char *value, const struct cfs_res *r, void *arg)
{
    (void)key;
    (void)value;
    struct find_walk *f = arg;
    char name[NAME_MAX + 1];
    struct cfs_err ignore;
    if (tags_link_name(f->st, r, name, &ignore) < 0 || strcmp(name, f->name))
        return 0;
    *f->out = *r;
    f->found = true;
    return 1;
}

int tags_find_link(struct cfs_store *st, const char *key, const char *value, const char *name,
                   struct cfs_res *out, struct cfs_err *err)
{
    struct find_walk f = {st, name, out, false};
    if (store_tags_list(st, key, value, find_one, &f, err) < 0)
        return -1;
    if (!f.found)
        return cfs_err_set(err, ENOENT, "no such entry '%.64s'", name);
    return 0;
}

struct list_walk {
    struct cfs_store *st;
    const struct events_viewer *w;
    bool links;             /* listing a KEY/VALUE directory */
    bool keys;              /* listing /tags itself */
    char last[NAME_MAX + 1];/* the key or value listed last: each once */
    tags_entry_cb cb;
    void *arg;
};

static int list_one(const char *key, const char *value, const struct cfs_res *r, void *arg)
{
    struct list_walk *l = arg;
    const char *entry = l->keys ? key : value;
    if (!l->links && l->last[0] && !strcmp(l->last, entry))
        return 0;   /* already listed */
    if (!sees(l->st, l->w, r))
        return 0;
    if (!l->links) {
        snprintf(l->last, sizeof(l->last), "%s", entry);
        return l->cb(entry, NULL, l->arg);
    }
    char name[NAME_MAX + 1];
    struct cfs_err ignore;
    if (tags_link_name(l->st, r, name, &ignore) < 0)
        return 0;   /* gone meanwhile */
    return l->cb(name, r, l->arg);
}

int tags_list(struct cfs_store *st, const struct events_viewer *w, const char *key,
              const char *value, tags_entry_cb cb, void *arg, struct cfs_err *err)
{
    struct list_walk l = {.st = st, .w = w, .links = key && value, .keys = !key, .cb = cb,
                          .arg = arg};
    return store_tags_list(st, key, key ? value : NULL, list_one, &l, err);
}
