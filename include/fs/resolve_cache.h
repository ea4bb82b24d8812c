/* resolve_cache.h: the mount's cache of path steps.
 *
 * Resolving a path costs one SQLite lookup per resource on it (zone,
 * cluster, VM...), for every getattr and open.  The cache remembers
 * (parent, kind, name) -> resource for one store generation
 * (store_generation: any commit by either daemon starts a new one), so a
 * hit is never stale: it returns what the store would have returned.
 * Bounded (a fixed direct-mapped table), thread-safe, positive entries only.
 */
#ifndef CFS_RESOLVE_CACHE_H
#define CFS_RESOLVE_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

bool resolve_cache_get(const struct cfs_store *st, uint64_t gen, int64_t parent,
                       const struct cfs_kind *k, const char *name, struct cfs_res *out);
void resolve_cache_put(const struct cfs_store *st, uint64_t gen, int64_t parent,
                       const struct cfs_kind *k, const char *name, const struct cfs_res *r);

#endif
