/* wait.c: blocking until a resource converges (see wait.h). */
#include "wait.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

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

int wait_converged(struct cfs_store *st, const struct cfs_res *r, const struct wait_mark *m,
                   bool (*interrupted)(void), char **out)
{
    struct cfs_err err;
    int rc;
    *out = NULL;
    /* Woken by every commit of either process (the notify file); the
     * 50 ms timeout is only a fallback and the interrupt check's pace. */
    int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd >= 0 && inotify_add_watch(ifd, store_notify_path(st), IN_ATTRIB | IN_MODIFY) < 0) {
        close(ifd);
        ifd = -1;
    }
    for (;;) {
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
        if (interrupted && interrupted()) {
            rc = -EINTR;
            break;
        }
        struct pollfd pfd = {.fd = ifd, .events = POLLIN};
        if (poll(&pfd, ifd >= 0 ? 1 : 0, 50) > 0) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(ifd, buf, sizeof(buf)) > 0)
                ;
        }
    }
    if (ifd >= 0)
        close(ifd);
    return rc;
}
