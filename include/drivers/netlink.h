/* netlink.h: the kernel's network state over netlink, in this process's
 * network namespace or in a named one (ip netns).
 *
 * The network driver reads what exists (links, IPv4 addresses, neighbour and
 * bridge forwarding entries, nftables tables and chains) through these,
 * never by parsing the text of ip(8) or nft(8).  VXLAN devices, the
 * settings of its devices (alias, MTU, master, up) and VXLAN forwarding
 * entries it changes here too; bridges, veths, namespaces, addresses and
 * nftables tables with those programs (no shell).  A named namespace is entered by a short-lived thread that opens
 * the socket there: the calling thread never changes namespace.
 */
#ifndef CFS_NETLINK_H
#define CFS_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfs_error.h"

#define NL_IFNAMSIZ 16

struct nl_link {
    int index;
    char name[NL_IFNAMSIZ];
    char kind[16];              /* bridge, veth, vxlan, tun, ... ("" for none) */
    int master;                 /* ifindex of the bridge it is a port of, 0 */
    int mtu;
    bool up;                    /* administratively up */
    unsigned char mac[6];
    char alias[128];
    uint32_t vni;               /* vxlan */
    uint32_t vxlan_local;       /* vxlan, host byte order, 0 when none */
    int vxlan_link;             /* vxlan underlay ifindex, 0 when none */
    int vxlan_port;             /* vxlan UDP port */
    bool vxlan_learning;        /* vxlan: remote MACs learnt */
};

struct nl_addr {
    int index;
    uint32_t addr;              /* IPv4, host byte order */
    int prefix;
};

/* A neighbour entry (AF_INET) or a bridge forwarding entry (AF_BRIDGE). */
struct nl_neigh {
    int index;
    int master;                 /* AF_BRIDGE: the bridge, 0 for a device's own entries */
    unsigned char mac[6];
    bool has_mac;
    uint32_t dst;               /* AF_INET: the address; AF_BRIDGE: the VXLAN remote */
    bool has_dst;
    uint16_t state;             /* NUD_* */
    uint8_t flags;              /* NTF_* */
};

struct nl_chain {
    bool exists;
    char device[NL_IFNAMSIZ];   /* netdev chains: the device it hooks */
    int hook;                   /* NF_NETDEV_INGRESS, ... (-1 for a regular chain) */
    int policy;                 /* NF_ACCEPT, NF_DROP (-1 for a regular chain) */
};

/* A growable array of one of the structs above. */
struct nl_list {
    void *v;
    int n, cap;
};
#define NL_AT(list, type, i) (&((type *)(list)->v)[i])
/* Room for one more element of size elem: a pointer to it, zeroed, or NULL
 * when memory ran out.  Every element of one list has the same size. */
void *nl_list_add(struct nl_list *l, size_t elem);
void nl_list_free(struct nl_list *l);

/* Call fn(arg) on a new thread that entered the namespace first (NULL or "":
 * no switch, the calling thread) and return what it returned. */
int netns_run(const char *netns, int (*fn)(void *arg, struct cfs_err *err), void *arg,
              struct cfs_err *err);
/* Whether /run/netns/NAME exists; its inode (to recognise processes in it). */
bool netns_exists(const char *netns, ino_t *ino);

/* Every link of the namespace (struct nl_link). */
int nl_links(const char *netns, struct nl_list *out, struct cfs_err *err);
const struct nl_link *nl_link_named(const struct nl_list *links, const char *name);
const struct nl_link *nl_link_index(const struct nl_list *links, int index);
/* Every IPv4 address of the namespace (struct nl_addr). */
int nl_addrs(const char *netns, struct nl_list *out, struct cfs_err *err);
/* Neighbour entries of family AF_INET or bridge forwarding entries
 * (AF_BRIDGE) of the namespace (struct nl_neigh). */
int nl_neighs(const char *netns, int family, struct nl_list *out, struct cfs_err *err);
/* One nftables chain (exists false when the table or chain is missing). */
int nl_nft_chain(const char *netns, int family, const char *table, const char *chain,
                 struct nl_chain *out, struct cfs_err *err);
/* Names of the nftables tables of a family. */
int nl_nft_tables(const char *netns, int family, void (*cb)(const char *name, void *arg),
                  void *arg, struct cfs_err *err);

/* A new VXLAN device's settings. */
struct nl_vxlan {
    uint32_t vni;
    uint32_t local;             /* host byte order */
    int link;                   /* underlay ifindex, 0: routing picks it */
    uint16_t port;
    bool learning;
};

/* A link made (vxlan set: a VXLAN device named name) or changed (index). */
struct nl_link_req {
    const char *name;
    int index;                  /* the link changed, 0 for a new one */
    const char *alias;          /* NULL: unchanged */
    int mtu;                    /* 0: unchanged */
    int master;                 /* ifindex of its bridge, 0: unchanged */
    bool up;                    /* set it up (false: unchanged) */
    bool addrgen_none;          /* no IPv6 link-local address */
    const struct nl_vxlan *vxlan;
};
int nl_link_change(const char *netns, const struct nl_link_req *q, struct cfs_err *err);
int nl_link_del(const char *netns, int index, struct cfs_err *err);
/* A permanent forwarding entry MAC -> remote dst (host byte order) on the
 * VXLAN device index added (appended beside others of that MAC) or removed. */
int nl_fdb_dst(const char *netns, bool add, int index, const unsigned char mac[6], uint32_t dst,
               struct cfs_err *err);

#endif
