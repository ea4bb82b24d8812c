/* network_linux.c: VPCs on Linux bridges, network namespaces, VXLAN and
 * dnsmasq (the network driver, see network.h).
 *
 * THE DATA PLANE.  On every host that carries a VPC there is, for that VPC:
 *
 *   guests' taps ─┐
 *   (cfstNIC)     ├── bridge cfsbVPC ── cfsrVPC ═veth═ vpc0 [netns cfs-vpc-UUID]
 *   vxlan cfsxVPC ┘   (no address)                      gateways of every subnet,
 *   (VNI of the VPC,                                    IPv4 forwarding between them,
 *    to the other hosts)                                dnsmasq: DHCP + DNS
 *
 * (VPC = the first 11 hexadecimal digits of the VPC's UUID; the whole UUID is
 * in each device's alias, "cfs-vpc:UUID", and names the namespace.)
 *
 * - One Linux bridge per VPC per host, with no address: the VPC's layer 2.
 *   A VPC is one broadcast domain holding several layer-3 subnets, as the
 *   seeds describe it; one bridge, one router port, one dnsmasq and one VNI
 *   per VPC keep the number of devices flat however many subnets there are.
 *   Subnets of one VPC are separated at layer 3 only; security groups (per
 *   NIC, a later issue) are what filters between them.
 * - The VPC's router is a network namespace of its own: its one interface
 *   vpc0 holds every subnet's gateway address and forwards between them, and
 *   it has no other route, so a VPC reaches nothing outside itself.  Two VPCs
 *   with the same CIDR never meet: their addresses live in different
 *   namespaces and the host's own routing table never sees them.  This is
 *   also where outbound NAT and public IPs (later issues) fit: a second veth
 *   from the namespace to the host with SNAT/DNAT inside the namespace, so
 *   translation happens before an overlapping address ever reaches the host.
 * - dnsmasq, started by cloudfs inside that namespace with its own files
 *   under STATE_DIR/UUID/: DHCP in static mode only (every NIC has a host
 *   entry MAC -> IP -> name and an unknown MAC gets nothing, so a guest gets
 *   exactly the address cloudfs chose), per-subnet options (router, DNS
 *   servers: the gateway first, then the subnet's list; classless static
 *   routes, option 121, with the default route added as RFC 3442 requires;
 *   the MTU), DNS for the VPC's names (its own host files; no-hosts and
 *   no-resolv: nothing of the host's /etc/hosts or resolvers leaks in).
 *   Host entries change with a SIGHUP, subnets with a restart.  Answers are
 *   broadcast (dhcp-broadcast): to unicast one to a client that has no
 *   address yet, dnsmasq writes the client into the router's ARP table, over
 *   the permanent neighbour entry the distributed router needs (below).
 * - A netdev nftables table cfs_vpc_HEX with one chain on the bridge's
 *   ingress, policy drop: nothing a guest sends reaches the host's own IP
 *   stack (without it the host answers ARP for its own addresses on every
 *   bridge, seen with arping from a guest), while frames between the
 *   bridge's ports are switched as usual.  (This kernel has neither tc
 *   classifiers nor the bridge meta expressions; netdev chains it has.)
 * - Between hosts (the host has a VTEP address and the VPC a VNI) a VXLAN
 *   device is a port of the bridge; broadcasts and unknown destinations are
 *   copied to every other host of the VPC (one all-zero forwarding entry per
 *   peer, so the underlay needs no multicast).  Learning is off: a stale
 *   learnt entry never sends a MAC to a host it left, at the price of
 *   every unicast to a remote MAC going to every peer (each host's bridge
 *   drops what is not for its ports).  The device and its entries are
 *   made over netlink (netlink.h), no program run.
 *   The router is distributed: every host has the same gateway addresses
 *   with the same MAC (02: and five bytes of the VPC's UUID), pinned to the
 *   local router port by a static sticky forwarding entry so that copies
 *   arriving through the tunnel never move it, and every router holds a
 *   permanent neighbour entry for every NIC of the VPC (from the DHCP host
 *   list), so no router ever needs an ARP answer from another host.  Routed
 *   traffic is routed on the sender's host and crosses the tunnel as layer
 *   2; DHCP is answered by the local dnsmasq (the others answer the same).
 *   The VPC's MTU is then 1450 (50 bytes of encapsulation), announced by
 *   DHCP option 26.
 * - When the host has a libvirt connection, a libvirt network cfs-vpc-UUID
 *   (forward mode 'bridge' over that bridge; persistent, autostart): NICs are
 *   <interface type='network'>, libvirt makes and plugs their taps, and
 *   `virsh net-list`/`domiflist` name the VPC.  `virsh net-destroy` of it
 *   leaves the data path alone (and the next ensure starts it again).
 *
 * WHY NOT libvirt's own networks with addresses (nat, route, open, or
 * isolated with an <ip>): libvirt puts the gateway address on the bridge in
 * the host's namespace and runs its dnsmasq there, so two VPCs with the same
 * CIDR would put one subnet on two host interfaces (libvirt refuses the
 * second: the route is in use) and the host would route between VPCs.  Nor
 * an isolated network without <ip> making the bridge: libvirt cannot make
 * it inside a namespace standing in for another host, and net-destroy would
 * take the bridge, with its VXLAN and router ports, from under running
 * guests.
 *
 * REACH.  The driver acts on the machine it runs on, or on a named network
 * namespace standing in for a host together with that host's libvirt URI
 * (how tests/65-network-rig.bats runs it on two hosts of the multi-host rig,
 * each with its own libvirtd); on a multi-host cloud of real machines every
 * host needs it run locally (libvirt's API reaches no netns, veth, VXLAN or
 * dnsmasq of a remote host).  Known caveats of the host: with br_netfilter loaded and
 * bridge-nf-call-iptables = 1 the host's iptables FORWARD chain sees bridged
 * VPC traffic (a DROP policy there cuts it) and the host's conntrack sees
 * flows of overlapping VPCs in one table (security groups should use a
 * conntrack zone per VPC); the VXLAN port (UDP 4789) must be reachable only
 * from the other hosts.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <linux/neighbour.h>
#include <linux/netfilter.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"
#include "netlink.h"
#include "network.h"
#include "subprocess.h"
#include "textbuf.h"
#include "xml.h"

#define ALIAS_PREFIX "cfs-vpc:"
#define NETNS_PREFIX "cfs-vpc-"         /* + UUID: the router of a VPC on this machine */
#define NETNS_INFIX "-vpc-"             /* HOSTNS + infix + UUID on a simulated host */
#define TABLE_PREFIX "cfs_vpc_"         /* + 32 hex digits: nftables netdev table */
#define NETWORK_PREFIX "cfs-vpc-"       /* + UUID: libvirt network */
#define ROUTER_IF "vpc0"
#define DEFAULT_LEASE 3600
#define DEFAULT_TIMEOUT 30

struct cfs_net_host {
    char netns[128];            /* "" for this machine */
    char state[256];
    char uri[512];              /* "" when no libvirt */
    bool vxlan;
    uint32_t vtep;
    char vtep_dev[NL_IFNAMSIZ];
    int timeout;
    pthread_mutex_t conn_lock;
    virConnectPtr conn;         /* opened on first use, under conn_lock */
};

/* The names of one VPC's objects on one host. */
struct vpc {
    char uuid[CFS_UUID_LEN];
    char hex[33];               /* the UUID without dashes */
    char bridge[NL_IFNAMSIZ], rport[NL_IFNAMSIZ], vxlan[NL_IFNAMSIZ];
    char alias[64];
    char netns[256];
    char table[48];
    char network[64];
    char dir[300];              /* STATE_DIR/UUID */
    unsigned char gwmac[6];
};

/* One subnet as recorded in its state file. */
struct subnet_state {
    char uuid[CFS_UUID_LEN];
    uint32_t gateway;
    struct cfs_cidr cidr;
    bool dhcp;
};

/* One NIC entry as recorded in a subnet's hosts file. */
struct nic_entry {
    unsigned char mac[6];
    uint32_t ip;
    char hostname[CFS_HOSTNAME_MAX + 1];
};

/* ---- names ---- */

static void uuid_hex(const char *uuid, char hex[33])
{
    int j = 0;
    for (int i = 0; uuid[i] && j < 32; i++)
        if (uuid[i] != '-')
            hex[j++] = uuid[i];
    hex[j] = '\0';
}

int net_tap_name(const char *nic_uuid, char out[16])
{
    char hex[33];
    if (!netaddr_uuid_valid(nic_uuid))
        return -1;
    uuid_hex(nic_uuid, hex);
    snprintf(out, 16, "cfst%.11s", hex);
    return 0;
}

static int vpc_names(const struct cfs_net_host *h, const char *uuid, struct vpc *v,
                     struct cfs_err *err)
{
    if (!netaddr_uuid_valid(uuid))
        return cfs_err_set(err, EINVAL, "'%.40s' is not a VPC UUID", uuid ? uuid : "");
    memset(v, 0, sizeof(*v));
    snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
    uuid_hex(uuid, v->hex);
    snprintf(v->bridge, sizeof(v->bridge), "cfsb%.11s", v->hex);
    snprintf(v->rport, sizeof(v->rport), "cfsr%.11s", v->hex);
    snprintf(v->vxlan, sizeof(v->vxlan), "cfsx%.11s", v->hex);
    snprintf(v->alias, sizeof(v->alias), ALIAS_PREFIX "%s", uuid);
    if (h->netns[0])
        snprintf(v->netns, sizeof(v->netns), "%s" NETNS_INFIX "%s", h->netns, uuid);
    else
        snprintf(v->netns, sizeof(v->netns), NETNS_PREFIX "%s", uuid);
    snprintf(v->table, sizeof(v->table), TABLE_PREFIX "%s", v->hex);
    snprintf(v->network, sizeof(v->network), NETWORK_PREFIX "%s", uuid);
    snprintf(v->dir, sizeof(v->dir), "%s/%s", h->state, uuid);
    /* Locally administered unicast, the same on every host (anycast gateway). */
    v->gwmac[0] = 0x02;
    for (int i = 1; i < 6; i++) {
        char byte[3] = {v->hex[2 * i - 2], v->hex[2 * i - 1], 0};
        v->gwmac[i] = (unsigned char)strtoul(byte, NULL, 16);
    }
    return 0;
}

/* ---- helper programs ---- */

#define ARGV_MAX 40
#define END ((const char *)NULL)    /* ends the argument list of run_*() */

enum prefix {
    RUN_IP,         /* ip [-n NS] ... */
    RUN_BRIDGE,     /* bridge [-netns NS] ... */
    RUN_IN,         /* [ip netns exec NS] PROGRAM ... */
};

/* Run a program given as a list ended by END, behind the prefix that
 * places it in namespace ns ("" or NULL: the caller's own); the error names
 * the command. */
static int run_cmd(const struct cfs_net_host *h, struct cfs_err *err, enum prefix pre,
                   const char *ns, ...)
{
    static const char *const prefixes[][3] = {
        [RUN_IP] = {"ip", "-n", NULL},
        [RUN_BRIDGE] = {"bridge", "-netns", NULL},
        [RUN_IN] = {"ip", "netns", "exec"},
    };
    const char *argv[ARGV_MAX + 1];
    int n = 0;
    bool in_ns = ns && ns[0];
    if (pre != RUN_IN)
        argv[n++] = prefixes[pre][0];
    if (in_ns) {
        for (int i = pre == RUN_IN ? 0 : 1; i < 3 && prefixes[pre][i]; i++)
            argv[n++] = prefixes[pre][i];
        argv[n++] = ns;
    }
    va_list ap;
    va_start(ap, ns);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        if (n == ARGV_MAX) {
            va_end(ap);
            return cfs_err_set(err, E2BIG, "too many arguments for %s", argv[0]);
        }
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    struct cfs_err e = {0};
    if (spawn_run((char *const *)argv, NULL, NULL, h->timeout, &e) == 0)
        return 0;
    char cmd[160] = "";
    for (int i = 0; i < n && strlen(cmd) < sizeof(cmd) - 20; i++)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
    return cfs_err_set(err, e.code ? e.code : EIO, "%s: %s", cmd, e.msg);
}

#define run_ip(h, ns, err, ...) run_cmd(h, err, RUN_IP, ns, __VA_ARGS__)
#define run_bridge(h, ns, err, ...) run_cmd(h, err, RUN_BRIDGE, ns, __VA_ARGS__)
#define run_in(h, ns, err, ...) run_cmd(h, err, RUN_IN, ns, __VA_ARGS__)

/* ---- files ---- */

/* The whole file (malloc'd, NUL-terminated) or NULL with errno set. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    struct textbuf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        tb_put(&b, buf, n);
    fclose(f);
    tb_put(&b, "", 0);
    return tb_steal(&b, NULL);
}

/* Replace path with content (written aside and renamed, mode 0644: dnsmasq
 * reads its files after it dropped root) unless it already holds exactly
 * that; *changed says whether it did. */
static int write_file(const char *path, const char *content, bool *changed, struct cfs_err *err)
{
    char *old = read_file(path);
    bool same = old && strcmp(old, content) == 0;
    free(old);
    if (changed)
        *changed = !same;
    if (same)
        return 0;
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cfs_err_set(err, errno, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(content), off = 0;
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return cfs_err_set(err, e, "%s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fchmod(fd, 0644) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cfs_err_set(err, e, "%s: %s", path, strerror(e));
    }
    return 0;
}

/* Remove path; *changed says whether it existed. */
static int remove_file(const char *path, bool *changed, struct cfs_err *err)
{
    if (unlink(path) == 0) {
        if (changed)
            *changed = true;
        return 0;
    }
    if (errno == ENOENT)
        return 0;
    return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
}

static int make_dir(const char *path, struct cfs_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    return 0;
}

static int vpc_dirs(const struct vpc *v, struct cfs_err *err)
{
    static const char *const sub[] = {"", "/subnets", "/hosts", "/dhcp", "/dns"};
    char path[600];
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", v->dir, sub[i]);
        if (make_dir(path, err) < 0)
            return -1;
    }
    return 0;
}

/* Calls on one VPC exclude each other, across threads and processes: an
 * flock on STATE/UUID.lock.  remove_vpc unlinks the file while holding it,
 * so a waiter that then gets the lock checks it still holds the file that
 * is there, and tries again otherwise. */
static int vpc_lock(const struct cfs_net_host *h, const struct vpc *v, int *out,
                    struct cfs_err *err)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.lock", h->state, v->uuid);
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
        while (flock(fd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return cfs_err_set(err, e, "lock %s: %s", path, strerror(e));
            }
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            *out = fd;
            return 0;
        }
        close(fd);
    }
}

static void vpc_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- recorded subnets and NICs ---- */

/* "GATEWAY/PREFIX dhcp|nodhcp\n" */
static int subnet_parse(const char *text, struct subnet_state *s)
{
    char addr[CFS_IPV4_LEN], mode[8];
    unsigned prefix;
    char tail;
    if (sscanf(text, "%15[0-9.]/%2u %7s%c", addr, &prefix, mode, &tail) != 4 || tail != '\n' ||
        prefix > 32 || netaddr_ipv4_parse(addr, &s->gateway, NULL) < 0)
        return -1;
    if (strcmp(mode, "dhcp") != 0 && strcmp(mode, "nodhcp") != 0)
        return -1;
    s->dhcp = mode[0] == 'd';
    s->cidr.prefix = (int)prefix;
    s->cidr.net = s->gateway & netaddr_mask((int)prefix);
    return 0;
}

static int subnet_read(const struct vpc *v, const char *uuid, struct subnet_state *s)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/subnets/%s.subnet", v->dir, uuid);
    char *text = read_file(path);
    int rc = text ? subnet_parse(text, s) : -1;
    free(text);
    if (rc == 0)
        snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
    return rc;
}

/* Every subnet recorded for the VPC (struct subnet_state). */
static int subnets_read(const struct vpc *v, struct nl_list *out, struct cfs_err *err)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/subnets", v->dir);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    int ret = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char uuid[CFS_UUID_LEN];
        size_t len = strlen(e->d_name);
        if (len != 36 + strlen(".subnet") || strcmp(e->d_name + 36, ".subnet") != 0)
            continue;
        snprintf(uuid, sizeof(uuid), "%.36s", e->d_name);
        struct subnet_state s;
        if (!netaddr_uuid_valid(uuid) || subnet_read(v, uuid, &s) < 0)
            continue;
        struct subnet_state *slot = nl_list_add(out, sizeof(s));
        if (!slot) {
            ret = cfs_err_set(err, ENOMEM, "out of memory");
            break;
        }
        *slot = s;
    }
    closedir(d);
    return ret;
}

/* Lines "MAC IP NAME" ("-" for no name), as set_nics writes them. */
static int nics_parse(const char *text, struct nl_list *out)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            return -1;
        char mac[CFS_MAC_LEN], ip[CFS_IPV4_LEN], name[CFS_HOSTNAME_MAX + 1];
        char fmt[64];
        int used = 0;
        snprintf(fmt, sizeof(fmt), "%%17s %%15s %%%ds%%n", CFS_HOSTNAME_MAX);
        struct nic_entry x = {0};
        if (sscanf(line, fmt, mac, ip, name, &used) != 3 || line + used != end ||
            netaddr_mac_parse(mac, x.mac, NULL) < 0 ||
            netaddr_ipv4_parse(ip, &x.ip, NULL) < 0)
            return -1;
        if (strcmp(name, "-") != 0) {
            if (netaddr_hostname_check(name, NULL) < 0)
                return -1;
            snprintf(x.hostname, sizeof(x.hostname), "%s", name);
        }
        struct nic_entry *slot = nl_list_add(out, sizeof(x));
        if (!slot)
            return -1;
        *slot = x;
        line = end + 1;
    }
    return 0;
}

/* The NICs recorded for one subnet (append to out). */
static int nics_read(const struct vpc *v, const char *subnet, struct nl_list *out,
                     struct cfs_err *err)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/hosts/%s", v->dir, subnet);
    char *text = read_file(path);
    if (!text)
        return errno == ENOENT ? 0 : cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    int rc = nics_parse(text, out);
    free(text);
    return rc < 0 ? cfs_err_set(err, EIO, "%s: unreadable (remove it and set the NICs again)", path)
                  : 0;
}

/* dnsmasq's views of one subnet's NICs: dhcp/UUID (dhcp-hostsfile lines,
 * only while the subnet has DHCP) and dns/UUID (addn-hosts lines). */
static int nics_derive(const struct vpc *v, const struct subnet_state *s, bool *changed,
                       struct cfs_err *err)
{
    int ret = -1;
    struct nl_list nics = {0};
    struct textbuf dhcp = {0}, dns = {0};
    char path[600];
    bool c1 = false, c2 = false;
    if (nics_read(v, s->uuid, &nics, err) < 0)
        goto cleanup;
    for (int i = 0; i < nics.n; i++) {
        const struct nic_entry *x = NL_AT(&nics, struct nic_entry, i);
        char mac[CFS_MAC_LEN], ip[CFS_IPV4_LEN];
        netaddr_mac_format(x->mac, mac);
        netaddr_ipv4_format(x->ip, ip);
        tb_printf(&dhcp, "%s,%s%s%s\n", mac, ip, x->hostname[0] ? "," : "", x->hostname);
        if (x->hostname[0])
            tb_printf(&dns, "%s %s\n", ip, x->hostname);
    }
    tb_put(&dhcp, "", 0);
    tb_put(&dns, "", 0);
    if (dhcp.oom || dns.oom) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    snprintf(path, sizeof(path), "%s/dhcp/%s", v->dir, s->uuid);
    if ((s->dhcp ? write_file(path, dhcp.s, &c1, err) : remove_file(path, &c1, err)) < 0)
        goto cleanup;
    snprintf(path, sizeof(path), "%s/dns/%s", v->dir, s->uuid);
    if (write_file(path, dns.s, &c2, err) < 0)
        goto cleanup;
    *changed = *changed || c1 || c2;
    ret = 0;
cleanup:
    nl_list_free(&nics);
    tb_free(&dhcp);
    tb_free(&dns);
    return ret;
}

/* ---- dnsmasq ---- */

static void dnsmasq_paths(const struct vpc *v, char conf[600], char pidf[600])
{
    snprintf(conf, 600, "%s/dnsmasq.conf", v->dir);
    snprintf(pidf, 600, "%s/dnsmasq.pid", v->dir);
}

/* The pid of this VPC's dnsmasq from its pid file when that process is
 * alive and is this VPC's (its command line names our configuration), else
 * 0.  *in_ns says whether it runs in the VPC's namespace as it is now. */
static pid_t dnsmasq_pid(const struct vpc *v, bool *in_ns)
{
    char conf[600], pidf[600], want[700], path[64];
    dnsmasq_paths(v, conf, pidf);
    snprintf(want, sizeof(want), "--conf-file=%s", conf);
    *in_ns = false;
    char *text = read_file(pidf);
    long pid = text ? strtol(text, NULL, 10) : 0;
    free(text);
    if (pid <= 1 || pid > INT_MAX)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    char *pstat = read_file(path);
    const char *paren = pstat ? strrchr(pstat, ')') : NULL;
    bool zombie = !paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X';
    free(pstat);
    if (zombie)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char args[4096];
    ssize_t n = read(fd, args, sizeof(args) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    args[n] = '\0';
    bool ours = false;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(args + i) + 1)
        if (strcmp(args + i, want) == 0)
            ours = true;
    if (!ours)
        return 0;
    ino_t want_ino;
    struct stat sb;
    snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
    *in_ns = netns_exists(v->netns, &want_ino) && stat(path, &sb) == 0 && sb.st_ino == want_ino;
    return (pid_t)pid;
}

/* Stop this VPC's dnsmasq if it runs (SIGTERM, then SIGKILL after 3 s). */
static void dnsmasq_stop(const struct vpc *v)
{
    bool in_ns;
    pid_t pid = dnsmasq_pid(v, &in_ns);
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300 && dnsmasq_pid(v, &in_ns) == pid; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (dnsmasq_pid(v, &in_ns) == pid)
        kill(pid, SIGKILL);
}

static int dnsmasq_start(const struct cfs_net_host *h, const struct vpc *v, struct cfs_err *err)
{
    char conf[600], pidf[600], arg[700];
    dnsmasq_paths(v, conf, pidf);
    unlink(pidf);
    snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
    /* dnsmasq forks and its first process exits once the daemon is ready,
     * with a status and a message when it could not start. */
    return run_in(h, v->netns, err, "dnsmasq", arg, END);
}

/* The VPC-wide part of dnsmasq's configuration. */
static int dnsmasq_conf(const struct vpc *v, const char *domain, int mtu, bool *changed,
                        struct cfs_err *err)
{
    char conf[600], pidf[600];
    dnsmasq_paths(v, conf, pidf);
    struct textbuf b = {0};
    tb_printf(&b, "# dnsmasq of cloudfs VPC %s (generated; cloudfs rewrites it)\n", v->uuid);
    tb_printf(&b, "interface=" ROUTER_IF "\nexcept-interface=lo\nbind-dynamic\n");
    tb_printf(&b, "no-resolv\nno-hosts\nno-poll\ndhcp-authoritative\n");
    /* Broadcast answers: to unicast one to a client without an address,
     * dnsmasq would write the client into the router's ARP table over the
     * permanent entry the router needs to reach NICs on other hosts. */
    tb_printf(&b, "dhcp-broadcast\n");
    tb_printf(&b, "pid-file=%s\n", pidf);
    tb_printf(&b, "dhcp-leasefile=%s/leases\n", v->dir);
    tb_printf(&b, "dhcp-hostsfile=%s/dhcp\n", v->dir);
    tb_printf(&b, "addn-hosts=%s/dns\n", v->dir);
    tb_printf(&b, "conf-dir=%s/subnets,*.conf\n", v->dir);
    tb_printf(&b, "log-facility=%s/dnsmasq.log\n", v->dir);
    tb_printf(&b, "user=nobody\ngroup=nogroup\n");
    if (domain && domain[0])
        tb_printf(&b, "domain=%s\nexpand-hosts\nlocal=/%s/\n", domain, domain);
    if (mtu != 1500)
        tb_printf(&b, "dhcp-option=option:mtu,%d\n", mtu);
    tb_put(&b, "", 0);
    int rc = b.oom ? cfs_err_set(err, ENOMEM, "out of memory") : write_file(conf, b.s, changed, err);
    tb_free(&b);
    return rc;
}

/* ---- the router namespace ---- */

/* Write value to a sysctl file unless it already holds it. */
static int sysctl_set(const char *path, const char *value, struct cfs_err *err)
{
    char *cur = read_file(path);
    bool same = cur && strncmp(cur, value, strlen(value)) == 0 && cur[strlen(value)] == '\n';
    free(cur);
    if (same)
        return 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    ssize_t w = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (w < 0)
        return cfs_err_set(err, e, "%s: %s", path, strerror(e));
    return 0;
}

/* Run inside the router namespace: forward IPv4 between the subnets, send
 * no redirects (guests of other subnets are reached through the router),
 * no IPv6 at all (the VPC is IPv4; no link-local chatter). */
static int router_sysctls(void *arg, struct cfs_err *err)
{
    (void)arg;
    static const char *const set[][2] = {
        {"/proc/sys/net/ipv6/conf/all/disable_ipv6", "1"},
        {"/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"},
        {"/proc/sys/net/ipv4/conf/all/send_redirects", "0"},
        {"/proc/sys/net/ipv4/conf/default/send_redirects", "0"},
        {"/proc/sys/net/ipv4/ip_forward", "1"},
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
        if (access(set[i][0], F_OK) < 0 && strstr(set[i][0], "ipv6"))
            continue;       /* a kernel without IPv6 */
        if (sysctl_set(set[i][0], set[i][1], err) < 0)
            return -1;
    }
    return 0;
}

static int router_netns(const struct cfs_net_host *h, const struct vpc *v, struct cfs_err *err)
{
    if (!netns_exists(v->netns, NULL) && run_ip(h, NULL, err, "netns", "add", v->netns, END) < 0)
        return -1;
    if (netns_run(v->netns, router_sysctls, NULL, err) < 0)
        return -1;
    struct nl_list links = {0};
    if (nl_links(v->netns, &links, err) < 0)
        return -1;
    const struct nl_link *lo = nl_link_named(&links, "lo");
    bool up = lo && lo->up;
    nl_list_free(&links);
    return up ? 0 : run_ip(h, v->netns, err, "link", "set", "lo", "up", END);
}

/* Run the ip(8) commands collected in b (one per line, every value in its
 * canonical form) in the router's namespace: one program for any number of
 * changes. */
static int router_batch(const struct cfs_net_host *h, const struct vpc *v, struct textbuf *b,
                        struct cfs_err *err)
{
    char path[600];
    if (b->len == 0)
        return 0;
    tb_put(b, "", 0);
    if (b->oom)
        return cfs_err_set(err, ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "%s/router.ip", v->dir);
    if (write_file(path, b->s, NULL, err) < 0)
        return -1;
    return run_ip(h, v->netns, err, "-batch", path, END);
}

/* Make the router's addresses exactly the gateways of the recorded subnets
 * and its permanent neighbours exactly the recorded NICs. */
static int router_sync(const struct cfs_net_host *h, const struct vpc *v,
                       const struct nl_list *subnets, struct cfs_err *err)
{
    int ret = -1;
    struct nl_list links = {0}, addrs = {0}, neighs = {0}, nics = {0};
    struct textbuf cmds = {0};
    if (nl_links(v->netns, &links, err) < 0)
        goto cleanup;
    const struct nl_link *r = nl_link_named(&links, ROUTER_IF);
    if (!r) {
        cfs_err_set(err, ENOENT, "VPC %s has no router interface on this host", v->uuid);
        goto cleanup;
    }
    if (nl_addrs(v->netns, &addrs, err) < 0)
        goto cleanup;
    for (int i = 0; i < subnets->n; i++)
        if (nics_read(v, NL_AT(subnets, struct subnet_state, i)->uuid, &nics, err) < 0)
            goto cleanup;

    char a[CFS_IPV4_LEN], mac[CFS_MAC_LEN];
    for (int i = 0; i < addrs.n; i++) {      /* addresses no subnet has any more */
        const struct nl_addr *x = NL_AT(&addrs, struct nl_addr, i);
        bool want = false;
        for (int j = 0; j < subnets->n && x->index == r->index; j++) {
            const struct subnet_state *s = NL_AT(subnets, struct subnet_state, j);
            want = want || (s->gateway == x->addr && s->cidr.prefix == x->prefix);
        }
        netaddr_ipv4_format(x->addr, a);
        if (x->index == r->index && !want)
            tb_printf(&cmds, "addr del %s/%d dev " ROUTER_IF "\n", a, x->prefix);
    }
    for (int j = 0; j < subnets->n; j++) {   /* gateways missing */
        const struct subnet_state *s = NL_AT(subnets, struct subnet_state, j);
        bool have = false;
        for (int i = 0; i < addrs.n; i++) {
            const struct nl_addr *x = NL_AT(&addrs, struct nl_addr, i);
            have = have || (x->index == r->index && x->addr == s->gateway && x->prefix == s->cidr.prefix);
        }
        netaddr_ipv4_format(s->gateway, a);
        if (!have)
            tb_printf(&cmds, "addr add %s/%d dev " ROUTER_IF "\n", a, s->cidr.prefix);
    }
    if (router_batch(h, v, &cmds, err) < 0)
        goto cleanup;

    /* Read after the addresses changed: removing a device's last address
     * flushes its neighbour entries. */
    tb_free(&cmds);
    if (nl_neighs(v->netns, AF_INET, &neighs, err) < 0)
        goto cleanup;
    for (int i = 0; i < neighs.n; i++) {     /* permanent entries of NICs gone */
        const struct nl_neigh *x = NL_AT(&neighs, struct nl_neigh, i);
        if (x->index != r->index || !(x->state & NUD_PERMANENT) || !x->has_dst)
            continue;
        bool want = false;
        for (int j = 0; j < nics.n; j++) {
            const struct nic_entry *n = NL_AT(&nics, struct nic_entry, j);
            want = want || (n->ip == x->dst && x->has_mac && memcmp(n->mac, x->mac, 6) == 0);
        }
        netaddr_ipv4_format(x->dst, a);
        if (!want)
            tb_printf(&cmds, "neigh del %s dev " ROUTER_IF "\n", a);
    }
    for (int j = 0; j < nics.n; j++) {       /* NICs without their entry */
        const struct nic_entry *n = NL_AT(&nics, struct nic_entry, j);
        bool have = false;
        for (int i = 0; i < neighs.n; i++) {
            const struct nl_neigh *x = NL_AT(&neighs, struct nl_neigh, i);
            have = have || (x->index == r->index && (x->state & NUD_PERMANENT) && x->has_dst &&
                            x->dst == n->ip && x->has_mac && memcmp(x->mac, n->mac, 6) == 0);
        }
        netaddr_ipv4_format(n->ip, a);
        netaddr_mac_format(n->mac, mac);
        if (!have)
            tb_printf(&cmds, "neigh replace %s lladdr %s dev " ROUTER_IF " nud permanent\n", a, mac);
    }
    if (router_batch(h, v, &cmds, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    tb_free(&cmds);
    nl_list_free(&links);
    nl_list_free(&addrs);
    nl_list_free(&neighs);
    nl_list_free(&nics);
    return ret;
}

/* After the VPC's files changed: the router's addresses and neighbours
 * follow them, and dnsmasq runs with them (restarted when its configuration
 * changed, told to re-read its host files when only they changed). */
static int vpc_apply(const struct cfs_net_host *h, const struct vpc *v, bool restart, bool reread,
                     struct cfs_err *err)
{
    struct nl_list subnets = {0};
    int ret = -1;
    if (subnets_read(v, &subnets, err) < 0 || router_sync(h, v, &subnets, err) < 0)
        goto cleanup;
    bool in_ns;
    pid_t pid = dnsmasq_pid(v, &in_ns);
    if (pid > 0 && in_ns && !restart) {
        if (reread && kill(pid, SIGHUP) < 0) {
            cfs_err_set(err, errno, "dnsmasq %d: %s", (int)pid, strerror(errno));
            goto cleanup;
        }
    } else {
        dnsmasq_stop(v);
        if (dnsmasq_start(h, v, err) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    nl_list_free(&subnets);
    return ret;
}

/* ---- the host side: bridge, router port, VXLAN ---- */

/* A device of ours must carry the VPC's alias: a name taken by something
 * else (or by another VPC whose UUID starts alike) is never adopted. */
static int check_owned(const struct nl_link *l, const char *kind, const struct vpc *v,
                       struct cfs_err *err)
{
    if (l && (strcmp(l->kind, kind) != 0 || strcmp(l->alias, v->alias) != 0))
        return cfs_err_set(err, EEXIST, "device %s exists and is not the %s of VPC %s", l->name,
                           kind, v->uuid);
    return 0;
}

/* Bring a host-side device to: alias, no IPv6 address, mtu, master (if
 * any), up; only what differs is changed, in one netlink request. */
static int link_settle(const struct cfs_net_host *h, const struct nl_link *l, const struct vpc *v,
                       int mtu, const struct nl_link *master, struct cfs_err *err)
{
    struct nl_link_req q = {.name = l->name, .index = l->index};
    bool change = false;
    if (strcmp(l->alias, v->alias) != 0) {
        q.alias = v->alias;
        q.addrgen_none = true;
        change = true;
    }
    if (l->mtu != mtu) {
        q.mtu = mtu;
        change = true;
    }
    if (master && l->master != master->index) {
        q.master = master->index;
        change = true;
    }
    if (!l->up) {
        q.up = true;
        change = true;
    }
    return change ? nl_link_change(h->netns, &q, err) : 0;
}

static int host_links(const struct cfs_net_host *h, struct nl_list *links, struct cfs_err *err)
{
    nl_list_free(links);
    return nl_links(h->netns, links, err);
}

static int bridge_ensure(const struct cfs_net_host *h, const struct vpc *v, int mtu,
                         struct nl_list *links, struct cfs_err *err)
{
    const struct nl_link *b = nl_link_named(links, v->bridge);
    if (check_owned(b, "bridge", v, err) < 0)
        return -1;
    if (!b) {
        if (run_ip(h, h->netns, err, "link", "add", v->bridge, "type", "bridge", "stp_state", "0",
                   "forward_delay", "0", END) < 0 ||
            host_links(h, links, err) < 0)
            return -1;
        if (!(b = nl_link_named(links, v->bridge)))
            return cfs_err_set(err, EIO, "bridge %s vanished as it was made", v->bridge);
    }
    return link_settle(h, b, v, mtu, NULL, err);
}

static int router_port_ensure(const struct cfs_net_host *h, const struct vpc *v, int mtu,
                              struct nl_list *links, struct cfs_err *err)
{
    int ret = -1;
    struct nl_list inner = {0};
    char m[16], mac[CFS_MAC_LEN];
    snprintf(m, sizeof(m), "%d", mtu);
    netaddr_mac_format(v->gwmac, mac);
    const struct nl_link *r = nl_link_named(links, v->rport);
    if (check_owned(r, "veth", v, err) < 0 || nl_links(v->netns, &inner, err) < 0)
        goto cleanup;
    const struct nl_link *p = nl_link_named(&inner, ROUTER_IF);
    if (!r || !p || strcmp(p->kind, "veth") != 0) {
        /* Half a pair (or none): make the pair anew. */
        if (r && run_ip(h, h->netns, err, "link", "del", v->rport, END) < 0)
            goto cleanup;
        if (p && run_ip(h, v->netns, err, "link", "del", ROUTER_IF, END) < 0)
            goto cleanup;
        if (run_ip(h, h->netns, err, "link", "add", v->rport, "type", "veth", "peer", "name",
                   ROUTER_IF, "netns", v->netns, END) < 0 ||
            host_links(h, links, err) < 0)
            goto cleanup;
        nl_list_free(&inner);
        if (nl_links(v->netns, &inner, err) < 0)
            goto cleanup;
        r = nl_link_named(links, v->rport);
        p = nl_link_named(&inner, ROUTER_IF);
    }
    if (!r || !p) {
        cfs_err_set(err, EIO, "router port of VPC %s vanished as it was made", v->uuid);
        goto cleanup;
    }
    if (link_settle(h, r, v, mtu, nl_link_named(links, v->bridge), err) < 0)
        goto cleanup;
    if (memcmp(p->mac, v->gwmac, 6) != 0 &&
        run_ip(h, v->netns, err, "link", "set", "dev", ROUTER_IF, "address", mac, END) < 0)
        goto cleanup;
    if (p->mtu != mtu && run_ip(h, v->netns, err, "link", "set", "dev", ROUTER_IF, "mtu", m, END) < 0)
        goto cleanup;
    if (!p->up && run_ip(h, v->netns, err, "link", "set", "dev", ROUTER_IF, "up", END) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    nl_list_free(&inner);
    return ret;
}

/* The VXLAN port of the bridge: VNI, local address, port 4789, no
 * learning (the peers' all-zero entries carry every frame, fdb_ensure);
 * one that differs is made anew. */
static int vxlan_ensure(const struct cfs_net_host *h, const struct vpc *v,
                        const struct cfs_vpc_def *def, int mtu, struct nl_list *links,
                        struct cfs_err *err)
{
    const struct nl_link *x = nl_link_named(links, v->vxlan);
    if (check_owned(x, "vxlan", v, err) < 0)
        return -1;
    bool want = h->vxlan && def->vni > 0;
    const struct nl_link *dev = h->vtep_dev[0] ? nl_link_named(links, h->vtep_dev) : NULL;
    if (want && h->vtep_dev[0] && !dev)
        return cfs_err_set(err, ENODEV, "VXLAN underlay device %s not found", h->vtep_dev);
    if (x && (!want || x->vni != def->vni || x->vxlan_local != h->vtep ||
              x->vxlan_port != CFS_NET_VXLAN_PORT || x->vxlan_learning ||
              (dev && x->vxlan_link != dev->index))) {
        if (nl_link_del(h->netns, x->index, err) < 0 || host_links(h, links, err) < 0)
            return -1;
        x = NULL;
    }
    if (!want)
        return 0;
    if (!x) {
        const struct nl_link *b = nl_link_named(links, v->bridge);
        struct nl_vxlan vx = {.vni = def->vni, .local = h->vtep, .link = dev ? dev->index : 0,
                              .port = CFS_NET_VXLAN_PORT, .learning = false};
        struct nl_link_req q = {.name = v->vxlan, .alias = v->alias, .mtu = mtu,
                                .master = b ? b->index : 0, .up = true, .vxlan = &vx};
        if (nl_link_change(h->netns, &q, err) < 0 || host_links(h, links, err) < 0)
            return -1;
        /* No IPv6 address: the kernel takes that only of a device that exists. */
        x = nl_link_named(links, v->vxlan);
        struct nl_link_req q6 = {.name = v->vxlan, .index = x ? x->index : 0,
                                 .addrgen_none = true};
        if (x && nl_link_change(h->netns, &q6, err) < 0)
            return -1;
        if (!(x = nl_link_named(links, v->vxlan)))
            return cfs_err_set(err, EIO, "VXLAN device %s vanished as it was made", v->vxlan);
    }
    return link_settle(h, x, v, mtu, nl_link_named(links, v->bridge), err);
}

/* Bridge forwarding entries: the gateway MAC pinned to the router port
 * (static, sticky), and one all-zero entry per peer on the VXLAN device. */
static int fdb_ensure(const struct cfs_net_host *h, const struct vpc *v,
                      const struct cfs_vpc_def *def, const uint32_t *peers,
                      const struct nl_list *links, struct cfs_err *err)
{
    static const unsigned char zero[6];
    int ret = -1;
    struct nl_list fdb = {0};
    char mac[CFS_MAC_LEN];
    const struct nl_link *b = nl_link_named(links, v->bridge);
    const struct nl_link *r = nl_link_named(links, v->rport);
    const struct nl_link *x = nl_link_named(links, v->vxlan);
    if (!b || !r) {
        cfs_err_set(err, EIO, "bridge of VPC %s incomplete", v->uuid);
        goto cleanup;
    }
    if (nl_neighs(h->netns, AF_BRIDGE, &fdb, err) < 0)
        goto cleanup;
    bool pinned = false;
    for (int i = 0; i < fdb.n; i++) {
        const struct nl_neigh *e = NL_AT(&fdb, struct nl_neigh, i);
        pinned = pinned || (e->index == r->index && e->master == b->index && e->has_mac &&
                            memcmp(e->mac, v->gwmac, 6) == 0 && (e->flags & NTF_STICKY) &&
                            (e->state & NUD_NOARP));
    }
    netaddr_mac_format(v->gwmac, mac);
    if (!pinned && run_bridge(h, h->netns, err, "fdb", "replace", mac, "dev", v->rport, "master",
                              "static", "sticky", END) < 0)
        goto cleanup;
    if (!x) {
        ret = 0;
        goto cleanup;
    }
    for (int i = 0; i < fdb.n; i++) {        /* peers no longer wanted */
        const struct nl_neigh *e = NL_AT(&fdb, struct nl_neigh, i);
        if (e->index != x->index || !e->has_dst || !e->has_mac || memcmp(e->mac, zero, 6) != 0)
            continue;
        bool want = false;
        for (int j = 0; j < def->npeers; j++)
            want = want || peers[j] == e->dst;
        if (!want && nl_fdb_dst(h->netns, false, x->index, zero, e->dst, err) < 0)
            goto cleanup;
    }
    for (int j = 0; j < def->npeers; j++) {  /* peers missing */
        bool have = false;
        for (int i = 0; i < fdb.n; i++) {
            const struct nl_neigh *e = NL_AT(&fdb, struct nl_neigh, i);
            have = have || (e->index == x->index && e->has_dst && e->dst == peers[j] && e->has_mac &&
                            memcmp(e->mac, zero, 6) == 0);
        }
        if (!have && nl_fdb_dst(h->netns, true, x->index, zero, peers[j], err) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    nl_list_free(&fdb);
    return ret;
}

/* The netdev table whose one chain drops everything the bridge would
 * hand to the host's own stack. */
static int host_off_ensure(const struct cfs_net_host *h, const struct vpc *v, struct cfs_err *err)
{
    struct nl_chain c;
    if (nl_nft_chain(h->netns, NFPROTO_NETDEV, v->table, "host_off", &c, err) < 0)
        return -1;
    if (c.exists && strcmp(c.device, v->bridge) == 0 && c.policy == NF_DROP &&
        c.hook == NF_NETDEV_INGRESS)
        return 0;
    char path[600];
    struct textbuf b = {0};
    /* Made and replaced in one transaction: never a moment without it. */
    tb_printf(&b, "table netdev %s\ndelete table netdev %s\n", v->table, v->table);
    tb_printf(&b, "table netdev %s {\n\tchain host_off {\n", v->table);
    tb_printf(&b, "\t\ttype filter hook ingress device \"%s\" priority 0; policy drop;\n", v->bridge);
    tb_printf(&b, "\t}\n}\n");
    tb_put(&b, "", 0);
    snprintf(path, sizeof(path), "%s/host-off.nft", v->dir);
    int rc = b.oom ? cfs_err_set(err, ENOMEM, "out of memory") : write_file(path, b.s, NULL, err);
    tb_free(&b);
    if (rc < 0)
        return -1;
    return run_in(h, h->netns, err, "nft", "-f", path, END);
}

/* ---- libvirt ---- */

static void quiet(void *arg, virErrorPtr e)
{
    (void)arg;
    (void)e;
}

static int lv_error(struct cfs_err *err, const char *what)
{
    const char *m = virGetLastErrorMessage();
    return cfs_err_set(err, EIO, "%s: %s", what, m ? m : "libvirt error");
}

/* The host's libvirt connection, opened (or reopened) on demand. */
static virConnectPtr lv_conn(struct cfs_net_host *h, struct cfs_err *err)
{
    pthread_mutex_lock(&h->conn_lock);
    if (h->conn && virConnectIsAlive(h->conn) != 1) {
        virConnectClose(h->conn);
        h->conn = NULL;
    }
    if (!h->conn) {
        h->conn = virConnectOpen(h->uri);
        if (h->conn)
            virConnSetErrorFunc(h->conn, NULL, quiet);
        else
            lv_error(err, h->uri);
    }
    virConnectPtr c = h->conn;
    if (c)
        virConnectRef(c);
    pthread_mutex_unlock(&h->conn_lock);
    return c;
}

static int lv_network_ensure(struct cfs_net_host *h, const struct vpc *v, struct cfs_err *err)
{
    int ret = -1;
    virNetworkPtr net = NULL;
    char *xml = NULL;
    virConnectPtr c = lv_conn(h, err);
    if (!c)
        return -1;
    net = virNetworkLookupByName(c, v->network);
    if (net) {
        char *br = virNetworkGetBridgeName(net);
        bool ok = br && strcmp(br, v->bridge) == 0 && virNetworkIsPersistent(net) == 1;
        free(br);
        if (!ok) {          /* not what we define: replace it */
            if (virNetworkIsActive(net) == 1)
                virNetworkDestroy(net);
            virNetworkUndefine(net);
            virNetworkFree(net);
            net = NULL;
        }
    }
    if (!net) {
        struct xbuf b = {0};
        xbuf_raw(&b, "<network>\n  ");
        xbuf_elem(&b, "name", v->network);
        xbuf_raw(&b, "\n  <forward mode='bridge'/>\n  <bridge name='");
        xbuf_text(&b, v->bridge);
        xbuf_raw(&b, "'/>\n</network>\n");
        xml = xbuf_steal(&b);
        if (!xml) {
            cfs_err_set(err, ENOMEM, "out of memory");
            goto cleanup;
        }
        if (!(net = virNetworkDefineXML(c, xml))) {
            lv_error(err, v->network);
            goto cleanup;
        }
    }
    int autostart = 0;
    if (virNetworkGetAutostart(net, &autostart) < 0 || (!autostart && virNetworkSetAutostart(net, 1) < 0)) {
        lv_error(err, v->network);
        goto cleanup;
    }
    if (virNetworkIsActive(net) != 1 && virNetworkCreate(net) < 0) {
        lv_error(err, v->network);
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(xml);
    if (net)
        virNetworkFree(net);
    virConnectClose(c);
    return ret;
}

static int lv_network_remove(struct cfs_net_host *h, const struct vpc *v, struct cfs_err *err)
{
    virConnectPtr c = lv_conn(h, err);
    if (!c)
        return -1;
    int ret = 0;
    virNetworkPtr net = virNetworkLookupByName(c, v->network);
    if (net) {
        if ((virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0) ||
            (virNetworkIsPersistent(net) == 1 && virNetworkUndefine(net) < 0))
            ret = lv_error(err, v->network);
        virNetworkFree(net);
    }
    virConnectClose(c);
    return ret;
}

/* ---- the operations ---- */

static int linux_open(const struct cfs_net_host_def *def, struct cfs_net_host **out,
                      struct cfs_err *err)
{
    struct cfs_net_host *h = calloc(1, sizeof(*h));
    if (!h)
        return cfs_err_set(err, ENOMEM, "out of memory");
    pthread_mutex_init(&h->conn_lock, NULL);
    const char *state = def->state_dir ? def->state_dir : CFS_NET_STATE_DIR;
    if (state[0] != '/' || strlen(state) >= 200 || strstr(state, "/../")) {
        cfs_err_set(err, EINVAL, "network state directory must be an absolute path");
        goto fail;
    }
    snprintf(h->state, sizeof(h->state), "%s", state);
    if (def->netns && def->netns[0]) {
        if (strlen(def->netns) >= 64 || !netns_exists(def->netns, NULL)) {
            cfs_err_set(err, ENOENT, "network namespace '%.64s' not found", def->netns);
            goto fail;
        }
        snprintf(h->netns, sizeof(h->netns), "%s", def->netns);
    }
    if (def->libvirt_uri && def->libvirt_uri[0])
        snprintf(h->uri, sizeof(h->uri), "%s", def->libvirt_uri);
    if (def->vtep && def->vtep[0]) {
        if (netaddr_ipv4_parse(def->vtep, &h->vtep, err) < 0)
            goto fail;
        h->vxlan = true;
    }
    if (def->vtep_dev && def->vtep_dev[0]) {
        size_t n = strlen(def->vtep_dev);
        if (n >= NL_IFNAMSIZ || strspn(def->vtep_dev, "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
            cfs_err_set(err, EINVAL, "bad underlay device name");
            goto fail;
        }
        snprintf(h->vtep_dev, sizeof(h->vtep_dev), "%s", def->vtep_dev);
    }
    h->timeout = def->timeout > 0 ? def->timeout : DEFAULT_TIMEOUT;
    /* The state directory and its parents are made as needed, and each must
     * be searchable by everyone: dnsmasq reads its host files after it
     * dropped root, and would otherwise serve no address at all. */
    char path[256];
    snprintf(path, sizeof(path), "%s", h->state);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            struct stat sb;
            *p = '\0';
            if (make_dir(path, err) < 0)
                goto fail;
            if (stat(path, &sb) < 0 || !(sb.st_mode & S_IXOTH)) {
                cfs_err_set(err, EACCES, "%s must be searchable by everyone (dnsmasq drops root)", path);
                goto fail;
            }
            if (!(*p = c))
                break;
        }
    }
    *out = h;
    return 0;
fail:
    pthread_mutex_destroy(&h->conn_lock);
    free(h);
    return -1;
}

static void linux_close(struct cfs_net_host *h)
{
    if (!h)
        return;
    if (h->conn)
        virConnectClose(h->conn);
    pthread_mutex_destroy(&h->conn_lock);
    free(h);
}

static int linux_ensure_vpc(struct cfs_net_host *h, const struct cfs_vpc_def *def,
                            struct cfs_err *err)
{
    int ret = -1, lock = -1;
    struct vpc v;
    struct nl_list links = {0};
    uint32_t *peers = NULL;
    if (vpc_names(h, def->uuid, &v, err) < 0)
        return -1;
    if (def->vni > 0xffffff)
        return cfs_err_set(err, EINVAL, "VNI %u: at most 16777215", def->vni);
    if (def->vni && !h->vxlan)
        return cfs_err_set(err, EINVAL, "VPC %s has a VNI but this host has no VXLAN address", v.uuid);
    if (def->mtu && (def->mtu < 576 || def->mtu > 9000))
        return cfs_err_set(err, EINVAL, "MTU %d: 576 to 9000", def->mtu);
    if (def->domain && def->domain[0] && netaddr_hostname_check(def->domain, err) < 0)
        return -1;
    if (def->npeers < 0 || def->npeers > 1024)
        return cfs_err_set(err, EINVAL, "at most 1024 VXLAN peers");
    if (def->npeers && !(peers = calloc((size_t)def->npeers, sizeof(*peers))))
        return cfs_err_set(err, ENOMEM, "out of memory");
    for (int i = 0; i < def->npeers; i++) {
        if (netaddr_ipv4_parse(def->peers[i], &peers[i], err) < 0)
            goto cleanup;
        if (h->vxlan && peers[i] == h->vtep) {
            cfs_err_set(err, EINVAL, "peer %s is this host's own VXLAN address", def->peers[i]);
            goto cleanup;
        }
    }
    int mtu = def->mtu ? def->mtu : (def->vni && h->vxlan) ? 1500 - CFS_NET_VXLAN_OVERHEAD : 1500;

    bool conf_changed = false;
    if (vpc_lock(h, &v, &lock, err) < 0 || vpc_dirs(&v, err) < 0 || router_netns(h, &v, err) < 0 ||
        nl_links(h->netns, &links, err) < 0 || bridge_ensure(h, &v, mtu, &links, err) < 0 ||
        host_off_ensure(h, &v, err) < 0 || router_port_ensure(h, &v, mtu, &links, err) < 0 ||
        vxlan_ensure(h, &v, def, mtu, &links, err) < 0 || host_links(h, &links, err) < 0 ||
        fdb_ensure(h, &v, def, peers, &links, err) < 0 ||
        (h->uri[0] && lv_network_ensure(h, &v, err) < 0) ||
        dnsmasq_conf(&v, def->domain, mtu, &conf_changed, err) < 0 ||
        vpc_apply(h, &v, conf_changed, false, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    vpc_unlock(lock);
    nl_list_free(&links);
    free(peers);
    return ret;
}

/* Remove everything under dir (files cloudfs made there). */
static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int linux_remove_vpc(struct cfs_net_host *h, const char *uuid, struct cfs_err *err)
{
    int ret = -1, lock = -1;
    struct vpc v;
    struct nl_list links = {0};
    if (vpc_names(h, uuid, &v, err) < 0)
        return -1;
    if (vpc_lock(h, &v, &lock, err) < 0 || nl_links(h->netns, &links, err) < 0)
        goto cleanup;
    const struct nl_link *b = nl_link_named(&links, v.bridge);
    if (b && strcmp(b->alias, v.alias) == 0) {
        for (int i = 0; i < links.n; i++) {
            const struct nl_link *l = NL_AT(&links, struct nl_link, i);
            if (l->master == b->index && strcmp(l->name, v.rport) && strcmp(l->name, v.vxlan)) {
                cfs_err_set(err, EBUSY, "interface %s is still on the bridge of VPC %s", l->name, v.uuid);
                goto cleanup;
            }
        }
    }
    dnsmasq_stop(&v);
    if (h->uri[0] && lv_network_remove(h, &v, err) < 0)
        goto cleanup;
    struct nl_chain c;
    if (nl_nft_chain(h->netns, NFPROTO_NETDEV, v.table, "host_off", &c, err) < 0)
        goto cleanup;
    /* A table without the chain is found by list() and removed here too. */
    bool table = c.exists;
    if (!table) {
        struct cfs_err e = {0};
        table = run_in(h, h->netns, &e, "nft", "list", "table", "netdev", v.table, END) == 0;
    }
    if (table && run_in(h, h->netns, err, "nft", "delete", "table", "netdev", v.table, END) < 0)
        goto cleanup;
    const char *devs[] = {v.vxlan, v.rport, v.bridge};
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        const struct nl_link *l = nl_link_named(&links, devs[i]);
        if (l && strcmp(l->alias, v.alias) == 0 && nl_link_del(h->netns, l->index, err) < 0)
            goto cleanup;
    }
    if (netns_exists(v.netns, NULL) && run_ip(h, NULL, err, "netns", "del", v.netns, END) < 0)
        goto cleanup;
    struct stat sb;
    if (stat(v.dir, &sb) == 0 && nftw(v.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        cfs_err_set(err, errno, "%s: %s", v.dir, strerror(errno));
        goto cleanup;
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.lock", h->state, v.uuid);
    unlink(path);
    ret = 0;
cleanup:
    vpc_unlock(lock);
    nl_list_free(&links);
    return ret;
}

/* The VPC must be set up on this host before its subnets. */
static int vpc_present(const struct vpc *v, struct cfs_err *err)
{
    struct stat sb;
    if (stat(v->dir, &sb) < 0 || !netns_exists(v->netns, NULL))
        return cfs_err_set(err, ENOENT, "VPC %s is not set up on this host", v->uuid);
    return 0;
}

/* dnsmasq's part for one subnet: its static DHCP range (when DHCP is on)
 * and its options, selected by a tag named after the subnet.  Every value
 * in it is re-formatted from its parsed form. */
static int subnet_conf(const struct vpc *v, const struct subnet_state *s,
                       const struct cfs_subnet_def *def, int lease, struct textbuf *conf,
                       struct cfs_err *err)
{
    char net[CFS_IPV4_LEN], gw[CFS_IPV4_LEN], mask[CFS_IPV4_LEN], tag[40], hex[33];
    uuid_hex(s->uuid, hex);
    snprintf(tag, sizeof(tag), "s%s", hex);
    netaddr_ipv4_format(s->cidr.net, net);
    netaddr_ipv4_format(s->gateway, gw);
    netaddr_ipv4_format(netaddr_mask(s->cidr.prefix), mask);
    tb_printf(conf, "# cloudfs subnet %s of VPC %s (generated)\n", s->uuid, v->uuid);
    if (s->dhcp)
        tb_printf(conf, "dhcp-range=set:%s,%s,static,%s,%d\n", tag, net, mask, lease);
    tb_printf(conf, "dhcp-option=tag:%s,option:router,%s\n", tag, gw);
    tb_printf(conf, "dhcp-option=tag:%s,option:dns-server,%s", tag, gw);
    for (int i = 0; i < def->ndns; i++) {
        uint32_t a;
        char as[CFS_IPV4_LEN];
        if (netaddr_ipv4_parse(def->dns[i], &a, err) < 0)
            return -1;
        netaddr_ipv4_format(a, as);
        tb_printf(conf, ",%s", as);
    }
    tb_printf(conf, "\n");
    if (def->nroutes > 0) {
        bool has_default = false;
        tb_printf(conf, "dhcp-option=tag:%s,option:classless-static-route", tag);
        for (int i = 0; i < def->nroutes; i++) {
            struct cfs_cidr d;
            uint32_t via;
            char ds[CFS_CIDR_LEN], vs[CFS_IPV4_LEN];
            if (netaddr_cidr_parse(def->routes[i].dest, &d, err) < 0 ||
                netaddr_ipv4_parse(def->routes[i].via, &via, err) < 0)
                return -1;
            if (!netaddr_cidr_host(&s->cidr, via)) {
                return cfs_err_set(err, EINVAL, "route to %s: next hop %s is not in %s",
                                   def->routes[i].dest, def->routes[i].via, def->cidr);
            }
            has_default = has_default || d.prefix == 0;
            netaddr_cidr_format(&d, ds);
            netaddr_ipv4_format(via, vs);
            tb_printf(conf, ",%s,%s", ds, vs);
        }
        if (!has_default)
            tb_printf(conf, ",0.0.0.0/0,%s", gw);
        tb_printf(conf, "\n");
    }
    tb_put(conf, "", 0);
    return conf->oom ? cfs_err_set(err, ENOMEM, "out of memory") : 0;
}

static int linux_ensure_subnet(struct cfs_net_host *h, const struct cfs_subnet_def *def,
                               struct cfs_err *err)
{
    int ret = -1, lock = -1;
    struct vpc v;
    struct subnet_state s = {0};
    struct nl_list others = {0};
    struct textbuf conf = {0};
    char path[600], gw[CFS_IPV4_LEN];
    if (vpc_names(h, def->vpc, &v, err) < 0)
        return -1;
    if (!netaddr_uuid_valid(def->uuid))
        return cfs_err_set(err, EINVAL, "'%.40s' is not a subnet UUID", def->uuid ? def->uuid : "");
    snprintf(s.uuid, sizeof(s.uuid), "%s", def->uuid);
    if (netaddr_cidr_parse(def->cidr, &s.cidr, err) < 0 ||
        netaddr_ipv4_parse(def->gateway, &s.gateway, err) < 0)
        return -1;
    if (s.cidr.prefix < 8 || s.cidr.prefix > 30)
        return cfs_err_set(err, EINVAL, "subnet %s: the prefix length must be 8 to 30", def->cidr);
    if (!netaddr_cidr_host(&s.cidr, s.gateway))
        return cfs_err_set(err, EINVAL, "gateway %s is not a host address of %s", def->gateway, def->cidr);
    s.dhcp = def->dhcp;
    int lease = def->lease_seconds ? def->lease_seconds : DEFAULT_LEASE;
    if (lease < 120 || lease > 31536000)
        return cfs_err_set(err, EINVAL, "lease time %d s: 120 to 31536000", lease);
    if (def->ndns < 0 || def->ndns > CFS_NET_MAX_DNS)
        return cfs_err_set(err, EINVAL, "at most %d DNS servers", CFS_NET_MAX_DNS);
    if (def->nroutes < 0 || def->nroutes > CFS_NET_MAX_ROUTES)
        return cfs_err_set(err, EINVAL, "at most %d routes", CFS_NET_MAX_ROUTES);

    if (subnet_conf(&v, &s, def, lease, &conf, err) < 0)
        goto cleanup;
    if (vpc_lock(h, &v, &lock, err) < 0 || vpc_present(&v, err) < 0 || subnets_read(&v, &others, err) < 0)
        goto cleanup;
    for (int i = 0; i < others.n; i++) {
        const struct subnet_state *o = NL_AT(&others, struct subnet_state, i);
        int p = o->cidr.prefix < s.cidr.prefix ? o->cidr.prefix : s.cidr.prefix;
        if (strcmp(o->uuid, s.uuid) != 0 && (o->cidr.net & netaddr_mask(p)) == (s.cidr.net & netaddr_mask(p))) {
            char oc[CFS_CIDR_LEN];
            netaddr_cidr_format(&o->cidr, oc);
            cfs_err_set(err, EEXIST, "subnet %s overlaps subnet %s (%s) of the VPC", def->cidr, o->uuid, oc);
            goto cleanup;
        }
    }
    bool c1 = false, c2 = false, hosts = false;
    char state[64];
    netaddr_ipv4_format(s.gateway, gw);
    snprintf(state, sizeof(state), "%s/%d %s\n", gw, s.cidr.prefix, s.dhcp ? "dhcp" : "nodhcp");
    snprintf(path, sizeof(path), "%s/subnets/%s.subnet", v.dir, s.uuid);
    if (write_file(path, state, &c1, err) < 0)
        goto cleanup;
    snprintf(path, sizeof(path), "%s/subnets/%s.conf", v.dir, s.uuid);
    if (write_file(path, conf.s, &c2, err) < 0 || nics_derive(&v, &s, &hosts, err) < 0 ||
        vpc_apply(h, &v, c1 || c2, hosts, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    vpc_unlock(lock);
    nl_list_free(&others);
    tb_free(&conf);
    return ret;
}

static int linux_remove_subnet(struct cfs_net_host *h, const char *vpc, const char *subnet,
                               struct cfs_err *err)
{
    int ret = -1, lock = -1;
    struct vpc v;
    char path[600];
    bool changed = false;
    if (vpc_names(h, vpc, &v, err) < 0)
        return -1;
    if (!netaddr_uuid_valid(subnet))
        return cfs_err_set(err, EINVAL, "'%.40s' is not a subnet UUID", subnet ? subnet : "");
    if (vpc_lock(h, &v, &lock, err) < 0)
        goto cleanup;
    static const char *const files[][2] = {{"subnets", ".subnet"}, {"subnets", ".conf"},
                                           {"hosts", ""}, {"dhcp", ""}, {"dns", ""}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/%s%s", v.dir, files[i][0], subnet, files[i][1]);
        if (remove_file(path, &changed, err) < 0)
            goto cleanup;
    }
    struct cfs_err e = {0};
    if (changed && vpc_present(&v, &e) == 0 && vpc_apply(h, &v, true, false, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    vpc_unlock(lock);
    return ret;
}

static int linux_set_nics(struct cfs_net_host *h, const char *vpc, const char *subnet,
                          const struct cfs_net_nic *nics, int n, struct cfs_err *err)
{
    int ret = -1, lock = -1;
    struct vpc v;
    struct subnet_state s;
    struct nl_list subnets = {0}, others = {0};
    struct nic_entry *list = NULL;
    struct textbuf text = {0};
    char path[600];
    if (vpc_names(h, vpc, &v, err) < 0)
        return -1;
    if (!netaddr_uuid_valid(subnet))
        return cfs_err_set(err, EINVAL, "'%.40s' is not a subnet UUID", subnet ? subnet : "");
    if (n < 0 || (n > 0 && !(list = calloc((size_t)n, sizeof(*list)))))
        return cfs_err_set(err, n < 0 ? EINVAL : ENOMEM, "bad NIC list");
    if (vpc_lock(h, &v, &lock, err) < 0 || vpc_present(&v, err) < 0)
        goto cleanup;
    if (subnet_read(&v, subnet, &s) < 0) {
        cfs_err_set(err, ENOENT, "subnet %s is not set up on this host", subnet);
        goto cleanup;
    }
    /* What the VPC's other subnets already hold (MACs and names are VPC-wide). */
    if (subnets_read(&v, &subnets, err) < 0)
        goto cleanup;
    for (int i = 0; i < subnets.n; i++) {
        const char *o = NL_AT(&subnets, struct subnet_state, i)->uuid;
        if (strcmp(o, subnet) != 0 && nics_read(&v, o, &others, err) < 0)
            goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        struct nic_entry *x = &list[i];
        if (netaddr_mac_parse(nics[i].mac, x->mac, err) < 0 || netaddr_ipv4_parse(nics[i].ip, &x->ip, err) < 0)
            goto cleanup;
        if (!netaddr_mac_unicast(x->mac)) {
            cfs_err_set(err, EINVAL, "MAC %s is not a unicast address", nics[i].mac);
            goto cleanup;
        }
        if (!netaddr_cidr_host(&s.cidr, x->ip) || x->ip == s.gateway) {
            cfs_err_set(err, EINVAL, "%s is not a free host address of the subnet", nics[i].ip);
            goto cleanup;
        }
        if (nics[i].hostname && nics[i].hostname[0]) {
            if (netaddr_hostname_check(nics[i].hostname, err) < 0)
                goto cleanup;
            snprintf(x->hostname, sizeof(x->hostname), "%s", nics[i].hostname);
        }
        for (int j = 0; j < i + others.n; j++) {
            const struct nic_entry *y = j < i ? &list[j] : NL_AT(&others, struct nic_entry, j - i);
            const char *dup = memcmp(x->mac, y->mac, 6) == 0 ? "MAC"
                              : x->ip == y->ip               ? "address"
                              : x->hostname[0] && strcasecmp(x->hostname, y->hostname) == 0 ? "name"
                                                                                           : NULL;
            if (dup) {
                cfs_err_set(err, EEXIST, "NIC %d: its %s is already used in VPC %s", i, dup, v.uuid);
                goto cleanup;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        char mac[CFS_MAC_LEN], ip[CFS_IPV4_LEN];
        netaddr_mac_format(list[i].mac, mac);
        netaddr_ipv4_format(list[i].ip, ip);
        tb_printf(&text, "%s %s %s\n", mac, ip, list[i].hostname[0] ? list[i].hostname : "-");
    }
    tb_put(&text, "", 0);
    if (text.oom) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    bool changed = false;
    snprintf(path, sizeof(path), "%s/hosts/%s", v.dir, subnet);
    if (write_file(path, text.s, &changed, err) < 0 || nics_derive(&v, &s, &changed, err) < 0 ||
        vpc_apply(h, &v, false, changed, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    vpc_unlock(lock);
    free(list);
    nl_list_free(&subnets);
    nl_list_free(&others);
    tb_free(&text);
    return ret;
}

static int linux_plug(struct cfs_net_host *h, const char *vpc, const char *tap, struct cfs_err *err)
{
    int ret = -1;
    struct vpc v;
    struct nl_list links = {0};
    if (vpc_names(h, vpc, &v, err) < 0)
        return -1;
    size_t n = tap ? strlen(tap) : 0;
    if (n == 0 || n >= NL_IFNAMSIZ ||
        strspn(tap, "abcdefghijklmnopqrstuvwxyz0123456789_.-ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
        return cfs_err_set(err, EINVAL, "bad tap device name");
    if (nl_links(h->netns, &links, err) < 0)
        goto cleanup;
    const struct nl_link *t = nl_link_named(&links, tap);
    const struct nl_link *b = nl_link_named(&links, v.bridge);
    if (!t) {
        ret = 0;
        goto cleanup;
    }
    if (strcmp(t->kind, "tun") != 0) {
        cfs_err_set(err, EINVAL, "%s is not a tap device", tap);
        goto cleanup;
    }
    if (!b || strcmp(b->alias, v.alias) != 0) {
        cfs_err_set(err, ENOENT, "VPC %s has no bridge on this host", v.uuid);
        goto cleanup;
    }
    if (t->master != b->index &&
        run_ip(h, h->netns, err, "link", "set", "dev", tap, "master", v.bridge, END) < 0)
        goto cleanup;
    if (!t->up && run_ip(h, h->netns, err, "link", "set", "dev", tap, "up", END) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    nl_list_free(&links);
    return ret;
}

static int linux_attachment(struct cfs_net_host *h, const char *vpc, struct cfs_net_attach *out,
                            struct cfs_err *err)
{
    struct vpc v;
    if (vpc_names(h, vpc, &v, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    snprintf(out->bridge, sizeof(out->bridge), "%s", v.bridge);
    if (h->uri[0])
        snprintf(out->network, sizeof(out->network), "%s", v.network);
    /* libvirt takes no <mtu> for a network in mode 'bridge': the MTU of a
     * VXLAN VPC goes on each interface, as its bridge has it. */
    struct nl_list links = {0};
    if (nl_links(h->netns, &links, err) < 0)
        return -1;
    const struct nl_link *b = nl_link_named(&links, v.bridge);
    if (b && b->mtu != 1500 && b->mtu >= 576)
        out->mtu = b->mtu;
    nl_list_free(&links);
    return 0;
}

/* ---- listing ---- */

struct lister {
    struct cfs_net_host *h;
    cfs_net_found_cb cb;
    void *arg;
};

/* UUID from 32 hexadecimal digits. */
static bool hex_uuid(const char *hex, char uuid[CFS_UUID_LEN])
{
    if (strlen(hex) != 32)
        return false;
    snprintf(uuid, CFS_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return netaddr_uuid_valid(uuid);
}

static void found_table(const char *name, void *arg)
{
    struct lister *l = arg;
    char uuid[CFS_UUID_LEN], what[96];
    if (strncmp(name, TABLE_PREFIX, strlen(TABLE_PREFIX)) != 0 || !hex_uuid(name + strlen(TABLE_PREFIX), uuid))
        return;
    snprintf(what, sizeof(what), "nftables table netdev %s", name);
    l->cb(CFS_NET_VPC, uuid, NULL, what, l->arg);
}

static int linux_list(struct cfs_net_host *h, cfs_net_found_cb cb, void *arg, struct cfs_err *err)
{
    int ret = -1;
    struct nl_list links = {0};
    struct lister l = {.h = h, .cb = cb, .arg = arg};
    char what[400], prefix[200], uuid[CFS_UUID_LEN];
    DIR *d = NULL;

    /* Router namespaces. */
    if (h->netns[0])
        snprintf(prefix, sizeof(prefix), "%s" NETNS_INFIX, h->netns);
    else
        snprintf(prefix, sizeof(prefix), NETNS_PREFIX);
    if ((d = opendir("/run/netns"))) {
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
                !netaddr_uuid_valid(e->d_name + strlen(prefix)))
                continue;
            snprintf(what, sizeof(what), "network namespace %s", e->d_name);
            cb(CFS_NET_VPC, e->d_name + strlen(prefix), NULL, what, arg);
        }
        closedir(d);
        d = NULL;
    }
    /* Devices carrying a VPC's alias. */
    if (nl_links(h->netns, &links, err) < 0)
        goto cleanup;
    for (int i = 0; i < links.n; i++) {
        const struct nl_link *k = NL_AT(&links, struct nl_link, i);
        if (strncmp(k->alias, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) != 0 ||
            !netaddr_uuid_valid(k->alias + strlen(ALIAS_PREFIX)))
            continue;
        snprintf(what, sizeof(what), "%s %s", k->kind, k->name);
        cb(CFS_NET_VPC, k->alias + strlen(ALIAS_PREFIX), NULL, what, arg);
    }
    if (nl_nft_tables(h->netns, NFPROTO_NETDEV, found_table, &l, err) < 0)
        goto cleanup;
    /* libvirt networks. */
    if (h->uri[0]) {
        virConnectPtr c = lv_conn(h, err);
        if (!c)
            goto cleanup;
        virNetworkPtr *nets = NULL;
        int n = virConnectListAllNetworks(c, &nets, 0);
        if (n < 0) {
            lv_error(err, h->uri);
            virConnectClose(c);
            goto cleanup;
        }
        for (int i = 0; i < n; i++) {
            const char *name = virNetworkGetName(nets[i]);
            if (name && strncmp(name, NETWORK_PREFIX, strlen(NETWORK_PREFIX)) == 0 &&
                netaddr_uuid_valid(name + strlen(NETWORK_PREFIX))) {
                snprintf(what, sizeof(what), "libvirt network %s", name);
                cb(CFS_NET_VPC, name + strlen(NETWORK_PREFIX), NULL, what, arg);
            }
            virNetworkFree(nets[i]);
        }
        free(nets);
        virConnectClose(c);
    }
    /* dnsmasq's files, and the subnets recorded there. */
    if ((d = opendir(h->state))) {
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (!netaddr_uuid_valid(e->d_name))
                continue;
            struct vpc v;
            struct nl_list subnets = {0};
            snprintf(uuid, sizeof(uuid), "%.36s", e->d_name);
            if (vpc_names(h, uuid, &v, err) < 0)
                goto cleanup;
            snprintf(what, sizeof(what), "files %s", v.dir);
            cb(CFS_NET_VPC, uuid, NULL, what, arg);
            struct cfs_err e2 = {0};
            if (subnets_read(&v, &subnets, &e2) == 0) {
                for (int i = 0; i < subnets.n; i++) {
                    const struct subnet_state *s = NL_AT(&subnets, struct subnet_state, i);
                    char cidr[CFS_CIDR_LEN];
                    netaddr_cidr_format(&s->cidr, cidr);
                    snprintf(what, sizeof(what), "subnet %s", cidr);
                    cb(CFS_NET_SUBNET, uuid, s->uuid, what, arg);
                }
            }
            nl_list_free(&subnets);
        }
    }
    ret = 0;
cleanup:
    if (d)
        closedir(d);
    nl_list_free(&links);
    return ret;
}

static int linux_leases(struct cfs_net_host *h, const char *vpc, cfs_net_lease_cb cb, void *arg,
                        struct cfs_err *err)
{
    struct vpc v;
    char path[600];
    if (vpc_names(h, vpc, &v, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/leases", v.dir);
    char *text = read_file(path);
    if (!text)
        return errno == ENOENT ? 0 : cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    /* "EXPIRY MAC IP NAME CLIENT-ID" per line, NAME "*" when none. */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        struct cfs_net_lease l = {0};
        char mac[32], ip[32], name[256];
        unsigned char m[6];
        uint32_t a;
        if (sscanf(line, "%lld %31s %31s %255s", &l.expires, mac, ip, name) != 4 ||
            netaddr_mac_parse(mac, m, NULL) < 0 || netaddr_ipv4_parse(ip, &a, NULL) < 0)
            continue;
        netaddr_mac_format(m, l.mac);
        netaddr_ipv4_format(a, l.ip);
        if (strcmp(name, "*") != 0 && netaddr_hostname_check(name, NULL) == 0)
            snprintf(l.hostname, sizeof(l.hostname), "%.63s", name);
        cb(&l, arg);
    }
    free(text);
    return 0;
}

const struct cfs_network_driver cfs_network_linux = {
    .name = "linux",
    .open = linux_open,
    .close = linux_close,
    .ensure_vpc = linux_ensure_vpc,
    .remove_vpc = linux_remove_vpc,
    .ensure_subnet = linux_ensure_subnet,
    .remove_subnet = linux_remove_subnet,
    .set_nics = linux_set_nics,
    .plug = linux_plug,
    .attachment = linux_attachment,
    .list = linux_list,
    .leases = linux_leases,
};
