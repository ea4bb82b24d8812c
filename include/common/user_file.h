/* user_file.h: open a file a user named, with that user's rights.
 *
 * The daemons run as root; a path a tenant writes (an image's source) must
 * not let the tenant read what only root may.  The calling thread takes the
 * user's filesystem identity (setfsuid/setfsgid and the thread's own
 * supplementary groups, which the raw syscalls change for this thread only)
 * for the open, which resolves no symbolic link in any component
 * (openat2 RESOLVE_NO_SYMLINKS) and never blocks (O_NONBLOCK: a FIFO), and
 * takes root's identity back before returning.  Only regular files are
 * returned; the descriptor is then read as root without resolving the path
 * again, so nothing the user swaps later is followed.
 */
#ifndef CFS_USER_FILE_H
#define CFS_USER_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "cfs_error.h"

/* Open absolute path read-only as uid/gid with the supplementary groups
 * groups[0..ngroups) (none when ngroups is 0).  0 and *fd, or -1 with err:
 * EACCES (the user may not read it), ELOOP (a symlink in the path), EINVAL
 * (not a regular file, not absolute), ENOENT... */
int user_file_open(const char *path, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
                   int *fd, struct cfs_err *err);

#endif
