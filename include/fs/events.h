/* events.h: the /events stream and the status/events file of resources.
 *
 * Both show entries of the store's changes log as JSON, one object per
 * line: seq, time (ISO 8601 UTC, ms), path of the resource, kind, op,
 * attribute (relative to the resource: "state", "status/state"), old and
 * new value (secrets masked), actor (an object {uid, pid, comm} for writes
 * through a mount; "reconciler", "libvirt", ... otherwise), level (normal,
 * warning or error: a reason in status/error or a failed state is an
 * error, a firing alarm or a lost host connection a warning).
 *
 * A reader of /events gets the entries logged after it opened the file, in
 * seq order; a read blocks until there is one (or fails with EAGAIN under
 * O_NONBLOCK, EINTR when interrupted); poll/select report POLLIN.  A blocked
 * reader queries the store only when the change feed says the log grew.  Each
 * reader has its own cursor, so every reader gets every entry that it may
 * see: root and the admin group see all; anyone else sees the entries of
 * resources they could reach in the tree (search permission on the
 * resource's directory and on every resource above it), and of resources
 * already gone, only their own writes.
 */
#ifndef CFS_EVENTS_H
#define CFS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "notify_fs.h"
#include "store.h"
#include "textbuf.h"
#include "viewer.h"

#define EVENTS_RECENT 20    /* lines of a resource's status/events (identical events folded) */
/* A blocked reader sleeps on the change feed (notify_fs.h) and looks at the
 * store only when the feed moved; it wakes this often only to notice that
 * its request was interrupted. */
#define EVENTS_TICK_MS 500

struct events_reader;

void events_format(const struct cfs_layout *l, const struct cfs_change *c, struct textbuf *b);

int events_open(struct cfs_store *st, struct notify_fs *nf, const struct events_viewer *who,
                struct events_reader **out);
/* Bytes read (> 0), or -EAGAIN, -EINTR, -EIO. */
int events_read(struct events_reader *r, char *buf, size_t size, bool nonblock,
                bool (*interrupted)(void));
/* Readiness now; ph (may be NULL, always consumed) is woken at the next batch. */
unsigned events_poll(struct events_reader *r, struct fuse_pollhandle *ph);
void events_close(struct events_reader *r);

/* The resource's latest events, identical ones folded into one line with
 * "count" and "first" (malloc'd text). */
int events_recent(struct cfs_store *st, int64_t res, char **out, size_t *len);

#endif
