/* vm_seed.h: the cloud-init NoCloud seed of a VM.
 *
 * Every VM on a real host gets a read-only CD labelled "cidata" (ISO 9660
 * with Joliet and Rock Ridge names, made by genisoimage without a shell)
 * holding what cloud-init reads at boot:
 *   meta-data    instance-id (the VM's UUID), local-hostname (hostname, or
 *                the VM's name), public-keys (ssh-keys, one per line);
 *   user-data    the VM's user-data as written, or an empty #cloud-config;
 *   vendor-data  the password, as a SHA-512 crypt(3) hash for root, with
 *                password log-in and root log-in allowed (cloud-init merges
 *                vendor-data under user-data, so the user's own settings
 *                win);
 *   network-config  version 2: each NIC matched by its MAC, named as in the
 *                tree, configured by DHCP (the VPC's dnsmasq hands out
 *                exactly its status/ip).
 * The seed is made again whenever the domain is defined (the spec moved),
 * under a temporary name renamed into place, mode 0600 in a 0700 directory:
 * a running guest keeps the copy it booted with, the next start reads the
 * new one.
 */
#ifndef CFS_VM_SEED_H
#define CFS_VM_SEED_H

#include <stddef.h>

#include "cfs_error.h"
#include "reconcile.h"

/* One NIC of the VM, for network-config. */
struct vm_seed_nic {
    const char *name;           /* the NIC's name in the tree (eth0) */
    const char *mac;
};

/* Make VM's seed, with network-config for its n NICs; its path in path.
 * 0, or -1 with err. */
int vm_seed_make(struct reconciler *rc, const struct cfs_res *vm, const struct vm_seed_nic *nics,
                 int n, char *path, size_t len, struct cfs_err *err);
/* Remove the VM's seed (the VM is gone). */
void vm_seed_remove(struct reconciler *rc, const struct cfs_res *vm);

/* The attributes the seed reads (for the VM's rc_kind row). */
#define VM_SEED_ATTRS "hostname password user-data ssh-keys"

#endif
