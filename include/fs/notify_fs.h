/* notify_fs.h: inotify for changes that do not pass through this mount.
 *
 * The kernel raises inotify events only for operations that go through its
 * VFS; a status the reconciler updated, or a spec another mount process
 * wrote, raises nothing by itself.  The mount daemon therefore follows the
 * store's changes log (woken by the "<store>-notify" file, like the
 * reconciler) from a dedicated thread, and for every change this mount did
 * not make itself:
 *   - drops what the kernel caches about the paths involved, and
 *   - has a helper process perform a matching no-op operation on the mount
 *     (open+write+close of a file: IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE;
 *     mkdir/rmdir/symlink/unlink: IN_CREATE/IN_DELETE on the parent), which
 *     the filesystem recognises by the caller's process id and answers
 *     without effect.  A process, not a thread: see notify_fs.c.
 * Changes are taken in batches; a file touched several times in one batch
 * gets one event.  The same thread is the mount's change feed: readers of
 * /events and of wait files sleep on it and poll handles are woken by it.
 */
#ifndef CFS_NOTIFY_FS_H
#define CFS_NOTIFY_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cfs_error.h"
#include "store.h"

struct fuse;
struct fuse_pollhandle;
struct notify_fs;

/* Start following the changes log of the store at store_path after its
 * current end.  mountpoint is absolute.  The thread's own syscalls need the
 * FUSE loop running. */
int notify_fs_start(struct cfs_store *st, const char *store_path, struct fuse *f,
                    const char *mountpoint, struct notify_fs **out, struct cfs_err *err);
/* The FUSE loop has ended: make no more calls on the session, whose device
 * is about to be closed (its descriptor number could be reused).  Before
 * unmounting; NULL is ignored. */
void notify_fs_quiesce(struct notify_fs *nf);
/* Stop and join the thread (after the unmount); NULL is ignored. */
void notify_fs_stop(struct notify_fs *nf);

/* True when the FUSE request being served was made by the notifier's helper:
 * the operation must then change nothing (and log nothing). */
bool notify_fs_is_self(const struct notify_fs *nf);

/* For the notifier's own lookups: the path it is about to create must look
 * absent and the one it removes present.  Returns 1 when path is not one of
 * those (resolve it normally), else 0 with *s filled or -ENOENT. */
int notify_fs_getattr(struct notify_fs *nf, const char *path, struct stat *s);
/* The notifier's mkdir/symlink of path succeeded: look it up normally. */
void notify_fs_created(struct notify_fs *nf);

/* The change feed.  gen counts batches of the changes log seen; wait
 * returns when it differs from seen or after timeout_ms.  commits counts
 * the store's commits seen (the notify file touched), those that log
 * nothing included (a status starting with '_'); wait_commit is wait for
 * it.  Sleepers cost nothing until one moves: read the counter, look at
 * the store, then wait with what was read. */
uint64_t notify_fs_gen(struct notify_fs *nf);
void notify_fs_wait(struct notify_fs *nf, uint64_t seen, int timeout_ms);
uint64_t notify_fs_commits(struct notify_fs *nf);
void notify_fs_wait_commit(struct notify_fs *nf, uint64_t seen, int timeout_ms);
/* Wake ph (fuse_notify_poll, then destroy) at the next batch; replaces and
 * destroys the handle previously stored in *slot.  slot belongs to an open
 * file and must be released with notify_fs_poll_forget before it goes. */
void notify_fs_poll_arm(struct notify_fs *nf, struct fuse_pollhandle **slot,
                        struct fuse_pollhandle *ph);
void notify_fs_poll_forget(struct notify_fs *nf, struct fuse_pollhandle **slot);

#endif
