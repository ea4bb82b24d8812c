/* reconcile_network.h: what the VM pass needs of the network kinds.
 *
 * reconcile_network.c holds the passes of VPCs, subnets and NICs (three
 * rows of rc_kinds.c); a VM's NICs become <interface> elements of its
 * domain through rc_vm_nics.
 */
#ifndef CFS_RECONCILE_NETWORK_H
#define CFS_RECONCILE_NETWORK_H

#include "network.h"
#include "nic_xml.h"
#include "reconcile.h"

/* One NIC of a VM as its domain shows it. */
struct rc_nic {
    struct cfs_res res;
    char mac[18];
    char model[16];
    char target[16];
    struct cfs_net_attach at;
    struct cfs_nic nic;         /* points into the fields above */
};

/* The connected NICs of vm on the host reached by uri, in name order
 * (*out malloc'd, *n entries).  Reads are declared by the vm row. */
int rc_vm_nics(struct reconciler *rc, const struct cfs_res *vm, const char *uri,
               struct rc_nic **out, int *n, struct cfs_err *err);
/* Purge the NICs of vm, whose teardown is done (before the VM's own purge);
 * their subnets are woken to drop their DHCP entries. */
void rc_vm_nics_release(struct reconciler *rc, const struct cfs_res *vm);
/* "MAC@NETWORK/BRIDGE/MODEL ..." of the NICs: what the domain was defined with. */
/* Wake every VPC and subnet (a host came, went, connected or changed its
 * vtep: the VXLAN peers of every VPC change). */
void rc_wake_networks(struct reconciler *rc);
void rc_nics_signature(const struct rc_nic *nics, int n, char *buf, size_t len);

#endif
