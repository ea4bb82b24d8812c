/* secgroup_nft.c: security groups as nftables tables (secgroup_nft.h).
 *
 * WHY nftables tables of cloudfs's own, in the inet family.  libvirt's
 * nwfilter would put a filter on each tap, but it cannot reach a network
 * namespace standing in for a host and rebuilds whole filters through its
 * own daemon.  The bridge family would match each tap directly, but this
 * kernel has no conntrack for bridged frames (nf_conntrack_bridge) and no
 * reject there: stateful rules in the bridge family are refused ("ct state":
 * Protocol error).  What it has is br_netfilter (bridge-nf-call-iptables):
 * bridged IPv4 goes through the inet hooks with conntrack.  There a
 * packet's devices are the bridge, so a NIC is told by bridge and address:
 * to the NIC = "iifname BRIDGE ip daddr ITS-IP", from it = "ip saddr".
 *
 * One table per VPC (cfs_sg_HEX), so that two VPCs, or two cloudfs stores
 * on one machine, never share a table:
 *
 *   chain pre  (prerouting, -300)  the VPC's flows get a conntrack zone of
 *                                  their own (overlapping CIDRs of two VPCs
 *                                  never share a flow)
 *   chain out  (forward, 0)        from a NIC: jump o_NIC (its out rules;
 *                                  nothing matched: allowed)
 *   chain in   (forward, 10)       to a NIC: jump i_NIC: replies of known
 *                                  flows pass, DHCP answers pass, then its
 *                                  in rules, then drop
 *
 * (out and in are two base chains: an accept in out still leaves the
 * receiver's in chain to decide, as between two VMs of one VPC.)  Every
 * table is written as "add; delete; define" inside one nft -f transaction
 * with every other table that changes: the kernel holds the old rules or
 * the new ones, never a half-made set that opens more than the tree says.
 */
#include "secgroup_nft.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

extern char **environ;

/* ---- values ---- */

static int parse_port(const char *s, size_t n, int *out)
{
    int v = 0;
    if (n == 0 || n > 5 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

int sg_parse_ports(const char *s, int *lo, int *hi, struct cfs_err *err)
{
    *lo = *hi = 0;
    if (!s[0])
        return 0;
    const char *dash = strchr(s, '-');
    size_t n1 = dash ? (size_t)(dash - s) : strlen(s);
    if (parse_port(s, n1, lo) < 0 || (dash && parse_port(dash + 1, strlen(dash + 1), hi) < 0))
        return cfs_err_set(err, EINVAL, "ports '%.20s': a port 1..65535 (22) or a range of "
                           "them (8000-8100), or empty for all", s);
    if (!dash)
        *hi = *lo;
    if (*hi < *lo)
        return cfs_err_set(err, EINVAL, "ports '%.20s': the range must ascend (%d-%d)", s, *hi,
                           *lo);
    return 0;
}

int sg_parse_priority(const char *s, int *out, struct cfs_err *err)
{
    static const struct { const char *name; int v; } named[] = {
        {"high", 100}, {"medium", 500}, {"low", 900},
    };
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        if (!strcmp(s, named[i].name)) {
            *out = named[i].v;
            return 0;
        }
    char *end = NULL;
    errno = 0;
    long v = s[0] >= '1' && s[0] <= '9' ? strtol(s, &end, 10) : 0;
    if (errno || !end || *end || v < 1 || v > 1000)
        return cfs_err_set(err, EINVAL, "priority '%.20s': a number 1..1000 (lower first) or "
                           "high, medium, low", s);
    *out = (int)v;
    return 0;
}

int sg_parse_proto(const char *s, enum sg_proto *out, struct cfs_err *err)
{
    static const char *const names[] = {"tcp", "udp", "icmp", "icmpv6", "gre", "all"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i])) {
            *out = (enum sg_proto)i;
            return 0;
        }
    return cfs_err_set(err, EINVAL, "protocol '%.20s': one of tcp, udp, icmp, icmpv6, gre, all",
                       s);
}

int sg_parse_action(const char *s, enum sg_action *out, struct cfs_err *err)
{
    static const char *const names[] = {"accept", "drop", "reject"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i])) {
            *out = (enum sg_action)i;
            return 0;
        }
    return cfs_err_set(err, EINVAL, "action '%.20s': one of accept, drop, reject", s);
}

int sg_parse_remote(const char *s, uint32_t *net, int *prefix, struct cfs_err *err)
{
    const char *slash = strchr(s, '/');
    char addr[CFS_IPV4_LEN];
    uint32_t a;
    struct cfs_cidr c;
    struct cfs_err ignore;
    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return 0;
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
    if (netaddr_ipv4_parse(addr, &a, &ignore) < 0)
        return 0;       /* ZONE/GROUP */
    struct cfs_err why;
    if (netaddr_cidr_parse(s, &c, &why) < 0)
        return cfs_err_set(err, EINVAL, "remote '%.40s': not an IPv4 CIDR (%s)", s, why.msg);
    *net = c.net;
    *prefix = c.prefix;
    return 1;
}

/* ---- the ruleset ---- */

static int rule_cmp(const void *pa, const void *pb)
{
    const struct sg_rule *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    if (a->order != b->order)
        return a->order < b->order ? -1 : 1;
    return strcmp(a->name, b->name);
}

void sg_rules_sort(struct sg_rule *r, int n)
{
    if (n > 1)
        qsort(r, (size_t)n, sizeof(*r), rule_cmp);
}

void sg_vpc_names(const char *uuid, struct sg_vpc *v)
{
    int j = 0;
    snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
    for (int i = 0; uuid[i] && j < 32; i++)
        if (uuid[i] != '-')
            v->hex[j++] = uuid[i];
    v->hex[j] = '\0';
    /* As network_linux.c names the VPC's bridge. */
    snprintf(v->bridge, sizeof(v->bridge), "cfsb%.11s", v->hex);
}

static void put_ip(struct textbuf *b, uint32_t ip)
{
    char s[CFS_IPV4_LEN];
    netaddr_ipv4_format(ip, s);
    tb_puts(b, s);
}

/* One rule as an nft statement, or nothing when it can match nothing (a
 * group remote without members). */
static void put_rule(struct textbuf *b, const struct sg_rule *r)
{
    static const char *const l4[] = {"tcp", "udp", "icmp", "ipv6-icmp", "gre", NULL};
    static const char *const verdict[] = {"accept", "drop", "reject"};
    const char *peer = r->out ? "daddr" : "saddr";
    if (r->group && r->nips == 0)
        return;
    tb_puts(b, "\t\t");
    if (r->group) {
        tb_printf(b, "ip %s { ", peer);
        for (int i = 0; i < r->nips; i++) {
            if (i)
                tb_puts(b, ", ");
            put_ip(b, r->ips[i]);
        }
        tb_puts(b, " } ");
    } else if (r->prefix > 0) {
        tb_printf(b, "ip %s ", peer);
        put_ip(b, r->net);
        tb_printf(b, "/%d ", r->prefix);
    }
    if (l4[r->proto])
        tb_printf(b, "meta l4proto %s ", l4[r->proto]);
    if ((r->proto == SG_TCP || r->proto == SG_UDP) && r->port_lo) {
        if (r->port_hi != r->port_lo)
            tb_printf(b, "th dport %d-%d ", r->port_lo, r->port_hi);
        else
            tb_printf(b, "th dport %d ", r->port_lo);
    }
    if (r->action == SG_REJECT && r->proto == SG_TCP)
        tb_puts(b, "reject with tcp reset\n");
    else
        tb_printf(b, "%s\n", verdict[r->action]);
}

void sg_nft_table(const struct sg_vpc *v, struct textbuf *b)
{
    tb_printf(b, "table inet " SG_TABLE_PREFIX "%s\n", v->hex);
    tb_printf(b, "delete table inet " SG_TABLE_PREFIX "%s\n", v->hex);
    tb_printf(b, "table inet " SG_TABLE_PREFIX "%s {\n", v->hex);
    tb_printf(b, "\tchain pre {\n\t\ttype filter hook prerouting priority -300; policy accept;\n"
              "\t\tiifname \"%s\" ct zone set %u\n\t}\n", v->bridge, v->zone);
    tb_puts(b, "\tchain out {\n\t\ttype filter hook forward priority 0; policy accept;\n");
    for (int i = 0; i < v->nnics; i++) {
        tb_printf(b, "\t\tiifname \"%s\" ip saddr ", v->bridge);
        put_ip(b, v->nics[i].ip);
        tb_printf(b, " jump o_%s\n", v->nics[i].hex);
    }
    tb_puts(b, "\t}\n\tchain in {\n\t\ttype filter hook forward priority 10; policy accept;\n");
    for (int i = 0; i < v->nnics; i++) {
        tb_printf(b, "\t\tiifname \"%s\" ip daddr ", v->bridge);
        put_ip(b, v->nics[i].ip);
        tb_printf(b, " jump i_%s\n", v->nics[i].hex);
    }
    tb_puts(b, "\t}\n");
    for (int i = 0; i < v->nnics; i++) {
        const struct sg_nic *n = &v->nics[i];
        tb_printf(b, "\tchain o_%s {\n\t\tct state established,related accept\n", n->hex);
        for (int j = 0; j < n->nrules; j++)
            if (n->rules[j].out)
                put_rule(b, &n->rules[j]);
        tb_printf(b, "\t}\n\tchain i_%s {\n\t\tct state established,related accept\n"
                  "\t\tct state invalid drop\n"
                  "\t\tudp sport 67 udp dport 68 accept\n", n->hex);
        for (int j = 0; j < n->nrules; j++)
            if (!n->rules[j].out)
                put_rule(b, &n->rules[j]);
        tb_puts(b, "\t\tdrop\n\t}\n");
    }
    tb_puts(b, "}\n");
}

void sg_nft_table_gone(const char *hex, struct textbuf *b)
{
    tb_printf(b, "table inet " SG_TABLE_PREFIX "%s\n", hex);
    tb_printf(b, "delete table inet " SG_TABLE_PREFIX "%s\n", hex);
}

char *sg_nft_table_text(const char *listing, const char *name)
{
    char head[96];
    int n = snprintf(head, sizeof(head), "table inet %s {\n", name);
    for (const char *p = listing; p && *p;) {
        if (!strncmp(p, head, (size_t)n)) {
            const char *end = strstr(p, "\n}\n");
            size_t len = end ? (size_t)(end - p) + 3 : strlen(p);
            char *s = malloc(len + 1);
            if (s) {
                memcpy(s, p, len);
                s[len] = '\0';
            }
            return s;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* ---- running nft ---- */

#define NFT_TIMEOUT_MS 30000

int sg_nft_run(const char *netns, const char *const args[], const char *input, char **out,
               struct cfs_err *err)
{
    const char *argv[16];
    int n = 0, ret = -1;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    bool fa_made = false;
    struct textbuf ob = {0}, eb = {0};
    if (out)
        *out = NULL;
    if (netns && netns[0]) {
        argv[n++] = "ip";
        argv[n++] = "netns";
        argv[n++] = "exec";
        argv[n++] = netns;
    }
    argv[n++] = "nft";
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        cfs_err_set(err, errno, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    fa_made = true;
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    if (rc != 0) {
        pid = -1;
        cfs_err_set(err, rc, "%s: %s", argv[0], strerror(rc));
        goto cleanup;
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    size_t inlen = input ? strlen(input) : 0, sent = 0;
    if (inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd p[3] = {{.fd = pout[0], .events = POLLIN}, {.fd = perr[0], .events = POLLIN},
                              {.fd = pin[1], .events = POLLOUT}};
        int pr = poll(p, 3, 1000);
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 > NFT_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            cfs_err_set(err, ETIMEDOUT, "nft: no answer in %d s", NFT_TIMEOUT_MS / 1000);
            goto cleanup;
        }
        if (pr < 0 && errno != EINTR) {
            cfs_err_set(err, errno, "poll: %s", strerror(errno));
            goto cleanup;
        }
        if (pr <= 0)
            continue;
        if (pin[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], input + sent, inlen - sent);
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 || sent == inlen) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
        for (int i = 0; i < 2; i++) {
            int *fd = i ? &perr[0] : &pout[0];
            if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[8192];
            ssize_t r = read(*fd, buf, sizeof(buf));
            if (r > 0) {
                tb_put(i ? &eb : &ob, buf, (size_t)r);
            } else if (r == 0 || errno != EINTR) {
                close(*fd);
                *fd = -1;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *msg = tb_steal(&eb, NULL);
        /* The first line of nft's complaint is the one that says why. */
        size_t len = msg ? strcspn(msg, "\n") : 0;
        cfs_err_set(err, EIO, "nft %s: %.*s", args[0], (int)(len > 200 ? 200 : len),
                    msg ? msg : "");
        free(msg);
        goto cleanup;
    }
    if (ob.oom || eb.oom) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    if (out) {
        *out = tb_steal(&ob, NULL);
        if (!*out) {
            cfs_err_set(err, ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    if (fa_made)
        posix_spawn_file_actions_destroy(&fa);
    tb_free(&ob);
    tb_free(&eb);
    return ret;
}
