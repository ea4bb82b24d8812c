/* rc_lease.c: one active reconciler per store (see rc_lease.h). */
#include "rc_lease.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* Who holds the lock, as its file says ("?" when unreadable). */
static void holder(int fd, char *pid, size_t size)
{
    ssize_t n = pread(fd, pid, size - 1, 0);
    if (n <= 0) {
        snprintf(pid, size, "?");
        return;
    }
    pid[n] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
}

int rc_lease_take(const char *store, const sigset_t *signals, int *fd, struct cfs_err *err)
{
    char path[4096];
    bool waited = false;
    int ret = -1;
    *fd = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s.reconciler", store) >= sizeof(path))
        return cfs_err_set(err, ENAMETOOLONG, "store path too long for its reconciler lock");
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0)
        return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    for (;;) {
        if (flock(lfd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (!waited) {
            char pid[32];
            holder(lfd, pid, sizeof(pid));
            fprintf(stderr, "cloudfs reconcile: standby: the reconciler with PID %s holds %s; "
                            "taking over when it stops\n", pid, path);
            waited = true;
        }
        /* Half a second between tries; a stop signal ends the wait. */
        struct timespec tick = {0, 500 * 1000 * 1000};
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            ret = 1;
            goto cleanup;
        }
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(lfd, 0) < 0 || pwrite(lfd, pid, (size_t)n, 0) != n) {
        cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (waited)
        fprintf(stderr, "cloudfs reconcile: active: took over %s\n", path);
    *fd = lfd;
    lfd = -1;
    ret = 0;
cleanup:
    if (lfd >= 0)
        close(lfd);
    return ret;
}

void rc_lease_drop(int fd)
{
    if (fd >= 0)
        close(fd);
}
