/* reconcile_vm_disks.h: a VM's root and data disks (reconcile_vm_disks.c). */
#ifndef CFS_RECONCILE_VM_DISKS_H
#define CFS_RECONCILE_VM_DISKS_H

#include "reconcile.h"

struct vm_disks;

/* The root volume, made from image on first need; *ready once it can be
 * plugged in.  -1 with err when it failed. */
int vm_root_volume(struct reconciler *rc, const struct cfs_res *vm, const char *image,
                   bool *ready, struct cfs_err *err);
/* The disks the VM should have now (NULL when out of memory). */
struct vm_disks *vm_disks_want(struct reconciler *rc, const struct cfs_res *vm);
const struct cfs_disk *vm_disks_array(const struct vm_disks *d, int *n);
void vm_disks_free(struct vm_disks *d);
/* The catalogue file of image when it is an ISO (for the CD-ROM drive). */
bool vm_cdrom(struct reconciler *rc, const char *image, char *path, size_t len);
/* Is the image's os attribute os ("windows")? */
bool vm_image_os_is(struct reconciler *rc, const char *image, const char *os);
/* Plug and unplug until the domain's disks are the wanted ones. */
int vm_disks_sync(struct reconciler *rc, const struct cfs_res *vm, struct cfs_conn *conn,
                  const struct vm_disks *want, struct cfs_err *err);
/* After the domain is gone: data volumes are free again, the root volume
 * goes with the VM. */
void vm_disks_release(struct reconciler *rc, const struct cfs_res *vm);
/* Every volume plugged into the VM is marked free (the recycle bin). */
void vm_disks_unplug(struct reconciler *rc, const struct cfs_res *vm);

#endif
