/* netaddr_test.c: the network value parsers (src/common/netaddr.c) against
 * a table of accepted and refused values.  Prints one line per failure;
 * exits 0 only when every case holds. */
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

static int failed, checked;

static void expect(int ok, const char *what, const char *value)
{
    checked++;
    if (!ok) {
        failed++;
        printf("FAIL %s: '%s'\n", what, value);
    }
}

int main(void)
{
    struct cfs_err err;
    uint32_t a;
    char buf[CFS_CIDR_LEN];

    static const char *const good_ip[][2] = {
        {"10.0.0.1", "10.0.0.1"}, {"0.0.0.0", "0.0.0.0"}, {"255.255.255.255", "255.255.255.255"},
        {"192.168.100.200", "192.168.100.200"},
    };
    for (size_t i = 0; i < sizeof(good_ip) / sizeof(good_ip[0]); i++) {
        int rc = netaddr_ipv4_parse(good_ip[i][0], &a, &err);
        netaddr_ipv4_format(a, buf);
        expect(rc == 0 && strcmp(buf, good_ip[i][1]) == 0, "ipv4 accepted", good_ip[i][0]);
    }
    static const char *const bad_ip[] = {"300.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ",
                                         " 1.2.3.4", "1.2.3.-4", "", "a.b.c.d", "1..2.3",
                                         "1.2.3.4/24", "1.2.3.1000", "0x1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad_ip) / sizeof(bad_ip[0]); i++)
        expect(netaddr_ipv4_parse(bad_ip[i], &a, &err) < 0 && err.code == EINVAL, "ipv4 refused",
               bad_ip[i]);

    struct cfs_cidr c;
    static const char *const good_cidr[] = {"10.0.0.0/16", "0.0.0.0/0", "10.0.1.0/24", "10.0.1.5/32"};
    for (size_t i = 0; i < sizeof(good_cidr) / sizeof(good_cidr[0]); i++) {
        int rc = netaddr_cidr_parse(good_cidr[i], &c, &err);
        netaddr_cidr_format(&c, buf);
        expect(rc == 0 && strcmp(buf, good_cidr[i]) == 0, "cidr accepted", good_cidr[i]);
    }
    static const char *const bad_cidr[] = {"10.0.0.0/33", "300.1.1.1/24", "10.0.1.5/24", "10.0.0.0",
                                           "10.0.0.0/", "10.0.0.0/024", "10.0.0.0/8x", "/8",
                                           "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad_cidr) / sizeof(bad_cidr[0]); i++)
        expect(netaddr_cidr_parse(bad_cidr[i], &c, &err) < 0 && err.code == EINVAL, "cidr refused",
               bad_cidr[i]);

    netaddr_cidr_parse("10.0.1.0/24", &c, &err);
    netaddr_ipv4_parse("10.0.1.0", &a, &err);
    expect(!netaddr_cidr_host(&c, a), "network address is no host", "10.0.1.0");
    netaddr_ipv4_parse("10.0.1.255", &a, &err);
    expect(!netaddr_cidr_host(&c, a), "broadcast address is no host", "10.0.1.255");
    netaddr_ipv4_parse("10.0.1.254", &a, &err);
    expect(netaddr_cidr_host(&c, a), "host address", "10.0.1.254");
    netaddr_ipv4_parse("10.0.2.1", &a, &err);
    expect(!netaddr_cidr_host(&c, a), "outside address is no host", "10.0.2.1");

    unsigned char mac[6];
    char ms[CFS_MAC_LEN];
    expect(netaddr_mac_parse("52:54:00:AB:cd:0F", mac, &err) == 0 && netaddr_mac_unicast(mac),
           "mac accepted", "52:54:00:AB:cd:0F");
    netaddr_mac_format(mac, ms);
    expect(strcmp(ms, "52:54:00:ab:cd:0f") == 0, "mac canonical", ms);
    expect(netaddr_mac_parse("01:00:5e:00:00:01", mac, &err) == 0 && !netaddr_mac_unicast(mac),
           "multicast mac is no unicast", "01:00:5e:00:00:01");
    expect(netaddr_mac_parse("00:00:00:00:00:00", mac, &err) == 0 && !netaddr_mac_unicast(mac),
           "zero mac is no unicast", "00:00:00:00:00:00");
    static const char *const bad_mac[] = {"52:54:00:ab:cd", "52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef:",
                                          "g2:54:00:ab:cd:ef", "5254.00ab.cdef", ""};
    for (size_t i = 0; i < sizeof(bad_mac) / sizeof(bad_mac[0]); i++)
        expect(netaddr_mac_parse(bad_mac[i], mac, &err) < 0, "mac refused", bad_mac[i]);

    static const char *const good_host[] = {"web1", "a", "web-1.vpc.internal", "A1-b2"};
    for (size_t i = 0; i < sizeof(good_host) / sizeof(good_host[0]); i++)
        expect(netaddr_hostname_check(good_host[i], &err) == 0, "host name accepted", good_host[i]);
    static const char *const bad_host[] = {"", "-web", "web-", "we_b", "web..x", ".web", "web.",
                                           "a b", "x;rm", "web\n",
                                           "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad_host) / sizeof(bad_host[0]); i++)
        expect(netaddr_hostname_check(bad_host[i], &err) < 0, "host name refused", bad_host[i]);

    expect(netaddr_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"), "uuid accepted", "lower");
    expect(!netaddr_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"), "uuid refused", "upper");
    expect(!netaddr_uuid_valid("../../etc/passwd-aaaa-bbbb-cccccccccc"), "uuid refused", "path");
    expect(!netaddr_uuid_valid("0f8fad5bd9cb469fa16570867728950e"), "uuid refused", "no dashes");

    printf("%d checks, %d failed\n", checked, failed);
    return failed ? 1 : 0;
}
