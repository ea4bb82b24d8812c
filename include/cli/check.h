/* check.h: "cloudfs check", the store's invariants and the tree against
 * reality.
 *
 * The check reads the store through its own read-only SQLite connection
 * (one read transaction, so one consistent snapshot while the daemons keep
 * running) and the hosts through the compute and network drivers.  Every difference is
 * printed as one line "PATH: what is wrong"; notes about what could not be
 * compared go to the notes stream.  The torture suite uses it as its oracle.
 */
#ifndef CFS_CHECK_H
#define CFS_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "cfs_error.h"
#include "conf.h"
#include "layout.h"

struct check_opts {
    bool reality;               /* compare with the hosts (and, later, the pools) */
    long tombstone_minutes;     /* a tombstone older than this is a difference */
};

/* Returns the number of differences found (printed to out), or -1 with
 * *err filled when the check itself could not run. */
long check_run(const struct cfs_conf *conf, const struct cfs_layout *layout,
               const struct check_opts *opts, FILE *out, FILE *notes, struct cfs_err *err);

#endif
