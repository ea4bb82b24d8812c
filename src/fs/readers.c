/* readers.c: per-user and mount-wide caps on blocking readers (see readers.h). */
#include "readers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

/* Users holding at least one slot; at most one entry per slot taken, so the
 * table never needs more entries than the mount's cap. */
struct holder {
    uid_t uid;
    unsigned count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned cap_user = 64, cap_mount = 448;    /* guarded by lock */
static struct holder *holders;                     /* guarded by lock */
static size_t nholders, capholders;
static unsigned total;

void readers_configure(unsigned per_user, unsigned mount)
{
    pthread_mutex_lock(&lock);
    cap_user = per_user;
    cap_mount = mount;
    pthread_mutex_unlock(&lock);
}

static struct holder *find(uid_t uid)
{
    for (size_t i = 0; i < nholders; i++)
        if (holders[i].uid == uid)
            return &holders[i];
    return NULL;
}

int readers_acquire(uid_t uid, bool capped, struct cfs_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&lock);
    struct holder *h = find(uid);
    if (total >= cap_mount) {
        cfs_err_set(err, ENFILE, "the mount holds %u blocking readers (/events, wait), "
                                 "its limit (mount-readers)", total);
        rc = -ENFILE;
    } else if (capped && h && h->count >= cap_user) {
        cfs_err_set(err, EMFILE, "uid %ld holds %u blocking readers (/events, wait), "
                                 "its limit (user-readers)", (long)uid, h->count);
        rc = -EMFILE;
    } else if (!h && nholders == capholders) {
        size_t cap = capholders ? capholders * 2 : 16;
        struct holder *grown = realloc(holders, cap * sizeof(*grown));
        if (!grown) {
            cfs_err_set(err, ENOMEM, "out of memory");
            rc = -ENOMEM;
        } else {
            holders = grown;
            capholders = cap;
        }
    }
    if (rc == 0) {
        if (!h) {
            h = &holders[nholders++];
            h->uid = uid;
            h->count = 0;
        }
        h->count++;
        total++;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void readers_release(uid_t uid)
{
    pthread_mutex_lock(&lock);
    struct holder *h = find(uid);
    if (h && h->count > 0) {
        total--;
        if (--h->count == 0) {
            *h = holders[--nholders];
            if (nholders == 0) {
                free(holders);
                holders = NULL;
                capholders = 0;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}
