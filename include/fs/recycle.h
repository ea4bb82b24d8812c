/* recycle.h: /recycle, the recycle bin of the mount.
 *
 * rmdir of a VM, volume or image moves it here (store_res_recycle) unless
 * cloudfs.conf's recycle is false.  Each entry is named NAME.ID (the name
 * it had and its resource id, so that two recycled web1 never collide) and
 * holds read-only files: origin (the path it came from), kind, expires
 * (UTC, when the reconciler expunges it).  mv of an entry into its own
 * collection restores it; rmdir expunges it now.
 */
#ifndef CFS_RECYCLE_H
#define CFS_RECYCLE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "store.h"
#include "tree.h"

#define RECYCLE_DIR "recycle"

enum recycle_file { RECYCLE_ORIGIN, RECYCLE_KIND, RECYCLE_EXPIRES, RECYCLE_NFILES };
extern const char *const recycle_file_names[RECYCLE_NFILES];

/* Does rmdir of a resource of kind k go to the bin under conf? */
bool recycle_applies(const struct cfs_conf *conf, const struct cfs_kind *k);
/* Move r into the bin (inside the caller's write batch). */
int recycle_res(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *r,
                const struct cfs_actor *actor, struct cfs_err *err);
/* The entry's name "NAME.ID" of recycled r. */
void recycle_entry_name(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len);
/* tree.c's step below /recycle (NODE_RECYCLE, NODE_RECYCLED). */
int recycle_step(struct cfs_store *st, struct cfs_node *cur, const char *name,
                 struct cfs_err *err);
/* Text of a NODE_RECYCLEFILE (malloc'd, newline-terminated). */
int recycle_file_text(struct cfs_store *st, const struct cfs_node *n, char **out, size_t *len);

#endif
