/* wait.c: blocking until a resource converges (see wait.h). */
#include "wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wait_mark_take(struct cfs_store *st, const struct cfs_res *r, struct wait_mark *m)
{
    m->gen = store_spec_generation(st, r->id);
}

static int new_error(const struct cfs_change *c, void *arg)
{
    if (c->attr && !strcmp(c->attr, "error") && c->new_value && c->new_value[0])
        *(bool *)arg = true;
    return 0;
}

int wait_converged(struct cfs_store *st, const struct cfs_res *r, const struct wait_mark *m,
                   bool (*interrupted)(void), char **out)
{
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
    struct cfs_err err;
    *out = NULL;
    for (;;) {
        char *gen = store_status_text(st, r->id, "_gen");
        char *state = store_status_text(st, r->id, "state");
        char *error = store_status_text(st, r->id, "error");
        bool done = gen[0] && atoll(gen) >= m->gen;
        bool failed = !strcmp(state, "error");
        /* An error still standing and reported after the spec being waited
         * for was written belongs to this attempt (it may have been
         * reported before the file was opened). */
        if (!done && !failed && error[0] &&
            store_res_changes(st, r->id, "status", m->gen, new_error, &failed, &err) < 0)
            failed = true;
        free(error);
        if (done) {
            const char *text = state[0] ? state : "converged";
            size_t n = strlen(text) + 2;
            *out = malloc(n);
            if (*out)
                snprintf(*out, n, "%s\n", text);
        }
        free(gen);
        free(state);
        if (done)
            return *out ? 0 : -ENOMEM;
        if (failed)
            return -EIO;
        if (interrupted && interrupted())
            return -EINTR;
        nanosleep(&tick, NULL);
    }
}
