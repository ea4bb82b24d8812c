/* workq_test.c: the work queue against a model, with many keys.
 *
 * Random adds (some while the key is running), takes and dones over 20,000
 * keys; checks that a key is never handed out twice at once, that every
 * key added is eventually handed out, and that the queue empties.
 *
 * Build and run (from the top of the tree):
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude/common -o /tmp/workq_test tests/unit/workq_test.c src/common/workq.c -lpthread
 */
#include <stdio.h>
#include <stdlib.h>

#include "workq.h"

#define KEYS 20000

static int fail(const char *what, long long key)
{
    fprintf(stderr, "workq_test: %s (key %lld)\n", what, key);
    return 1;
}

int main(void)
{
    static char running[KEYS + 1], pending[KEYS + 1];
    struct workq q;
    workq_init(&q);
    srand(42);
    long long handed = 0;
    for (int round = 0; round < 200000; round++) {
        int op = rand() % 3;
        if (op == 0) {
            int64_t key = 1 + rand() % KEYS;
            workq_add(&q, key, 0);
            pending[key] = 1;
        } else {
            /* take one, finish it (sometimes re-adding it while it runs) */
            if (workq_idle(&q))
                continue;
            int64_t key;
            if (!workq_take(&q, &key))
                return fail("take returned false", 0);
            if (key < 1 || key > KEYS)
                return fail("unknown key", key);
            if (running[key])
                return fail("handed out twice", key);
            if (!pending[key])
                return fail("handed out without being added", key);
            running[key] = 1;
            pending[key] = 0;
            handed++;
            if (rand() % 4 == 0) {
                workq_add(&q, key, 0);
                pending[key] = 1;
            }
            running[key] = 0;
            workq_done(&q, key);
        }
    }
    /* Drain: everything still pending comes out, once. */
    while (!workq_idle(&q)) {
        int64_t key;
        if (!workq_take(&q, &key))
            return fail("take returned false", 0);
        if (!pending[key])
            return fail("drained a key that was not pending", key);
        pending[key] = 0;
        workq_done(&q, key);
    }
    for (int k = 1; k <= KEYS; k++)
        if (pending[k])
            return fail("lost", k);
    if (workq_depth(&q) != 0)
        return fail("queue not empty", (long long)workq_depth(&q));
    workq_destroy(&q);
    printf("workq_test: %lld hand-outs, ok\n", handed);
    return 0;
}
