/* tree.h: map a path of the mounted tree to what it names.
 *
 * The FUSE layer is a thin dispatcher over these node types: every entry
 * point resolves its path into a struct cfs_node and acts on the type.
 */
#ifndef CFS_TREE_H
#define CFS_TREE_H

#include <limits.h>

#include "store.h"

enum cfs_node_type {
    NODE_ROOT,        /* / */
    NODE_ROOTFILE,    /* /README, /version */
    NODE_COLL,        /* .../vms: res is the parent (id 0 at the top), kind the kind listed */
    NODE_RES,         /* .../vms/web1 */
    NODE_ATTR,        /* .../vms/web1/state */
    NODE_STATUSDIR,   /* .../vms/web1/status */
    NODE_STATUS,      /* .../vms/web1/status/state */
    NODE_BACKDIR,     /* .../hosts/h1/status/vms */
    NODE_BACKLINK,    /* .../hosts/h1/status/vms/web1 */
    NODE_LINKDIR,     /* .../vms/web1/volumes */
    NODE_LINK,        /* .../vms/web1/volumes/data1 */
    NODE_SCRATCH,     /* an editor's or rsync's temporary file, memory only */
    NODE_WAIT,        /* .../vms/web1/wait: blocks until status converges on spec */
    NODE_EVENTLOG,    /* .../vms/web1/status/events: the resource's last changes */
    NODE_TAGS,        /* /tags (tags_index.h) */
    NODE_TAGKEY,      /* /tags/KEY */
    NODE_TAGVAL,      /* /tags/KEY/VALUE */
    NODE_TAGLINK,     /* /tags/KEY/VALUE/vm:zone:cluster:web1: res is the resource */
    NODE_RECYCLE,     /* /recycle (recycle.h) */
    NODE_RECYCLED,    /* /recycle/web1.17: res is the recycled resource */
    NODE_RECYCLEFILE, /* /recycle/web1.17/origin: name is the file */
};

enum cfs_rootfile {
    ROOTFILE_README,
    ROOTFILE_VERSION,
    ROOTFILE_EVENTS,    /* stream of the changes log (events.h) */
    ROOTFILE_AUDIT,     /* writes through the mount (audit.h) */
    ROOTFILE_METRICS,   /* Prometheus exposition (metrics.h) */
    ROOTFILE_LAST_ERROR,/* the reader's own last refused request (last_error.h) */
    ROOTFILE_COUNT
};
extern const char *const cfs_rootfile_names[ROOTFILE_COUNT];

struct cfs_node {
    enum cfs_node_type type;
    struct cfs_res res;                 /* resource (or the collection's parent) */
    const struct cfs_kind *kind;        /* COLL: kind it lists */
    const struct cfs_attr_def *attr;    /* ATTR */
    const struct cfs_status_def *status;/* STATUS */
    const struct cfs_link_def *link;    /* LINKDIR, LINK */
    const struct cfs_backlink_def *back;/* BACKDIR, BACKLINK */
    struct cfs_res target;              /* LINK, BACKLINK */
    enum cfs_rootfile rootfile;         /* ROOTFILE */
    char name[NAME_MAX + 1];            /* last path component */
    char tag_key[NAME_MAX + 1];         /* TAGKEY, TAGVAL, TAGLINK */
    char tag_value[NAME_MAX + 1];       /* TAGVAL, TAGLINK */
};

/* The read-only index's directory at the root. */
#define TREE_TAGS_DIR "tags"

/* Resolve an absolute path.  ENOENT when nothing is there. */
int tree_resolve(struct cfs_store *st, const char *path, struct cfs_node *out,
                 struct cfs_err *err);

/* Resolve the parent directory of path and return its last component in
 * leaf (which need not exist). */
int tree_resolve_parent(struct cfs_store *st, const char *path, struct cfs_node *parent,
                        char leaf[NAME_MAX + 1], struct cfs_err *err);

/* Names that editors and sync tools use for temporary files: dot-names,
 * backups ending in '~', .swp/.swx/.tmp/.bak, sed -i's sedXXXXXX, vim's
 * numeric probe file, emacs #autosave#. */
bool tree_is_scratch_name(const char *name);

#endif
