/* precond_secgroup.h: the security-group kinds' rules (groups, their rules,
 * a NIC's list of groups) and the default group every zone has. */
#ifndef CFS_PRECOND_SECGROUP_H
#define CFS_PRECOND_SECGROUP_H

#include "store.h"

int sg_rule_ports(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err);
int sg_rule_protocol(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err);
int sg_rule_remote(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err);
int sg_rule_priority(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err);
/* A NIC's security-groups: up to 5 distinct groups of its zone. */
int sg_nic_groups(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err);
/* A group a NIC lists, or another group's rule names, stays (EBUSY). */
int sg_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err);
/* After zone z is made: its group default (ICMP and SSH in, all out). */
int sg_zone_seed(struct cfs_store *st, const struct cfs_res *z, const struct cfs_actor *actor,
                 struct cfs_err *err);
/* Before rmdir of r: a zone's groups and a group's rules go with it. */
int sg_delete_parts(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                    struct cfs_err *err);
/* Split a security-groups value into at most max names (in buf). */
int sg_split_names(const char *value, char *buf, size_t len, const char **names, int max);

#endif
