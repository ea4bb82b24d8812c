/* scratch.c: the in-memory temporary file table (see scratch.h). */
#include "scratch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct scratch {
    int64_t res;
    char name[NAME_MAX + 1];
    char *data;
    size_t size;
    struct scratch_info info;
    uid_t charged;      /* whose caps it counts against: its creator */
    bool capped;        /* the creator has per-user caps (not root or admin) */
    bool used;
};

static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct scratch table[SCRATCH_MAX_FILES];
static size_t user_files = 256, user_bytes = 64 << 20;    /* guarded by scratch_lock */

void scratch_configure(size_t files, size_t bytes)
{
    pthread_mutex_lock(&scratch_lock);
    user_files = files;
    user_bytes = bytes;
    pthread_mutex_unlock(&scratch_lock);
}

/* Files and bytes held by uid's capped files. */
static void usage(uid_t uid, size_t *files, size_t *bytes)
{
    *files = *bytes = 0;
    for (size_t i = 0; i < SCRATCH_MAX_FILES; i++) {
        if (table[i].used && table[i].capped && table[i].charged == uid) {
            (*files)++;
            *bytes += table[i].size;
        }
    }
}

static struct scratch *find(int64_t res, const char *name)
{
    for (size_t i = 0; i < SCRATCH_MAX_FILES; i++)
        if (table[i].used && table[i].res == res && !strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

bool scratch_exists(int64_t res, const char *name)
{
    pthread_mutex_lock(&scratch_lock);
    bool found = find(res, name) != NULL;
    pthread_mutex_unlock(&scratch_lock);
    return found;
}

/* A new file for uid (its owner and whose caps it counts against); NULL
 * with -EDQUOT in err when uid's cap or the mount's is reached. */
static struct scratch *alloc_slot(int64_t res, const char *name, mode_t mode, uid_t uid, gid_t gid,
                                  bool capped, struct cfs_err *err)
{
    size_t files, bytes;
    usage(uid, &files, &bytes);
    if (capped && files >= user_files) {
        cfs_err_set(err, EDQUOT, "uid %ld holds %zu temporary files, its limit "
                                 "(user-scratch-files)", (long)uid, files);
        return NULL;
    }
    for (size_t i = 0; i < SCRATCH_MAX_FILES; i++) {
        struct scratch *s = &table[i];
        if (s->used)
            continue;
        memset(s, 0, sizeof(*s));
        s->used = true;
        s->res = res;
        strncpy(s->name, name, NAME_MAX);
        s->info.mode = mode & 07777;
        s->info.uid = uid;
        s->info.gid = gid;
        s->charged = uid;
        s->capped = capped;
        now(&s->info.mtime);
        s->info.atime = s->info.ctime = s->info.mtime;
        return s;
    }
    cfs_err_set(err, EDQUOT, "the mount holds %d temporary files, its limit",
                SCRATCH_MAX_FILES);
    return NULL;
}

int scratch_create(int64_t res, const char *name, mode_t mode, uid_t uid, gid_t gid, bool excl,
                   bool capped, struct cfs_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        if (excl) {
            cfs_err_set(err, EEXIST, "%s exists", name);
            rc = -EEXIST;
        }
    } else if (!alloc_slot(res, name, mode, uid, gid, capped, err)) {
        rc = -EDQUOT;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_stat(int64_t res, const char *name, struct scratch_info *out)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        *out = s->info;
        out->size = s->size;
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

ssize_t scratch_read(int64_t res, const char *name, char *buf, size_t size, off_t off)
{
    ssize_t rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        size_t n = 0;
        if ((size_t)off < s->size) {
            n = s->size - (size_t)off;
            if (n > size)
                n = size;
            memcpy(buf, s->data + off, n);
        }
        rc = (ssize_t)n;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

static int resize(struct scratch *s, size_t size, struct cfs_err *err)
{
    if (size > SCRATCH_MAX_SIZE) {
        cfs_err_set(err, EFBIG, "a temporary file holds at most %d bytes", SCRATCH_MAX_SIZE);
        return -EFBIG;
    }
    if (s->capped && size > s->size) {
        size_t files, bytes;
        usage(s->charged, &files, &bytes);
        if (bytes - s->size + size > user_bytes) {
            cfs_err_set(err, EDQUOT, "uid %ld holds %zu bytes of temporary files, its "
                                     "limit is %zu (user-scratch-size)",
                        (long)s->charged, bytes, user_bytes);
            return -EDQUOT;
        }
    }
    char *grown = realloc(s->data, size ? size : 1);
    if (!grown) {
        cfs_err_set(err, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if (size > s->size)
        memset(grown + s->size, 0, size - s->size);
    s->data = grown;
    s->size = size;
    return 0;
}

ssize_t scratch_write(int64_t res, const char *name, const char *buf, size_t size, off_t off,
                      struct cfs_err *err)
{
    ssize_t rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        size_t end = (size_t)off + size;
        rc = end > s->size ? resize(s, end, err) : 0;
        if (rc == 0) {
            memcpy(s->data + off, buf, size);
            now(&s->info.mtime);
            s->info.ctime = s->info.mtime;
            rc = (ssize_t)size;
        }
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_truncate(int64_t res, const char *name, off_t size, struct cfs_err *err)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        rc = resize(s, (size_t)size, err);
        now(&s->info.mtime);
        s->info.ctime = s->info.mtime;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

static void drop(struct scratch *s)
{
    free(s->data);
    memset(s, 0, sizeof(*s));
}

int scratch_remove(int64_t res, const char *name)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        drop(s);
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_copy(int64_t res, const char *name, char **data, size_t *len)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        *data = malloc(s->size + 1);
        if (*data) {
            if (s->size)
                memcpy(*data, s->data, s->size);
            (*data)[s->size] = '\0';
            *len = s->size;
            rc = 0;
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_put(int64_t res, const char *name, const char *data, size_t len, mode_t mode,
                uid_t uid, gid_t gid, bool capped, struct cfs_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (!s)
        s = alloc_slot(res, name, mode, uid, gid, capped, err);
    if (!s)
        rc = -EDQUOT;
    else if ((rc = resize(s, len, err)) == 0 && len)
        memcpy(s->data, data, len);
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_rename(int64_t res, const char *from, const char *to)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, from);
    if (s) {
        struct scratch *d = find(res, to);
        if (d && d != s)
            drop(d);
        memset(s->name, 0, sizeof(s->name));
        strncpy(s->name, to, NAME_MAX);
        now(&s->info.ctime);
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_chmod(int64_t res, const char *name, mode_t mode)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        s->info.mode = mode & 07777;
        now(&s->info.ctime);
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_chown(int64_t res, const char *name, uid_t uid, gid_t gid)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        if (uid != (uid_t)-1)
            s->info.uid = uid;
        if (gid != (gid_t)-1)
            s->info.gid = gid;
        now(&s->info.ctime);
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

int scratch_utimens(int64_t res, const char *name, const struct timespec tv[2])
{
    int rc = -ENOENT;
    pthread_mutex_lock(&scratch_lock);
    struct scratch *s = find(res, name);
    if (s) {
        struct timespec t;
        now(&t);
        if (!tv) {
            s->info.atime = s->info.mtime = t;
        } else {
            if (tv[0].tv_nsec != UTIME_OMIT)
                s->info.atime = tv[0].tv_nsec == UTIME_NOW ? t : tv[0];
            if (tv[1].tv_nsec != UTIME_OMIT)
                s->info.mtime = tv[1].tv_nsec == UTIME_NOW ? t : tv[1];
        }
        s->info.ctime = t;
        rc = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
    return rc;
}

void scratch_list(int64_t res, scratch_cb cb, void *arg)
{
    /* Copy names out so the callback runs without the lock. */
    char (*names)[NAME_MAX + 1] = NULL;
    struct scratch_info *infos = NULL;
    size_t n = 0;
    pthread_mutex_lock(&scratch_lock);
    for (size_t i = 0; i < SCRATCH_MAX_FILES; i++)
        if (table[i].used && table[i].res == res)
            n++;
    if (n) {
        names = calloc(n, sizeof(*names));
        infos = calloc(n, sizeof(*infos));
    }
    size_t j = 0;
    for (size_t i = 0; names && infos && i < SCRATCH_MAX_FILES && j < n; i++) {
        if (table[i].used && table[i].res == res) {
            memcpy(names[j], table[i].name, sizeof(names[j]));
            infos[j] = table[i].info;
            infos[j].size = table[i].size;
            j++;
        }
    }
    pthread_mutex_unlock(&scratch_lock);
    for (size_t i = 0; i < j; i++)
        cb(names[i], &infos[i], arg);
    free(names);
    free(infos);
}

void scratch_forget(int64_t res)
{
    pthread_mutex_lock(&scratch_lock);
    for (size_t i = 0; i < SCRATCH_MAX_FILES; i++)
        if (table[i].used && table[i].res == res)
            drop(&table[i]);
    pthread_mutex_unlock(&scratch_lock);
}
