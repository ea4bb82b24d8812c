/* notify_fs.c: raise inotify events for changes made elsewhere (see notify_fs.h). */
#define FUSE_USE_VERSION 312
#include "notify_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the notifier does on its own mount for one path. */
enum nf_action {
    NF_FILE,        /* open+write+close: IN_MODIFY, IN_CLOSE_WRITE */
    NF_MKDIR,       /* IN_CREATE|IN_ISDIR on the parent */
    NF_RMDIR,       /* IN_DELETE|IN_ISDIR on the parent */
    NF_SYMLINK,     /* IN_CREATE on the parent */
    NF_UNLINK,      /* IN_DELETE on the parent */
    NF_INVAL,       /* only forget cached attributes */
};

struct nf_item {
    enum nf_action action;
    char *path;     /* "/zones/..." inside the mount */
};

/* The path the notifier is creating (must look absent) or removing (must
 * look present) while its syscall is in flight. */
enum nf_pending { PEND_NONE, PEND_ABSENT, PEND_DIR, PEND_LINK };

struct notify_fs {
    struct cfs_store *st;
    struct fuse *fuse;
    char *mountpoint;
    pthread_t thread;
    bool started;
    int stop_fd;                /* eventfd: stop the thread */
    pid_t helper;               /* the process making the no-op requests (0: none) */
    int helper_fd;              /* SOCK_SEQPACKET to it */
    atomic_bool stopping;       /* the FUSE loop has ended: touch the mount no more */
    pthread_mutex_t fuse_lock;  /* held around notify calls on the session's fd */
    int64_t seq;                /* last change handled (thread only) */
    int64_t marked;             /* when seq was last recorded for retention (thread only) */

    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t cond;        /* broadcast when gen or commits moves */
    uint64_t gen;
    uint64_t commits;           /* store commits seen (the notify file touched) */
    struct fuse_pollhandle ***slots;
    size_t nslots;
    enum nf_pending pending;
    char pending_path[PATH_MAX];
};

bool notify_fs_is_self(const struct notify_fs *nf)
{
    /* The helper is single-threaded: its thread id is its process id. */
    return nf && nf->helper > 0 && fuse_get_context()->pid == nf->helper;
}

int notify_fs_getattr(struct notify_fs *nf, const char *path, struct stat *s)
{
    int rc = 1;
    pthread_mutex_lock(&nf->lock);
    if (nf->pending != PEND_NONE && !strcmp(path, nf->pending_path)) {
        memset(s, 0, sizeof(*s));
        s->st_nlink = 1;
        switch (nf->pending) {
        case PEND_ABSENT:
            rc = -ENOENT;
            break;
        case PEND_DIR:
            s->st_mode = S_IFDIR | 0755;
            s->st_nlink = 2;
            rc = 0;
            break;
        default:
            s->st_mode = S_IFLNK | 0777;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&nf->lock);
    return rc;
}

void notify_fs_created(struct notify_fs *nf)
{
    pthread_mutex_lock(&nf->lock);
    nf->pending = PEND_NONE;
    pthread_mutex_unlock(&nf->lock);
}

static void set_pending(struct notify_fs *nf, enum nf_pending p, const char *path)
{
    pthread_mutex_lock(&nf->lock);
    nf->pending = p;
    snprintf(nf->pending_path, sizeof(nf->pending_path), "%s", path ? path : "");
    pthread_mutex_unlock(&nf->lock);
}

/* ---- the change feed ---- */

static void unlock_mutex(void *m)
{
    pthread_mutex_unlock(m);
}

static uint64_t counter_get(struct notify_fs *nf, const uint64_t *counter)
{
    if (!nf)
        return 0;
    pthread_mutex_lock(&nf->lock);
    uint64_t g = *counter;
    pthread_mutex_unlock(&nf->lock);
    return g;
}

uint64_t notify_fs_gen(struct notify_fs *nf)
{
    return nf ? counter_get(nf, &nf->gen) : 0;
}

uint64_t notify_fs_commits(struct notify_fs *nf)
{
    return nf ? counter_get(nf, &nf->commits) : 0;
}

/* Sleep until *counter differs from seen or timeout_ms has passed. */
static void counter_wait(struct notify_fs *nf, const uint64_t *counter, uint64_t seen,
                         int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&nf->lock);
    /* libfuse cancels its workers when the loop ends; one blocked here
     * must not leave the lock held for the notifier's shutdown. */
    pthread_cleanup_push(unlock_mutex, &nf->lock);
    while (*counter == seen) {
        if (pthread_cond_timedwait(&nf->cond, &nf->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_cleanup_pop(1);
}

static void nap(int timeout_ms)
{
    /* No notifier (it failed to start): the caller polls the store. */
    struct timespec ts = {.tv_sec = timeout_ms / 1000,
                          .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void notify_fs_wait(struct notify_fs *nf, uint64_t seen, int timeout_ms)
{
    if (!nf)
        nap(timeout_ms);
    else
        counter_wait(nf, &nf->gen, seen, timeout_ms);
}

void notify_fs_wait_commit(struct notify_fs *nf, uint64_t seen, int timeout_ms)
{
    if (!nf)
        nap(timeout_ms);
    else
        counter_wait(nf, &nf->commits, seen, timeout_ms);
}

void notify_fs_poll_arm(struct notify_fs *nf, struct fuse_pollhandle **slot,
                        struct fuse_pollhandle *ph)
{
    if (!nf) {
        if (ph)
            fuse_pollhandle_destroy(ph);
        return;
    }
    pthread_mutex_lock(&nf->lock);
    bool known = false;
    for (size_t i = 0; i < nf->nslots; i++)
        known = known || nf->slots[i] == slot;
    if (!known) {
        struct fuse_pollhandle ***grown = realloc(nf->slots, (nf->nslots + 1) * sizeof(*grown));
        if (grown) {
            nf->slots = grown;
            nf->slots[nf->nslots++] = slot;
            known = true;
        }
    }
    if (*slot)
        fuse_pollhandle_destroy(*slot);
    *slot = NULL;
    if (known)
        *slot = ph;
    else if (ph)
        fuse_pollhandle_destroy(ph);    /* out of memory: the reader's next poll retries */
    pthread_mutex_unlock(&nf->lock);
}

void notify_fs_poll_forget(struct notify_fs *nf, struct fuse_pollhandle **slot)
{
    if (!nf) {
        if (*slot)
            fuse_pollhandle_destroy(*slot);
        *slot = NULL;
        return;
    }
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->nslots; i++) {
        if (nf->slots[i] == slot) {
            nf->slots[i] = nf->slots[--nf->nslots];
            break;
        }
    }
    if (*slot)
        fuse_pollhandle_destroy(*slot);
    *slot = NULL;
    pthread_mutex_unlock(&nf->lock);
}

/* A new batch is in the store: wake readers and pollers. */
static void feed_advance(struct notify_fs *nf)
{
    pthread_mutex_lock(&nf->lock);
    nf->gen++;
    pthread_cond_broadcast(&nf->cond);
    for (size_t i = 0; i < nf->nslots; i++) {
        struct fuse_pollhandle **slot = nf->slots[i];
        if (*slot) {
            fuse_notify_poll(*slot);
            fuse_pollhandle_destroy(*slot);
            *slot = NULL;
        }
    }
    pthread_mutex_unlock(&nf->lock);
}

/* The store committed something (a status without a log entry, such as
 * the generation wait reads, included): wake the readers of wait files. */
static void commit_seen(struct notify_fs *nf)
{
    pthread_mutex_lock(&nf->lock);
    nf->commits++;
    pthread_cond_broadcast(&nf->cond);
    pthread_mutex_unlock(&nf->lock);
}

/* ---- turning changes into actions ---- */

struct batch {
    struct notify_fs *nf;
    const struct cfs_layout *layout;
    struct nf_item *items;
    size_t n, cap;
    int64_t last;
    bool oom;
};

static void batch_add(struct batch *b, enum nf_action a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void batch_add(struct batch *b, enum nf_action a, const char *fmt, ...)
{
    char path[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(path))
        return;
    /* Coalesce: one event per file and batch.  A directory created and
     * removed again keeps both, in order. */
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].action == a && !strcmp(b->items[i].path, path) &&
            (a == NF_FILE || a == NF_INVAL || i == b->n - 1))
            return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct nf_item *grown = realloc(b->items, cap * sizeof(*grown));
        if (!grown) {
            b->oom = true;
            return;
        }
        b->items = grown;
        b->cap = cap;
    }
    b->items[b->n].action = a;
    b->items[b->n].path = strdup(path);
    if (b->items[b->n].path)
        b->n++;
}

/* "a/b/c" -> "a/b" in out (the resource's parent collection's owner). */
static void parent_of(const char *path, int levels, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    while (levels-- > 0) {
        char *slash = strrchr(out, '/');
        if (!slash) {
            out[0] = '\0';
            return;
        }
        *slash = '\0';
    }
}

/* A status file named by some kind's backlink changed on a resource of kind
 * k (a VM's status/host): its symlink moves between those directories. */
static void backlink_moves(struct batch *b, const struct cfs_change *c, const struct cfs_kind *k)
{
    char owner[PATH_MAX];
    parent_of(c->path, 2, owner, sizeof(owner));    /* ".../clusters/default" */
    const char *leaf = strrchr(c->path, '/');
    leaf = leaf ? leaf + 1 : c->path;
    for (size_t i = 0; i < b->layout->nkinds; i++) {
        const struct cfs_kind *bk = &b->layout->kinds[i];
        for (size_t j = 0; j < bk->nbacklinks; j++) {
            const struct cfs_backlink_def *bl = &bk->backlinks[j];
            if (bl->kind != k || strcmp(bl->via, c->attr))
                continue;
            const char *sep = owner[0] ? "/" : "";
            if (c->old_value && c->old_value[0])
                batch_add(b, NF_UNLINK, "/%s%s%s/%s/status/%s/%s", owner, sep, bk->collection,
                          c->old_value, bl->name, leaf);
            if (c->new_value && c->new_value[0])
                batch_add(b, NF_SYMLINK, "/%s%s%s/%s/status/%s/%s", owner, sep, bk->collection,
                          c->new_value, bl->name, leaf);
        }
    }
}

/* Runs under the store's lock: only copies into the batch. */
static int collect(const struct cfs_change *c, void *arg)
{
    struct batch *b = arg;
    struct notify_fs *nf = b->nf;
    b->last = c->seq;
    bool own = c->origin && !strcmp(c->origin, store_origin(nf->st));
    const struct cfs_kind *k = layout_kind(b->layout, c->kind);
    const char *op = c->op;
    if (!strcmp(op, "status")) {
        /* Whoever caused it: even a status/error this mount wrote while
         * refusing a write to another file raised nothing by itself. */
        if (!c->attr || c->attr[0] == '_')
            return 0;
        /* A system kind's (a task's) status files sit in its directory. */
        batch_add(b, NF_FILE, k && k->system ? "/%s/%s" : "/%s/status/%s", c->path, c->attr);
        if (k)
            backlink_moves(b, c, k);
        return 0;
    }
    if (own)
        return 0;   /* the kernel saw the operation and raised its events */
    char parent[PATH_MAX];
    if (!strcmp(op, "set") || !strcmp(op, "verb")) {
        if (c->attr)
            batch_add(b, NF_FILE, "/%s/%s", c->path, c->attr);
    } else if (!strcmp(op, "create")) {
        batch_add(b, NF_MKDIR, "/%s", c->path);
    } else if (!strcmp(op, "delete")) {
        batch_add(b, NF_RMDIR, "/%s", c->path);
    } else if (!strcmp(op, "rename")) {
        parent_of(c->path, 1, parent, sizeof(parent));
        if (c->old_value)
            batch_add(b, NF_RMDIR, "/%s/%s", parent, c->old_value);
        batch_add(b, NF_MKDIR, "/%s", c->path);
    } else if (!strcmp(op, "link")) {
        if (c->attr && c->new_value)
            batch_add(b, NF_SYMLINK, "/%s/%s/%s", c->path, c->attr, c->new_value);
    } else if (!strcmp(op, "unlink")) {
        if (c->attr && c->old_value)
            batch_add(b, NF_UNLINK, "/%s/%s/%s", c->path, c->attr, c->old_value);
    } else if (!strcmp(op, "chown") || !strcmp(op, "chmod")) {
        batch_add(b, NF_INVAL, "/%s", c->path);
    }
    return 0;
}

/* ---- performing actions on the mount ---- */

/* The no-op requests are made by a helper process, not by a thread of the
 * daemon: a thread blocked in a request to its own mount can never be
 * answered once the daemon is killed (the kernel waits for the answer
 * uninterruptibly, and the device is released only when every thread has
 * exited), which would leave an unkillable zombie and a dead mount.  The
 * helper holds no descriptor of the FUSE device, so the daemon's death
 * aborts the connection and ends the helper's request; it dies with the
 * notifier thread (PR_SET_PDEATHSIG). */
enum helper_op { H_FILE, H_MKDIR, H_SYMLINK, H_RMDIR, H_UNLINK, H_STAT };

struct helper_req {
    enum helper_op op;
    char path[PATH_MAX];    /* absolute */
};

struct helper_rep {
    int rc;                 /* 0 or an errno */
    uint64_t ino;           /* H_STAT of a directory */
};

/* The helper's loop: system calls only (it is the child of a multi-threaded
 * process, so nothing that may take a lock, such as malloc or stdio). */
static void helper_main(int fd, pid_t parent)
{
    struct helper_req q;
    for (;;) {
        if (getppid() != parent)
            _exit(0);
        ssize_t n = recv(fd, &q, sizeof(q), 0);
        if (n <= 0)
            _exit(0);
        if ((size_t)n != sizeof(q))
            continue;
        q.path[sizeof(q.path) - 1] = '\0';
        struct helper_rep r = {0};
        struct stat st;
        int rc = 0;
        switch (q.op) {
        case H_FILE: {
            /* No O_NONBLOCK/O_TRUNC: a plain open for writing, as a shell's. */
            int f = open(q.path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
            if (f < 0) {
                rc = -1;
            } else {
                if (write(f, "\n", 1) < 0)
                    rc = -1;
                close(f);
            }
            break;
        }
        case H_MKDIR:
            rc = mkdir(q.path, 0755);
            break;
        case H_SYMLINK:
            rc = symlink(".", q.path);
            break;
        case H_RMDIR:
            rc = rmdir(q.path);
            break;
        case H_UNLINK:
            rc = unlink(q.path);
            break;
        case H_STAT:
            rc = stat(q.path, &st);
            if (rc == 0 && !S_ISDIR(st.st_mode)) {
                rc = -1;
                errno = ENOTDIR;
            }
            if (rc == 0)
                r.ino = (uint64_t)st.st_ino;
            break;
        }
        r.rc = rc < 0 ? errno : 0;
        if (send(fd, &r, sizeof(r), MSG_NOSIGNAL) < 0)
            _exit(0);
    }
}

/* Start the helper; called by the notifier thread, whose exit kills it. */
static int helper_start(struct notify_fs *nf)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    int fuse_fd = fuse_session_fd(fuse_get_session(nf->fuse));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fuse_fd >= 0)
            close(fuse_fd);
        close(sv[0]);
        helper_main(sv[1], parent);
        _exit(0);
    }
    close(sv[1]);
    nf->helper_fd = sv[0];
    pthread_mutex_lock(&nf->lock);
    nf->helper = pid;
    pthread_mutex_unlock(&nf->lock);
    return 0;
}

static void helper_stop(struct notify_fs *nf)
{
    if (nf->helper <= 0)
        return;
    close(nf->helper_fd);   /* its recv returns 0 */
    nf->helper_fd = -1;
    kill(nf->helper, SIGKILL);  /* or it is stuck in a request of a mount now gone */
    waitpid(nf->helper, NULL, 0);
    pthread_mutex_lock(&nf->lock);
    nf->helper = 0;
    pthread_mutex_unlock(&nf->lock);
}

/* Have the helper perform op on path (inside the mount); 0 or an errno. */
static int helper_call(struct notify_fs *nf, enum helper_op op, const char *path, uint64_t *ino)
{
    struct helper_req q = {.op = op};
    struct helper_rep r;
    if (nf->helper <= 0)
        return ESRCH;
    int w = snprintf(q.path, sizeof(q.path), "%s%s", nf->mountpoint, path[0] ? path : "/");
    if (w < 0 || (size_t)w >= sizeof(q.path))
        return ENAMETOOLONG;
    if (send(nf->helper_fd, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q) ||
        recv(nf->helper_fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return EPIPE;
    if (ino)
        *ino = r.ino;
    return r.rc;
}

/* The kernel's node id of a directory of the mount: with use_ino off, the
 * high-level library reports its node ids as inode numbers. */
static int dir_nodeid(struct notify_fs *nf, const char *path, fuse_ino_t *ino)
{
    uint64_t i = 0;
    if (helper_call(nf, H_STAT, path, &i) != 0)
        return -1;
    *ino = (fuse_ino_t)i;
    return 0;
}

/* Drop the kernel's dentry of path, so that a lookup asks us again (a
 * readdir may have made it positive within the entry timeout). */
static void forget_entry(struct notify_fs *nf, const char *path)
{
    char parent[PATH_MAX];
    fuse_ino_t ino;
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash)
        return;
    const char *name = path + (slash - parent) + 1;
    *slash = '\0';
    if (dir_nodeid(nf, parent, &ino) < 0)
        return;
    pthread_mutex_lock(&nf->fuse_lock);
    if (!nf->stopping)
        fuse_lowlevel_notify_inval_entry(fuse_get_session(nf->fuse), ino, name, strlen(name));
    pthread_mutex_unlock(&nf->fuse_lock);
}

static void forget_attrs(struct notify_fs *nf, const char *path)
{
    pthread_mutex_lock(&nf->fuse_lock);
    if (!nf->stopping)
        fuse_invalidate_path(nf->fuse, path);   /* ENOENT: the kernel has nothing cached */
    pthread_mutex_unlock(&nf->fuse_lock);
}

static void perform(struct notify_fs *nf, const struct nf_item *it)
{
    char parent[PATH_MAX];
    parent_of(it->path, 1, parent, sizeof(parent));
    /* Errors are expected and ignored: a resource gone again by now, or
     * the mount going away; no watcher saw anything then. */
    switch (it->action) {
    case NF_FILE:
        forget_attrs(nf, it->path);
        helper_call(nf, H_FILE, it->path, NULL);
        forget_attrs(nf, it->path);
        break;
    case NF_MKDIR:
    case NF_SYMLINK:
        set_pending(nf, PEND_ABSENT, it->path);
        forget_entry(nf, it->path);
        helper_call(nf, it->action == NF_MKDIR ? H_MKDIR : H_SYMLINK, it->path, NULL);
        set_pending(nf, PEND_NONE, NULL);
        forget_attrs(nf, parent);
        break;
    case NF_RMDIR:
    case NF_UNLINK:
        set_pending(nf, it->action == NF_RMDIR ? PEND_DIR : PEND_LINK, it->path);
        helper_call(nf, it->action == NF_RMDIR ? H_RMDIR : H_UNLINK, it->path, NULL);
        set_pending(nf, PEND_NONE, NULL);
        forget_entry(nf, it->path);
        forget_attrs(nf, parent);
        break;
    case NF_INVAL:
        forget_attrs(nf, it->path);
        break;
    }
}

/* Handle everything logged after nf->seq. */
static void drain(struct notify_fs *nf)
{
    for (;;) {
        struct batch b = {.nf = nf, .layout = store_layout(nf->st), .last = nf->seq};
        struct cfs_err err;
        if (store_changes_since(nf->st, nf->seq, 500, collect, &b, &err) < 0) {
            fprintf(stderr, "cloudfs: change feed: %s\n", err.msg);
            free(b.items);
            return;
        }
        bool more = b.last != nf->seq;
        nf->seq = b.last;
        if (more)
            feed_advance(nf);
        for (size_t i = 0; i < b.n; i++) {
            if (!nf->stopping)
                perform(nf, &b.items[i]);
            free(b.items[i].path);
        }
        free(b.items);
        if (!more)
            break;
    }
    /* Tell the pruner how far this mount has read (store_prune), every
     * few seconds while changes come; an idle mount has read everything. */
    int64_t now = store_now();
    if (now - nf->marked >= 5 * 1000000000LL) {
        char name[64];
        struct cfs_err err;
        snprintf(name, sizeof(name), "mount %s", store_origin(nf->st));
        if (store_cursor_mark(nf->st, name, nf->seq, &err) < 0)
            fprintf(stderr, "cloudfs: change feed: %s\n", err.msg);
        nf->marked = now;
    }
}

static int watch_store(const char *store, char *notify_name, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", store);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), slash ? "/" : ".");
    const char *base = strrchr(store, '/');
    snprintf(notify_name, len, "%s-notify", base ? base + 1 : store);
    int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd < 0)
        return -1;
    /* The directory, not the file: a store recreated by "cloudfs init"
     * gets a new notify file. */
    if (inotify_add_watch(ifd, dir, IN_ATTRIB | IN_CREATE | IN_MOVED_TO) < 0) {
        close(ifd);
        return -1;
    }
    return ifd;
}

struct start_arg {
    struct notify_fs *nf;
    int ifd;
    char notify_name[NAME_MAX + 1];
};

static void *notifier_main(void *arg)
{
    struct start_arg *sa = arg;
    struct notify_fs *nf = sa->nf;
    if (helper_start(nf) < 0)
        fprintf(stderr, "cloudfs: cannot start the inotify helper: %s; changes made "
                        "elsewhere raise no inotify events\n", strerror(errno));
    for (;;) {
        struct pollfd pfd[2] = {{.fd = sa->ifd, .events = POLLIN},
                                {.fd = nf->stop_fd, .events = POLLIN}};
        /* The timeout is a safety net only: commits touch the notify file. */
        int n = poll(pfd, 2, 2000);
        if (n < 0 && errno != EINTR)
            break;
        if (pfd[1].revents & POLLIN)
            break;
        if (pfd[0].revents & POLLIN) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(sa->ifd, buf, sizeof(buf)) > 0) {
                /* Any event in the store's directory: the log says what
                 * is new, so names need not be checked. */
            }
            commit_seen(nf);
        }
        drain(nf);
    }
    helper_stop(nf);
    close(sa->ifd);
    free(sa);
    return NULL;
}

int notify_fs_start(struct cfs_store *st, const char *store_path, struct fuse *f,
                    const char *mountpoint, struct notify_fs **out, struct cfs_err *err)
{
    struct notify_fs *nf = calloc(1, sizeof(*nf));
    struct start_arg *sa = calloc(1, sizeof(*sa));
    if (!nf || !sa || !(nf->mountpoint = strdup(mountpoint))) {
        free(sa);
        if (nf)
            free(nf->mountpoint);
        free(nf);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    nf->st = st;
    nf->fuse = f;
    nf->stop_fd = -1;
    nf->helper_fd = -1;
    pthread_mutex_init(&nf->lock, NULL);
    pthread_mutex_init(&nf->fuse_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&nf->cond, &attr);
    pthread_condattr_destroy(&attr);
    nf->seq = store_last_seq(st);
    sa->nf = nf;
    sa->ifd = -1;
    nf->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (nf->stop_fd < 0) {
        cfs_err_set(err, errno, "eventfd: %s", strerror(errno));
        goto fail;
    }
    sa->ifd = watch_store(store_path, sa->notify_name, sizeof(sa->notify_name));
    if (sa->ifd < 0) {
        cfs_err_set(err, errno, "inotify on the store's directory: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&nf->thread, NULL, notifier_main, sa) != 0) {
        cfs_err_set(err, EAGAIN, "cannot start the change notifier");
        goto fail;
    }
    nf->started = true;
    *out = nf;
    return 0;
fail:
    if (sa->ifd >= 0)
        close(sa->ifd);
    free(sa);
    notify_fs_stop(nf);
    return -1;
}

void notify_fs_stop(struct notify_fs *nf)
{
    if (!nf)
        return;
    if (nf->started) {
        uint64_t one = 1;
        if (write(nf->stop_fd, &one, sizeof(one)) < 0)
            perror("cloudfs: stopping the change notifier");
        pthread_join(nf->thread, NULL);
    }
    if (nf->stop_fd >= 0)
        close(nf->stop_fd);
    for (size_t i = 0; i < nf->nslots; i++) {
        if (*nf->slots[i])
            fuse_pollhandle_destroy(*nf->slots[i]);
        *nf->slots[i] = NULL;
    }
    free(nf->slots);
    pthread_cond_destroy(&nf->cond);
    pthread_mutex_destroy(&nf->lock);
    pthread_mutex_destroy(&nf->fuse_lock);
    free(nf->mountpoint);
    free(nf);
}

void notify_fs_quiesce(struct notify_fs *nf)
{
    if (!nf)
        return;
    nf->stopping = true;
    /* Wait for a notify call in progress, but not forever: one blocked in
     * the kernel (on a directory lock held by a request nobody will answer
     * now) ends when the unmount closes the device. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    if (pthread_mutex_timedlock(&nf->fuse_lock, &ts) == 0)
        pthread_mutex_unlock(&nf->fuse_lock);
}
