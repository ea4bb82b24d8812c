/* cfs_error.h: one error convention for all of cloudfs.
 *
 * Functions return 0 (or a pointer) on success and -1 (or NULL) on failure,
 * filling a caller-provided struct cfs_err with an errno-style code and a
 * one-line human message.  The FUSE layer turns the code into the errno of
 * the failing syscall and the message into status/error.
 */
#ifndef CFS_ERROR_H
#define CFS_ERROR_H

#include <errno.h>

#define CFS_ERR_MSG_MAX 256

struct cfs_err {
    int code;                   /* positive errno value, 0 when no error */
    char msg[CFS_ERR_MSG_MAX];  /* one line, no trailing newline */
};

/* Record an error; always returns -1 so callers can "return cfs_err_set(...)". */
int cfs_err_set(struct cfs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void cfs_err_clear(struct cfs_err *err);

#endif
