/* nic_xml.c: a NIC's <interface> element (see nic_xml.h). */
#include "nic_xml.h"

#include <string.h>

#include "netaddr.h"

static const char *const models[] = {"virtio", "e1000", "e1000e", "rtl8139"};

/* Device and network names: letters, digits, '-', '_', '.'; 1 to max-1 long. */
static bool name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n < max &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

int nic_xml_interface(struct xbuf *b, const struct cfs_nic *nic, struct cfs_err *err)
{
    unsigned char mac[6];
    char macs[CFS_MAC_LEN];
    const char *model = nic->model && nic->model[0] ? nic->model : "virtio";
    bool network = nic->network && nic->network[0];
    size_t m;
    for (m = 0; m < sizeof(models) / sizeof(models[0]); m++)
        if (strcmp(model, models[m]) == 0)
            break;
    if (m == sizeof(models) / sizeof(models[0]))
        return cfs_err_set(err, EINVAL, "NIC model '%.32s' is not one of: virtio, e1000, e1000e, rtl8139", model);
    if (netaddr_mac_parse(nic->mac, mac, err) < 0)
        return -1;
    if (!netaddr_mac_unicast(mac))
        return cfs_err_set(err, EINVAL, "MAC %s is not a unicast address", nic->mac);
    if (network ? !name_ok(nic->network, 128) : !name_ok(nic->bridge, 16))
        return cfs_err_set(err, EINVAL, "bad %s name for a NIC", network ? "network" : "bridge");
    if (nic->target && nic->target[0] && !name_ok(nic->target, 16))
        return cfs_err_set(err, EINVAL, "bad tap device name '%.32s'", nic->target);
    if (nic->mtu && (nic->mtu < 576 || nic->mtu > 9000))
        return cfs_err_set(err, EINVAL, "NIC MTU %d: 576 to 9000", nic->mtu);
    netaddr_mac_format(mac, macs);

    xbuf_raw(b, network ? "<interface type='network'>\n  <source network='"
                        : "<interface type='bridge'>\n  <source bridge='");
    xbuf_text(b, network ? nic->network : nic->bridge);
    xbuf_raw(b, "'/>\n  <mac address='");
    xbuf_text(b, macs);
    xbuf_raw(b, "'/>\n");
    if (nic->target && nic->target[0]) {
        xbuf_raw(b, "  <target dev='");
        xbuf_text(b, nic->target);
        xbuf_raw(b, "'/>\n");
    }
    if (nic->mtu)
        xbuf_rawf(b, "  <mtu size='%d'/>\n", nic->mtu);
    xbuf_raw(b, "  <model type='");
    xbuf_text(b, model);
    xbuf_raw(b, "'/>\n</interface>\n");
    return 0;
}
