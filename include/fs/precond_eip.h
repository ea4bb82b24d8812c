/* precond_eip.h: the public IP kinds' rules (eip-pool, eip) and an EIP's
 * address allocation.
 *
 * Like precond_net.h: precond.c / precond_net.c call the checks, and
 * eip_applied runs after an accepted write or mkdir inside the same store
 * write batch, so that an EIP's address is chosen and recorded (status ip)
 * in the transaction that stores the write: two writers never get one
 * address.
 */
#ifndef CFS_PRECOND_EIP_H
#define CFS_PRECOND_EIP_H

#include "store.h"

#define CFS_EIPS_PER_VM 50      /* the seeds' limit of IPv4 EIPs per VM */

/* 0 when value may be written to attribute a of r (an eip-pool or eip);
 * 1 when r is of neither kind (not checked here). */
int eip_precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                     const char *value, struct cfs_err *err);
/* After a write of attribute a (NULL: after mkdir) of an eip: its status ip
 * follows pool and ip. */
int eip_applied(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                const struct cfs_actor *actor, struct cfs_err *err);

/* The pool's range "FIRST-LAST" parsed; -1 with the reason when it is not
 * two addresses, FIRST <= LAST. */
int eip_range_parse(const char *s, uint32_t *first, uint32_t *last, struct cfs_err *err);

#endif
