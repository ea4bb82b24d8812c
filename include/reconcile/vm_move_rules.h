/* vm_move_rules.h: what may move a VM off its host (vm_move_rules.c).
 *
 * Two rules that live migration, evacuation, offline moves and HA restarts
 * share.  Storage: every disk of the VM (root and attached volumes) must be
 * on storage the target reaches too: an rbd pool, or a dir pool whose
 * attribute `shared` says its directory is the same storage on every host;
 * a disk on a dir pool that is not shared stays with its host, and the VM
 * with it (cloudfs does not copy disks between hosts).  CPU: a VM with
 * cpu-mode host-passthrough sees its host's CPU as it is, so it moves only
 * to a host whose CPU libvirt describes identically (host status
 * cpu-signature: arch, vendor, model and a hash of the feature names).
 */
#ifndef CFS_VM_MOVE_RULES_H
#define CFS_VM_MOVE_RULES_H

#include <stdbool.h>

#include "reconcile.h"

/* 0 when every disk of vm is on shared storage (*shared_files: at least
 * one of them is a file on a shared dir pool, which libvirt cannot tell is
 * shared: the move passes CFS_MIGRATE_SHARED_FILES); -1 with why. */
int vm_move_storage(struct reconciler *rc, const struct cfs_res *vm, bool *shared_files,
                    char *why, size_t len);

/* The CPU signature a host-passthrough VM must find again: that of the
 * host it runs on (status/host), else the one remembered when its host was
 * lost (vm_move_cpu_remember); "" when vm is not host-passthrough or
 * nothing is known.  Free the result. */
char *vm_move_cpu_origin(struct reconciler *rc, const struct cfs_res *vm);
/* Whether host (a host resource) has the CPU origin names ("" fits any);
 * else false with why. */
bool vm_move_cpu_fits(struct reconciler *rc, const char *origin, const struct cfs_res *host,
                      char *why, size_t len);
/* Before a lost host's VM is unplaced for an HA restart: remember the CPU
 * it ran on. */
void vm_move_cpu_remember(struct reconciler *rc, const struct cfs_res *vm, int64_t host_id);

#endif
