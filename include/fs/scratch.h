/* scratch.h: temporary files of editors and sync tools, held in memory.
 *
 * vim, sed -i, rsync and cp create temporary files next to the file they
 * change and rename them over it.  Those files live here, keyed by the
 * resource directory that holds them; they never reach the store.  Renaming
 * one onto an attribute is a validated write of the attribute (fs_ops.c).
 * The table is process-wide and protected by one mutex.
 *
 * Each file counts against its creator: a user other than root and the
 * admin group ("capped") may hold scratch_configure's number of files and
 * of bytes, so that one user can neither fill the mount's table
 * (SCRATCH_MAX_FILES) for everyone nor grow the mount's memory by GiBs;
 * beyond either, EDQUOT with the reason in err.
 */
#ifndef CFS_SCRATCH_H
#define CFS_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cfs_error.h"

#define SCRATCH_MAX_FILES 1024
#define SCRATCH_MAX_SIZE (4 << 20)

struct scratch_info {
    mode_t mode;
    uid_t uid;
    gid_t gid;
    size_t size;
    struct timespec atime, mtime, ctime;
};

/* Per-user caps (at mount, before the FUSE loop starts). */
void scratch_configure(size_t user_files, size_t user_bytes);
bool scratch_exists(int64_t res, const char *name);
/* 0, or a negative errno (EEXIST when excl and present, EDQUOT when uid's
 * cap or the mount's is reached) with the reason in err. */
int scratch_create(int64_t res, const char *name, mode_t mode, uid_t uid, gid_t gid, bool excl,
                   bool capped, struct cfs_err *err);
int scratch_stat(int64_t res, const char *name, struct scratch_info *out);
ssize_t scratch_read(int64_t res, const char *name, char *buf, size_t size, off_t off);
/* Growing a file: EFBIG beyond SCRATCH_MAX_SIZE, EDQUOT beyond its
 * creator's cap, with the reason in err. */
ssize_t scratch_write(int64_t res, const char *name, const char *buf, size_t size, off_t off,
                      struct cfs_err *err);
int scratch_truncate(int64_t res, const char *name, off_t size, struct cfs_err *err);
int scratch_remove(int64_t res, const char *name);
/* Copy of the content (malloc'd, NUL-terminated; *len without the NUL). */
int scratch_copy(int64_t res, const char *name, char **data, size_t *len);
/* Create or replace name with data (a new file counts against uid). */
int scratch_put(int64_t res, const char *name, const char *data, size_t len, mode_t mode,
                uid_t uid, gid_t gid, bool capped, struct cfs_err *err);
int scratch_rename(int64_t res, const char *from, const char *to);
int scratch_chmod(int64_t res, const char *name, mode_t mode);
int scratch_chown(int64_t res, const char *name, uid_t uid, gid_t gid);
int scratch_utimens(int64_t res, const char *name, const struct timespec tv[2]);
typedef void (*scratch_cb)(const char *name, const struct scratch_info *info, void *arg);
void scratch_list(int64_t res, scratch_cb cb, void *arg);
/* Drop every scratch file of a resource (it was deleted). */
void scratch_forget(int64_t res);

#endif
