/* workq.h: the reconciler's work queue.
 *
 * Keys are resource ids.  A key is handed to at most one worker at a time
 * (work on one resource is serialised); asking for a key that is being
 * worked on marks it to run again afterwards, so no wake-up is lost.  Each
 * entry has a due time, which gives delayed retries and timers for free.
 */
#ifndef CFS_WORKQ_H
#define CFS_WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct workq_item {
    int64_t key;
    int64_t due;        /* monotonic ns */
    bool running;
    bool again;         /* re-queued while running */
    int64_t again_due;
    int64_t taken;      /* monotonic ns a worker took it */
};

/* Totals since the queue started (for /metrics). */
struct workq_stats {
    uint64_t done;          /* passes finished */
    int64_t wait_ns;        /* sum over passes of (taken - due): time spent queued */
    int64_t run_ns;         /* sum over passes of (done - taken) */
    int64_t wait_max_ns;    /* longest wait since the previous workq_stats call */
    size_t depth;           /* keys queued or running now */
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct workq_item *items;
    size_t n, cap;
    /* key -> position in items + 1 (0: free), open addressing; a full
     * resync queues every resource, and a scan per add was quadratic. */
    size_t *index;
    size_t index_cap;       /* power of two, > 2 * cap */
    size_t cursor;          /* where workq_take resumes its scan */
    bool stopping;
    /* Statistics for /metrics and the bench. */
    uint64_t done;
    int64_t wait_ns, run_ns, wait_max_ns;
};

void workq_init(struct workq *q);
void workq_destroy(struct workq *q);
int64_t workq_now(void);
/* A condition variable whose timed waits count on workq_now()'s clock
 * (CLOCK_MONOTONIC), for threads that wait beside the queue. */
void workq_cond_init(pthread_cond_t *cond);
/* Run key after delay_ms (0 = now); an earlier request wins. */
void workq_add(struct workq *q, int64_t key, int64_t delay_ms);
/* Block until a key is due (returns true) or the queue stops (false). */
bool workq_take(struct workq *q, int64_t *key);
/* The worker finished key; it runs again if it was re-queued meanwhile. */
void workq_done(struct workq *q, int64_t key);
void workq_stop(struct workq *q);
size_t workq_depth(struct workq *q);
/* Snapshot the statistics; resets wait_max_ns. */
void workq_stats(struct workq *q, struct workq_stats *out);
/* Nothing is running and nothing is due now (only timers wait). */
bool workq_idle(struct workq *q);

#endif
