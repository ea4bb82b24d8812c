/* error.c: the cfs_err helpers. */
#include "cfs_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cfs_err_set(struct cfs_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* status/error is one line: fold any newline a caller let through. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}

void cfs_err_clear(struct cfs_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
