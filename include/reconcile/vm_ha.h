/* vm_ha.h: a VM's HA level (the ha attribute of the VM and of its
 * cluster) and what it restarts (vm_ha.c). */
#ifndef CFS_VM_HA_H
#define CFS_VM_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "compute.h"
#include "rc_state.h"

/* Ordered: a VM gets the stronger of its own level and its cluster's. */
enum vm_ha { VM_HA_OFF, VM_HA_ON, VM_HA_NEVER_STOP };

/* The level a stored ha value names: "on", "never-stop", else off (the
 * bool's other spellings are stored as on/off). */
enum vm_ha vm_ha_parse(const char *v);
/* The stored value of a level. */
const char *vm_ha_name(enum vm_ha l);
/* Whether a domain found off (power, libvirt's state reason) while the
 * reached spec wants it running is started again at level l, on its host.
 * why gets the cause in words either way ("the guest powered off", ...). */
bool vm_ha_restarts(enum vm_ha l, enum cfs_power power, int reason, char *why, size_t len);
/* Whether a start of a domain found so is worth recording as a restart:
 * not one merely defined and never started (libvirt reason unknown). */
bool vm_ha_noteworthy(enum cfs_power power, int reason);
/* Record a restart done by ha in status/ha-restart: when, then why (which
 * says where). */
void vm_ha_record(struct reconciler *rc, const struct cfs_res *vm, const char *why);

#endif
