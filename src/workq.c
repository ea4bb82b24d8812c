/* workq.c: a keyed, delayed, per-key serialised work queue (see workq.h).
 *
 * A plain array scanned linearly: the queue holds at most one entry per
 * resource and is drained continuously, so it stays short in practice. */
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

void workq_init(struct workq *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
}

void workq_destroy(struct workq *q)
{
    free(q->items);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}

static struct workq_item *find(struct workq *q, int64_t key)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->items[i].key == key)
            return &q->items[i];
    return NULL;
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
            if (!grown) {
                pthread_mutex_unlock(&q->lock);
                return;     /* the periodic resync will pick the key up */
            }
            q->items = grown;
            q->cap = cap;
        }
        q->items[q->n++] = (struct workq_item){.key = key, .due = due};
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
        for (size_t i = 0; i < q->n; i++) {
            struct workq_item *it = &q->items[i];
            if (it->running)
                continue;
            if (it->due <= now && (!best || it->due < best->due))
                best = it;
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
            *it = q->items[--q->n];
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
