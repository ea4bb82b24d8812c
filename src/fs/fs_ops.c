/* fs_ops.c: FUSE entry points.
 *
 * Every operation resolves its path to a node (tree.c) and dispatches on the
 * node type; the behaviour of each type lives in one switch arm.  Values are
 * validated by value.c and committed by store.c; refused writes return the
 * errno of the error and leave the reason in the resource's status/error.
 */
#define FUSE_USE_VERSION 312
#include "fs_ops.h"

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "affinity.h"
#include "audit.h"
#include "events.h"
#include "last_error.h"
#include "metrics.h"
#include "notify_fs.h"
#include "pool_cap.h"
#include "precond_pool_move.h"
#include "precond.h"
#include "precond_net.h"
#include "precond_vmsnap.h"
#include "quota.h"
#include "readers.h"
#include "recycle.h"
#include "scratch.h"
#include "status_keys.h"
#include "store.h"
#include "tree.h"
#include "uri_policy.h"
#include "user_file.h"
#include "value.h"
#include "version.h"
#include "tags_index.h"
#include "viewer.h"
#include "vm_clone.h"
#include "wait.h"

/* FUSE worker threads beyond the mount's blocking readers (mount-readers):
 * what ordinary requests have even when every reader blocks one. */
#define FS_THREAD_MARGIN 64
/* Idle worker threads kept after a burst; the rest exit. */
#define FS_IDLE_THREADS 16

struct cfs_fs {
    const struct cfs_conf *conf;
    const struct cfs_layout *layout;
    struct cfs_store *st;
    char *mountpoint;       /* absolute, for absolute symlink targets */
    char *readme;
    struct notify_fs *nf;   /* inotify for changes made elsewhere; the change feed */
    bool has_admin_gid;     /* cloudfs.conf admin-group names a group */
    gid_t admin_gid;
};

/* One open file. */
struct cfs_fh {
    struct cfs_node node;
    char *content;          /* snapshot for reads */
    size_t len;
    char *wbuf;             /* bytes written since the last commit */
    size_t wlen, wcap;
    off_t base;             /* file offset of wbuf[0] */
    struct wait_mark mark;  /* WAIT: what "converged" means for this reader */
    struct events_reader *events;   /* ROOTFILE_EVENTS */
    bool reader;            /* holds a blocking-reader slot of reader_uid (readers.h) */
    uid_t reader_uid;
    bool self;              /* opened by the notifier to raise events: no effect */
    bool writable;
    bool append;            /* BLOB opened with O_APPEND: writes extend the value */
    bool dirty;             /* BLOB bytes written and not yet committed */
    bool truncated;         /* opened with O_TRUNC or truncated */
    bool committed;         /* a value was committed through this handle */
    int error;              /* errno of a refused BLOB write, reported again at close */
};

static struct cfs_fs *fs_self(void)
{
    return fuse_get_context()->private_data;
}

/* The caller of the current request, for the changes log. */
struct actor_buf {
    struct cfs_actor actor;
    char comm[32];
};

static void actor_init(struct actor_buf *a)
{
    struct fuse_context *ctx = fuse_get_context();
    memset(a, 0, sizeof(*a));
    a->actor.who = "fs";
    a->actor.uid = ctx->uid;
    a->actor.pid = ctx->pid;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)ctx->pid);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(a->comm, sizeof(a->comm), f))
            a->comm[strcspn(a->comm, "\n")] = '\0';
        fclose(f);
    }
    a->actor.comm = a->comm;
}

/* Drop the kernel's cached stat of a path whose size, times or owner changed
 * as a side effect of an operation on another path (attr_timeout would keep
 * the old ones for a second).  Never blocks: there is no writeback cache. */
static void forget_stat(const char *path)
{
    fuse_invalidate_path(fuse_get_context()->fuse, path);
}

/* The same for the file rel ("status/error") of resource r. */
static void forget_res_stat(const struct cfs_res *r, const char *rel)
{
    char rpath[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
    struct cfs_err ignore;
    if (store_res_path(fs_self()->st, r, rpath, sizeof(rpath), &ignore) == 0) {
        snprintf(path, sizeof(path), "/%s/%s", rpath, rel);
        forget_stat(path);
    }
}

/* The caller may act as the operator: root, or a member (primary or
 * supplementary group) of cloudfs.conf's admin-group. */
static bool caller_is_operator(void)
{
    struct fuse_context *ctx = fuse_get_context();
    struct cfs_fs *fs = ctx->private_data;
    if (ctx->uid == 0)
        return true;
    if (!fs->has_admin_gid)
        return false;
    if (ctx->gid == fs->admin_gid)
        return true;
    gid_t groups[256];
    int n = fuse_getgroups(256, groups);
    if (n > 256)
        n = 256;
    for (int i = 0; i < n; i++)
        if (groups[i] == fs->admin_gid)
            return true;
    return false;
}

/* The caller's credentials, for what /events shows it. */
static void caller_viewer(struct events_viewer *w)
{
    struct fuse_context *ctx = fuse_get_context();
    memset(w, 0, sizeof(*w));
    w->all = caller_is_operator();
    w->uid = ctx->uid;
    w->gid = ctx->gid;
    int n = fuse_getgroups(64, w->groups);
    w->ngroups = n < 0 ? 0 : n > 64 ? 64 : n;
}

/* May the caller read res's status files (its modes, observed_mode())? */
static bool caller_reads_status_of(const struct cfs_res *res)
{
    struct events_viewer w;
    caller_viewer(&w);
    return viewer_may_read_status(&w, res);
}

/* Leave a refused request's reason in status/error of res, when the caller
 * may read that file (root's resources: only when the caller is an
 * operator, so a tenant's refusal neither shows in a file everyone reads
 * nor hides the operator's error), and in the caller's /last-error. */
static int refuse(const struct cfs_res *res, const struct cfs_err *err)
{
    struct cfs_fs *fs = fs_self();
    char path[1024] = "/";
    struct cfs_err ignore;
    if (res && res->id && store_res_path(fs->st, res, path, sizeof(path), &ignore) < 0)
        snprintf(path, sizeof(path), "%s", res->name);
    last_error_note(fuse_get_context()->uid, path, err->msg);
    if (res && res->id && (res->uid != 0 || caller_is_operator()) &&
        caller_reads_status_of(res)) {
        struct actor_buf a;
        actor_init(&a);
        if (store_status_set(fs->st, res, "error", err->msg, &a.actor, &ignore) == 0)
            forget_res_stat(res, "status/error");
    }
    return -(err->code ? err->code : EIO);
}

/* A refusal that concerns the caller alone (its own caps): the reason goes
 * to its /last-error only, never to a status/error others read. */
static int refuse_caller(const char *path, const struct cfs_err *err)
{
    last_error_note(fuse_get_context()->uid, path, err->msg);
    return -(err->code ? err->code : EIO);
}

/* A blocking reader (/events, a wait file) is being opened: take a slot of
 * the caller's cap and the mount's (readers.h) for fh. */
static int reader_take(const char *path, struct cfs_fh *fh)
{
    struct cfs_err err;
    uid_t uid = fuse_get_context()->uid;
    if (readers_acquire(uid, !caller_is_operator(), &err) < 0)
        return refuse_caller(path, &err);
    fh->reader = true;
    fh->reader_uid = uid;
    return 0;
}

/* A path the daemons will read (layout "user-file = true"): the caller
 * must be able to open it, as itself, without symlinks, a regular file. */
static int caller_may_read(const char *path, struct cfs_err *err)
{
    struct fuse_context *ctx = fuse_get_context();
    gid_t groups[256];
    int n = fuse_getgroups(256, groups);
    if (n < 0)
        n = 0;
    if (n > 256)
        n = 256;
    int fd = -1;
    if (user_file_open(path, ctx->uid, ctx->gid, groups, (size_t)n, &fd, err) < 0)
        return -1;
    close(fd);
    return 0;
}

/* A tenant names in a reference or a link only what it may use: its own
 * resources, the operator's kinds (offerings, pools, hosts), and root's
 * resources of a shared kind (public images); root and the admin group
 * anything.  Another user's volume or private image: EACCES. */
static int caller_may_use(const struct cfs_res *t, struct cfs_err *err)
{
    struct fuse_context *ctx = fuse_get_context();
    if (t->kind->operator_only || t->uid == ctx->uid || (t->kind->shared && t->uid == 0) ||
        caller_is_operator())
        return 0;
    return cfs_err_set(err, EACCES, "%s %s belongs to another user", t->kind->name, t->name);
}

/* The resource a reference names (a sibling's name, a top-level name, or
 * a path "VOLUME/SNAPSHOT" from the common ancestor); false when there is
 * none (precond_attr and the store then say why). */
static bool ref_target(const struct cfs_res *r, const struct cfs_attr_def *a, const char *value,
                       struct cfs_res *out)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_err ignore;
    if (a->ref_depth > 1)
        return store_ref_resolve(fs->st, r, a, value, out, &ignore) == 0;
    return store_res_find(fs->st, a->ref_kind->parent ? r->parent : 0, a->ref_kind, value, out,
                          &ignore) == 0;
}

/* An operator attribute (layout "operator = true"): the root daemons act on
 * its value as root, so owning the resource is not enough to write it. */
static int refuse_operator_attr(const struct cfs_node *n)
{
    struct cfs_err err;
    cfs_err_set(&err, EPERM, "%s is an operator attribute: only root or the admin group write it",
                n->attr->name);
    return refuse(&n->res, &err);
}

/* Kinds of the operator (layout "operator = true" on the kind). */
static int refuse_operator_kind(const struct cfs_res *res, const struct cfs_kind *k,
                                const char *what)
{
    struct cfs_err err;
    cfs_err_set(&err, EPERM, "%s %s: only root or the admin group do that", k->name, what);
    return refuse(res, &err);
}

static void clear_error(const struct cfs_res *res, const struct cfs_actor *actor)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_err ignore;
    char *old = NULL;
    /* Most writes find it empty: a read spares them a write transaction. */
    if (store_status_get(fs->st, res->id, "error", &old, NULL, &ignore) == 0 && old[0] &&
        store_status_set(fs->st, res, "error", "", actor, &ignore) == 0)
        forget_res_stat(res, "status/error");
    free(old);
}

static int resolve(const char *path, struct cfs_node *n)
{
    struct cfs_err err;
    cfs_err_clear(&err);
    if (tree_resolve(fs_self()->st, path, n, &err) < 0)
        return -(err.code ? err.code : ENOENT);
    /* The index shows a reader only what it may reach, as if the rest
     * were not there. */
    if (n->type == NODE_TAGKEY || n->type == NODE_TAGVAL || n->type == NODE_TAGLINK) {
        struct events_viewer w;
        caller_viewer(&w);
        int seen = n->type == NODE_TAGLINK
                       ? w.all || viewer_may_reach(fs_self()->st, &w, n->res.id) == VIEWER_SEES
                       : tags_exist(fs_self()->st, &w, n->tag_key,
                                    n->type == NODE_TAGVAL ? n->tag_value : NULL, &err);
        if (seen < 0)
            return -(err.code ? err.code : EIO);
        if (!seen)
            return -ENOENT;
    }
    /* The bin shows each owner their own resources, the operator all. */
    if ((n->type == NODE_RECYCLED || n->type == NODE_RECYCLEFILE) && !caller_is_operator() &&
        fuse_get_context()->uid != n->res.uid)
        return -ENOENT;
    return 0;
}

/* /tags and what is under it: an index, never written through. */
static bool in_tags(const char *path)
{
    size_t n = strlen(TREE_TAGS_DIR);
    return path[0] == '/' && !strncmp(path + 1, TREE_TAGS_DIR, n) &&
           (path[n + 1] == '\0' || path[n + 1] == '/');
}

static int refuse_tags(void)
{
    struct cfs_err err;
    cfs_err_set(&err, EROFS, "/" TREE_TAGS_DIR " is a read-only index: write a resource's tags file");
    return refuse(NULL, &err);
}

/* ---- content of files ---- */

static char *with_newline(const char *v, size_t *len)
{
    size_t n = strlen(v);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    memcpy(out, v, n);
    if (n)
        out[n++] = '\n';
    out[n] = '\0';
    *len = n;
    return out;
}

/* mtime of an attribute that still holds the default mkdir gave it.  Not the
 * creation time: rsync compares whole seconds and sizes, so a new resource
 * directory it has just made would look up to date against files written in
 * the same second ("running" over "stopped", "2C4G" over "1C2G") and the
 * values would silently stay at their defaults.  One second after the epoch,
 * as Nix does for immutable files: "never changed". */
#define UNTOUCHED_NS 1000000000LL

/* Text of a static root file: a copy of str. */
static int text_copy(const char *str, char **out, size_t *len)
{
    if (!(*out = strdup(str)))
        return -ENOMEM;
    *len = strlen(*out);
    return 0;
}

static int render_readme(char **out, size_t *len)
{
    return text_copy(fs_self()->readme, out, len);
}

static int render_version(char **out, size_t *len)
{
    return text_copy("cloudfs " CFS_VERSION "\n", out, len);
}

/* /events is a stream read through events_read: its text is empty. */
static int render_stream(char **out, size_t *len)
{
    return text_copy("", out, len);
}

static int render_audit(char **out, size_t *len)
{
    struct events_viewer w;
    caller_viewer(&w);
    return audit_render(fs_self()->st, &w, out, len);
}

static int render_metrics(char **out, size_t *len)
{
    struct events_viewer w;
    caller_viewer(&w);
    return metrics_render(fs_self()->st, &w, out, len);
}

static int render_last_error(char **out, size_t *len)
{
    *out = last_error_text(fuse_get_context()->uid, len);
    return *out ? 0 : -ENOMEM;
}

/* The mount's root files, registered in one table as pmxcfs registers its
 * plugs (names in tree.c, which resolves them): how each is listed, stated,
 * opened and read. */
static const struct rootfile_ops {
    bool hidden;        /* not listed: its reads block, and grep -r or a backup would hang */
    bool per_reader;    /* computed for the reader when opened (like /proc): size 0 */
    bool stream;        /* opened as a blocking stream (events_open) */
    int (*render)(char **out, size_t *len);
} rootfile_ops[ROOTFILE_COUNT] = {
    [ROOTFILE_README] = {.render = render_readme},
    [ROOTFILE_VERSION] = {.render = render_version},
    [ROOTFILE_EVENTS] = {.hidden = true, .per_reader = true, .stream = true,
                         .render = render_stream},
    [ROOTFILE_AUDIT] = {.per_reader = true, .render = render_audit},
    [ROOTFILE_METRICS] = {.per_reader = true, .render = render_metrics},
    [ROOTFILE_LAST_ERROR] = {.per_reader = true, .render = render_last_error},
};

/* Text of a file node (malloc'd) and its mtime in ns. */
static int node_content(const struct cfs_node *n, char **out, size_t *len, int64_t *mtime)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_err err;
    char *v = NULL;
    int64_t t = 0;
    *out = NULL;
    *len = 0;
    switch (n->type) {
    case NODE_ROOTFILE:
        if (mtime)
            *mtime = 0;
        return rootfile_ops[n->rootfile].render(out, len);
    case NODE_EVENTLOG:
        return events_recent(fs->st, n->res.id, out, len);
    case NODE_RECYCLEFILE:
        if (mtime)
            *mtime = n->res.mtime;
        return recycle_file_text(fs->st, n, out, len);
    case NODE_ATTR:
        t = n->res.mtime;
        if (n->attr->type == CFS_T_SECRET || n->attr->type == CFS_T_VERB) {
            *out = strdup("");  /* write-only */
        } else if (store_attr_get(fs->st, n->res.id, n->attr->name, &v, &t, &err) < 0) {
            if (err.code != ENOENT)
                return -err.code;
            *out = with_newline(n->attr->def, len);
            t = UNTOUCHED_NS;
        } else {
            if (t == n->res.ctime)
                t = UNTOUCHED_NS;   /* the default mkdir wrote, never changed */
            if (n->attr->type == CFS_T_BLOB) {
                *len = strlen(v);
                *out = v;
                v = NULL;
            } else {
                *out = with_newline(v, len);
            }
        }
        break;
    case NODE_STATUS:
        t = n->res.mtime;
        if (pool_cap_status_text(fs->st, fs->conf, &n->res, n->status->name, &v, &err) != 0) {
            if (!v)
                return -err.code;   /* a pool's allocated, allowed: counted now */
            *out = with_newline(v, len);
            t = store_now();
        } else if (affinity_status_text(fs->st, &n->res, n->status->name, &v, &err) != 0) {
            if (!v)
                return -err.code;   /* a group's members, hosts, violations: counted now */
            *out = with_newline(v, len);
            t = store_now();
        } else if (!strcmp(n->res.kind->name, "quota") && strcmp(n->status->name, "error")) {
            /* Usage is counted at each read, never stored: it is always now's. */
            if (quota_usage_text(fs->st, &n->res, n->status->name, &v, &err) < 0)
                return -err.code;
            *out = with_newline(v, len);
            t = store_now();
        } else if (store_status_get(fs->st, n->res.id, n->status->name, &v, &t, &err) < 0) {
            if (err.code != ENOENT)
                return -err.code;
            *out = strdup("");
        } else {
            *out = with_newline(v, len);
        }
        break;
    default:
        return -EISDIR;
    }
    free(v);
    if (!*out)
        return -ENOMEM;
    if (mtime)
        *mtime = t;
    return 0;
}

/* ---- stat ---- */

static void set_time(struct stat *s, int64_t ns)
{
    s->st_mtim.tv_sec = ns / 1000000000LL;
    s->st_mtim.tv_nsec = ns % 1000000000LL;
    s->st_ctim = s->st_mtim;
    s->st_atim = s->st_mtim;
}

static int64_t start_time_ns;

static void dir_stat(struct stat *s, mode_t mode, nlink_t nlink, const struct cfs_res *owner,
                     int64_t mtime);
static nlink_t coll_nlink(const struct cfs_node *n);

/* Who may add to a collection.  Collections of operator and system kinds
 * are root's.  A tenant kind's collection at the top or under a resource
 * of root's (vms/ of a cluster) is root's and sticky, as /tmp: anyone
 * makes resources there and removes or renames only their own.  Any
 * other collection (a VM's nics/, a volume's snapshots/) is the owner's of
 * the resource it is in. */
static void coll_stat(struct stat *s, const struct cfs_node *n)
{
    const struct cfs_res *in = n->res.id ? &n->res : NULL;
    nlink_t nlink = coll_nlink(n);
    int64_t mtime = in ? in->mtime : 0;
    if (n->kind->operator_only || n->kind->system)
        dir_stat(s, 0755, nlink, NULL, mtime);
    else if (n->kind->tenant && (!in || in->uid == 0))
        dir_stat(s, 01777, nlink, NULL, mtime);
    else
        dir_stat(s, 0755, nlink, in, mtime);
}

static void dir_stat(struct stat *s, mode_t mode, nlink_t nlink, const struct cfs_res *owner,
                     int64_t mtime)
{
    memset(s, 0, sizeof(*s));
    s->st_mode = S_IFDIR | mode;
    s->st_nlink = nlink;
    s->st_uid = owner ? owner->uid : 0;
    s->st_gid = owner ? owner->gid : 0;
    s->st_size = 0;
    s->st_blksize = 4096;
    set_time(s, mtime ? mtime : start_time_ns);
}

/* A symbolic link holding text, owned as owner. */
static void link_stat(struct stat *s, const struct cfs_res *owner, const char *text,
                      int64_t mtime)
{
    memset(s, 0, sizeof(*s));
    s->st_mode = S_IFLNK | 0777;
    s->st_nlink = 1;
    s->st_uid = owner->uid;
    s->st_gid = owner->gid;
    s->st_size = (off_t)strlen(text);
    set_time(s, mtime);
}

static void file_stat(struct stat *s, mode_t mode, size_t size, const struct cfs_res *owner,
                      int64_t mtime)
{
    memset(s, 0, sizeof(*s));
    s->st_mode = S_IFREG | mode;
    s->st_nlink = 1;
    s->st_uid = owner ? owner->uid : 0;
    s->st_gid = owner ? owner->gid : 0;
    s->st_size = (off_t)size;
    s->st_blocks = (blkcnt_t)((size + 511) / 512);
    s->st_blksize = 4096;
    set_time(s, mtime ? mtime : start_time_ns);
}

static nlink_t res_nlink(const struct cfs_kind *k)
{
    return (nlink_t)(3 + k->nchildren + k->nlinks);   /* ., .., status/ + subdirs */
}

static nlink_t coll_nlink(const struct cfs_node *n)
{
    int64_t count = 0;
    struct cfs_err err;
    store_res_count(fs_self()->st, n->res.id, n->kind, &count, &err);
    return (nlink_t)(2 + count);
}

/* Text of a relation symlink: relative, so it resolves under any mount
 * point.  LINK lives in <res>/<linkdir>/, BACKLINK in <res>/status/<dir>/;
 * both point at a sibling collection of <res>. */
static void link_text(const struct cfs_node *n, char *buf, size_t len)
{
    const struct cfs_kind *k = n->type == NODE_LINK ? n->link->kind : n->back->kind;
    snprintf(buf, len, "../../../%s%s/%s", n->type == NODE_BACKLINK ? "../" : "", k->collection,
             n->target.name);
}

/* What a resource's observed side (status/, its files, status/events,
 * wait) shows: everyone's for root's resources (the operator's kinds are
 * public within the cloud), owner's and group's for a tenant's, as the
 * attributes of a private VM are not: a VM's console, addresses, errors
 * and events are its owner's business. */
static mode_t observed_mode(const struct cfs_res *r, mode_t mode)
{
    return r->uid == 0 ? mode : mode & ~(mode_t)0007;
}

static int node_stat(const struct cfs_node *n, struct stat *s)
{
    struct cfs_fs *fs = fs_self();
    char *content = NULL;
    size_t len = 0;
    int64_t mtime = 0;
    int rc = 0;
    switch (n->type) {
    case NODE_ROOT:
        dir_stat(s, 0755, (nlink_t)(4 + fs->layout->nroots), NULL, 0);   /* tags/, recycle/ */
        break;
    case NODE_RECYCLE:
        /* Sticky, as /tmp: the kernel lets only an entry's owner (or the
         * operator) restore or expunge it. */
        dir_stat(s, 01777, 2, NULL, 0);
        break;
    case NODE_RECYCLED:
        /* Owner-writable: the kernel asks for it to move a directory to
         * another parent (mv back); nothing can be made inside. */
        dir_stat(s, observed_mode(&n->res, 0755), 2, &n->res, n->res.mtime);
        break;
    case NODE_RECYCLEFILE:
        rc = node_content(n, &content, &len, &mtime);
        if (rc < 0)
            return rc;
        file_stat(s, observed_mode(&n->res, 0444), len, &n->res, mtime);
        free(content);
        break;
    case NODE_TAGS:
    case NODE_TAGKEY:
    case NODE_TAGVAL:
        dir_stat(s, 0555, 2, NULL, 0);
        break;
    case NODE_TAGLINK: {
        char text[PATH_MAX];
        struct cfs_err err;
        if (tags_link_text(fs->st, &n->res, text, sizeof(text), &err) < 0)
            return -err.code;
        link_stat(s, &n->res, text, n->res.mtime);
        break;
    }
    case NODE_COLL:
        coll_stat(s, n);
        break;
    case NODE_RES:
        dir_stat(s, n->res.mode, res_nlink(n->res.kind), &n->res, n->res.mtime);
        break;
    case NODE_STATUSDIR:
        dir_stat(s, observed_mode(&n->res, 0555), (nlink_t)(2 + n->res.kind->nbacklinks),
                 &n->res, n->res.mtime);
        break;
    case NODE_BACKDIR:
        dir_stat(s, observed_mode(&n->res, 0555), 2, &n->res, n->res.mtime);
        break;
    case NODE_LINKDIR:
        dir_stat(s, 0755, 2, &n->res, n->res.mtime);
        break;
    case NODE_LINK:
    case NODE_BACKLINK: {
        char text[PATH_MAX];
        link_text(n, text, sizeof(text));
        link_stat(s, &n->res, text, n->target.mtime);
        break;
    }
    case NODE_SCRATCH: {
        struct scratch_info info;
        rc = scratch_stat(n->res.id, n->name, &info);
        if (rc < 0)
            return rc;
        memset(s, 0, sizeof(*s));
        s->st_mode = S_IFREG | info.mode;
        s->st_nlink = 1;
        s->st_uid = info.uid;
        s->st_gid = info.gid;
        s->st_size = (off_t)info.size;
        s->st_blksize = 4096;
        s->st_atim = info.atime;
        s->st_mtim = info.mtime;
        s->st_ctim = info.ctime;
        break;
    }
    case NODE_WAIT:
        file_stat(s, observed_mode(&n->res, 0444), 0, &n->res, n->res.mtime);
        break;
    case NODE_ROOTFILE:
        if (rootfile_ops[n->rootfile].per_reader) {
            /* Size 0: read to the end. */
            file_stat(s, 0444, 0, NULL, 0);
            break;
        }
        /* fall through */
    case NODE_EVENTLOG:
    case NODE_ATTR:
    case NODE_STATUS:
        rc = node_content(n, &content, &len, &mtime);
        if (rc < 0)
            return rc;
        file_stat(s,
                  n->type == NODE_ATTR       ? n->attr->mode
                  : n->type == NODE_STATUS   ? observed_mode(&n->res, n->status->mode)
                  : n->type == NODE_EVENTLOG ? observed_mode(&n->res, 0444)
                                             : 0444,
                  len,
                  n->type == NODE_ROOTFILE ? NULL : &n->res,
                  n->type == NODE_EVENTLOG ? n->res.mtime : mtime);
        free(content);
        break;
    }
    return rc;
}

static int cfs_getattr(const char *path, struct stat *s, struct fuse_file_info *fi)
{
    (void)fi;
    struct cfs_node n;
    struct cfs_fs *fs = fs_self();
    if (notify_fs_is_self(fs->nf)) {
        int self = notify_fs_getattr(fs->nf, path, s);
        if (self <= 0)
            return self;
    }
    store_read_begin(fs->st);
    int rc = resolve(path, &n);
    if (rc == 0)
        rc = node_stat(&n, s);
    store_read_end(fs->st);
    return rc;
}

/* ---- readdir ---- */

struct dir_fill {
    void *buf;
    fuse_fill_dir_t filler;
    struct cfs_node parent;
    int rc;
};

static int fill_res(const struct cfs_res *r, void *arg)
{
    struct dir_fill *d = arg;
    struct stat s;
    dir_stat(&s, r->mode, res_nlink(r->kind), r, r->mtime);
    return d->filler(d->buf, r->name, &s, 0, FUSE_FILL_DIR_PLUS) ? 1 : 0;
}

static int fill_link(const struct cfs_res *r, void *arg)
{
    struct dir_fill *d = arg;
    struct cfs_node n = d->parent;
    n.type = d->parent.type == NODE_BACKDIR ? NODE_BACKLINK : NODE_LINK;
    n.target = *r;
    struct stat s;
    node_stat(&n, &s);
    return d->filler(d->buf, r->name, &s, 0, FUSE_FILL_DIR_PLUS) ? 1 : 0;
}

static void fill_scratch(const char *name, const struct scratch_info *info, void *arg)
{
    struct dir_fill *d = arg;
    struct stat s;
    memset(&s, 0, sizeof(s));
    s.st_mode = S_IFREG | info->mode;
    s.st_nlink = 1;
    s.st_uid = info->uid;
    s.st_gid = info->gid;
    s.st_size = (off_t)info->size;
    s.st_mtim = info->mtime;
    s.st_atim = info->atime;
    s.st_ctim = info->ctime;
    d->filler(d->buf, name, &s, 0, FUSE_FILL_DIR_PLUS);
}

/* An entry of a /tags directory: a key or value directory, or a link to r. */
static int fill_tag(const char *name, const struct cfs_res *r, void *arg)
{
    struct dir_fill *d = arg;
    struct cfs_node c = d->parent;
    c.type = r ? NODE_TAGLINK : c.type == NODE_TAGS ? NODE_TAGKEY : NODE_TAGVAL;
    if (r)
        c.res = *r;
    struct stat s;
    if (node_stat(&c, &s) < 0)
        return 0;
    return d->filler(d->buf, name, &s, 0, FUSE_FILL_DIR_PLUS) ? 1 : 0;
}

static int fill_child(struct dir_fill *d, const char *name, const struct cfs_node *n)
{
    struct stat s;
    if (node_stat(n, &s) < 0)
        return 0;
    return d->filler(d->buf, name, &s, 0, FUSE_FILL_DIR_PLUS) ? 1 : 0;
}

/* An entry of /recycle the caller owns (the operator: every entry). */
static int fill_recycled(const struct cfs_res *r, void *arg)
{
    struct dir_fill *d = arg;
    char name[NAME_MAX + 1];
    if (!caller_is_operator() && fuse_get_context()->uid != r->uid)
        return 0;
    struct cfs_node c = d->parent;
    c.type = NODE_RECYCLED;
    c.res = *r;
    c.kind = r->kind;
    recycle_entry_name(fs_self()->st, r, name, sizeof(name));
    return fill_child(d, name, &c);
}

/* Hand every entry of the directory at path, with its attributes, to
 * filler, in listing order. */
static int dir_list(const char *path, void *buf, fuse_fill_dir_t filler)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_node n;
    struct cfs_err err;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    struct dir_fill d = {.buf = buf, .filler = filler, .parent = n};
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    switch (n.type) {
    case NODE_ROOT:
        for (int i = 0; i < ROOTFILE_COUNT; i++) {
            /* Like wait files, a hidden one opens for whoever names it. */
            if (rootfile_ops[i].hidden)
                continue;
            struct cfs_node c = n;
            c.type = NODE_ROOTFILE;
            c.rootfile = (enum cfs_rootfile)i;
            fill_child(&d, cfs_rootfile_names[i], &c);
        }
        for (size_t i = 0; i < fs->layout->nroots; i++) {
            struct cfs_node c = n;
            c.type = NODE_COLL;
            c.kind = fs->layout->roots[i];
            fill_child(&d, c.kind->collection, &c);
        }
        struct cfs_node c = n;
        c.type = NODE_TAGS;
        fill_child(&d, TREE_TAGS_DIR, &c);
        c.type = NODE_RECYCLE;
        fill_child(&d, RECYCLE_DIR, &c);
        break;
    case NODE_RECYCLE:
        if (store_recycled_list(fs->st, fill_recycled, &d, &err) < 0)
            return -err.code;
        break;
    case NODE_RECYCLED:
        for (int i = 0; i < RECYCLE_NFILES; i++) {
            struct cfs_node f = n;
            f.type = NODE_RECYCLEFILE;
            snprintf(f.name, sizeof(f.name), "%s", recycle_file_names[i]);
            fill_child(&d, f.name, &f);
        }
        break;
    case NODE_TAGS:
    case NODE_TAGKEY:
    case NODE_TAGVAL: {
        struct events_viewer w;
        caller_viewer(&w);
        if (tags_list(fs->st, &w, n.type == NODE_TAGS ? NULL : n.tag_key,
                      n.type == NODE_TAGVAL ? n.tag_value : NULL, fill_tag, &d, &err) < 0)
            return -err.code;
        break;
    }
    case NODE_COLL:
        if (store_res_list(fs->st, n.res.id, n.kind, fill_res, &d, &err) < 0)
            return -err.code;
        break;
    case NODE_RES: {
        const struct cfs_kind *k = n.res.kind;
        for (size_t i = 0; i < k->nattrs; i++) {
            struct cfs_node c = n;
            c.type = NODE_ATTR;
            c.attr = &k->attrs[i];
            fill_child(&d, c.attr->name, &c);
        }
        struct cfs_node c = n;
        if (k->system) {
            for (size_t i = 0; i < k->nstatus; i++) {
                c.type = NODE_STATUS;
                c.status = &k->status[i];
                fill_child(&d, c.status->name, &c);
            }
        } else {
            c.type = NODE_STATUSDIR;
            fill_child(&d, "status", &c);
        }
        /* wait is not listed: recursive readers (grep -r, rsync, a
         * backup) would block on it.  It is there for whoever names it. */
        for (size_t i = 0; i < k->nlinks; i++) {
            c = n;
            c.type = NODE_LINKDIR;
            c.link = &k->links[i];
            fill_child(&d, c.link->name, &c);
        }
        for (size_t i = 0; i < k->nchildren; i++) {
            c = n;
            c.type = NODE_COLL;
            c.kind = k->children[i];
            fill_child(&d, c.kind->collection, &c);
        }
        scratch_list(n.res.id, fill_scratch, &d);
        break;
    }
    case NODE_STATUSDIR:
        for (size_t i = 0; i < n.res.kind->nstatus; i++) {
            struct cfs_node c = n;
            c.type = NODE_STATUS;
            c.status = &n.res.kind->status[i];
            fill_child(&d, c.status->name, &c);
        }
        for (size_t i = 0; i < n.res.kind->nbacklinks; i++) {
            struct cfs_node c = n;
            c.type = NODE_BACKDIR;
            c.back = &n.res.kind->backlinks[i];
            fill_child(&d, c.back->name, &c);
        }
        if (!layout_status(n.res.kind, "events")) {
            struct cfs_node c = n;
            c.type = NODE_EVENTLOG;
            fill_child(&d, "events", &c);
        }
        break;
    case NODE_BACKDIR: {
        struct cfs_res *list = NULL;
        size_t count = 0;
        if (store_res_by_status(fs->st, n.back->kind, n.res.parent, n.back->via, n.res.name, &list,
                                &count, &err) < 0)
            return -err.code;
        for (size_t i = 0; i < count; i++)
            if (!list[i].deleted && fill_link(&list[i], &d))
                break;
        free(list);
        break;
    }
    case NODE_LINKDIR:
        if (store_link_list(fs->st, &n.res, n.link, fill_link, &d, &err) < 0)
            return -err.code;
        break;
    default:
        return -ENOTDIR;
    }
    return 0;
}

/* A directory handle holds a snapshot of the listing taken when it is read
 * from offset 0, served by offsets (index + 1).  libfuse 3.14 drops the
 * attributes of entries given with offset 0 from READDIRPLUS replies (fixed
 * upstream in 3.17), so the kernel looked every entry up again: one round
 * trip per VM for ls -l.  Served by offset, each entry reaches the kernel
 * with its attributes, and a directory is listed once per rewind instead of
 * once per reply buffer. */
struct dir_ent {
    char *name;
    struct stat st;
    bool has_st;
};

struct dir_snap {
    struct dir_ent *e;
    size_t n, cap;
    bool filled, oom;
};

static void snap_clear(struct dir_snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->e[i].name);
    s->n = 0;
    s->filled = s->oom = false;
}

static int snap_add(void *buf, const char *name, const struct stat *st, off_t off,
                    enum fuse_fill_dir_flags flags)
{
    (void)off;
    (void)flags;
    struct dir_snap *s = buf;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct dir_ent *grown = realloc(s->e, ncap * sizeof(*grown));
        if (!grown) {
            s->oom = true;
            return 1;
        }
        s->e = grown;
        s->cap = ncap;
    }
    struct dir_ent *e = &s->e[s->n];
    if (!(e->name = strdup(name))) {
        s->oom = true;
        return 1;
    }
    e->has_st = st != NULL;
    if (st)
        e->st = *st;
    s->n++;
    return 0;
}

static int cfs_opendir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct dir_snap *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    fi->fh = (uint64_t)(uintptr_t)s;
    return 0;
}

static int cfs_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct dir_snap *s = (struct dir_snap *)(uintptr_t)fi->fh;
    if (s) {
        snap_clear(s);
        free(s->e);
        free(s);
    }
    return 0;
}

static int cfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)flags;
    struct dir_snap *s = (struct dir_snap *)(uintptr_t)fi->fh;
    if (off == 0 || !s->filled) {
        snap_clear(s);
        store_read_begin(fs_self()->st);
        int rc = dir_list(path, s, snap_add);
        store_read_end(fs_self()->st);
        if (rc < 0 || s->oom) {
            rc = rc < 0 ? rc : -ENOMEM;
            snap_clear(s);
            return rc;
        }
        s->filled = true;
    }
    for (size_t i = (size_t)off; i < s->n; i++) {
        const struct dir_ent *e = &s->e[i];
        if (filler(buf, e->name, e->has_st ? &e->st : NULL, (off_t)(i + 1),
                   e->has_st ? FUSE_FILL_DIR_PLUS : 0))
            break;
    }
    return 0;
}

/* ---- commit of attribute writes ---- */

/* attach/detach: the same as ln -s / rm in the link directory. */
static int link_verb(const struct cfs_node *n, const char *name, const struct cfs_actor *actor,
                     struct cfs_err *err)
{
    struct cfs_fs *fs = fs_self();
    const struct cfs_link_def *l = n->attr->link;
    if (n->attr->link_remove)
        return precond_unlink(fs->st, &n->res, l, err) < 0 ? -1 : store_link_del(fs->st, &n->res, l, name, actor, err);
    struct cfs_res target;
    if (store_res_find(fs->st, n->res.parent, l->kind, name, &target, err) < 0)
        return cfs_err_set(err, ENOENT, "%s: no %s '%s' in this cluster", n->attr->name,
                           l->kind_name, name);
    if (caller_may_use(&target, err) < 0)
        return -1;
    if (precond_link(fs->st, &n->res, l, &target, err) < 0)
        return -1;
    return store_link_add(fs->st, &n->res, l, name, actor, err);
}

/* The tree path of a node's resource plus rel ("/zones/.../vms/web1/state"). */
static void node_path(const struct cfs_node *n, const char *rel, char *buf, size_t len)
{
    char rpath[PATH_MAX];
    struct cfs_err ignore;
    if (store_res_path(fs_self()->st, &n->res, rpath, sizeof(rpath), &ignore) < 0)
        snprintf(rpath, sizeof(rpath), "?");
    snprintf(buf, len, "/%s/%s", rpath, rel);
}

static void audit_attr(const struct cfs_node *n, const char *data, size_t len, int rc)
{
    char path[PATH_MAX + NAME_MAX + 2];
    node_path(n, n->attr->name, path, sizeof(path));
    if (n->attr->redact && n->attr->type != CFS_T_SECRET) {
        char size[48];  /* user-data: its size, never its text */
        int sl = snprintf(size, sizeof(size), "<%zu bytes>", len);
        audit_fs(fs_self()->st, "write", path, size, (size_t)sl, false, rc);
        return;
    }
    audit_fs(fs_self()->st, "write", path, data, len,
             n->attr->type == CFS_T_SECRET || n->attr->type == CFS_T_URL, rc);
}

static int commit_attr_checked(const struct cfs_node *n, const char *data, size_t len);

struct forget_walk {
    const char *link;       /* the resource's link name in /tags/KEY/VALUE/ */
};

static int forget_tag(const char *key, const char *value, void *arg)
{
    const struct forget_walk *f = arg;
    char path[3 * (NAME_MAX + 1) + sizeof(TREE_TAGS_DIR) + 2];
    snprintf(path, sizeof(path), "/%s/%s/%s/%s", TREE_TAGS_DIR, key, value, f->link);
    forget_stat(path);
    *strrchr(path, '/') = '\0';
    forget_stat(path);
    *strrchr(path, '/') = '\0';
    forget_stat(path);
    return 0;
}

/* Drop the kernel's cached entries of /tags for the tags of r (a value as
 * stored): a removed tag's link is gone at once, not a second later. */
static void forget_tags(const struct cfs_res *r, const char *tags)
{
    char link[NAME_MAX + 1];
    struct cfs_err ignore;
    if (!tags || !tags[0] || tags_link_name(fs_self()->st, r, link, &ignore) < 0)
        return;
    struct forget_walk f = {link};
    value_tags_each(tags, forget_tag, &f);
}

/* The stored tags of r (malloc'd), or NULL when it has none. */
static char *res_tags(const struct cfs_res *r)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, "tags");
    char *v = NULL;
    struct cfs_err ignore;
    if (!a || a->type != CFS_T_TAGS ||
        store_attr_get(fs_self()->st, r->id, a->name, &v, NULL, &ignore) < 0)
        return NULL;
    return v;
}

/* Validate and store data as the new value of attribute n->attr; the
 * request is audited whatever its result. */
static int commit_attr(const struct cfs_node *n, const char *data, size_t len)
{
    int rc = commit_attr_checked(n, data, len);
    audit_attr(n, data, len, rc);
    return rc;
}

static int commit_attr_checked(const struct cfs_node *n, const char *data, size_t len)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_err err;
    struct actor_buf a;
    char *value = NULL, *old_tags = NULL;
    int rc;
    cfs_err_clear(&err);
    actor_init(&a);
    if (n->attr->operator_only && !caller_is_operator())
        return refuse_operator_attr(n);
    if (n->attr->type == CFS_T_VERB && (len == 0 || (len == 1 && data[0] == '\n')))
        return 0;   /* an empty verb file copied by a sync tool: nothing to do */
    if (n->attr->type == CFS_T_SECRET && len == 0)
        return 0;   /* secrets read back empty; writing that back keeps the secret */
    if (value_normalize(n->attr, data, len, &value, &err) < 0)
        return refuse(&n->res, &err);
    if (n->attr->test_only && value[0] && !fs->conf->allow_test_uri) {
        free(value);
        cfs_err_set(&err, EPERM, "%s: test only (cloudfs.conf allow-test-uri)", n->attr->name);
        return refuse(&n->res, &err);
    }
    if (n->attr->type == CFS_T_URI && value[0] &&
        uri_policy_check(value, fs->conf->allow_test_uri, &err) < 0) {
        free(value);
        return refuse(&n->res, &err);
    }
    struct cfs_res target;
    if (n->attr->type == CFS_T_REF && value[0] && ref_target(&n->res, n->attr, value, &target) &&
        caller_may_use(&target, &err) < 0) {
        free(value);
        return refuse(&n->res, &err);
    }
    cfs_err_clear(&err);
    if (n->attr->user_file && value[0] && caller_may_read(value, &err) < 0) {
        free(value);
        return refuse(&n->res, &err);
    }
    /* One transaction from the check to what follows from the write (a
     * NIC's address, precond_net.h): no other writer comes in between. */
    if (store_write_begin(fs->st, &err) < 0) {
        free(value);
        return refuse(&n->res, &err);
    }
    if (precond_attr(fs->st, &n->res, n->attr, value, &err) < 0 ||
        (!caller_is_operator() && quota_check_attr(fs->st, &n->res, n->attr, value, &err) < 0) ||
        pool_move_check(fs->st, fs->conf, &n->res, n->attr, value, &err) < 0 ||
        pool_cap_check_attr(fs->st, fs->conf, &n->res, n->attr, value, &err) < 0 ||
        vm_clone_check(fs->st, fs->conf, &n->res, n->attr, value, !caller_is_operator(),
                       &err) < 0) {
        store_write_end(fs->st, &err);
        free(value);
        return refuse(&n->res, &err);
    }
    /* Cleared before the change is stored: the reconciler may act on it and
     * report a failure before this thread would get back here. */
    clear_error(&n->res, &a.actor);
    if (n->attr->link) {
        rc = link_verb(n, value, &a.actor, &err);
    } else if (n->attr->type == CFS_T_VERB) {
        rc = store_verb(fs->st, &n->res, n->attr, value, &a.actor, &err);
    } else {
        bool changed = false;
        struct cfs_err ignore;
        if (n->attr->type == CFS_T_TAGS &&
            store_attr_get(fs->st, n->res.id, n->attr->name, &old_tags, NULL, &ignore) < 0)
            old_tags = NULL;
        rc = store_attr_set(fs->st, &n->res, n->attr, value, &a.actor, &changed, &err);
        if (rc == 0)
            rc = net_applied(fs->st, &n->res, n->attr, &a.actor, &err);
        if (rc == 0)
            rc = vm_clone_apply(fs->st, &n->res, n->attr, value, &a.actor, &err);
        if (rc == 0)
            rc = pool_move_apply(fs->st, &n->res, n->attr, value, &a.actor, &err);
    }
    struct cfs_err end_err;
    if (store_write_end(fs->st, rc < 0 ? &end_err : &err) < 0 && rc == 0)
        rc = -1;
    if (rc == 0 && n->attr->type == CFS_T_TAGS) {
        forget_tags(&n->res, old_tags);
        forget_tags(&n->res, value);
    }
    free(old_tags);
    free(value);
    if (rc < 0)
        return refuse(&n->res, &err);
    return 0;
}

/* ---- open / read / write ---- */

/* Multi-line values (user-data, tags) are buffered and validated as a
 * whole when the file is closed; other values at each write. */
static bool whole_on_close(const struct cfs_attr_def *a)
{
    return a->type == CFS_T_BLOB || a->type == CFS_T_TAGS;
}

static int fh_reserve(struct cfs_fh *fh, size_t need)
{
    const struct cfs_attr_def *a = fh->node.attr;
    size_t limit = a->type == CFS_T_BLOB && a->max ? (size_t)a->max + 1
                   : a->type == CFS_T_TAGS      ? (size_t)VALUE_TAGS_BYTES + 1
                                                : 8192;
    if (need > limit)
        return -EFBIG;
    if (need <= fh->wcap)
        return 0;
    size_t cap = fh->wcap ? fh->wcap : 256;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(fh->wbuf, cap);
    if (!grown)
        return -ENOMEM;
    fh->wbuf = grown;
    fh->wcap = cap;
    return 0;
}

static int fh_new(const struct cfs_node *n, struct fuse_file_info *fi, bool load)
{
    struct cfs_fh *fh = calloc(1, sizeof(*fh));
    char *cur = NULL;
    size_t len = 0;
    int rc = 0;
    if (!fh)
        return -ENOMEM;
    fh->node = *n;
    int acc = fi->flags & O_ACCMODE;
    fh->writable = acc == O_WRONLY || acc == O_RDWR;
    if (load && n->type != NODE_SCRATCH &&
        (rc = node_content(n, &fh->content, &fh->len, NULL)) < 0)
        goto cleanup;
    if (fh->writable && (fi->flags & O_TRUNC))
        fh->truncated = true;
    if (fh->writable && (fi->flags & O_APPEND) && !fh->truncated && n->type == NODE_ATTR &&
        whole_on_close(n->attr)) {
        /* "echo more >> user-data" adds to the value: start from it. */
        if ((rc = node_content(n, &cur, &len, NULL)) < 0 || (rc = fh_reserve(fh, len)) < 0)
            goto cleanup;
        if (len)    /* an empty value: no buffer yet, and memcpy wants one */
            memcpy(fh->wbuf, cur, len);
        fh->wlen = len;
        fh->append = true;
    }
    fi->fh = (uint64_t)(uintptr_t)fh;
    /* Values change behind the page cache's back (other writers, the
     * reconciler): always ask us. */
    fi->direct_io = n->type != NODE_SCRATCH;
    fh = NULL;
cleanup:
    free(cur);
    if (fh) {
        free(fh->content);
        free(fh->wbuf);
        free(fh);
    }
    return rc;
}

/* The notifier opening a file to raise IN_MODIFY/IN_CLOSE_WRITE on it. */
static int self_open(struct fuse_file_info *fi)
{
    struct cfs_fh *fh = calloc(1, sizeof(*fh));
    if (!fh)
        return -ENOMEM;
    fh->self = true;
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->direct_io = 1;
    /* No FLUSH at its close: the kernel waits for a FLUSH answer without
     * regard to signals, and a daemon killed while its own notifier waited
     * for one could never exit (nor its mount be torn down). */
    fi->noflush = 1;
    return 0;
}

static int cfs_open(const char *path, struct fuse_file_info *fi)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_node n;
    if (notify_fs_is_self(fs->nf))
        return self_open(fi);
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    int acc = fi->flags & O_ACCMODE;
    bool write = acc == O_WRONLY || acc == O_RDWR;
    if (write && in_tags(path)) {
        rc = refuse_tags();
        audit_fs(fs->st, "open", path, NULL, 0, false, rc);
        return rc;
    }
    switch (n.type) {
    case NODE_ROOTFILE:
    case NODE_STATUS:
    case NODE_EVENTLOG:
    case NODE_RECYCLEFILE:
        if (write) {
            /* Root passes the mode bits: say no here, and keep a record. */
            audit_fs(fs->st, "open", path, NULL, 0, false, -EACCES);
            return -EACCES;
        }
        if (n.type == NODE_ROOTFILE && rootfile_ops[n.rootfile].stream) {
            rc = fh_new(&n, fi, false);
            if (rc < 0)
                return rc;
            struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
            struct events_viewer who;
            caller_viewer(&who);
            if ((rc = reader_take(path, fh)) < 0 ||
                (rc = events_open(fs->st, fs->nf, &who, &fh->events)) < 0) {
                if (fh->reader)
                    readers_release(fh->reader_uid);
                free(fh);
                return rc;
            }
            fi->nonseekable = 1;
            return 0;
        }
        break;
    case NODE_ATTR:
        if (write && n.attr->operator_only && !caller_is_operator()) {
            rc = refuse_operator_attr(&n);
            audit_fs(fs->st, "open", path, NULL, 0, false, rc);
            return rc;
        }
        break;
    case NODE_SCRATCH:
        break;
    case NODE_WAIT:
        if (write)
            return -EACCES;
        rc = fh_new(&n, fi, false);
        if (rc == 0) {
            struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
            if ((rc = reader_take(path, fh)) < 0) {
                free(fh);
                return rc;
            }
            wait_mark_take(fs_self()->st, &n.res, &fh->mark);
        }
        return rc;
    default:
        return -EISDIR;
    }
    if (n.type == NODE_SCRATCH && (fi->flags & O_TRUNC)) {
        struct cfs_err ignore;  /* shrinking: no cap to reach */
        scratch_truncate(n.res.id, n.name, 0, &ignore);
    }
    return fh_new(&n, fi, acc != O_WRONLY);
}

static int cfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    if (in_tags(path))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node parent;
    struct cfs_err err;
    char leaf[NAME_MAX + 1];
    cfs_err_clear(&err);
    if (tree_resolve_parent(fs->st, path, &parent, leaf, &err) < 0)
        return -err.code;
    if (parent.type != NODE_RES) {
        if (parent.type == NODE_LINKDIR)
            cfs_err_set(&err, EPERM, "%s/: attach with ln -s ../../../%s/NAME", parent.link->name,
                        parent.link->kind->collection);
        else
            cfs_err_set(&err, EPERM, "cannot create files here");
        return refuse(parent.type == NODE_ROOT || parent.res.id == 0 ? NULL : &parent.res, &err);
    }
    struct cfs_node n = parent;
    snprintf(n.name, sizeof(n.name), "%s", leaf);
    if ((n.attr = layout_attr(parent.res.kind, leaf)) != NULL) {
        /* The kernel had no dentry (e.g. after an editor renamed the file
         * away): opening an attribute for writing. */
        n.type = NODE_ATTR;
        if (n.attr->operator_only && !caller_is_operator())
            return refuse_operator_attr(&n);
        return fh_new(&n, fi, false);
    }
    if (!tree_is_scratch_name(leaf)) {
        cfs_err_set(&err, EPERM, "%s has no attribute '%.64s'", parent.res.kind->name, leaf);
        return refuse(&parent.res, &err);
    }
    struct fuse_context *ctx = fuse_get_context();
    int rc = scratch_create(parent.res.id, leaf, mode, ctx->uid, ctx->gid,
                            (fi->flags & O_EXCL) != 0, !caller_is_operator(), &err);
    if (rc == -EDQUOT)
        return refuse_caller(path, &err);
    if (rc < 0)
        return rc;
    n.type = NODE_SCRATCH;
    return fh_new(&n, fi, false);
}

static bool wait_interrupted(void)
{
    return fuse_interrupted() != 0;
}

static int cfs_read(const char *path, char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path;
    struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
    if (fh->node.type == NODE_SCRATCH)
        return (int)scratch_read(fh->node.res.id, fh->node.name, buf, size, off);
    if (fh->events)
        return events_read(fh->events, buf, size, (fi->flags & O_NONBLOCK) != 0,
                           wait_interrupted);
    if (fh->node.type == NODE_WAIT && !fh->content) {
        /* Blocks this worker thread; the loop runs others meanwhile and
         * an interrupted reader (Ctrl-C, timeout) frees it. */
        int rc = wait_converged(fs_self()->st, fs_self()->nf, &fh->node.res, &fh->mark,
                                wait_interrupted, &fh->content);
        if (rc < 0)
            return rc;
        fh->len = strlen(fh->content);
    }
    if (!fh->content)
        return -EBADF;
    if ((size_t)off >= fh->len)
        return 0;
    size_t n = fh->len - (size_t)off;
    if (n > size)
        n = size;
    memcpy(buf, fh->content + off, n);
    return (int)n;
}

static int cfs_write(const char *path, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
    if (fh->self)
        return (int)size;
    if (fh->node.type == NODE_SCRATCH) {
        struct cfs_err err;
        ssize_t n = scratch_write(fh->node.res.id, fh->node.name, buf, size, off, &err);
        if (n == -EDQUOT || n == -EFBIG)
            return refuse_caller(path, &err);
        return (int)n;
    }
    if (fh->node.type != NODE_ATTR || !fh->writable)
        return -EBADF;
    if (fh->append)
        off = fh->base + (off_t)fh->wlen;
    /* sysfs rule: a write that does not continue the previous one starts a
     * new value. */
    if (off < fh->base || off > fh->base + (off_t)fh->wlen) {
        fh->base = off;
        fh->wlen = 0;
    }
    size_t at = (size_t)(off - fh->base);
    int rc = fh_reserve(fh, at + size);
    if (rc < 0) {
        struct cfs_err err;
        cfs_err_set(&err, -rc, "%s: value too large", fh->node.attr->name);
        audit_attr(&fh->node, buf, size, rc);
        fh->wlen = 0;
        /* A refused part of a multi-write value refuses the whole of it: the
         * close must neither commit the rest nor empty the value. */
        if (whole_on_close(fh->node.attr)) {
            fh->error = -rc;
            fh->dirty = false;
        }
        return refuse(&fh->node.res, &err);
    }
    if (fh->error)
        return -fh->error;
    memcpy(fh->wbuf + at, buf, size);
    if (at + size > fh->wlen)
        fh->wlen = at + size;
    if (whole_on_close(fh->node.attr)) {
        fh->dirty = true;       /* validated as a whole on close */
        return (int)size;
    }
    rc = commit_attr(&fh->node, fh->wbuf, fh->wlen);
    fh->committed = true;
    fh->base = off + (off_t)size;
    fh->wlen = 0;
    return rc < 0 ? rc : (int)size;
}

/* close(2) of a multi-write value commits it, so its errors reach close.
 * flush runs on every close of a descriptor (a shell's dup2 dance closes one
 * before anything is written), so only written bytes are committed here. */
static int cfs_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
    if (fh->self || fh->node.type != NODE_ATTR)
        return 0;
    if (fh->error)
        return -fh->error;
    if (!fh->dirty)
        return 0;
    fh->dirty = false;
    fh->committed = true;
    /* The bytes stay buffered: in "(cat a; cat b) > user-data" the first
     * cat's exit flushes, and the second cat continues the same value. */
    return commit_attr(&fh->node, fh->wbuf, fh->wlen);
}

static int cfs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct cfs_fh *fh = (struct cfs_fh *)(uintptr_t)fi->fh;
    if (fh) {
        /* "> user-data" with nothing written empties a multi-line value.
         * Single values follow sysfs: truncation alone changes nothing. */
        if (!fh->self && fh->node.type == NODE_ATTR && fh->truncated && !fh->committed &&
            !fh->error && whole_on_close(fh->node.attr))
            commit_attr(&fh->node, "", 0);
        events_close(fh->events);
        if (fh->reader)
            readers_release(fh->reader_uid);
        free(fh->content);
        free(fh->wbuf);
        free(fh);
    }
    return 0;
}

static int cfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    (void)datasync;
    (void)fi;
    return 0;   /* every acknowledged write is already committed */
}

static int cfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    if (path && in_tags(path))
        return refuse_tags();
    struct cfs_fh *fh = fi ? (struct cfs_fh *)(uintptr_t)fi->fh : NULL;
    struct cfs_node n;
    struct cfs_err err;
    int rc;
    if (fh) {
        n = fh->node;
    } else if ((rc = resolve(path, &n)) < 0) {
        return rc;
    }
    switch (n.type) {
    case NODE_SCRATCH:
        rc = scratch_truncate(n.res.id, n.name, size, &err);
        return rc == -EDQUOT || rc == -EFBIG ? refuse_caller(path, &err) : rc;
    case NODE_ATTR:
        /* Truncation only empties the pending value; the value written
         * next (or the empty value at close) is what gets committed. */
        if (fh && fh->writable) {
            if ((size_t)size < fh->wlen)
                fh->wlen = (size_t)size;
            if (size == 0)
                fh->truncated = true;
        }
        return 0;
    case NODE_STATUS:
    case NODE_ROOTFILE:
    case NODE_BACKLINK:
    case NODE_EVENTLOG:
        return -EACCES;     /* observed, not removable */
    default:
        return -EISDIR;
    }
}

static unsigned cfs_poll_events(struct cfs_fh *fh, struct fuse_pollhandle *ph)
{
    if (fh->events)
        return events_poll(fh->events, ph);
    if (ph)
        fuse_pollhandle_destroy(ph);
    /* A wait file is "ready" too: its read blocks, as a disk file's may. */
    return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
}

static int cfs_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
                    unsigned *reventsp)
{
    (void)path;
    *reventsp = cfs_poll_events((struct cfs_fh *)(uintptr_t)fi->fh, ph);
    return 0;
}

/* ---- namespace operations ---- */

static int cfs_mkdir(const char *path, mode_t mode)
{
    if (in_tags(path))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node parent;
    struct cfs_err err;
    struct actor_buf a;
    char leaf[NAME_MAX + 1];
    cfs_err_clear(&err);
    if (tree_resolve_parent(fs->st, path, &parent, leaf, &err) < 0)
        return -err.code;
    const struct cfs_res *owner = parent.res.id ? &parent.res : NULL;
    if (parent.type != NODE_COLL) {
        cfs_err_set(&err, EPERM, "directories are created only inside collections (vms/, volumes/, ...)");
        return refuse(parent.type == NODE_ROOT ? NULL : owner, &err);
    }
    if (parent.kind->system) {
        cfs_err_set(&err, EPERM, "%s/ is written by the reconciler only", parent.kind->collection);
        return refuse(NULL, &err);
    }
    if (parent.kind->operator_only && !caller_is_operator())
        return refuse_operator_kind(owner, parent.kind, "creation");
    struct fuse_context *ctx = fuse_get_context();
    struct cfs_res made;
    actor_init(&a);
    /* Checked and made in one transaction: a count the rule checks (a
     * volume's snapshots, a VM's NICs) holds for concurrent mkdirs too, and
     * what follows from the creation (a VM's default NIC) comes with it. */
    if (store_write_begin(fs->st, &err) < 0)
        return refuse(owner, &err);
    int rc = precond_create(fs->st, fs->conf, owner, parent.kind, &err);
    if (rc == 0 && !strcmp(parent.kind->name, "quota"))
        rc = quota_check_name(leaf, &err);
    if (rc == 0 && !caller_is_operator())
        rc = quota_check_create(fs->st, ctx->uid, parent.kind, &err);
    if (rc == 0)
        rc = pool_cap_check_create(fs->st, fs->conf, owner, parent.kind, &err);
    /* mkdir's mode (the kernel has applied the umask): "umask 077; mkdir"
     * makes a private VM, as it makes a private directory.  The owner
     * keeps rwx whatever the umask. */
    if (rc == 0)
        rc = store_res_create_mode(fs->st, parent.res.id, parent.kind, leaf, ctx->uid, ctx->gid,
                                   (mode & 0777) | 0700, &a.actor, &made, &err);
    if (rc == 0)
        rc = net_applied(fs->st, &made, NULL, &a.actor, &err);
    struct cfs_err end_err;
    if (store_write_end(fs->st, rc < 0 ? &end_err : &err) < 0 && rc == 0)
        rc = -1;
    if (rc < 0)
        return refuse(owner, &err);
    return 0;
}

static int count_one(const struct cfs_res *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

static int cfs_rmdir(const char *path)
{
    if (in_tags(path))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node n;
    struct cfs_err err;
    struct actor_buf a;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    cfs_err_clear(&err);
    switch (n.type) {
    case NODE_RES: {
        if (n.res.kind->operator_only && !caller_is_operator())
            return refuse_operator_kind(&n.res, n.res.kind, "removal");
        actor_init(&a);
        char *tags = res_tags(&n.res);
        if (store_write_begin(fs->st, &err) < 0) {
            free(tags);
            return refuse(&n.res, &err);
        }
        /* Into the bin (recycle.h) or gone; the NICs go either way (their
         * addresses are free again). */
        bool bin = recycle_applies(fs->conf, n.res.kind);
        int rc = precond_delete(fs->st, &n.res, &err) < 0 ||
                 net_delete_parts(fs->st, &n.res, &a.actor, &err) < 0 ||
                 (bin ? recycle_res(fs->st, fs->conf, &n.res, &a.actor, &err) < 0
                      : vmsnap_delete_parts(fs->st, &n.res, &a.actor, &err) < 0 ||
                            store_res_delete(fs->st, &n.res, &a.actor, &err) < 0) ? -1 : 0;
        struct cfs_err end_err;
        if (rc < 0) {
            /* The NICs' deletion is undone with the refusal. */
            store_write_abort(fs->st);
            free(tags);
            return refuse(&n.res, &err);
        }
        if (store_write_end(fs->st, &end_err) < 0) {
            free(tags);
            return refuse(&n.res, &end_err);
        }
        scratch_forget(n.res.id);
        forget_tags(&n.res, tags);
        free(tags);
        return 0;
    }
    case NODE_LINKDIR: {
        /* rm -r empties it first; refuse only while links remain. */
        int count = 0;
        if (store_link_list(fs->st, &n.res, n.link, count_one, &count, &err) < 0)
            return -err.code;
        return count ? -ENOTEMPTY : 0;
    }
    case NODE_COLL: {
        /* Part of the resource's shape: rm -r removes the resource when it
         * reaches the resource directory itself.  While resources remain,
         * say so instead of pretending the directory went away. */
        int64_t count = 0;
        if (store_res_count(fs->st, n.res.id, n.kind, &count, &err) < 0)
            return -err.code;
        if (count == 0)
            return 0;
        cfs_err_set(&err, ENOTEMPTY, "%s/ still holds %lld %s", n.kind->collection,
                    (long long)count, n.kind->name);
        return refuse(n.res.id ? &n.res : NULL, &err);
    }
    case NODE_STATUSDIR:
    case NODE_BACKDIR:
        return 0;
    case NODE_RECYCLED:
        /* Expunged now: the reconciler deletes its data. */
        actor_init(&a);
        if (store_res_expunge(fs->st, &n.res, &a.actor, &err) < 0)
            return refuse(NULL, &err);
        return 0;
    case NODE_ROOT:
    case NODE_RECYCLE:
        return -EBUSY;
    default:
        return -ENOTDIR;
    }
}

static int cfs_unlink(const char *path)
{
    if (in_tags(path))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node n;
    struct cfs_err err;
    struct actor_buf a;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    cfs_err_clear(&err);
    switch (n.type) {
    case NODE_SCRATCH:
        return scratch_remove(n.res.id, n.name);
    case NODE_LINK:
        actor_init(&a);
        if (precond_unlink(fs->st, &n.res, n.link, &err) < 0 ||
            store_link_del(fs->st, &n.res, n.link, n.target.name, &a.actor, &err) < 0)
            return refuse(&n.res, &err);
        return 0;
    case NODE_ATTR:
    case NODE_STATUS:
    case NODE_WAIT:
    case NODE_EVENTLOG:
        /* Attributes cannot go away; accepting the unlink lets rm -r reach
         * the rmdir that deletes the resource. */
        return 0;
    case NODE_ROOTFILE:
    case NODE_BACKLINK:
    case NODE_RECYCLEFILE:
        return -EACCES;     /* observed, not removable */
    default:
        return -EISDIR;
    }
}

/* Normalise a symlink target into a path of the tree ("/zones/..."). */
static int link_target_path(const char *linkdir, const char *target, char *out, size_t len)
{
    struct cfs_fs *fs = fs_self();
    char joined[PATH_MAX * 2];
    if (target[0] == '/') {
        size_t ml = strlen(fs->mountpoint);
        if (strncmp(target, fs->mountpoint, ml) || (target[ml] != '/' && target[ml] != '\0'))
            return -ENOENT;
        snprintf(joined, sizeof(joined), "/%s", target + ml);
    } else {
        snprintf(joined, sizeof(joined), "%s/%s", linkdir, target);
    }
    /* Resolve "." and ".." lexically. */
    char *parts[64];
    int np = 0;
    char *save = NULL;
    for (char *tok = strtok_r(joined, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (!strcmp(tok, "."))
            continue;
        if (!strcmp(tok, "..")) {
            if (np > 0)
                np--;
            continue;
        }
        if (np == 64)
            return -ENAMETOOLONG;
        parts[np++] = tok;
    }
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < np; i++) {
        int w = snprintf(out + used, len - used, "/%s", parts[i]);
        if (w < 0 || (size_t)w >= len - used)
            return -ENAMETOOLONG;
        used += (size_t)w;
    }
    if (np == 0)
        snprintf(out, len, "/");
    return 0;
}

static int cfs_symlink(const char *target, const char *linkpath)
{
    if (in_tags(linkpath))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node parent, t;
    struct cfs_err err;
    struct actor_buf a;
    char leaf[NAME_MAX + 1], dirpath[PATH_MAX], tpath[PATH_MAX];
    cfs_err_clear(&err);
    if (tree_resolve_parent(fs->st, linkpath, &parent, leaf, &err) < 0)
        return -err.code;
    if (parent.type != NODE_LINKDIR) {
        cfs_err_set(&err, EPERM, "symbolic links are relations and live in link directories");
        return refuse(parent.res.id ? &parent.res : NULL, &err);
    }
    snprintf(dirpath, sizeof(dirpath), "%s", linkpath);
    char *slash = strrchr(dirpath, '/');
    if (slash)
        *slash = '\0';
    if (link_target_path(dirpath, target, tpath, sizeof(tpath)) < 0 ||
        tree_resolve(fs->st, tpath, &t, &err) < 0 || t.type != NODE_RES ||
        t.res.kind != parent.link->kind || t.res.parent != parent.res.parent) {
        cfs_err_set(&err, ENOENT, "%s: '%.64s' is not a %s of this cluster", parent.link->name,
                    target, parent.link->kind->name);
        return refuse(&parent.res, &err);
    }
    if (strcmp(t.res.name, leaf)) {
        cfs_err_set(&err, EINVAL, "%s: the link must be named after the %s (%s)",
                    parent.link->name, parent.link->kind->name, t.res.name);
        return refuse(&parent.res, &err);
    }
    actor_init(&a);
    if (caller_may_use(&t.res, &err) < 0 ||
        precond_link(fs->st, &parent.res, parent.link, &t.res, &err) < 0)
        return refuse(&parent.res, &err);
    /* Cleared before the change is stored: the reconciler may act on the
     * change and report a failure before this thread would get here. */
    clear_error(&parent.res, &a.actor);
    if (store_link_add(fs->st, &parent.res, parent.link, t.res.name, &a.actor, &err) < 0)
        return refuse(&parent.res, &err);
    return 0;
}

static int cfs_readlink(const char *path, char *buf, size_t size)
{
    struct cfs_node n;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    if (n.type == NODE_TAGLINK) {
        struct cfs_err err;
        return tags_link_text(fs_self()->st, &n.res, buf, size, &err) < 0 ? -err.code : 0;
    }
    if (n.type != NODE_LINK && n.type != NODE_BACKLINK)
        return -EINVAL;
    link_text(&n, buf, size);
    return 0;
}

/* mv /recycle/NAME.ID <its collection>/NAME: back, stopped (a VM), with a
 * default NIC as a new VM gets (its old NICs went with the rmdir). */
static int restore_recycled(const struct cfs_node *src, const struct cfs_node *dparent,
                            const char *leaf)
{
    struct cfs_fs *fs = fs_self();
    struct cfs_err err, end_err;
    struct actor_buf a;
    struct cfs_res back = src->res;
    cfs_err_clear(&err);
    if (dparent->type != NODE_COLL || dparent->kind != src->res.kind ||
        dparent->res.id != src->res.parent) {
        char *origin = store_status_text(fs->st, src->res.id, CFS_ST_RECYCLE_ORIGIN);
        cfs_err_set(&err, EPERM, "%s %s can only be restored into the %s/ it came from (%s)",
                    src->res.kind->name, src->name, src->res.kind->collection, origin);
        free(origin);
        return refuse(NULL, &err);
    }
    actor_init(&a);
    if (store_write_begin(fs->st, &err) < 0)
        return refuse(NULL, &err);
    const struct cfs_attr_def *state = layout_attr(src->res.kind, "state");
    bool changed = false;
    /* Back in its collection it counts again: a tenant's quota holds
     * for a restore as for a mkdir. */
    int rc = caller_is_operator()
                 ? 0
                 : quota_check_create(fs->st, fuse_get_context()->uid, src->res.kind, &err);
    if (rc == 0)
        rc = store_res_restore(fs->st, &src->res, leaf, &a.actor, &err);
    if (rc == 0)
        rc = store_res_get(fs->st, src->res.id, &back, &err);
    if (rc == 0 && state)     /* a VM: back stopped */
        rc = store_attr_set(fs->st, &back, state, "stopped", &a.actor, &changed, &err);
    if (rc == 0)
        rc = net_applied(fs->st, &back, NULL, &a.actor, &err);
    if (rc < 0) {
        store_write_abort(fs->st);
        return refuse(NULL, &err);
    }
    if (store_write_end(fs->st, &end_err) < 0)
        return refuse(NULL, &end_err);
    return 0;
}

static int cfs_rename(const char *from, const char *to, unsigned int flags)
{
    if (in_tags(from) || in_tags(to))
        return refuse_tags();
    struct cfs_fs *fs = fs_self();
    struct cfs_node src, dparent;
    struct cfs_err err;
    struct actor_buf a;
    char leaf[NAME_MAX + 1];
    cfs_err_clear(&err);
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    int rc = resolve(from, &src);
    if (rc < 0)
        return rc;
    if (tree_resolve_parent(fs->st, to, &dparent, leaf, &err) < 0)
        return -err.code;
    actor_init(&a);

    if (src.type == NODE_RECYCLED)
        return restore_recycled(&src, &dparent, leaf);
    if (src.type == NODE_RES && src.res.kind->system) {
        cfs_err_set(&err, EPERM, "%s/ is written by the reconciler only", src.res.kind->collection);
        return refuse(NULL, &err);
    }
    if (src.type == NODE_RES && src.res.kind->operator_only && !caller_is_operator())
        return refuse_operator_kind(&src.res, src.res.kind, "rename");
    if (src.type == NODE_RES) {
        if (dparent.type != NODE_COLL || dparent.kind != src.res.kind ||
            dparent.res.id != src.res.parent) {
            /* Not EXDEV: mv would fall back to mkdir + copy at the target
             * and leave a half-made resource there. */
            cfs_err_set(&err, EPERM, "%s %s can only be renamed within its own %s/",
                        src.res.kind->name, src.res.name, src.res.kind->collection);
            return refuse(&src.res, &err);
        }
        if (strcmp(leaf, src.res.name) && precond_rename(fs->st, &src.res, &err) < 0)
            return refuse(&src.res, &err);
        char *tags = res_tags(&src.res);
        if (store_res_rename(fs->st, &src.res, leaf, &a.actor, &err) < 0) {
            free(tags);
            return refuse(&src.res, &err);
        }
        forget_tags(&src.res, tags);    /* the links under the old name */
        free(tags);
        return 0;
    }
    if (src.type == NODE_SCRATCH || src.type == NODE_ATTR) {
        if (dparent.type != NODE_RES || dparent.res.id != src.res.id) {
            if (src.type == NODE_SCRATCH)
                return -EXDEV;  /* mv copies it: a validated write at the target */
            /* An attribute cannot leave its resource; with EXDEV mv would
             * copy the value and report a move that did not happen. */
            cfs_err_set(&err, EPERM, "%s cannot be moved out of %s %s", src.name,
                        src.res.kind->name, src.res.name);
            return refuse(&src.res, &err);
        }
        const struct cfs_attr_def *dattr = layout_attr(src.res.kind, leaf);
        if (src.type == NODE_SCRATCH && dattr) {
            /* rsync, sed -i, editors: an atomic, validated write. */
            char *data = NULL;
            size_t len = 0;
            rc = scratch_copy(src.res.id, src.name, &data, &len);
            if (rc < 0)
                return rc;
            struct cfs_node dst = dparent;
            dst.type = NODE_ATTR;
            dst.attr = dattr;
            rc = commit_attr(&dst, data, len);
            free(data);
            if (rc == 0) {
                scratch_remove(src.res.id, src.name);
                /* The inode moving onto the attribute carries the temporary
                 * file's cached size and times, while the value committed may
                 * be normalised ("20480M" reads "20G"): make the kernel ask. */
                forget_stat(from);
            }
            return rc;
        }
        if (!dattr && tree_is_scratch_name(leaf)) {
            if (src.type == NODE_SCRATCH)
                return scratch_rename(src.res.id, src.name, leaf);
            /* An editor's backup of an attribute: copy it; the attribute
             * itself cannot disappear. */
            char *content = NULL;
            size_t len = 0;
            rc = node_content(&src, &content, &len, NULL);
            if (rc < 0)
                return rc;
            struct fuse_context *ctx = fuse_get_context();
            rc = scratch_put(src.res.id, leaf, content, len, src.attr->mode, ctx->uid, ctx->gid,
                             !caller_is_operator(), &err);
            free(content);
            return rc == -EDQUOT || rc == -EFBIG ? refuse_caller(to, &err) : rc;
        }
        cfs_err_set(&err, EPERM, "cannot rename %s to '%.64s'", src.name, leaf);
        return refuse(&src.res, &err);
    }
    return -EPERM;
}

/* A resource directory's mode is its owner's to choose (the kernel lets
 * only the owner and root get here): 0700 makes the resource private,
 * its files and its events included.  The owner keeps rwx, as a resource
 * it cannot enter is one it cannot manage; setuid, setgid and sticky
 * mean nothing here. */
static int res_chmod(const struct cfs_res *r, mode_t mode)
{
    struct cfs_err err;
    struct actor_buf a;
    if ((mode & 07000) || (mode & 0700) != 0700) {
        cfs_err_set(&err, EINVAL, "mode %04o of %s %s: the owner keeps rwx (0700) and setuid, "
                    "setgid and sticky are not used", (unsigned)(mode & 07777), r->kind->name,
                    r->name);
        return refuse(r, &err);
    }
    actor_init(&a);
    if (store_res_chmod(fs_self()->st, r, mode, &a.actor, &err) < 0)
        return refuse(r, &err);
    return 0;
}

static int cfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    if (in_tags(path))
        return refuse_tags();
    (void)fi;
    struct cfs_node n;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    if (n.type == NODE_SCRATCH)
        return scratch_chmod(n.res.id, n.name, mode);
    if (n.type == NODE_RES)
        return res_chmod(&n.res, mode);
    return 0;   /* file modes come from the layout; accepted for cp -p and rsync -a */
}

static int cfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    if (in_tags(path))
        return refuse_tags();
    (void)fi;
    struct cfs_fs *fs = fs_self();
    struct cfs_node n;
    struct cfs_err err;
    struct actor_buf a;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    if (n.type == NODE_SCRATCH)
        return scratch_chown(n.res.id, n.name, uid, gid);
    if (n.type != NODE_RES)
        return 0;
    actor_init(&a);
    if (store_res_chown(fs->st, &n.res, uid == (uid_t)-1 ? n.res.uid : uid,
                        gid == (gid_t)-1 ? n.res.gid : gid, &a.actor, &err) < 0)
        return refuse(&n.res, &err);
    /* Everything in the directory takes the resource's owner; the kernel
     * checks permissions against what it cached, so make it ask again. */
    const struct cfs_kind *k = n.res.kind;
    char sub[PATH_MAX + 2 * NAME_MAX + 3];
    for (size_t i = 0; i < k->nattrs; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, k->attrs[i].name);
        forget_stat(sub);
    }
    snprintf(sub, sizeof(sub), "%s/status", path);
    forget_stat(sub);
    for (size_t i = 0; i < k->nstatus; i++) {
        snprintf(sub, sizeof(sub), "%s/status/%s", path, k->status[i].name);
        forget_stat(sub);
    }
    for (size_t i = 0; i < k->nlinks; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, k->links[i].name);
        forget_stat(sub);
    }
    return 0;
}

static int cfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    if (in_tags(path))
        return refuse_tags();
    (void)fi;
    struct cfs_node n;
    int rc = resolve(path, &n);
    if (rc < 0)
        return rc;
    if (n.type == NODE_SCRATCH)
        return scratch_utimens(n.res.id, n.name, tv);
    return 0;   /* times are those of the last change of the value */
}

static int cfs_statfs(const char *path, struct statvfs *s)
{
    (void)path;
    memset(s, 0, sizeof(*s));
    s->f_bsize = 4096;
    s->f_frsize = 4096;
    s->f_blocks = 1 << 20;
    s->f_bfree = 1 << 20;
    s->f_bavail = 1 << 20;
    s->f_files = 1 << 20;
    s->f_ffree = 1 << 20;
    s->f_favail = 1 << 20;
    s->f_namemax = CFS_NAME_MAX;
    return 0;
}

static void *cfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    struct cfs_fs *fs = fuse_get_context()->private_data;
    struct cfs_err err;
    cfg->entry_timeout = 1.0;
    cfg->attr_timeout = 1.0;
    cfg->negative_timeout = 0;
    cfg->hard_remove = 1;       /* no .fuse_hidden renames */
    cfg->use_ino = 0;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    /* Every directory read carries the attributes (readdir fills them
     * anyway).  In auto mode the kernel sends plain reads after the first
     * buffer, and ls -l of a 20,000-VM collection then cost one LOOKUP
     * round trip per entry. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    start_time_ns = store_now();
    if (store_open(fs->conf->store, fs->layout, fs->conf->sync_full, &fs->st, &err) < 0) {
        fprintf(stderr, "cloudfs: %s\n", err.msg);
        fuse_exit(fuse_get_context()->fuse);
        return fs;
    }
    /* Without it the tree still works; only inotify for changes made
     * elsewhere and the /events stream's wake-ups are lost. */
    if (notify_fs_start(fs->st, fs->conf->store, fuse_get_context()->fuse, fs->mountpoint,
                        &fs->nf, &err) < 0)
        fprintf(stderr, "cloudfs: %s\n", err.msg);
    return fs;
}

static void cfs_destroy(void *data)
{
    struct cfs_fs *fs = data;
    notify_fs_stop(fs->nf);
    fs->nf = NULL;
    store_close(fs->st);
    fs->st = NULL;
}

/* ---- audited entry points ----
 * Requests that would change the tree are recorded in the audit with their
 * result.  The notifier's own requests (notify_fs.h) only raise inotify
 * events: they change nothing and are not recorded. */

static int op_mkdir(const char *path, mode_t mode)
{
    struct cfs_fs *fs = fs_self();
    if (notify_fs_is_self(fs->nf)) {
        notify_fs_created(fs->nf);
        return 0;
    }
    int rc = cfs_mkdir(path, mode);
    audit_fs(fs->st, "mkdir", path, NULL, 0, false, rc);
    return rc;
}

static int op_rmdir(const char *path)
{
    struct cfs_fs *fs = fs_self();
    if (notify_fs_is_self(fs->nf))
        return 0;
    int rc = cfs_rmdir(path);
    audit_fs(fs->st, "rmdir", path, NULL, 0, false, rc);
    return rc;
}

static int op_unlink(const char *path)
{
    struct cfs_fs *fs = fs_self();
    if (notify_fs_is_self(fs->nf))
        return 0;
    int rc = cfs_unlink(path);
    audit_fs(fs->st, "unlink", path, NULL, 0, false, rc);
    return rc;
}

static int op_symlink(const char *target, const char *linkpath)
{
    struct cfs_fs *fs = fs_self();
    if (notify_fs_is_self(fs->nf)) {
        notify_fs_created(fs->nf);
        return 0;
    }
    int rc = cfs_symlink(target, linkpath);
    audit_fs(fs->st, "symlink", linkpath, target, strlen(target), false, rc);
    return rc;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
    struct cfs_fs *fs = fs_self();
    int rc = cfs_rename(from, to, flags);
    audit_fs(fs->st, "rename", from, to, strlen(to), false, rc);
    return rc;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    struct cfs_fs *fs = fs_self();
    char value[64];
    int rc = cfs_chown(path, uid, gid, fi);
    snprintf(value, sizeof(value), "%ld:%ld", uid == (uid_t)-1 ? -1L : (long)uid,
             gid == (gid_t)-1 ? -1L : (long)gid);
    audit_fs(fs->st, "chown", path, value, strlen(value), false, rc);
    return rc;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct cfs_fs *fs = fs_self();
    int rc = cfs_create(path, mode, fi);
    audit_fs(fs->st, "create", path, NULL, 0, false, rc);
    return rc;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    int rc = cfs_truncate(path, size, fi);
    /* Accepted truncations only prepare the value the next write commits
     * (that write is audited); refused ones are attempts worth a line. */
    if (rc < 0)
        audit_fs(fs_self()->st, "truncate", path, NULL, 0, false, rc);
    return rc;
}

static const struct fuse_operations cfs_ops = {
    .init = cfs_init,
    .destroy = cfs_destroy,
    .getattr = cfs_getattr,
    .opendir = cfs_opendir,
    .readdir = cfs_readdir,
    .releasedir = cfs_releasedir,
    .open = cfs_open,
    .create = op_create,
    .read = cfs_read,
    .write = cfs_write,
    .flush = cfs_flush,
    .release = cfs_release,
    .fsync = cfs_fsync,
    .truncate = op_truncate,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .unlink = op_unlink,
    .symlink = op_symlink,
    .readlink = cfs_readlink,
    .rename = op_rename,
    .chmod = cfs_chmod,
    .chown = op_chown,
    .utimens = cfs_utimens,
    .statfs = cfs_statfs,
    .poll = cfs_poll,
};

/* The /README text: the embedded tree guide. */
static char *readme_text(void)
{
    for (size_t i = 0; i < cfs_embedded_layout_count; i++)
        if (!strcmp(cfs_embedded_layout[i].name, "README"))
            return strdup(cfs_embedded_layout[i].text);
    return strdup("cloudfs: see cloudfs(7)\n");
}

int fs_mount(const struct cfs_conf *conf, const struct cfs_layout *layout, const char *mountpoint,
             bool foreground, bool debug)
{
    struct cfs_fs fs = {.conf = conf, .layout = layout};
    char *argv[16];
    int argc = 0, rc = 1;
    struct fuse *f = NULL;
    struct fuse_loop_config *loop = NULL;
    struct fuse_cmdline_opts opts = {0};
    fs.mountpoint = realpath(mountpoint, NULL);
    if (!fs.mountpoint) {
        fprintf(stderr, "cloudfs: %s: %s\n", mountpoint, strerror(errno));
        return 1;
    }
    if (conf->admin_group && conf->admin_group[0]) {
        struct group gr, *found = NULL;
        char grbuf[16384];
        if (getgrnam_r(conf->admin_group, &gr, grbuf, sizeof(grbuf), &found) != 0 || !found) {
            fprintf(stderr, "cloudfs: admin-group \"%s\": no such group\n", conf->admin_group);
            free(fs.mountpoint);
            return 1;
        }
        fs.has_admin_gid = true;
        fs.admin_gid = found->gr_gid;
    }
    fs.readme = readme_text();
    argv[argc++] = (char *)"cloudfs";
    argv[argc++] = fs.mountpoint;
    argv[argc++] = (char *)"-o";
    /* No "intr": a blocked wait read polls fuse_interrupted() instead of
     * being signalled, which the kernel's FUSE_INTERRUPT already sets. */
    argv[argc++] = (char *)"default_permissions,allow_other,fsname=cloudfs,subtype=cloudfs";
    if (foreground)
        argv[argc++] = (char *)"-f";
    if (debug)
        argv[argc++] = (char *)"-d";
    argv[argc] = NULL;
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    if (fuse_parse_cmdline(&args, &opts) != 0)
        goto cleanup;
    f = fuse_new(&args, &cfs_ops, sizeof(cfs_ops), &fs);
    if (!f)
        goto cleanup;
    if (fuse_mount(f, opts.mountpoint) != 0) {
        fuse_destroy(f);
        f = NULL;
        goto cleanup;
    }
    fuse_daemonize(opts.foreground);
    struct fuse_session *se = fuse_get_session(f);
    fuse_set_signal_handlers(se);
    /* Blocked readers of /events and wait files each hold a worker thread:
     * allow all the mount's readers (readers.h) and a margin for every
     * other request beyond them, and let threads idle after a burst exit
     * (libfuse 3.12+ keeps every thread it made unless told). */
    readers_configure((unsigned)conf->user_readers, (unsigned)conf->mount_readers);
    scratch_configure((size_t)conf->user_scratch_files, (size_t)conf->user_scratch_size);
    loop = fuse_loop_cfg_create();
    if (loop) {
        fuse_loop_cfg_set_max_threads(loop, (unsigned)conf->mount_readers + FS_THREAD_MARGIN);
        fuse_loop_cfg_set_idle_threads(loop, FS_IDLE_THREADS);
        rc = fuse_loop_mt(f, loop) ? 1 : 0;
    }
    notify_fs_quiesce(fs.nf);
    fuse_remove_signal_handlers(se);
    fuse_unmount(f);
cleanup:
    if (loop)
        fuse_loop_cfg_destroy(loop);
    if (f)
        fuse_destroy(f);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    free(fs.mountpoint);
    free(fs.readme);
    return rc;
}
