/* subprocess.h: run a helper program (qemu-img) without a shell.
 *
 * Arguments go to the program as an argv vector, never through a shell, so
 * no value can be interpreted as shell syntax.
 */
#ifndef CFS_SUBPROCESS_H
#define CFS_SUBPROCESS_H

#include "cfs_error.h"
#include "storage.h"

/* Run argv[0] (searched in PATH) with stdin from /dev/null.  0 when it
 * exits with status 0; otherwise -1 with the last line it wrote to stderr.
 * progress (may be NULL) receives the percentages qemu-img -p prints;
 * when it returns non-zero the program is killed.  A program silent for
 * timeout seconds (0: no limit) is killed and ETIMEDOUT returned. */
int spawn_run(char *const argv[], cfs_progress_cb progress, void *arg, int timeout,
              struct cfs_err *err);

#endif
