/* store.h: the SQLite store shared by the mount and the reconciler.
 *
 * Spec (resources, attrs, links), status and the changes log live in one
 * WAL-mode database.  Every spec change appends to `changes` in the same
 * transaction, so a reader that remembers the last seq it handled never
 * misses a change across restarts.  All functions are thread-safe (one
 * connection per store handle, serialised by a mutex) and return 0 / -1 with
 * *err filled; values handed out are malloc'd copies the caller frees.
 */
#ifndef CFS_STORE_H
#define CFS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfs_error.h"
#include "layout.h"
#include "value.h"

struct cfs_store;

/* Who made a change: recorded in the changes log (and later the audit). */
struct cfs_actor {
    const char *who;        /* "fs", "reconciler", "libvirt", "cli" */
    uid_t uid;
    pid_t pid;
    const char *comm;       /* command name for writes through the mount */
};

struct cfs_res {
    int64_t id;
    int64_t parent;         /* 0 for top-level resources */
    const struct cfs_kind *kind;
    char name[CFS_NAME_MAX + 1];
    char uuid[37];
    uid_t uid;
    gid_t gid;
    mode_t mode;            /* the directory's permission bits (chmod) */
    int64_t ctime;          /* nanoseconds since the epoch */
    int64_t mtime;
    bool deleted;           /* tombstone waiting for the reconciler's teardown */
    bool recycled;          /* in /recycle (store_res_recycle): hidden, kept, restorable */
};

struct cfs_change {
    int64_t seq;
    int64_t time;
    int64_t res;
    const char *kind;
    const char *path;
    const char *op;         /* create delete rename set link unlink status verb chown chmod */
    const char *attr;       /* may be NULL */
    const char *old_value;  /* may be NULL */
    const char *new_value;  /* may be NULL */
    const char *actor;
    int64_t uid, pid;
    const char *comm;
    const char *origin;     /* store_origin() of the handle that logged it; may be NULL */
};

/* One write through a mount, accepted or refused (the /audit file). */
struct cfs_audit {
    int64_t id;
    int64_t time;
    uid_t uid;
    pid_t pid;
    const char *comm;
    const char *op;         /* write mkdir rmdir rename symlink unlink chown create */
    const char *path;
    const char *value;      /* secrets masked; may be NULL */
    const char *result;     /* "ok" or an errno name (EINVAL) */
};

int store_open(const char *path, const struct cfs_layout *layout, bool sync_full,
               struct cfs_store **out, struct cfs_err *err);
void store_close(struct cfs_store *st);
const struct cfs_layout *store_layout(const struct cfs_store *st);
/* The file every commit touches (IN_ATTRIB) once it is visible to readers. */
const char *store_notify_path(const struct cfs_store *st);
int64_t store_now(void);
/* Identifier of this handle, stored with every change it logs (changes.origin). */
const char *store_origin(const struct cfs_store *st);

/* Changes whenever a commit by this or any other connection becomes
 * visible (PRAGMA data_version plus this handle's own commits); never 0.
 * Caches of store reads are valid for one generation. */
uint64_t store_generation(struct cfs_store *st);

/* Meta key/value (schema-independent settings such as "initialized"). */
int store_meta_get(struct cfs_store *st, const char *key, char **value, struct cfs_err *err);
int store_meta_set(struct cfs_store *st, const char *key, const char *value, struct cfs_err *err);

/* Resources. */
int store_res_get(struct cfs_store *st, int64_t id, struct cfs_res *out, struct cfs_err *err);
int store_res_find(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   const char *name, struct cfs_res *out, struct cfs_err *err);
/* The resource a path reference names: attribute a (ref_depth > 1) of r,
 * value "VPC/SUBNET", "VOLUME/SNAPSHOT" or "ZONE/CLUSTER/VM", the names
 * from the nearest common ancestor of r and the target down to it. */
int store_ref_resolve(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                      const char *value, struct cfs_res *out, struct cfs_err *err);
typedef int (*store_res_cb)(const struct cfs_res *r, void *arg);
int store_res_list(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   store_res_cb cb, void *arg, struct cfs_err *err);
/* A read batch: the store calls a thread makes between these share one
 * read transaction (one snapshot, one round of file locks instead of one per
 * statement) and hold the store's lock, so keep batches short.  Nestable;
 * writes inside a batch fail with EDEADLK. */
void store_read_begin(struct cfs_store *st);
void store_read_end(struct cfs_store *st);
/* A write batch: the writes a thread makes between these share one write
 * transaction (one BEGIN IMMEDIATE, one COMMIT, one wake-up of the other
 * process), so readers see all of them or none; each write still succeeds
 * or fails on its own (a savepoint).  The batch holds the store's lock and
 * SQLite's write lock, which blocks the other process's writes: keep it to
 * store calls, never a host or pool operation.  Nestable (the outermost
 * end commits); not inside a read batch (EDEADLK).  store_write_begin
 * holds nothing when it fails; store_write_end always releases and
 * returns -1 when the commit failed (then none of the writes is stored). */
int store_write_begin(struct cfs_store *st, struct cfs_err *err);
int store_write_end(struct cfs_store *st, struct cfs_err *err);
/* End a write batch keeping none of its writes (nested: the outermost end
 * then rolls back too). */
void store_write_abort(struct cfs_store *st);

int store_res_count(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                    int64_t *count, struct cfs_err *err);
int store_res_create(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                     const char *name, uid_t uid, gid_t gid, const struct cfs_actor *actor,
                     struct cfs_res *out, struct cfs_err *err);
/* The same with the directory's mode (mkdir's, after the umask). */
int store_res_create_mode(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                          const char *name, uid_t uid, gid_t gid, mode_t mode,
                          const struct cfs_actor *actor, struct cfs_res *out,
                          struct cfs_err *err);
int store_res_delete(struct cfs_store *st, const struct cfs_res *r,
                     const struct cfs_actor *actor, struct cfs_err *err);
/* Remove a tombstone for good, once its teardown is done. */
int store_res_purge(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                    struct cfs_err *err);
/* The recycle bin.  A recycled resource keeps its row, attributes, status
 * and children under a hidden name ('.recycled-<id>'), so that its name is
 * free at once; it leaves every listing, count and quota as a tombstone
 * does, and its links (bindings) go.  Internal statuses remember its name
 * (_recycle_name), where it was (_recycle_origin) and when the reconciler
 * expunges it (_recycle_expires, seconds since the epoch).  Refused as
 * store_res_delete refuses (children, users). */
int store_res_recycle(struct cfs_store *st, const struct cfs_res *r, int64_t expires,
                      const struct cfs_actor *actor, struct cfs_err *err);
/* Back into its collection as name (EEXIST when taken), live again. */
int store_res_restore(struct cfs_store *st, const struct cfs_res *r, const char *name,
                      const struct cfs_actor *actor, struct cfs_err *err);
/* A recycled resource becomes a tombstone (the reconciler tears it down);
 * a no-op for one that is not recycled. */
int store_res_expunge(struct cfs_store *st, const struct cfs_res *r,
                      const struct cfs_actor *actor, struct cfs_err *err);
/* Every recycled resource, by id. */
int store_recycled_list(struct cfs_store *st, store_res_cb cb, void *arg, struct cfs_err *err);
/* Every resource of a kind, tombstones included (*list malloc'd). */
int store_res_all(struct cfs_store *st, const struct cfs_kind *k, struct cfs_res **list,
                  size_t *n, struct cfs_err *err);
/* Resources of kind k under parent whose status name equals value; value ""
 * also matches live resources that have no such status yet. */
int store_res_by_status(struct cfs_store *st, const struct cfs_kind *k, int64_t parent,
                        const char *name, const char *value, struct cfs_res **list, size_t *n,
                        struct cfs_err *err);
/* The tags index (value.h's tags, kept by store_attr_set): each tag of a
 * live resource, with key (NULL: any) and value (NULL: any), ordered by
 * key, value, kind and name.  cb runs after the lock is released and stops
 * the walk by returning non-zero. */
typedef int (*store_tag_cb)(const char *key, const char *value, const struct cfs_res *r,
                            void *arg);
int store_tags_list(struct cfs_store *st, const char *key, const char *value, store_tag_cb cb,
                    void *arg, struct cfs_err *err);
int store_res_by_uuid(struct cfs_store *st, const char *uuid, struct cfs_res *out,
                      struct cfs_err *err);
/* seq of the last change of the resource's spec (its generation). */
int64_t store_spec_generation(struct cfs_store *st, int64_t res);
int store_res_rename(struct cfs_store *st, const struct cfs_res *r, const char *newname,
                     const struct cfs_actor *actor, struct cfs_err *err);
int store_res_chown(struct cfs_store *st, const struct cfs_res *r, uid_t uid, gid_t gid,
                    const struct cfs_actor *actor, struct cfs_err *err);
/* Every live resource of kind owned by uid, with the values of its
 * attributes a and b ("" when absent or NULL); cb runs after the lock and
 * may use the store; non-zero stops. */
typedef int (*store_owned_cb)(int64_t id, const char *a, const char *b, void *arg);
int store_owned(struct cfs_store *st, const char *kind, uid_t uid, const char *a, const char *b,
                store_owned_cb cb, void *arg, struct cfs_err *err);
/* The distinct owners of live resources (a malloc'd array of *n). */
int store_owner_uids(struct cfs_store *st, uid_t **uids, size_t *n, struct cfs_err *err);
/* Every live resource of kind under parent, with its name, the values of
 * its attributes v[0..2] and of its status file v[3] ("" when absent or
 * NULL), in one query; cb runs after the lock and may use the store;
 * non-zero stops. */
typedef int (*store_child_cb)(int64_t id, const char *name, char *const v[4], void *arg);
int store_children(struct cfs_store *st, int64_t parent, const char *kind,
                   const char *const names[4], store_child_cb cb, void *arg,
                   struct cfs_err *err);
/* The directory's permission bits (mode & 0777): who may enter it, read
 * it, and see its events. */
int store_res_chmod(struct cfs_store *st, const struct cfs_res *r, mode_t mode,
                    const struct cfs_actor *actor, struct cfs_err *err);
/* "zones/default/clusters/default/vms/web1" */
int store_res_path(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                   struct cfs_err *err);

/* Attributes (spec).  get returns ENOENT when the resource has no row for it. */
int store_attr_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                   int64_t *mtime, struct cfs_err *err);
typedef int (*store_kv_cb)(const char *name, const char *value, int64_t mtime, void *arg);
int store_attr_list(struct cfs_store *st, int64_t res, store_kv_cb cb, void *arg,
                    struct cfs_err *err);
/* value must already be normalised (value_normalize).  Checks references,
 * then stores and logs unless the value is unchanged (*changed = false). */
int store_attr_set(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                   const char *value, const struct cfs_actor *actor, bool *changed,
                   struct cfs_err *err);
/* Record a one-shot verb in the changes log (op "verb"). */
int store_verb(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
               const char *verb, const struct cfs_actor *actor, struct cfs_err *err);

/* Status (observed state).  Names starting with '_' are internal (never in
 * the tree) and, like statuses marked volatile in the layout, are not
 * logged as changes. */
int store_status_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                     int64_t *mtime, struct cfs_err *err);
/* The value, or "" when there is none or it cannot be read (malloc'd). */
char *store_attr_text(struct cfs_store *st, int64_t res, const char *name);
char *store_status_text(struct cfs_store *st, int64_t res, const char *name);
int store_status_list(struct cfs_store *st, int64_t res, store_kv_cb cb, void *arg,
                      struct cfs_err *err);
int store_status_set(struct cfs_store *st, const struct cfs_res *r, const char *name,
                     const char *value, const struct cfs_actor *actor, struct cfs_err *err);

/* Links (relations such as vms/<vm>/volumes/<vol>). */
int store_link_list(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    store_res_cb cb, void *arg, struct cfs_err *err);
int store_link_find(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    const char *name, struct cfs_res *target, struct cfs_err *err);
int store_link_add(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err);
int store_link_del(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err);

/* Changes log. */
typedef int (*store_change_cb)(const struct cfs_change *c, void *arg);
int store_changes_since(struct cfs_store *st, int64_t after_seq, int limit, store_change_cb cb,
                        void *arg, struct cfs_err *err);
int64_t store_last_seq(struct cfs_store *st);
/* Entries of one resource with operation op after after_seq (only seq,
 * time, attr and new_value are filled); the callback may use the store. */
int store_res_changes(struct cfs_store *st, int64_t res, const char *op, int64_t after_seq,
                      store_change_cb cb, void *arg, struct cfs_err *err);
/* The newest n entries of one resource, oldest first.  The callback runs
 * under the store's lock and must not call the store. */
int store_res_recent(struct cfs_store *st, int64_t res, int n, store_change_cb cb, void *arg,
                     struct cfs_err *err);

/* Audit log: append-only (triggers refuse UPDATE and DELETE). */
/* Retention.  A daemon that follows the changes log records how far it has
 * read, under name (at most once a minute is enough). */
int store_cursor_mark(struct cfs_store *st, const char *name, int64_t seq, struct cfs_err *err);
/* Delete change entries logged before changes_before and audit rows before
 * audit_before (ns since the epoch; 0 keeps them all).  Only entries that
 * the caller (up to read_seq) and every consumer that marked in the last 10
 * minutes have read go; each live resource's newest spec entry stays (its
 * generation).  Deletes in chunks, one transaction each; counts in
 * *changes and *audit. */
int store_prune(struct cfs_store *st, int64_t read_seq, int64_t changes_before,
                int64_t audit_before, int64_t *changes, int64_t *audit, struct cfs_err *err);
int store_audit_append(struct cfs_store *st, const struct cfs_audit *a, struct cfs_err *err);
typedef int (*store_audit_cb)(const struct cfs_audit *a, void *arg);
/* Entries with id > after_id in order; the callback must not call the store. */
int store_audit_list(struct cfs_store *st, int64_t after_id, int limit, store_audit_cb cb,
                     void *arg, struct cfs_err *err);

#endif
