/* nic_xml.h: the libvirt <interface> element of one NIC.
 *
 * The domain builder appends one per NIC when it defines a domain, and the
 * same element is what attach/detach-device take to hot-plug a NIC into a
 * running domain.  Every value is checked and escaped (xml.h).
 */
#ifndef CFS_NIC_XML_H
#define CFS_NIC_XML_H

#include "cfs_error.h"
#include "xml.h"

struct cfs_nic {
    const char *mac;            /* unicast, e.g. 52:54:00:12:34:56 */
    const char *network;        /* libvirt network (type='network'), or NULL/"" */
    const char *bridge;         /* else a Linux bridge (type='bridge') */
    const char *target;         /* tap device name (net_tap_name()), or NULL: libvirt picks */
    const char *model;          /* virtio (the default when NULL/""), e1000, e1000e, rtl8139 */
    int mtu;                    /* <mtu size=...> of the tap and guest, 576..9000; 0: none */
};

/* Append <interface type=...>...</interface> for nic to b; -1 (and b
 * unchanged) when a value is bad. */
int nic_xml_interface(struct xbuf *b, const struct cfs_nic *nic, struct cfs_err *err);

#endif
