/* vm_ha.c: HA levels, as ZStack's (vm_ha.h).
 *
 *   off         cloudfs never starts the VM again by itself: a domain that
 *               stops behind its back is reported (drift).
 *   on          OnHostFailure: restarted on another host when its host is
 *               lost and fenced (host_failure.c).  On its own host it is
 *               started again when its domain was stopped from outside the
 *               guest (virsh destroy, a host reboot: what `on` always did),
 *               but not after the guest's own poweroff (from inside, or
 *               asked through ACPI: virsh shutdown) or a crash, which ZStack's
 *               OnHostFailure leaves stopped too.
 *   never-stop  NeverStop: also after a guest poweroff or a crash.
 */
#include <stdio.h>
#include <string.h>

#include <libvirt/libvirt.h>

#include "rc_store.h"
#include "vm_ha.h"

enum vm_ha vm_ha_parse(const char *v)
{
    if (!strcmp(v, "never-stop"))
        return VM_HA_NEVER_STOP;
    return !strcmp(v, "on") ? VM_HA_ON : VM_HA_OFF;
}

const char *vm_ha_name(enum vm_ha l)
{
    return l == VM_HA_NEVER_STOP ? "never-stop" : l == VM_HA_ON ? "on" : "off";
}

bool vm_ha_noteworthy(enum cfs_power power, int reason)
{
    return power != CFS_POWER_SHUTOFF || reason != VIR_DOMAIN_SHUTOFF_UNKNOWN;
}

bool vm_ha_restarts(enum vm_ha l, enum cfs_power power, int reason, char *why, size_t len)
{
    bool guest = false;     /* the guest's own doing */
    if (power == CFS_POWER_CRASHED) {
        snprintf(why, len, "the guest crashed");
        guest = true;
    } else if (power == CFS_POWER_NONE) {
        snprintf(why, len, "its domain is gone");
    } else if (reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN) {
        snprintf(why, len, "the guest powered off");
        guest = true;
    } else if (reason == VIR_DOMAIN_SHUTOFF_CRASHED || reason == VIR_DOMAIN_SHUTOFF_FAILED) {
        snprintf(why, len, "the guest crashed (or its QEMU process died)");
        guest = true;
    } else if (reason == VIR_DOMAIN_SHUTOFF_DESTROYED) {
        snprintf(why, len, "its domain was destroyed outside cloudfs");
    } else if (reason == VIR_DOMAIN_SHUTOFF_UNKNOWN) {
        /* Defined and not started yet (a start that did not happen, the
         * host restarted): started as before, not recorded (vm_ha_record). */
        snprintf(why, len, "its domain has not run since it was defined");
    } else {
        snprintf(why, len, "its domain stopped outside cloudfs (libvirt reason %d)", reason);
    }
    if (l == VM_HA_NEVER_STOP)
        return true;
    return l == VM_HA_ON && !guest;
}

void vm_ha_record(struct reconciler *rc, const struct cfs_res *vm, const char *why)
{
    char when[32], msg[512];
    rc_iso_time(when, sizeof(when));
    snprintf(msg, sizeof(msg), "%s %.400s", when, why);
    fprintf(stderr, "cloudfs reconcile: VM %s: ha restart: %s\n", vm->name, why);
    rc_set_status(rc, vm, "ha-restart", msg);
}
