/* fence.h: cutting a lost host off shared storage (fence_rbd.c). */
#ifndef CFS_FENCE_H
#define CFS_FENCE_H

#include <stdbool.h>

#include "cfs_error.h"

/* Blocklist (add) or unblocklist (!add) every RADOS client at IPv4 address
 * addr (the entry "ADDR:0/0": any port, any nonce) on the Ceph cluster of
 * conf, as user (empty: client.admin), bounded by timeout seconds.  An entry
 * already there (add) or already gone (!add) is success.  0, or -1 with err
 * (never a key in the text). */
int fence_rbd(const char *conf, const char *user, const char *addr, bool add, int timeout,
              struct cfs_err *err);

#endif
