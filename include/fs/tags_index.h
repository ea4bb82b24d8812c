/* tags_index.h: the read-only /tags index of resources by tag.
 *
 *   /tags/KEY/                  the values of KEY
 *   /tags/KEY/VALUE/            a symlink to each resource tagged KEY=VALUE
 *   /tags/KEY/VALUE/KIND:A:B:N  -> ../../../zones/A/clusters/B/vms/N
 *
 * A link is named after the resource's kind and the names on its path
 * (unambiguous: names hold no ':', and the kind fixes the depth), or
 * KIND:UUID when that would be longer than NAME_MAX.  It points with a
 * relative path, so it resolves under any mount point and follows a rename.
 * A reader sees only the resources it may reach (viewer.h), and only the
 * keys and values that have one.  The tags come from the store's tags table
 * (store_tags_list), which the tags attributes keep.
 */
#ifndef CFS_TAGS_INDEX_H
#define CFS_TAGS_INDEX_H

#include <limits.h>
#include <stdbool.h>

#include "store.h"
#include "viewer.h"

/* The name of r's link in a /tags/KEY/VALUE/ directory. */
int tags_link_name(struct cfs_store *st, const struct cfs_res *r, char name[NAME_MAX + 1],
                   struct cfs_err *err);
/* The text of that link: "../../../" and r's path in the tree. */
int tags_link_text(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                   struct cfs_err *err);

/* Is there a tag with key (and value, when not NULL)?  Any resource, or
 * with w not NULL one that w may reach: 1, 0 when not, -1 with err. */
int tags_exist(struct cfs_store *st, const struct events_viewer *w, const char *key,
               const char *value, struct cfs_err *err);
/* The resource tagged key=value whose link is called name: 0 with *out,
 * ENOENT when there is none. */
int tags_find_link(struct cfs_store *st, const char *key, const char *value, const char *name,
                   struct cfs_res *out, struct cfs_err *err);

/* What a directory of the index lists for w: the keys (key NULL), the
 * values of key (value NULL), or the resources tagged key=value, each once,
 * in order.  cb gets the entry's name and, for links, the resource; it
 * stops the walk by returning non-zero. */
typedef int (*tags_entry_cb)(const char *name, const struct cfs_res *r, void *arg);
int tags_list(struct cfs_store *st, const struct events_viewer *w, const char *key,
              const char *value, tags_entry_cb cb, void *arg, struct cfs_err *err);

#endif
