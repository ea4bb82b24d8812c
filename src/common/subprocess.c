/* subprocess.c: run helper programs with an argv vector (see subprocess.h). */
#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep the last non-empty line of what a stream printed. */
static void keep_last_line(char *last, size_t len, const char *buf, size_t n)
{
    size_t end = n;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' '))
        end--;
    if (end == 0)
        return;
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\n' && buf[start - 1] != '\r')
        start--;
    size_t m = end - start < len - 1 ? end - start : len - 1;
    memcpy(last, buf + start, m);
    last[m] = '\0';
}

/* qemu-img -p prints "    (12.34/100%)\r": report the newest figure. */
static int scan_progress(const char *buf, size_t n, int *last)
{
    int found = -1;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '(')
            continue;
        char num[16];
        size_t j = 0;
        while (i + 1 + j < n && j < sizeof(num) - 1 &&
               ((buf[i + 1 + j] >= '0' && buf[i + 1 + j] <= '9') || buf[i + 1 + j] == '.'))
            num[j] = buf[i + 1 + j], j++;
        num[j] = '\0';
        if (j && i + 1 + j < n && buf[i + 1 + j] == '/')
            found = (int)atof(num);
    }
    if (found < 0 || found == *last)
        return -1;
    *last = found;
    return found;
}

int spawn_run(char *const argv[], cfs_progress_cb progress, void *arg, int timeout,
              struct cfs_err *err)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    pid_t pid = -1;
    int rc = -1;
    char last_err[CFS_ERR_MSG_MAX] = "";

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        cfs_err_set(err, errno, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    fa_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    /* The daemons ignore SIGPIPE (main.c) and the reconciler blocks its
     * control signals (reconcile.c); the child starts with neither. */
    posix_spawnattr_t attr;
    sigset_t pipe_only, none;
    posix_spawnattr_init(&attr);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &pipe_only);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        pid = -1;
        cfs_err_set(err, e, "%s: %s", argv[0], strerror(e));
        goto cleanup;
    }
    close(out[1]);
    close(errp[1]);
    out[1] = errp[1] = -1;

    int last_pct = -1;
    bool killed = false, timed_out = false;
    long long quiet_since = now_ms();
    int open_fds = 2;
    while (open_fds > 0) {
        struct pollfd pfd[2] = {{.fd = out[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
        int n = poll(pfd, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0)
            quiet_since = now_ms();
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t got = read(pfd[i].fd, buf, sizeof(buf));
            if (got <= 0) {
                close(i == 0 ? out[0] : errp[0]);
                if (i == 0)
                    out[0] = -1;
                else
                    errp[0] = -1;
                open_fds--;
                continue;
            }
            if (i == 1) {
                keep_last_line(last_err, sizeof(last_err), buf, (size_t)got);
            } else if (progress && !killed) {
                int pct = scan_progress(buf, (size_t)got, &last_pct);
                if (pct >= 0 && progress(pct, arg) != 0) {
                    kill(pid, SIGKILL);
                    killed = true;
                }
            }
        }
        if (!killed && timeout > 0 && now_ms() - quiet_since > (long long)timeout * 1000) {
            kill(pid, SIGKILL);
            killed = timed_out = true;
        }
        if (out[0] < 0 && errp[0] < 0)
            break;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (timed_out) {
        cfs_err_set(err, ETIMEDOUT, "%s: no progress for %d s; stopped", argv[0], timeout);
    } else if (killed) {
        cfs_err_set(err, ECANCELED, "%s: cancelled", argv[0]);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cfs_err_set(err, EIO, "%s", last_err[0] ? last_err : "helper program failed");
    } else {
        rc = 0;
    }
cleanup:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    return rc;
}
