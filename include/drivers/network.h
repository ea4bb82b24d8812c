/* network.h: the network driver interface.
 *
 * The reconciler builds VPCs, subnets and the DHCP/DNS entries of NICs only
 * through this table; network_linux.c implements it with Linux bridges,
 * network namespaces, VXLAN and dnsmasq (its header comment is the design).
 * One struct cfs_net_host is the network side of one host.
 *
 * Every call is idempotent and safe to retry: ensuring what exists checks it
 * and repairs what differs (a bridge deleted with `ip link del`, a dnsmasq
 * killed, a libvirt network destroyed), and removing what is gone succeeds.
 * Calls on one VPC are serialised (a lock file per VPC), so several threads
 * or processes may call at once.  Everything made is named after the UUIDs of
 * the tree's resources; every other value is parsed (netaddr.h) and only its
 * canonical form is written, so nothing a user typed reaches a command line
 * or a configuration file as typed.
 *
 * Order: ensure_vpc, then ensure_subnet for each subnet, then set_nics for
 * each subnet; ensure_subnet and set_nics fail with ENOENT while the VPC is
 * not set up on the host.  Removal in the reverse order.
 */
#ifndef CFS_NETWORK_H
#define CFS_NETWORK_H

#include <stdbool.h>

#include "cfs_error.h"

struct cfs_net_host;    /* the network side of one host, opaque; thread-safe */

struct cfs_net_host_def {
    /* NULL or "": this machine.  Otherwise the name of a network namespace
     * (ip netns) that stands in for a host: its bridges and VXLAN devices
     * are made there (tests; hosts simulated on one machine). */
    const char *netns;
    const char *state_dir;      /* dnsmasq's files, STATE_DIR/VPC-UUID/; NULL: CFS_NET_STATE_DIR */
    /* Where to define one libvirt network per VPC (forward mode bridge over
     * the VPC's bridge), so NICs attach as <interface type='network'>;
     * NULL: none, NICs attach as <interface type='bridge'>. */
    const char *libvirt_uri;
    const char *vtep;           /* this host's underlay IPv4 address for VXLAN; NULL: none */
    const char *vtep_dev;       /* the underlay interface, or NULL to let routing pick it */
    int timeout;                /* seconds for each helper program; 0: 30 */
};

struct cfs_vpc_def {
    const char *uuid;
    /* VXLAN network identifier (1..16777215) carrying the VPC between hosts;
     * 0 keeps it on this host.  Needs the host's vtep. */
    unsigned vni;
    /* Underlay addresses of the other hosts that carry this VPC: broadcast
     * and unknown unicast are copied to each (no multicast underlay). */
    const char *const *peers;
    int npeers;
    int mtu;                    /* 0: 1500, or 1450 with VXLAN; 576..9000 */
    const char *domain;         /* DNS domain of the VPC's names (host name), or NULL */
};

struct cfs_net_route {
    const char *dest;           /* CIDR */
    const char *via;            /* a host address of the subnet */
};

struct cfs_subnet_def {
    const char *uuid;
    const char *vpc;            /* the VPC's UUID */
    const char *cidr;           /* 10.0.1.0/24; must not overlap the VPC's other subnets */
    const char *gateway;        /* a host address of cidr */
    bool dhcp;                  /* false: no DHCP answers (DNS names still resolve) */
    /* DHCP option 6 after the gateway (the VPC's own resolver, which knows
     * the VMs' names): at most CFS_NET_MAX_DNS addresses. */
    const char *const *dns;
    int ndns;
    /* DHCP option 121; the default route via the gateway is added (RFC 3442:
     * a client that gets option 121 ignores option 3). */
    const struct cfs_net_route *routes;
    int nroutes;
    int lease_seconds;          /* 0: 3600; 120..31536000 */
};

/* One NIC's DHCP and DNS entry. */
struct cfs_net_nic {
    const char *mac;            /* unicast */
    const char *ip;             /* a host address of the subnet, not its gateway */
    const char *hostname;       /* DNS name and DHCP option 12; NULL or "": none */
};

/* What a NIC's <interface> names (see nic_xml.h). */
struct cfs_net_attach {
    char network[64];           /* libvirt network, "" when the host has no libvirt */
    char bridge[16];            /* Linux bridge */
    int mtu;                    /* the bridge's when not 1500 (VXLAN: 1450), else 0 */
};

enum cfs_net_kind { CFS_NET_VPC, CFS_NET_SUBNET };

/* Something of cloudfs's found on a host: a VPC (subnet NULL) or a subnet;
 * what says which object ("bridge cfsb...", "netns cfs-vpc-...", ...). */
typedef void (*cfs_net_found_cb)(enum cfs_net_kind kind, const char *vpc, const char *subnet,
                                 const char *what, void *arg);

struct cfs_net_lease {
    long long expires;          /* seconds since the epoch, 0: never */
    char mac[18];
    char ip[16];
    char hostname[64];          /* "" when the client sent none */
};
typedef void (*cfs_net_lease_cb)(const struct cfs_net_lease *l, void *arg);

struct cfs_network_driver {
    const char *name;
    int (*open)(const struct cfs_net_host_def *def, struct cfs_net_host **out,
                struct cfs_err *err);
    void (*close)(struct cfs_net_host *h);
    /* The VPC's bridge, router namespace, VXLAN port, libvirt network and
     * dnsmasq on this host, made or repaired. */
    int (*ensure_vpc)(struct cfs_net_host *h, const struct cfs_vpc_def *vpc, struct cfs_err *err);
    /* Everything of the VPC on this host gone.  EBUSY while a guest's
     * interface is still a port of its bridge. */
    int (*remove_vpc)(struct cfs_net_host *h, const char *vpc, struct cfs_err *err);
    /* The subnet's gateway address on the VPC's router and its DHCP range
     * and options, made or changed (dnsmasq restarts when they change). */
    int (*ensure_subnet)(struct cfs_net_host *h, const struct cfs_subnet_def *s,
                         struct cfs_err *err);
    int (*remove_subnet)(struct cfs_net_host *h, const char *vpc, const char *subnet,
                         struct cfs_err *err);
    /* The subnet's NIC entries become exactly these (DHCP host, DNS name, the
     * router's neighbour entry); dnsmasq re-reads them without restarting.
     * EEXIST when a MAC, IP or name appears twice in the VPC. */
    int (*set_nics)(struct cfs_net_host *h, const char *vpc, const char *subnet,
                    const struct cfs_net_nic *nics, int n, struct cfs_err *err);
    /* Make the tap device of a running NIC a port of the VPC's bridge again
     * (after the bridge was made anew behind libvirt's back).  A tap that
     * does not exist is not an error; a device that is not a tap is. */
    int (*plug)(struct cfs_net_host *h, const char *vpc, const char *tap, struct cfs_err *err);
    int (*attachment)(struct cfs_net_host *h, const char *vpc, struct cfs_net_attach *out,
                      struct cfs_err *err);
    /* Everything of cloudfs's on the host, for orphan checks. */
    int (*list)(struct cfs_net_host *h, cfs_net_found_cb cb, void *arg, struct cfs_err *err);
    /* The VPC's DHCP leases as dnsmasq recorded them on this host. */
    int (*leases)(struct cfs_net_host *h, const char *vpc, cfs_net_lease_cb cb, void *arg,
                  struct cfs_err *err);
};

extern const struct cfs_network_driver cfs_network_linux;

#define CFS_NET_STATE_DIR "/run/cloudfs/net"
#define CFS_NET_MAX_DNS 3           /* the seeds: one public resolver plus up to 2 custom */
#define CFS_NICS_MAX 8              /* NICs per VM: the seeds' 2 default + 6 extra on x86 */
#define CFS_NET_MAX_ROUTES 16       /* option 121 holds at most 255 bytes */
#define CFS_NET_VXLAN_PORT 4789     /* IANA */
#define CFS_NET_VXLAN_OVERHEAD 50   /* outer Ethernet + IPv4 + UDP + VXLAN headers */
/* A VPC's VNI: this plus its store id (above the 802.1Q range, so a VNI
 * is never mistaken for a VLAN tag of the underlay). */
#define CFS_NET_VNI_BASE 4096

/* Name of the tap device of a NIC (libvirt's <target dev=...>): "cfst" and
 * the first 11 hexadecimal digits of its UUID.  -1 for a bad UUID. */
int net_tap_name(const char *nic_uuid, char out[16]);

#endif
