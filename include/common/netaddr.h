/* netaddr.h: strict parsing of network values into canonical forms.
 *
 * IPv4 addresses and CIDRs, MAC addresses, DNS host names and UUIDs.  Every
 * value the network driver hands to ip(8), to dnsmasq's files or to libvirt
 * XML went through one of these first, and what is written is the canonical
 * form they produce, never the caller's text.  The tree's validation of the
 * same attributes can use them too, so that what the mount accepts is
 * exactly what the driver accepts.
 */
#ifndef CFS_NETADDR_H
#define CFS_NETADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "cfs_error.h"

#define CFS_IPV4_LEN 16     /* "255.255.255.255" + NUL */
#define CFS_CIDR_LEN 19     /* "255.255.255.255/32" + NUL */
#define CFS_MAC_LEN 18      /* "52:54:00:12:34:56" + NUL */
#define CFS_UUID_LEN 37
#define CFS_HOSTNAME_MAX 253

struct cfs_cidr {
    uint32_t net;           /* host byte order, host bits zero */
    int prefix;             /* 0..32 */
};

/* A dotted quad: four decimal parts 0-255 without leading zeros or
 * anything else ("10.0.0.1").  *out in host byte order. */
int netaddr_ipv4_parse(const char *s, uint32_t *out, struct cfs_err *err);
void netaddr_ipv4_format(uint32_t addr, char buf[CFS_IPV4_LEN]);

/* ADDR/PREFIX whose address has no bits set past the prefix
 * ("10.0.1.0/24"; "10.0.1.5/24" is refused). */
int netaddr_cidr_parse(const char *s, struct cfs_cidr *out, struct cfs_err *err);
void netaddr_cidr_format(const struct cfs_cidr *c, char buf[CFS_CIDR_LEN]);
uint32_t netaddr_mask(int prefix);
bool netaddr_cidr_contains(const struct cfs_cidr *c, uint32_t addr);
/* addr is inside c and is neither its network nor its broadcast address
 * (for /31 and /32 every address is a host). */
bool netaddr_cidr_host(const struct cfs_cidr *c, uint32_t addr);

/* Six hexadecimal pairs separated by ':' (either case); out is the bytes. */
int netaddr_mac_parse(const char *s, unsigned char out[6], struct cfs_err *err);
/* Lower case, colons. */
void netaddr_mac_format(const unsigned char mac[6], char buf[CFS_MAC_LEN]);
/* Not multicast (bit 0 of the first byte clear) and not all zeros. */
bool netaddr_mac_unicast(const unsigned char mac[6]);

/* A host name as DNS and DHCP carry it: dot-separated labels of 1-63
 * characters of [A-Za-z0-9-], neither starting nor ending with '-', 253
 * characters at most. */
int netaddr_hostname_check(const char *s, struct cfs_err *err);

/* The canonical textual UUID: 8-4-4-4-12 lower-case hexadecimal digits. */
bool netaddr_uuid_valid(const char *s);

#endif
