/* user_file.c: open a user's file with the user's rights (see user_file.h). */
#include "user_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

/* Per thread: glibc's setgroups() would change every thread of the daemon. */
static int thread_setgroups(size_t n, const gid_t *list)
{
    return (int)syscall(SYS_setgroups, n, list);
}

int user_file_open(const char *path, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
                   int *fd, struct cfs_err *err)
{
    *fd = -1;
    if (path[0] != '/')
        return cfs_err_set(err, EINVAL, "%.200s: not an absolute path", path);
    if (ngroups > MAX_GROUPS)
        ngroups = MAX_GROUPS;
    gid_t saved[MAX_GROUPS];
    int nsaved = getgroups(MAX_GROUPS, saved);
    uid_t old_uid = (uid_t)setfsuid((uid_t)-1);
    gid_t old_gid = (gid_t)setfsgid((gid_t)-1);
    if (nsaved < 0)
        return cfs_err_set(err, errno, "getgroups: %s", strerror(errno));
    bool switched = uid != old_uid || gid != old_gid;
    if (switched) {
        if (thread_setgroups(ngroups, groups) < 0)
            return cfs_err_set(err, errno, "setgroups: %s", strerror(errno));
        setfsgid(gid);
        setfsuid(uid);
        if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
            setfsuid(old_uid);
            setfsgid(old_gid);
            thread_setgroups((size_t)nsaved, saved);
            return cfs_err_set(err, EPERM, "cannot take the identity of uid %u",
                               (unsigned)uid);
        }
    }
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int f = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    int saved_errno = errno;
    if (switched) {
        setfsuid(old_uid);
        setfsgid(old_gid);
        thread_setgroups((size_t)nsaved, saved);
    }
    if (f < 0) {
        if (saved_errno == ELOOP)
            return cfs_err_set(err, ELOOP, "%.200s: a symbolic link in the path is refused",
                               path);
        if (saved_errno == EACCES || saved_errno == EPERM)
            return cfs_err_set(err, EACCES, "%.200s: not readable by uid %u", path,
                               (unsigned)uid);
        return cfs_err_set(err, saved_errno, "%.200s: %s", path, strerror(saved_errno));
    }
    struct stat sb;
    if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return cfs_err_set(err, EINVAL, "%.200s: not a regular file", path);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    return 0;
}
