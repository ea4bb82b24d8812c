/* secgroup_nft.h: security groups as nftables tables (see secgroup_nft.c).
 *
 * The values of a rule are parsed here (the mount's preconditions refuse
 * what does not parse, the reconciler builds from what does), and the
 * ruleset text is made only from the parsed numbers and from names cloudfs
 * makes itself (bridges, chains): nothing a user wrote reaches nft as text.
 */
#ifndef CFS_SECGROUP_NFT_H
#define CFS_SECGROUP_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "cfs_error.h"
#include "textbuf.h"

#define SG_MAX_PER_NIC 5
#define SG_TABLE_PREFIX "cfs_sg_"       /* + the VPC's UUID in hex: inet table */

enum sg_proto { SG_TCP, SG_UDP, SG_ICMP, SG_ICMPV6, SG_GRE, SG_ALL };
enum sg_action { SG_ACCEPT, SG_DROP, SG_REJECT };

/* "22" or "8000-8100" (1..65535, ascending); "": every port (0, 0). */
int sg_parse_ports(const char *s, int *lo, int *hi, struct cfs_err *err);
/* 1..1000, or high (100), medium (500), low (900). */
int sg_parse_priority(const char *s, int *out, struct cfs_err *err);
int sg_parse_proto(const char *s, enum sg_proto *out, struct cfs_err *err);
int sg_parse_action(const char *s, enum sg_action *out, struct cfs_err *err);
/* 1 when s looks like an address (a CIDR, parsed into net and prefix), 0
 * when it is a group reference, -1 (EINVAL) for a bad CIDR. */
int sg_parse_remote(const char *s, uint32_t *net, int *prefix, struct cfs_err *err);

/* One rule of a NIC, its remote resolved to addresses. */
struct sg_rule {
    bool out;                   /* direction out */
    enum sg_proto proto;
    int port_lo, port_hi;       /* 0, 0: all */
    bool group;                 /* remote is a group: ips[] (may be none) */
    uint32_t net;               /* else remote CIDR */
    int prefix;
    const uint32_t *ips;
    int nips;
    enum sg_action action;
    int priority;
    int order;                  /* the group's place in the NIC's list */
    const char *name;           /* tie-break: GROUP/RULE */
};

struct sg_nic {
    char hex[33];               /* the NIC's UUID without dashes: chain names */
    uint32_t ip;
    struct sg_rule *rules;      /* sorted by sg_rules_sort */
    int nrules;
};

struct sg_vpc {
    char uuid[37];
    char hex[33];
    char bridge[16];
    unsigned zone;              /* conntrack zone of the VPC's flows */
    struct sg_nic *nics;
    int nnics;
};

void sg_rules_sort(struct sg_rule *r, int n);
/* The table name of a VPC (table[40]) and its bridge (bridge[16]), the
 * names network_linux.c gives them. */
void sg_vpc_names(const char *uuid, struct sg_vpc *v);
/* Append to b: the table of v made and replaced in one go (add, delete,
 * define: inside the caller's one transaction). */
void sg_nft_table(const struct sg_vpc *v, struct textbuf *b);
/* Append to b: the removal of the table of VPC hex (add then delete: no
 * error when it is absent). */
void sg_nft_table_gone(const char *hex, struct textbuf *b);
/* Run nft in netns ("": this one) with args (NULL-terminated) and input on
 * stdin (may be NULL); *out (may be NULL) gets its stdout, malloc'd. */
int sg_nft_run(const char *netns, const char *const args[], const char *input, char **out,
               struct cfs_err *err);
/* The text of table NAME in a listing of `nft list ruleset inet` (malloc'd),
 * or NULL when absent. */
char *sg_nft_table_text(const char *listing, const char *name);

#endif
