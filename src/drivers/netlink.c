/* netlink.c: read links, addresses, neighbours and nftables chains over
 * netlink, in any network namespace, and make VXLAN devices, change links
 * and bridge forwarding entries (see netlink.h). */
#include "netlink.h"

/* glibc's netinet/in.h first: the kernel headers then skip what it defines. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns"
#define NL_BUF (64 * 1024)
#define NL_TRIES 3          /* a dump the kernel marks interrupted is redone */

void nl_list_free(struct nl_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void *nl_list_add(struct nl_list *l, size_t elem)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        void *v = realloc(l->v, (size_t)cap * elem);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    void *p = (char *)l->v + (size_t)l->n++ * elem;
    memset(p, 0, elem);
    return p;
}

/* ---- namespaces ---- */

static bool netns_name_ok(const char *netns)
{
    size_t n = strlen(netns);
    return n > 0 && n < 200 && !strchr(netns, '/') && strcmp(netns, ".") && strcmp(netns, "..");
}

bool netns_exists(const char *netns, ino_t *ino)
{
    char path[256];
    struct stat sb;
    if (!netns || !netns_name_ok(netns))
        return false;
    snprintf(path, sizeof(path), NETNS_DIR "/%s", netns);
    if (stat(path, &sb) < 0)
        return false;
    if (ino)
        *ino = sb.st_ino;
    return true;
}

struct ns_job {
    const char *netns;
    int (*fn)(void *arg, struct cfs_err *err);
    void *arg;
    int rc;
    struct cfs_err err;
};

static void *ns_thread(void *p)
{
    struct ns_job *job = p;
    char path[256];
    snprintf(path, sizeof(path), NETNS_DIR "/%s", job->netns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        job->rc = cfs_err_set(&job->err, errno == ENOENT ? ENOENT : errno,
                              "network namespace %s: %s", job->netns, strerror(errno));
        return NULL;
    }
    /* Only this thread moves; it ends right after fn. */
    if (setns(fd, CLONE_NEWNET) < 0) {
        job->rc = cfs_err_set(&job->err, errno, "enter network namespace %s: %s", job->netns,
                              strerror(errno));
        close(fd);
        return NULL;
    }
    close(fd);
    job->rc = job->fn(job->arg, &job->err);
    return NULL;
}

int netns_run(const char *netns, int (*fn)(void *arg, struct cfs_err *err), void *arg,
              struct cfs_err *err)
{
    if (!netns || !netns[0])
        return fn(arg, err);
    if (!netns_name_ok(netns))
        return cfs_err_set(err, EINVAL, "bad network namespace name");
    struct ns_job job = {.netns = netns, .fn = fn, .arg = arg, .rc = -1};
    pthread_t t;
    int e = pthread_create(&t, NULL, ns_thread, &job);
    if (e != 0)
        return cfs_err_set(err, e, "thread: %s", strerror(e));
    pthread_join(t, NULL);
    if (job.rc < 0 && err)
        *err = job.err;
    return job.rc;
}

struct sock_job {
    int proto;
    int fd;
};

static int open_socket(void *arg, struct cfs_err *err)
{
    struct sock_job *j = arg;
    j->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, j->proto);
    if (j->fd < 0)
        return cfs_err_set(err, errno, "netlink socket: %s", strerror(errno));
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(j->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cfs_err_set(err, errno, "netlink bind: %s", strerror(errno));
        close(j->fd);
        j->fd = -1;
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

struct nl_req {
    struct nlmsghdr h;
    char body[512];
};

static void req_init(struct nl_req *r, uint16_t type, uint16_t flags, const void *hdr, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_len = NLMSG_LENGTH(len);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = NLM_F_REQUEST | flags;
    memcpy(NLMSG_DATA(&r->h), hdr, len);
}

/* Append a NUL-terminated string attribute; -1 when it does not fit. */
static int req_put_str(struct nl_req *r, uint16_t type, const char *s)
{
    size_t len = strlen(s) + 1;
    size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
    size_t total = RTA_LENGTH(len);
    if (at + RTA_ALIGN(total) > sizeof(*r))
        return -1;
    struct rtattr *a = (struct rtattr *)((char *)r + at);
    a->rta_type = type;
    a->rta_len = (unsigned short)total;
    memcpy(RTA_DATA(a), s, len);
    r->h.nlmsg_len = (uint32_t)(at + RTA_ALIGN(total));
    return 0;
}

/* Append an attribute of len bytes; NULL when it does not fit. */
static struct rtattr *req_put(struct nl_req *r, uint16_t type, const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
    size_t total = RTA_LENGTH(len);
    if (at + RTA_ALIGN(total) > sizeof(*r))
        return NULL;
    struct rtattr *a = (struct rtattr *)((char *)r + at);
    a->rta_type = type;
    a->rta_len = (unsigned short)total;
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = (uint32_t)(at + RTA_ALIGN(total));
    return a;
}

/* A nested attribute: put with no data, then end it after its members. */
static void req_nest_end(struct nl_req *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)r + r->h.nlmsg_len - (char *)nest);
}

typedef int (*nl_msg_cb)(const struct nlmsghdr *nh, void *arg);

/* Send r on a netlink socket of proto in netns and hand every answer to cb
 * until the kernel says done.  ENOENT from the kernel is returned as such
 * (the caller decides whether "missing" is an error). */
static int nl_talk(const char *netns, int proto, struct nl_req *r, nl_msg_cb cb, void *arg,
                   struct cfs_err *err)
{
    int ret = -1;
    struct sock_job sj = {.proto = proto, .fd = -1};
    char *buf = NULL;
    if (netns_run(netns, open_socket, &sj, err) < 0)
        goto cleanup;
    buf = malloc(NL_BUF);
    if (!buf) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    r->h.nlmsg_seq = 1;
    if (send(sj.fd, r, r->h.nlmsg_len, 0) < 0) {
        cfs_err_set(err, errno, "netlink send: %s", strerror(errno));
        goto cleanup;
    }
    for (;;) {
        ssize_t got = recv(sj.fd, buf, NL_BUF, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            cfs_err_set(err, errno, "netlink receive: %s", strerror(errno));
            goto cleanup;
        }
        int len = (int)got;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            if (nh->nlmsg_flags & NLM_F_DUMP_INTR) {
                cfs_err_set(err, EAGAIN, "netlink dump interrupted");
                goto cleanup;
            }
            if (nh->nlmsg_type == NLMSG_DONE) {
                ret = 0;
                goto cleanup;
            }
            if (nh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(nh);
                if (e->error == 0)
                    ret = 0;
                else
                    cfs_err_set(err, -e->error, "netlink: %s", strerror(-e->error));
                goto cleanup;
            }
            if (cb(nh, arg) < 0) {
                cfs_err_set(err, ENOMEM, "out of memory");
                goto cleanup;
            }
        }
        if (!(r->h.nlmsg_flags & NLM_F_DUMP) && !(r->h.nlmsg_flags & NLM_F_ACK)) {
            ret = 0;
            goto cleanup;
        }
    }
cleanup:
    free(buf);
    if (sj.fd >= 0)
        close(sj.fd);
    return ret;
}

/* A dump, redone when the kernel says the set changed while it was read. */
static int nl_dump(const char *netns, int proto, struct nl_req *r, nl_msg_cb cb, void *arg,
                   struct nl_list *reset, struct cfs_err *err)
{
    for (int i = 0;; i++) {
        if (reset)
            reset->n = 0;
        if (nl_talk(netns, proto, r, cb, arg, err) == 0)
            return 0;
        if (!err || err->code != EAGAIN || i + 1 == NL_TRIES)
            return -1;
    }
}

/* ---- attributes ---- */

#define ATTR_TYPE(a) ((a)->rta_type & NLA_TYPE_MASK)

static void attr_str(char *dst, size_t len, const struct rtattr *a)
{
    size_t n = RTA_PAYLOAD(a);
    const char *s = RTA_DATA(a);
    if (n > 0 && s[n - 1] == '\0')
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static uint32_t attr_u32(const struct rtattr *a)
{
    uint32_t v = 0;
    if (RTA_PAYLOAD(a) >= sizeof(v))
        memcpy(&v, RTA_DATA(a), sizeof(v));
    return v;
}

/* ---- links ---- */

static void parse_vxlan(struct nl_link *l, const struct rtattr *data)
{
    int len = (int)RTA_PAYLOAD(data);
    for (const struct rtattr *a = RTA_DATA(data); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (ATTR_TYPE(a)) {
        case IFLA_VXLAN_ID:
            l->vni = attr_u32(a);
            break;
        case IFLA_VXLAN_LOCAL:
            l->vxlan_local = ntohl(attr_u32(a));
            break;
        case IFLA_VXLAN_LINK:
            l->vxlan_link = (int)attr_u32(a);
            break;
        case IFLA_VXLAN_LEARNING:
            l->vxlan_learning = RTA_PAYLOAD(a) >= 1 && *(const uint8_t *)RTA_DATA(a) != 0;
            break;
        case IFLA_VXLAN_PORT:
            if (RTA_PAYLOAD(a) >= 2) {
                uint16_t port;
                memcpy(&port, RTA_DATA(a), 2);
                l->vxlan_port = ntohs(port);
            }
            break;
        default:
            break;
        }
    }
}

static void parse_linkinfo(struct nl_link *l, const struct rtattr *info)
{
    int len = (int)RTA_PAYLOAD(info);
    const struct rtattr *data = NULL;
    for (const struct rtattr *a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (ATTR_TYPE(a) == IFLA_INFO_KIND)
            attr_str(l->kind, sizeof(l->kind), a);
        else if (ATTR_TYPE(a) == IFLA_INFO_DATA)
            data = a;
    }
    if (data && strcmp(l->kind, "vxlan") == 0)
        parse_vxlan(l, data);
}

static int link_msg(const struct nlmsghdr *nh, void *arg)
{
    if (nh->nlmsg_type != RTM_NEWLINK)
        return 0;
    const struct ifinfomsg *ifi = NLMSG_DATA(nh);
    struct nl_link *l = nl_list_add(arg, sizeof(*l));
    if (!l)
        return -1;
    l->index = ifi->ifi_index;
    l->up = (ifi->ifi_flags & IFF_UP) != 0;
    int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
    for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (ATTR_TYPE(a)) {
        case IFLA_IFNAME:
            attr_str(l->name, sizeof(l->name), a);
            break;
        case IFLA_MTU:
            l->mtu = (int)attr_u32(a);
            break;
        case IFLA_MASTER:
            l->master = (int)attr_u32(a);
            break;
        case IFLA_ADDRESS:
            if (RTA_PAYLOAD(a) == 6)
                memcpy(l->mac, RTA_DATA(a), 6);
            break;
        case IFLA_IFALIAS:
            attr_str(l->alias, sizeof(l->alias), a);
            break;
        case IFLA_LINKINFO:
            parse_linkinfo(l, a);
            break;
        default:
            break;
        }
    }
    return 0;
}

int nl_links(const char *netns, struct nl_list *out, struct cfs_err *err)
{
    struct nl_req r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    req_init(&r, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
    return nl_dump(netns, NETLINK_ROUTE, &r, link_msg, out, out, err);
}

const struct nl_link *nl_link_named(const struct nl_list *links, const char *name)
{
    for (int i = 0; i < links->n; i++)
        if (strcmp(NL_AT(links, struct nl_link, i)->name, name) == 0)
            return NL_AT(links, struct nl_link, i);
    return NULL;
}

const struct nl_link *nl_link_index(const struct nl_list *links, int index)
{
    for (int i = 0; i < links->n; i++)
        if (NL_AT(links, struct nl_link, i)->index == index)
            return NL_AT(links, struct nl_link, i);
    return NULL;
}

/* ---- addresses ---- */

static int addr_msg(const struct nlmsghdr *nh, void *arg)
{
    if (nh->nlmsg_type != RTM_NEWADDR)
        return 0;
    const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
    if (ifa->ifa_family != AF_INET)
        return 0;
    uint32_t local = 0, address = 0;
    bool has_local = false, has_address = false;
    int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa)));
    for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (ATTR_TYPE(a) == IFA_LOCAL)
            local = ntohl(attr_u32(a)), has_local = true;
        else if (ATTR_TYPE(a) == IFA_ADDRESS)
            address = ntohl(attr_u32(a)), has_address = true;
    }
    if (!has_local && !has_address)
        return 0;
    struct nl_addr *x = nl_list_add(arg, sizeof(*x));
    if (!x)
        return -1;
    x->index = (int)ifa->ifa_index;
    x->addr = has_local ? local : address;
    x->prefix = ifa->ifa_prefixlen;
    return 0;
}

int nl_addrs(const char *netns, struct nl_list *out, struct cfs_err *err)
{
    struct nl_req r;
    struct ifaddrmsg ifa = {.ifa_family = AF_INET};
    req_init(&r, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
    return nl_dump(netns, NETLINK_ROUTE, &r, addr_msg, out, out, err);
}

/* ---- neighbours and bridge forwarding entries ---- */

static int neigh_msg(const struct nlmsghdr *nh, void *arg)
{
    if (nh->nlmsg_type != RTM_NEWNEIGH)
        return 0;
    const struct ndmsg *nd = NLMSG_DATA(nh);
    struct nl_neigh *x = nl_list_add(arg, sizeof(*x));
    if (!x)
        return -1;
    x->index = nd->ndm_ifindex;
    x->state = nd->ndm_state;
    x->flags = nd->ndm_flags;
    int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
    for (const struct rtattr *a = (const struct rtattr *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd)));
         RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (ATTR_TYPE(a)) {
        case NDA_DST:
            if (RTA_PAYLOAD(a) == 4) {
                x->dst = ntohl(attr_u32(a));
                x->has_dst = true;
            }
            break;
        case NDA_LLADDR:
            if (RTA_PAYLOAD(a) == 6) {
                memcpy(x->mac, RTA_DATA(a), 6);
                x->has_mac = true;
            }
            break;
        case NDA_MASTER:
            x->master = (int)attr_u32(a);
            break;
        default:
            break;
        }
    }
    return 0;
}

int nl_neighs(const char *netns, int family, struct nl_list *out, struct cfs_err *err)
{
    struct nl_req r;
    struct ndmsg nd = {.ndm_family = (unsigned char)family};
    req_init(&r, RTM_GETNEIGH, NLM_F_DUMP, &nd, sizeof(nd));
    return nl_dump(netns, NETLINK_ROUTE, &r, neigh_msg, out, out, err);
}

/* ---- nftables ---- */

static void nft_req(struct nl_req *r, int msg, uint16_t flags, int family)
{
    struct nfgenmsg g = {.nfgen_family = (uint8_t)family, .version = NFNETLINK_V0};
    req_init(r, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | msg), flags, &g, sizeof(g));
}

static const struct rtattr *nft_attrs(const struct nlmsghdr *nh, int *len)
{
    *len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg)));
    return (const struct rtattr *)((const char *)NLMSG_DATA(nh) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
}

static void parse_hook(struct nl_chain *c, const struct rtattr *hook)
{
    int len = (int)RTA_PAYLOAD(hook);
    for (const struct rtattr *a = RTA_DATA(hook); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (ATTR_TYPE(a) == NFTA_HOOK_HOOKNUM) {
            c->hook = (int)ntohl(attr_u32(a));
        } else if (ATTR_TYPE(a) == NFTA_HOOK_DEV) {
            attr_str(c->device, sizeof(c->device), a);
        } else if (ATTR_TYPE(a) == NFTA_HOOK_DEVS) {
            /* A list of devices: cloudfs's chains hook exactly one. */
            int dlen = (int)RTA_PAYLOAD(a);
            for (const struct rtattr *d = RTA_DATA(a); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen))
                if (ATTR_TYPE(d) == NFTA_DEVICE_NAME && !c->device[0])
                    attr_str(c->device, sizeof(c->device), d);
        }
    }
}

static int chain_msg(const struct nlmsghdr *nh, void *arg)
{
    struct nl_chain *c = arg;
    if ((nh->nlmsg_type & 0xff) != NFT_MSG_NEWCHAIN)
        return 0;
    c->exists = true;
    int len;
    for (const struct rtattr *a = nft_attrs(nh, &len); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (ATTR_TYPE(a) == NFTA_CHAIN_HOOK)
            parse_hook(c, a);
        else if (ATTR_TYPE(a) == NFTA_CHAIN_POLICY)
            c->policy = (int)ntohl(attr_u32(a));
    }
    return 0;
}

int nl_nft_chain(const char *netns, int family, const char *table, const char *chain,
                 struct nl_chain *out, struct cfs_err *err)
{
    struct nl_req r;
    memset(out, 0, sizeof(*out));
    out->hook = out->policy = -1;
    nft_req(&r, NFT_MSG_GETCHAIN, NLM_F_ACK, family);
    if (req_put_str(&r, NFTA_CHAIN_TABLE, table) < 0 || req_put_str(&r, NFTA_CHAIN_NAME, chain) < 0)
        return cfs_err_set(err, ENAMETOOLONG, "nftables name too long");
    struct cfs_err e = {0};
    if (nl_talk(netns, NETLINK_NETFILTER, &r, chain_msg, out, &e) < 0) {
        if (e.code == ENOENT) {
            memset(out, 0, sizeof(*out));
            return 0;
        }
        if (err)
            *err = e;
        return -1;
    }
    return 0;
}

struct table_walk {
    void (*cb)(const char *name, void *arg);
    void *arg;
};

static int table_msg(const struct nlmsghdr *nh, void *arg)
{
    struct table_walk *w = arg;
    if ((nh->nlmsg_type & 0xff) != NFT_MSG_NEWTABLE)
        return 0;
    int len;
    for (const struct rtattr *a = nft_attrs(nh, &len); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (ATTR_TYPE(a) == NFTA_TABLE_NAME) {
            char name[256];
            attr_str(name, sizeof(name), a);
            w->cb(name, w->arg);
        }
    }
    return 0;
}

int nl_nft_tables(const char *netns, int family, void (*cb)(const char *name, void *arg),
                  void *arg, struct cfs_err *err)
{
    struct nl_req r;
    struct table_walk w = {.cb = cb, .arg = arg};
    nft_req(&r, NFT_MSG_GETTABLE, NLM_F_DUMP, family);
    return nl_talk(netns, NETLINK_NETFILTER, &r, table_msg, &w, err);
}

/* ---- changes ---- */

static int ack_msg(const struct nlmsghdr *nh, void *arg)
{
    (void)nh;
    (void)arg;
    return 0;
}

/* Send a change and wait for the kernel's answer; err says what. */
static int nl_change(const char *netns, struct nl_req *r, const char *what, struct cfs_err *err)
{
    r->h.nlmsg_flags |= NLM_F_ACK;
    if (nl_talk(netns, NETLINK_ROUTE, r, ack_msg, NULL, err) == 0)
        return 0;
    if (err)
        return cfs_err_set(err, err->code, "%s: %s", what, strerror(err->code));
    return -1;
}

int nl_link_change(const char *netns, const struct nl_link_req *q, struct cfs_err *err)
{
    struct nl_req r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = q->index};
    char what[64];
    bool ok = true;
    if (q->up) {
        ifi.ifi_flags = IFF_UP;
        ifi.ifi_change = IFF_UP;
    }
    if (q->vxlan)
        req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    else
        req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    snprintf(what, sizeof(what), "%s %s", q->vxlan ? "make VXLAN device" : "change device",
             q->name ? q->name : "?");
    if (q->name && !q->index)
        ok = ok && req_put_str(&r, IFLA_IFNAME, q->name) == 0;
    if (q->alias)
        ok = ok && req_put(&r, IFLA_IFALIAS, q->alias, strlen(q->alias)) != NULL;
    if (q->mtu > 0) {
        uint32_t mtu = (uint32_t)q->mtu;
        ok = ok && req_put(&r, IFLA_MTU, &mtu, sizeof(mtu)) != NULL;
    }
    if (q->master > 0) {
        uint32_t master = (uint32_t)q->master;
        ok = ok && req_put(&r, IFLA_MASTER, &master, sizeof(master)) != NULL;
    }
    if (ok && q->addrgen_none) {
        struct rtattr *spec = req_put(&r, IFLA_AF_SPEC, NULL, 0);
        struct rtattr *in6 = spec ? req_put(&r, AF_INET6, NULL, 0) : NULL;
        uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
        ok = in6 && req_put(&r, IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
        if (ok) {
            req_nest_end(&r, in6);
            req_nest_end(&r, spec);
        }
    }
    if (ok && q->vxlan) {
        const struct nl_vxlan *x = q->vxlan;
        struct rtattr *info = req_put(&r, IFLA_LINKINFO, NULL, 0);
        ok = info && req_put_str(&r, IFLA_INFO_KIND, "vxlan") == 0;
        struct rtattr *data = ok ? req_put(&r, IFLA_INFO_DATA, NULL, 0) : NULL;
        uint32_t vni = x->vni, local = htonl(x->local), link = (uint32_t)x->link;
        uint16_t port = htons(x->port);
        uint8_t learning = x->learning ? 1 : 0;
        ok = data && req_put(&r, IFLA_VXLAN_ID, &vni, 4) && req_put(&r, IFLA_VXLAN_LOCAL, &local, 4) &&
             req_put(&r, IFLA_VXLAN_PORT, &port, 2) &&
             req_put(&r, IFLA_VXLAN_LEARNING, &learning, 1) &&
             (!x->link || req_put(&r, IFLA_VXLAN_LINK, &link, 4));
        if (ok) {
            req_nest_end(&r, data);
            req_nest_end(&r, info);
        }
    }
    if (!ok)
        return cfs_err_set(err, ENAMETOOLONG, "%s: request too long", what);
    return nl_change(netns, &r, what, err);
}

int nl_link_del(const char *netns, int index, struct cfs_err *err)
{
    struct nl_req r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index};
    char what[48];
    snprintf(what, sizeof(what), "remove device %d", index);
    req_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    return nl_change(netns, &r, what, err);
}

int nl_fdb_dst(const char *netns, bool add, int index, const unsigned char mac[6], uint32_t dst,
               struct cfs_err *err)
{
    struct nl_req r;
    struct ndmsg nd = {.ndm_family = AF_BRIDGE, .ndm_ifindex = index,
                       .ndm_state = NUD_PERMANENT, .ndm_flags = NTF_SELF};
    uint32_t be = htonl(dst);
    char what[64];
    struct in_addr in = {.s_addr = be};
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in, a, sizeof(a));
    snprintf(what, sizeof(what), "%s forwarding entry to %s", add ? "add" : "remove", a);
    if (add)
        req_init(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, &nd, sizeof(nd));
    else
        req_init(&r, RTM_DELNEIGH, 0, &nd, sizeof(nd));
    if (!req_put(&r, NDA_LLADDR, mac, 6) || !req_put(&r, NDA_DST, &be, 4))
        return cfs_err_set(err, ENAMETOOLONG, "%s: request too long", what);
    return nl_change(netns, &r, what, err);
}
