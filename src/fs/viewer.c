/* viewer.c: what a reader of the tree may see (see viewer.h). */
#include "viewer.h"

bool viewer_in_group(const struct events_viewer *w, gid_t gid)
{
    if (w->gid == gid)
        return true;
    for (int i = 0; i < w->ngroups; i++)
        if (w->groups[i] == gid)
            return true;
    return false;
}

bool viewer_may_search(const struct events_viewer *w, const struct cfs_res *r)
{
    if (w->all)
        return true;
    if (r->uid == w->uid)
        return (r->mode & 0100) != 0;
    if (viewer_in_group(w, r->gid))
        return (r->mode & 0010) != 0;
    return (r->mode & 0001) != 0;
}

bool viewer_may_read_status(const struct events_viewer *w, const struct cfs_res *r)
{
    return w->all || r->uid == 0 || r->uid == w->uid || viewer_in_group(w, r->gid);
}

enum viewer_reach viewer_may_reach(struct cfs_store *st, const struct events_viewer *w,
                                   int64_t id)
{
    struct cfs_res r;
    struct cfs_err err;
    enum viewer_reach ret = VIEWER_SEES;   /* so far */
    for (int depth = 0; id != 0 && depth < 32; depth++) {
        if (store_res_get(st, id, &r, &err) != 0)
            return depth == 0 ? VIEWER_GONE : ret;    /* a parent going: its own events */
        if (!viewer_may_search(w, &r))
            return VIEWER_HIDDEN;
        id = r.parent;
    }
    return ret;
}
