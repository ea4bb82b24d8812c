/* audit.h: the record of writes through the mount (/audit).
 *
 * Every request that would change the tree (a value written, mkdir, rmdir,
 * rename, symlink, unlink, chown) is appended to the store's audit table
 * with who made it and its result, accepted or refused.  The table is
 * append-only; /audit shows it as text, one line per request:
 *
 *   TIME uid=U pid=P comm="C" op=OP path="P" value="V" result=ok|EINVAL
 *
 * with TIME in ISO 8601 UTC (ms) and strings as JSON string literals.
 * Secret values read "***"; values longer than AUDIT_VALUE_MAX bytes are
 * cut there and say how much was left out.
 *
 * Root and the admin group read every line; anyone else the lines of their
 * own requests (uid), accepted or refused.
 */
#ifndef CFS_AUDIT_H
#define CFS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"
#include "viewer.h"

#define AUDIT_VALUE_MAX 256

/* Record the current FUSE request.  value (len bytes, may be NULL) is what
 * was written; rc is 0 or a negative errno.  Failures to record are logged
 * to stderr: the request's own result stands. */
void audit_fs(struct cfs_store *st, const char *op, const char *path, const char *value,
              size_t len, bool secret, int rc);

/* The audit as text for w (malloc'd). */
int audit_render(struct cfs_store *st, const struct events_viewer *w, char **out, size_t *len);

#endif
