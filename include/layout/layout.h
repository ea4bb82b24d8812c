/* layout.h: the tree described as data.
 *
 * fs-layout/ holds one libconfig file per resource kind.  layout_load() turns
 * them into an immutable struct cfs_layout that the filesystem, the store and
 * the man-page generator all interpret; nothing about a particular kind is
 * hard-coded outside of the reconciler hooks.  A loaded layout is never
 * modified, so it is shared between threads without locking.
 */
#ifndef CFS_LAYOUT_H
#define CFS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cfs_error.h"

enum cfs_type {
    CFS_T_ENUM,     /* one of values[] */
    CFS_T_INT,      /* decimal integer in [min, max] */
    CFS_T_SIZE,     /* bytes with K/M/G/T suffix, in [min, max] */
    CFS_T_BOOL,     /* on/off */
    CFS_T_RATIO,    /* decimal with up to 2 places, stored in hundredths in [min, max] */
    CFS_T_TEXT,     /* one line, length in [min, max] */
    CFS_T_HOSTNAME, /* RFC 1123 host name, length in [min, max], or empty */
    CFS_T_URI,      /* scheme:... without blanks */
    CFS_T_PATH,     /* absolute path, or empty */
    CFS_T_REF,      /* name of a resource of kind ref, or empty when optional */
    CFS_T_SECRET,   /* write-only one-line value */
    CFS_T_BLOB,     /* multi-line text, validated and committed on close */
    CFS_T_VERB,     /* write-only one-shot action, one of values[] */
    CFS_T_URL,      /* http:// or https:// URL (value_url_ok), or empty when optional */
    CFS_T_DECIMAL,  /* finite decimal number, optional sign and fraction, as written */
    CFS_T_SELECTOR, /* Prometheus series selector: name{label="v",...} (value_selector_parse) */
    CFS_T_CIDR,     /* IPv4 network ADDR/PREFIX without host bits, or empty when optional */
    CFS_T_IPV4,     /* IPv4 address, one of values[] (auto), or empty when optional */
    CFS_T_MAC,      /* unicast MAC address, or one of values[] (auto) */
    CFS_T_IPLIST,   /* up to max IPv4 addresses, one a line (or separated by blanks, ',') */
    CFS_T_ROUTES,   /* up to max lines "DEST/PREFIX via ADDR" */
    CFS_T_TAGS,     /* "key=value" lines (value_tags_*), validated and committed on close */
};

struct cfs_kind;

struct cfs_attr_def {
    char *name;
    char *doc;
    enum cfs_type type;
    char *def;              /* default value, already normalised */
    mode_t mode;            /* permission bits of the file */
    char **values;          /* ENUM, VERB */
    size_t nvalues;
    long long min, max;     /* INT, SIZE, RATIO (hundredths), text lengths */
    bool optional;          /* REF/PATH/URI may be empty */
    bool immutable;         /* writable only while the resource is new (never changed) */
    char *ref;              /* REF: kind name */
    const struct cfs_kind *ref_kind;
    /* REF: names in a value.  1: a sibling or top-level target, by name;
     * more: a target under another branch, named by the path from the
     * nearest common ancestor ("VPC/SUBNET" for a NIC's subnet).  The
     * store checks depth-1 references; deeper ones the mount's
     * preconditions (precond.c). */
    int ref_depth;
    /* REF read once, when the resource is made (an image's vm): the target
     * may be renamed or removed afterwards. */
    bool ref_once;
    /* VERB naming a resource: writing NAME links it into (or, with
     * link_remove, unlinks it from) this link directory (attach/detach). */
    char *link_name;
    const struct cfs_link_def *link;
    bool link_remove;
    /* Stored and shown but acted on by nothing, and why ("shown to
     * operators only"); NULL for an attribute that does something. */
    char *spec_only;
    /* Written by root or the admin group only, whoever owns the resource:
     * the root daemons act on it as root (a host's uri, a pool's path). */
    bool operator_only;
    /* PATH naming a file the daemons read: it must be a regular file the
     * writer may read, with no symlink in the path (user_file.h). */
    bool user_file;
    /* The value never appears in the changes log, /events, status/events
     * or the audit (its size does): secrets, and "redact = true". */
    bool redact;
    /* Set only with cloudfs.conf allow-test-uri (test rigs; "test-only"). */
    bool test_only;
};

struct cfs_status_def {
    char *name;
    char *doc;
    bool volatile_value;    /* a counter (cpu-time): updated without a change entry */
    mode_t mode;            /* permission bits of the file: 0444, or 0400 for the owner's */
    bool redact;            /* its value never appears in the changes log or /events */
};

struct cfs_link_def {
    char *name;             /* directory inside the resource, e.g. "volumes" */
    char *doc;
    char *kind_name;
    const struct cfs_kind *kind;  /* kind of the link targets */
    int max;                /* most links in this directory, 0 = unlimited */
    bool exclusive;         /* a target may be linked from one resource only */
};

/* status/NAME/ of a resource: symlinks to the sibling resources of kind
 * whose status file `via` names it (a host's status/vms/). */
struct cfs_backlink_def {
    char *name;
    char *doc;
    char *kind_name;
    const struct cfs_kind *kind;
    char *via;
};

struct cfs_kind {
    char *name;             /* "vm" */
    char *doc;
    char *collection;       /* directory holding them under the parent: "vms" */
    char *parent_name;      /* "cluster", or NULL for the root */
    const struct cfs_kind *parent;
    int order;              /* position in listings and the man page */
    bool teardown;          /* deletion leaves a tombstone for the reconciler */
    bool recycle;           /* rmdir moves it into /recycle (recycle.h); needs teardown */
    bool reconciled;        /* the reconciler converges it: the resource has a wait file */
    bool system;            /* made by the reconciler only (tasks): users cannot mkdir,
                             * rmdir or write; its status files sit in the resource
                             * directory itself, there being no spec to separate them from */
    bool operator_only;     /* created, removed and renamed by root or the admin group only */
    bool shared;            /* those root owns are public: anyone may reference them */
    bool tenant;            /* any user makes them in root's collection (sticky, as /tmp),
                             * within the quota */
    struct cfs_attr_def *attrs;
    size_t nattrs;
    struct cfs_status_def *status;
    size_t nstatus;
    struct cfs_link_def *links;
    size_t nlinks;
    struct cfs_backlink_def *backlinks;
    size_t nbacklinks;
    const struct cfs_kind **children;   /* kinds whose parent is this kind */
    size_t nchildren;
};

struct cfs_layout {
    struct cfs_kind *kinds;
    size_t nkinds;
    const struct cfs_kind **roots;      /* kinds that live at the top of the tree */
    size_t nroots;
};

struct config_setting_t;

/* Load every *.cfg of dir, or the copy embedded at build time when dir is
 * NULL.  limits (may be NULL) is the "limits" group of cloudfs.conf; its
 * kind.attr.min/max entries override the layout's ranges. */
struct cfs_layout *layout_load(const char *dir, const struct config_setting_t *limits,
                               struct cfs_err *err);
void layout_free(struct cfs_layout *layout);

const struct cfs_kind *layout_kind(const struct cfs_layout *l, const char *name);
const struct cfs_kind *layout_child_by_collection(const struct cfs_layout *l,
                                                  const struct cfs_kind *parent,
                                                  const char *collection);
const struct cfs_attr_def *layout_attr(const struct cfs_kind *k, const char *name);
const struct cfs_status_def *layout_status(const struct cfs_kind *k, const char *name);
const struct cfs_link_def *layout_link(const struct cfs_kind *k, const char *name);
const struct cfs_backlink_def *layout_backlink(const struct cfs_kind *k, const char *name);

const char *layout_type_name(enum cfs_type t);

/* Embedded copies of fs-layout/, generated by the build. */
struct cfs_embedded_file {
    const char *name;
    const char *text;
};
extern const struct cfs_embedded_file cfs_embedded_layout[];
extern const size_t cfs_embedded_layout_count;

#endif
