/* last_error.c: each user's last refused request (see last_error.h). */
#include "last_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "textbuf.h"

struct entry {
    bool used;
    uid_t uid;
    int64_t time;
    char path[1024];
    char msg[512];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[LAST_ERROR_USERS];    /* guarded by lock */

void last_error_note(uid_t uid, const char *path, const char *msg)
{
    pthread_mutex_lock(&lock);
    /* uid's own slot, else a free one, else the oldest. */
    struct entry *e = NULL, *oldest = &table[0];
    for (size_t i = 0; i < LAST_ERROR_USERS && !e; i++) {
        if (table[i].used && table[i].uid == uid)
            e = &table[i];
        else if (!table[i].used || (oldest->used && table[i].time < oldest->time))
            oldest = &table[i];
    }
    if (!e)
        e = oldest;
    e->used = true;
    e->uid = uid;
    e->time = store_now();
    snprintf(e->path, sizeof(e->path), "%s", path && *path ? path : "/");
    snprintf(e->msg, sizeof(e->msg), "%s", msg ? msg : "");
    pthread_mutex_unlock(&lock);
}

char *last_error_text(uid_t uid, size_t *len)
{
    struct textbuf b = {0};
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < LAST_ERROR_USERS; i++) {
        const struct entry *e = &table[i];
        if (!e->used || e->uid != uid)
            continue;
        tb_time(&b, e->time);
        tb_printf(&b, " %s: %s\n", e->path, e->msg);
        break;
    }
    pthread_mutex_unlock(&lock);
    return tb_steal(&b, len);   /* "" when there is none */
}
