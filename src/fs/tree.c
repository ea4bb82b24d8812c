/* tree.c: path resolution over the layout and the store. */
#include "tree.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recycle.h"
#include "resolve_cache.h"
#include "scratch.h"
#include "tags_index.h"

const char *const cfs_rootfile_names[ROOTFILE_COUNT] = {"README", "version", "events", "audit",
                                                        "metrics", "last-error"};

bool tree_is_scratch_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX)
        return false;
    if (name[0] == '.' || name[n - 1] == '~')
        return strcmp(name, ".") && strcmp(name, "..");
    if (name[0] == '#' && name[n - 1] == '#' && n > 2)
        return true;
    static const char *const suffixes[] = {".swp", ".swx", ".tmp", ".bak", ".orig", ".new"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl && !strcmp(name + n - sl, suffixes[i]))
            return true;
    }
    if (n == 9 && !strncmp(name, "sed", 3)) {
        bool alnum = true;
        for (size_t i = 3; i < n; i++)
            alnum = alnum && isalnum((unsigned char)name[i]);
        if (alnum)
            return true;
    }
    bool digits = true;
    for (size_t i = 0; i < n; i++)
        digits = digits && isdigit((unsigned char)name[i]);
    return digits;
}

/* Step from node cur into the child called name. */
static int step(struct cfs_store *st, uint64_t gen, struct cfs_node *cur, const char *name,
                struct cfs_err *err)
{
    const struct cfs_layout *l = store_layout(st);
    const struct cfs_kind *k;
    switch (cur->type) {
    case NODE_ROOT:
        for (int i = 0; i < ROOTFILE_COUNT; i++) {
            if (!strcmp(name, cfs_rootfile_names[i])) {
                cur->type = NODE_ROOTFILE;
                cur->rootfile = (enum cfs_rootfile)i;
                return 0;
            }
        }
        if (!strcmp(name, TREE_TAGS_DIR)) {
            cur->type = NODE_TAGS;
            return 0;
        }
        if (!strcmp(name, RECYCLE_DIR)) {
            cur->type = NODE_RECYCLE;
            return 0;
        }
        k = layout_child_by_collection(l, NULL, name);
        if (!k)
            break;
        cur->type = NODE_COLL;
        cur->kind = k;
        return 0;
    case NODE_COLL: {
        struct cfs_res r;
        if (!resolve_cache_get(st, gen, cur->res.id, cur->kind, name, &r)) {
            if (store_res_find(st, cur->res.id, cur->kind, name, &r, err) < 0)
                return -1;
            resolve_cache_put(st, gen, cur->res.id, cur->kind, name, &r);
        }
        cur->type = NODE_RES;
        cur->res = r;
        cur->kind = r.kind;
        return 0;
    }
    case NODE_RES: {
        const struct cfs_kind *rk = cur->res.kind;
        if ((cur->attr = layout_attr(rk, name)) != NULL) {
            cur->type = NODE_ATTR;
            return 0;
        }
        if (rk->system && (cur->status = layout_status(rk, name)) != NULL) {
            cur->type = NODE_STATUS;
            return 0;
        }
        if (!rk->system && !strcmp(name, "status")) {
            cur->type = NODE_STATUSDIR;
            return 0;
        }
        if (rk->reconciled && !strcmp(name, "wait")) {
            cur->type = NODE_WAIT;
            return 0;
        }
        if ((cur->link = layout_link(rk, name)) != NULL) {
            cur->type = NODE_LINKDIR;
            return 0;
        }
        if ((k = layout_child_by_collection(l, rk, name)) != NULL) {
            cur->type = NODE_COLL;
            cur->kind = k;
            return 0;
        }
        if (scratch_exists(cur->res.id, name)) {
            cur->type = NODE_SCRATCH;
            return 0;
        }
        break;
    }
    case NODE_STATUSDIR:
        if ((cur->status = layout_status(cur->res.kind, name)) != NULL) {
            cur->type = NODE_STATUS;
            return 0;
        }
        if ((cur->back = layout_backlink(cur->res.kind, name)) != NULL) {
            cur->type = NODE_BACKDIR;
            return 0;
        }
        if (!strcmp(name, "events")) {
            cur->type = NODE_EVENTLOG;
            return 0;
        }
        break;
    case NODE_BACKDIR: {
        char *via = NULL;
        struct cfs_err ignore;
        bool ok = store_res_find(st, cur->res.parent, cur->back->kind, name, &cur->target,
                                 err) == 0 &&
                  store_status_get(st, cur->target.id, cur->back->via, &via, NULL, &ignore) == 0 &&
                  !strcmp(via, cur->res.name);
        free(via);
        if (!ok)
            break;
        cur->type = NODE_BACKLINK;
        return 0;
    }
    /* The index as the store has it; what a reader may see of it, the
     * mount decides (fs_ops.c). */
    case NODE_TAGS:
    case NODE_TAGKEY: {
        bool key = cur->type == NODE_TAGS;
        int found = tags_exist(st, NULL, key ? name : cur->tag_key, key ? NULL : name, err);
        if (found < 0)
            return -1;
        if (!found)
            break;
        snprintf(key ? cur->tag_key : cur->tag_value, NAME_MAX + 1, "%s", name);
        cur->type = key ? NODE_TAGKEY : NODE_TAGVAL;
        return 0;
    }
    case NODE_TAGVAL:
        if (tags_find_link(st, cur->tag_key, cur->tag_value, name, &cur->res, err) < 0)
            return -1;
        cur->type = NODE_TAGLINK;
        return 0;
    case NODE_RECYCLE:
    case NODE_RECYCLED:
        return recycle_step(st, cur, name, err);
    case NODE_LINKDIR:
        if (store_link_find(st, &cur->res, cur->link, name, &cur->target, err) < 0)
            return -1;
        cur->type = NODE_LINK;
        return 0;
    default:
        return cfs_err_set(err, ENOTDIR, "not a directory");
    }
    return cfs_err_set(err, ENOENT, "no such entry '%.64s'", name);
}

static int walk(struct cfs_store *st, const char *path, size_t len, struct cfs_node *out,
                struct cfs_err *err)
{
    memset(out, 0, sizeof(*out));
    out->type = NODE_ROOT;
    /* Read before any lookup of this walk: see resolve_cache.c. */
    uint64_t gen = store_generation(st);
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t n = i - start;
        if (n == 0)
            break;
        if (n > NAME_MAX)
            return cfs_err_set(err, ENAMETOOLONG, "name too long");
        memcpy(out->name, path + start, n);
        out->name[n] = '\0';
        if (step(st, gen, out, out->name, err) < 0)
            return -1;
    }
    return 0;
}

int tree_resolve(struct cfs_store *st, const char *path, struct cfs_node *out,
                 struct cfs_err *err)
{
    return walk(st, path, strlen(path), out, err);
}

int tree_resolve_parent(struct cfs_store *st, const char *path, struct cfs_node *parent,
                        char leaf[NAME_MAX + 1], struct cfs_err *err)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    size_t n = len - slash;
    if (n == 0 || n > NAME_MAX)
        return cfs_err_set(err, n ? ENAMETOOLONG : EINVAL, "bad path");
    memcpy(leaf, path + slash, n);
    leaf[n] = '\0';
    return walk(st, path, slash, parent, err);
}
