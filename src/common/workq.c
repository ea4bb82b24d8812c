/* workq.c: a keyed, delayed, per-key serialised work queue (see workq.h).
 *
 * An array with a hash index by key.  A full resync queues every resource
 * at once (100,000 VMs), so neither add nor take may scan the whole queue:
 * add finds its key through the index, and take hands out the first due
 * entry after where the previous take stopped (round robin among due
 * entries), scanning everything only when nothing is due. */
#include "workq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t workq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void workq_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

void workq_init(struct workq *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    workq_cond_init(&q->cond);
}

void workq_destroy(struct workq *q)
{
    free(q->items);
    free(q->index);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}

static size_t hash_key(int64_t key, size_t cap)
{
    return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

/* The index slot holding key, or the free slot where it would go. */
static size_t index_slot(const struct workq *q, int64_t key)
{
    size_t i = hash_key(key, q->index_cap);
    while (q->index[i] && q->items[q->index[i] - 1].key != key)
        i = (i + 1) & (q->index_cap - 1);
    return i;
}

static struct workq_item *find(struct workq *q, int64_t key)
{
    if (!q->index_cap)
        return NULL;
    size_t pos = q->index[index_slot(q, key)];
    return pos ? &q->items[pos - 1] : NULL;
}

static void index_build(struct workq *q)
{
    memset(q->index, 0, q->index_cap * sizeof(q->index[0]));
    for (size_t i = 0; i < q->n; i++)
        q->index[index_slot(q, q->items[i].key)] = i + 1;
}

/* Remove items[pos]; the last item takes its place.  Its index entry is
 * moved while the probe chains are intact, then the chain that followed the
 * freed slot is re-seated (linear probing has no tombstones). */
static void remove_at(struct workq *q, size_t pos)
{
    size_t slot = index_slot(q, q->items[pos].key);
    size_t last = q->n - 1;
    if (pos != last) {
        size_t moved = index_slot(q, q->items[last].key);
        q->items[pos] = q->items[last];
        q->index[moved] = pos + 1;
    }
    q->n--;
    q->index[slot] = 0;
    for (size_t i = (slot + 1) & (q->index_cap - 1); q->index[i]; i = (i + 1) & (q->index_cap - 1)) {
        size_t p = q->index[i];
        q->index[i] = 0;
        q->index[index_slot(q, q->items[p - 1].key)] = p;
    }
}

void workq_add(struct workq *q, int64_t key, int64_t delay_ms)
{
    int64_t due = workq_now() + delay_ms * 1000000LL;
    pthread_mutex_lock(&q->lock);
    struct workq_item *it = find(q, key);
    if (it) {
        if (it->running) {
            if (!it->again || due < it->again_due)
                it->again_due = due;
            it->again = true;
        } else if (due < it->due) {
            it->due = due;
        }
    } else {
        if (q->n == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 64;
            struct workq_item *grown = realloc(q->items, cap * sizeof(*grown));
            size_t *index = calloc(cap * 4, sizeof(*index));
            if (grown)
                q->items = grown;
            if (!grown || !index) {
                free(index);
                pthread_mutex_unlock(&q->lock);
                return;     /* the periodic resync will pick the key up */
            }
            free(q->index);
            q->index = index;
            q->index_cap = cap * 4;
            q->cap = cap;
            index_build(q);
        }
        q->items[q->n++] = (struct workq_item){.key = key, .due = due};
        q->index[index_slot(q, key)] = q->n;
    }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

bool workq_take(struct workq *q, int64_t *key)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->stopping) {
            pthread_mutex_unlock(&q->lock);
            return false;
        }
        int64_t now = workq_now(), next = -1;
        struct workq_item *best = NULL;
        for (size_t k = 0; k < q->n; k++) {
            size_t i = (q->cursor + k) % q->n;
            struct workq_item *it = &q->items[i];
            if (it->running)
                continue;
            if (it->due <= now) {
                best = it;
                q->cursor = i + 1;
                break;
            }
            if (next < 0 || it->due < next)
                next = it->due;
        }
        if (best) {
            int64_t waited = now - best->due;
            q->wait_ns += waited;
            if (waited > q->wait_max_ns)
                q->wait_max_ns = waited;
            best->taken = now;
            best->running = true;
            *key = best->key;
            pthread_mutex_unlock(&q->lock);
            return true;
        }
        if (next < 0) {
            pthread_cond_wait(&q->cond, &q->lock);
        } else {
            struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        }
    }
}

void workq_done(struct workq *q, int64_t key)
{
    pthread_mutex_lock(&q->lock);
    struct workq_item *it = find(q, key);
    if (it) {
        q->done++;
        q->run_ns += workq_now() - it->taken;
        if (it->again) {
            it->running = false;
            it->again = false;
            it->due = it->again_due;
        } else {
            remove_at(q, (size_t)(it - q->items));
        }
    }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void workq_stop(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

size_t workq_depth(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->n;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void workq_stats(struct workq *q, struct workq_stats *out)
{
    pthread_mutex_lock(&q->lock);
    out->done = q->done;
    out->wait_ns = q->wait_ns;
    out->run_ns = q->run_ns;
    out->wait_max_ns = q->wait_max_ns;
    out->depth = q->n;
    q->wait_max_ns = 0;
    pthread_mutex_unlock(&q->lock);
}

bool workq_idle(struct workq *q)
{
    int64_t now = workq_now();
    bool idle = true;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->n && idle; i++)
        idle = !q->items[i].running && q->items[i].due > now;
    pthread_mutex_unlock(&q->lock);
    return idle;
}
