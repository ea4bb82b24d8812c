/* wait.c: blocking until a resource converges (see wait.h). */
#include "wait.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_keys.h"

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

int wait_converged(struct cfs_store *st, struct notify_fs *nf, const struct cfs_res *r,
                   const struct wait_mark *m, bool (*interrupted)(void), char **out)
{
    struct cfs_err err;
    int rc;
    bool look = true;
    uint64_t seen = notify_fs_commits(nf);
    *out = NULL;
    for (;;) {
        if (!look) {
            if (interrupted && interrupted()) {
                rc = -EINTR;
                break;
            }
            /* Asleep until a commit of either process (the notifier sees the
             * notify file touched); the tick only notices an interrupted
             * reader.  Without a notifier every tick looks. */
            notify_fs_wait_commit(nf, seen, WAIT_TICK_MS);
            uint64_t now = notify_fs_commits(nf);
            look = !nf || now != seen;
            seen = now;
            continue;
        }
        look = false;
        char *gen = store_status_text(st, r->id, CFS_ST_GEN);
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
        if (done) {
            rc = *out ? 0 : -ENOMEM;
            break;
        }
        if (failed) {
            rc = -EIO;
            break;
        }
    }
    return rc;
}
