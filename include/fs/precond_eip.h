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

/* 0 when value may be written to that attribute of r (precond_net.c's
 * table of rules names them). */
int eip_pool_cidr(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err);
int eip_pool_gateway(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err);
int eip_pool_range(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err);
int eip_pool(struct cfs_store *st, const struct cfs_res *r, const char *value,
             struct cfs_err *err);
int eip_ip(struct cfs_store *st, const struct cfs_res *r, const char *value,
           struct cfs_err *err);
int eip_nic(struct cfs_store *st, const struct cfs_res *r, const char *value,
            struct cfs_err *err);
/* After a write of an eip's pool, ip or nic, or its mkdir: status ip
 * follows pool and ip, status state unbound/pending follows nic. */
int eip_applied(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                struct cfs_err *err);

/* The pool's range "FIRST-LAST" parsed; -1 with the reason when it is not
 * two addresses, FIRST <= LAST. */
int eip_range_parse(const char *s, uint32_t *first, uint32_t *last, struct cfs_err *err);

#endif
