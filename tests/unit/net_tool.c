/* net_tool.c: drive the network driver (cfs_network_linux) from a shell,
 * one operation per run, for tests/64-network-dataplane.bats.
 *
 *   net_tool [-n HOSTNS] [-s STATE_DIR] [-c LIBVIRT_URI] [-v VTEP [-d DEV]] COMMAND ...
 *
 *   vpc UUID [vni=N] [mtu=N] [domain=NAME] [peer=IP]...
 *   subnet VPC UUID cidr=CIDR gateway=IP [dhcp=on|off] [dns=IP]... [route=DEST,VIA]... [lease=S]
 *   nics VPC SUBNET [MAC,IP[,NAME]]...      the subnet's NICs become exactly these
 *   rm-subnet VPC SUBNET
 *   rm-vpc VPC
 *   plug VPC TAP
 *   attach VPC                              prints "network=NAME bridge=NAME"
 *   nic-xml VPC NIC-UUID MAC [MODEL]        prints the NIC's <interface> element
 *   list                                    prints "KIND VPC SUBNET|- WHAT" lines
 *   leases VPC                              prints "MAC IP NAME|- EXPIRES" lines
 *
 * Exits 0 on success; otherwise prints "net_tool: ERRNAME: message" and
 * exits 1.
 *
 * Build (from the top of the tree; the bats file does this):
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude/common -Iinclude/drivers tests/unit/net_tool.c \
 *      src/drivers/network_linux.c src/drivers/netlink.c src/drivers/nic_xml.c \
 *      src/drivers/xml.c src/common/netaddr.c src/common/subprocess.c src/common/error.c \
 *      src/common/textbuf.c $(pkg-config --cflags --libs libvirt) -lpthread
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "network.h"
#include "nic_xml.h"

#define MAX_ITEMS 1024

static const struct cfs_network_driver *drv = &cfs_network_linux;

static void silent(void *arg, virErrorPtr e)
{
    (void)arg;
    (void)e;
}

static int fail(const struct cfs_err *err)
{
    const char *name = strerrorname_np(err->code);
    fprintf(stderr, "net_tool: %s: %s\n", name ? name : "E?", err->msg);
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: net_tool [-n HOSTNS] [-s STATE] [-c URI] [-v VTEP [-d DEV]] COMMAND ...\n");
    return 2;
}

/* "key=value": the value when arg starts with key=, else NULL. */
static const char *opt(const char *arg, const char *key)
{
    size_t n = strlen(key);
    return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static void print_found(enum cfs_net_kind kind, const char *vpc, const char *subnet,
                        const char *what, void *arg)
{
    (void)arg;
    printf("%s %s %s %s\n", kind == CFS_NET_VPC ? "vpc" : "subnet", vpc, subnet ? subnet : "-", what);
}

static void print_lease(const struct cfs_net_lease *l, void *arg)
{
    (void)arg;
    printf("%s %s %s %lld\n", l->mac, l->ip, l->hostname[0] ? l->hostname : "-", l->expires);
}

static int cmd_vpc(struct cfs_net_host *h, int argc, char **argv, struct cfs_err *err)
{
    struct cfs_vpc_def d = {.uuid = argv[0]};
    static const char *peers[MAX_ITEMS];
    const char *v;
    for (int i = 1; i < argc; i++) {
        if ((v = opt(argv[i], "vni")))
            d.vni = (unsigned)strtoul(v, NULL, 10);
        else if ((v = opt(argv[i], "mtu")))
            d.mtu = atoi(v);
        else if ((v = opt(argv[i], "domain")))
            d.domain = v;
        else if ((v = opt(argv[i], "peer")) && d.npeers < MAX_ITEMS)
            peers[d.npeers++] = v;
        else
            return cfs_err_set(err, EINVAL, "unknown argument %s", argv[i]);
    }
    d.peers = peers;
    return drv->ensure_vpc(h, &d, err);
}

static int cmd_subnet(struct cfs_net_host *h, int argc, char **argv, struct cfs_err *err)
{
    struct cfs_subnet_def d = {.vpc = argv[0], .uuid = argv[1], .dhcp = true};
    static const char *dns[MAX_ITEMS];
    static struct cfs_net_route routes[MAX_ITEMS];
    static char bufs[MAX_ITEMS][64];
    const char *v;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argv[i], "cidr")))
            d.cidr = v;
        else if ((v = opt(argv[i], "gateway")))
            d.gateway = v;
        else if ((v = opt(argv[i], "dhcp")))
            d.dhcp = strcmp(v, "on") == 0;
        else if ((v = opt(argv[i], "lease")))
            d.lease_seconds = atoi(v);
        else if ((v = opt(argv[i], "dns")) && d.ndns < MAX_ITEMS)
            dns[d.ndns++] = v;
        else if ((v = opt(argv[i], "route")) && d.nroutes < MAX_ITEMS) {
            char *b = bufs[d.nroutes], *comma;
            snprintf(b, 64, "%s", v);
            if (!(comma = strchr(b, ',')))
                return cfs_err_set(err, EINVAL, "route=DEST,VIA");
            *comma = '\0';
            routes[d.nroutes].dest = b;
            routes[d.nroutes++].via = comma + 1;
        } else
            return cfs_err_set(err, EINVAL, "unknown argument %s", argv[i]);
    }
    d.dns = dns;
    d.routes = routes;
    return drv->ensure_subnet(h, &d, err);
}

static int cmd_nics(struct cfs_net_host *h, int argc, char **argv, struct cfs_err *err)
{
    static struct cfs_net_nic nics[MAX_ITEMS];
    int n = 0;
    if (argc - 2 > MAX_ITEMS)
        return cfs_err_set(err, E2BIG, "at most %d NICs", MAX_ITEMS);
    for (int i = 2; i < argc; i++, n++) {
        char *mac = argv[i], *ip = strchr(mac, ','), *name = NULL;
        if (!ip)
            return cfs_err_set(err, EINVAL, "NIC as MAC,IP[,NAME]");
        *ip++ = '\0';
        if ((name = strchr(ip, ',')))
            *name++ = '\0';
        nics[n] = (struct cfs_net_nic){.mac = mac, .ip = ip, .hostname = name};
    }
    return drv->set_nics(h, argv[0], argv[1], nics, n, err);
}

static int cmd_nic_xml(struct cfs_net_host *h, int argc, char **argv, struct cfs_err *err)
{
    struct cfs_net_attach at;
    char tap[16];
    struct xbuf b = {0};
    if (drv->attachment(h, argv[0], &at, err) < 0)
        return -1;
    if (net_tap_name(argv[1], tap) < 0)
        return cfs_err_set(err, EINVAL, "bad NIC UUID");
    struct cfs_nic nic = {.mac = argv[2], .network = at.network, .bridge = at.bridge,
                          .target = tap, .model = argc > 3 ? argv[3] : NULL, .mtu = at.mtu};
    if (nic_xml_interface(&b, &nic, err) < 0) {
        xbuf_free(&b);
        return -1;
    }
    char *xml = xbuf_steal(&b);
    if (!xml)
        return cfs_err_set(err, ENOMEM, "out of memory");
    fputs(xml, stdout);
    free(xml);
    return 0;
}

int main(int argc, char **argv)
{
    struct cfs_net_host_def def = {0};
    int c;
    while ((c = getopt(argc, argv, "+n:s:c:v:d:")) != -1) {
        switch (c) {
        case 'n': def.netns = optarg; break;
        case 's': def.state_dir = optarg; break;
        case 'c': def.libvirt_uri = optarg; break;
        case 'v': def.vtep = optarg; break;
        case 'd': def.vtep_dev = optarg; break;
        default: return usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1)
        return usage();
    virSetErrorFunc(NULL, silent);

    struct cfs_err err = {0};
    struct cfs_net_host *h = NULL;
    if (drv->open(&def, &h, &err) < 0)
        return fail(&err);
    const char *cmd = argv[0];
    int n = argc - 1, rc;
    char **a = argv + 1;
    struct cfs_net_attach at;
    if (strcmp(cmd, "vpc") == 0 && n >= 1)
        rc = cmd_vpc(h, n, a, &err);
    else if (strcmp(cmd, "subnet") == 0 && n >= 2)
        rc = cmd_subnet(h, n, a, &err);
    else if (strcmp(cmd, "nics") == 0 && n >= 2)
        rc = cmd_nics(h, n, a, &err);
    else if (strcmp(cmd, "rm-subnet") == 0 && n == 2)
        rc = drv->remove_subnet(h, a[0], a[1], &err);
    else if (strcmp(cmd, "rm-vpc") == 0 && n == 1)
        rc = drv->remove_vpc(h, a[0], &err);
    else if (strcmp(cmd, "plug") == 0 && n == 2)
        rc = drv->plug(h, a[0], a[1], &err);
    else if (strcmp(cmd, "attach") == 0 && n == 1) {
        rc = drv->attachment(h, a[0], &at, &err);
        if (rc == 0)
            printf("network=%s bridge=%s\n", at.network, at.bridge);
    } else if (strcmp(cmd, "nic-xml") == 0 && n >= 3)
        rc = cmd_nic_xml(h, n, a, &err);
    else if (strcmp(cmd, "list") == 0 && n == 0)
        rc = drv->list(h, print_found, NULL, &err);
    else if (strcmp(cmd, "leases") == 0 && n == 1)
        rc = drv->leases(h, a[0], print_lease, NULL, &err);
    else {
        drv->close(h);
        return usage();
    }
    drv->close(h);
    return rc < 0 ? fail(&err) : 0;
}
