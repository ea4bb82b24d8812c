/* resolve_cache.c: see resolve_cache.h.
 *
 * A direct-mapped table: a slot holds the last entry hashed to it, tagged
 * with the generation it was read in; an entry of another generation is a
 * miss, so invalidation is free and memory never grows.  A lookup that
 * raced with a commit was tagged with the generation read before its
 * query, so it can only be dropped early, never served late.
 */
#include "resolve_cache.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 8192      /* power of two; ~1.5 MB */

struct slot {
    const struct cfs_store *st;
    uint64_t gen;       /* 0: empty (generations start at 1) */
    int64_t parent;
    const struct cfs_kind *kind;
    struct cfs_res res;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[SLOTS];

static size_t slot_of(int64_t parent, const struct cfs_kind *k, const char *name)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= (uint64_t)parent * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)(uintptr_t)k >> 4;
    return (size_t)(h & (SLOTS - 1));
}

bool resolve_cache_get(const struct cfs_store *st, uint64_t gen, int64_t parent,
                       const struct cfs_kind *k, const char *name, struct cfs_res *out)
{
    bool hit;
    if (!gen)
        return false;
    struct slot *s = &slots[slot_of(parent, k, name)];
    pthread_mutex_lock(&cache_lock);
    hit = s->gen == gen && s->st == st && s->parent == parent && s->kind == k && !strcmp(s->res.name, name);
    if (hit)
        *out = s->res;
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void resolve_cache_put(const struct cfs_store *st, uint64_t gen, int64_t parent,
                       const struct cfs_kind *k, const char *name, const struct cfs_res *r)
{
    if (!gen || strcmp(r->name, name))
        return;
    struct slot *s = &slots[slot_of(parent, k, name)];
    pthread_mutex_lock(&cache_lock);
    s->st = st;
    s->gen = gen;
    s->parent = parent;
    s->kind = k;
    s->res = *r;
    pthread_mutex_unlock(&cache_lock);
}
