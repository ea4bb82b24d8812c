/* netaddr.c: strict parsing of network values (see netaddr.h). */
#include "netaddr.h"

#include <stdio.h>
#include <string.h>

/* Parse one decimal part 0..max of a dotted quad or prefix length: digits
 * only, no leading zero unless the part is "0".  Advances *p. */
static int parse_decimal(const char **p, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    int n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 3)
            return -1;
        v = v * 10 + (unsigned)(s[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0') || v > max)
        return -1;
    *p = s + n;
    *out = v;
    return 0;
}

static int ipv4_scan(const char **p, uint32_t *out)
{
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        unsigned part;
        if (i > 0) {
            if (**p != '.')
                return -1;
            (*p)++;
        }
        if (parse_decimal(p, 255, &part) < 0)
            return -1;
        a = a << 8 | part;
    }
    *out = a;
    return 0;
}

int netaddr_ipv4_parse(const char *s, uint32_t *out, struct cfs_err *err)
{
    const char *p = s ? s : "";
    uint32_t a;
    if (ipv4_scan(&p, &a) < 0 || *p != '\0')
        return cfs_err_set(err, EINVAL, "'%.64s' is not an IPv4 address (like 10.0.0.1)", s ? s : "");
    *out = a;
    return 0;
}

void netaddr_ipv4_format(uint32_t addr, char buf[CFS_IPV4_LEN])
{
    snprintf(buf, CFS_IPV4_LEN, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
             addr & 255);
}

uint32_t netaddr_mask(int prefix)
{
    return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

int netaddr_cidr_parse(const char *s, struct cfs_cidr *out, struct cfs_err *err)
{
    const char *p = s ? s : "";
    uint32_t a;
    unsigned prefix;
    if (ipv4_scan(&p, &a) < 0 || *p++ != '/')
        return cfs_err_set(err, EINVAL, "'%.64s' is not an IPv4 CIDR (like 10.0.0.0/16)", s ? s : "");
    if (parse_decimal(&p, 32, &prefix) < 0 || *p != '\0')
        return cfs_err_set(err, EINVAL, "'%.64s': the prefix length must be 0 to 32", s);
    if (a & ~netaddr_mask((int)prefix))
        return cfs_err_set(err, EINVAL, "'%.64s' has host bits set past /%u", s, prefix);
    out->net = a;
    out->prefix = (int)prefix;
    return 0;
}

void netaddr_cidr_format(const struct cfs_cidr *c, char buf[CFS_CIDR_LEN])
{
    char a[CFS_IPV4_LEN];
    netaddr_ipv4_format(c->net, a);
    snprintf(buf, CFS_CIDR_LEN, "%s/%d", a, c->prefix);
}

bool netaddr_cidr_contains(const struct cfs_cidr *c, uint32_t addr)
{
    return (addr & netaddr_mask(c->prefix)) == c->net;
}

bool netaddr_cidr_host(const struct cfs_cidr *c, uint32_t addr)
{
    if (!netaddr_cidr_contains(c, addr))
        return false;
    if (c->prefix >= 31)
        return true;
    uint32_t bcast = c->net | ~netaddr_mask(c->prefix);
    return addr != c->net && addr != bcast;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int netaddr_mac_parse(const char *s, unsigned char out[6], struct cfs_err *err)
{
    if (!s || strlen(s) != 17)
        goto bad;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            goto bad;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
bad:
    return cfs_err_set(err, EINVAL, "'%.64s' is not a MAC address (like 52:54:00:12:34:56)",
                       s ? s : "");
}

void netaddr_mac_format(const unsigned char mac[6], char buf[CFS_MAC_LEN])
{
    snprintf(buf, CFS_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
}

bool netaddr_mac_unicast(const unsigned char mac[6])
{
    static const unsigned char zero[6];
    return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

int netaddr_hostname_check(const char *s, struct cfs_err *err)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > CFS_HOSTNAME_MAX)
        return cfs_err_set(err, EINVAL, "a host name has 1 to %d characters", CFS_HOSTNAME_MAX);
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                goto bad;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0);
        if (!ok)
            goto bad;
        label++;
    }
    return 0;
bad:
    return cfs_err_set(err, EINVAL,
                       "'%.64s' is not a host name (labels of letters, digits and inner '-', "
                       "at most 63 each, separated by '.')", s);
}

bool netaddr_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}
