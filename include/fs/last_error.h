/* last_error.h: /last-error, each reader's own last refused request.
 *
 * A refusal's reason goes to status/error of the resource only when the
 * writer may read that file (fs_ops.c refuse()): a tenant refused in a
 * collection of root's (a mkdir beyond quota in a cluster's vms/) must not
 * leave its name and its quota in a file everyone reads, nor overwrite the
 * operator's error.  So every refusal is also kept here, per uid, in the
 * mount's memory (the last LAST_ERROR_USERS users; not persisted), and
 * /last-error shows the reader the line of its own uid.
 */
#ifndef CFS_LAST_ERROR_H
#define CFS_LAST_ERROR_H

#include <stddef.h>
#include <sys/types.h>

#define LAST_ERROR_USERS 256

/* Keep uid's refusal: path of the resource it concerned ("/" for none). */
void last_error_note(uid_t uid, const char *path, const char *msg);
/* "TIME PATH: MESSAGE\n" of uid's last refusal, or "" (malloc'd; NULL when
 * out of memory). */
char *last_error_text(uid_t uid, size_t *len);

#endif
