/* eip.h: public IPs (EIPs) on Linux: the external bridge of an eip-pool
 * and the one-to-one NAT of a VPC's router (src/drivers/eip_linux.c).
 *
 * Acts on the machine it runs on: the pool's bridge in the host's
 * namespace, the NAT inside the VPC's router namespace cfs-vpc-UUID that
 * network_linux.c made.  Every value comes in parsed (addresses as
 * numbers, UUIDs checked) and reaches the kernel through argv (ip) and an
 * nftables file written from those numbers, never through a shell.
 */
#ifndef CFS_EIP_H
#define CFS_EIP_H

#include <stdbool.h>
#include <stdint.h>

#include "cfs_error.h"

#define CFS_EIP_TABLE "cfs_eip"     /* nftables table (family ip) in a VPC's router */
#define CFS_EIP_ROUTER_IF "eip0"    /* the router's external side */

/* One translation: public address <-> the NIC's private one (host byte
 * order), capped at mbit Mbit/s each way (0: none). */
struct cfs_eip_rule {
    uint32_t eip;
    uint32_t private_ip;
    int mbit;
};

/* What a VPC's router carries: the rules of the EIPs bound to its NICs,
 * all of one pool (bridge, prefix, gateway).  n == 0: none (the external
 * side and the table are removed). */
struct cfs_eip_router {
    const char *vpc;            /* the VPC's UUID */
    const char *pool;           /* the pool's UUID (n > 0) */
    int prefix;                 /* the pool's prefix length */
    uint32_t gateway;           /* the pool's gateway, 0: none */
    const struct cfs_eip_rule *rules;
    int n;
};

/* The pool's bridge name (cfsp + 11 hexadecimal digits of its UUID). */
int eip_pool_bridge_name(const char *pool_uuid, char out[16]);
/* Make the pool's bridge (idempotent) with uplink (NULL/"": none) as a port. */
int eip_pool_ensure(const char *pool_uuid, const char *uplink, struct cfs_err *err);
/* Remove the pool's bridge (nothing when it is gone). */
int eip_pool_remove(const char *pool_uuid, struct cfs_err *err);
/* Whether the VPC has a router on this machine. */
bool eip_router_present(const char *vpc_uuid);
/* Bring the VPC's router to r: the veth eip0 (host side cfse + 11 hex of
 * the VPC's UUID, a port of the pool's bridge) with the public addresses,
 * the default route via the gateway, and the table cfs_eip replaced in one
 * nft transaction.  *repaired: a chain of the table had gone (deleted
 * behind cloudfs's back) and is back. */
int eip_router_apply(const struct cfs_eip_router *r, bool *repaired, struct cfs_err *err);

#endif
