/* domain_xml.c: building and reading libvirt's domain XML (see domain_xml.h). */
#include "domain_xml.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nic_xml.h"

static bool is_set(const char *s)
{
    return s && s[0];
}

/* <disk> of a volume: a qcow2 file or an RBD image over the network. */
void domain_xml_disk(struct xbuf *b, const struct cfs_disk *d)
{
    const struct cfs_disk_source *src = d->src;
    bool root = !strncmp(d->target, "vd", 2);
    xbuf_raw(b, src->network ? "    <disk type='network' device='disk'>\n"
                             : "    <disk type='file' device='disk'>\n");
    xbuf_raw(b, "      <driver name='qemu' type='");
    xbuf_text(b, src->format);
    xbuf_raw(b, "' discard='unmap'/>\n");
    if (src->network) {
        xbuf_raw(b, "      <source protocol='rbd' name='");
        xbuf_text(b, src->path);
        xbuf_raw(b, "'>\n");
        for (int i = 0; i < src->nhosts; i++) {
            char name[64];
            snprintf(name, sizeof(name), "%s", src->hosts[i]);
            char *colon = strrchr(name, ':');
            const char *port = "6789";
            if (colon) {
                *colon = '\0';
                port = colon + 1;
            }
            xbuf_raw(b, "        <host name='");
            xbuf_text(b, name);
            xbuf_raw(b, "' port='");
            xbuf_text(b, port);
            xbuf_raw(b, "'/>\n");
        }
        if (is_set(src->conf)) {
            xbuf_raw(b, "        <config file='");
            xbuf_text(b, src->conf);
            xbuf_raw(b, "'/>\n");
        }
        xbuf_raw(b, "      </source>\n");
    } else {
        xbuf_raw(b, "      <source file='");
        xbuf_text(b, src->path);
        xbuf_raw(b, "'/>\n");
    }
    xbuf_raw(b, "      <target dev='");
    xbuf_text(b, d->target);
    xbuf_raw(b, root ? "' bus='virtio'/>\n" : "' bus='scsi'/>\n");
    xbuf_raw(b, "      ");
    xbuf_elem(b, "serial", d->serial);
    xbuf_raw(b, "\n    </disk>\n");
}

/* The VNC console on 127.0.0.1 with its password (none when NULL or ""),
 * which expires at valid_to (seconds since the epoch, UTC; 0: never). */
void domain_xml_graphics(struct xbuf *b, const char *password, long long valid_to,
                         const char *indent)
{
    xbuf_raw(b, indent);
    xbuf_raw(b, "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'");
    if (is_set(password)) {
        xbuf_raw(b, " passwd='");
        xbuf_text(b, password);
        xbuf_raw(b, "'");
        time_t t = (time_t)valid_to;
        struct tm tm;
        char when[32];
        if (valid_to > 0 && gmtime_r(&t, &tm) &&
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) > 0) {
            xbuf_raw(b, " passwdValidTo='");
            xbuf_text(b, when);
            xbuf_raw(b, "'");
        }
    }
    xbuf_raw(b, "><listen type='address' address='127.0.0.1'/></graphics>\n");
}

/* The CD-ROM drive (sda, on the first SATA controller), with iso in it or
 * empty. */
void domain_xml_cdrom(struct xbuf *b, const char *iso, const char *indent)
{
    xbuf_raw(b, indent);
    xbuf_raw(b, "<disk type='file' device='cdrom'>\n");
    xbuf_raw(b, indent);
    xbuf_raw(b, "  <driver name='qemu' type='raw'/>\n");
    if (is_set(iso)) {
        xbuf_raw(b, indent);
        xbuf_raw(b, "  <source file='");
        xbuf_text(b, iso);
        xbuf_raw(b, "'/>\n");
    }
    xbuf_raw(b, indent);
    xbuf_raw(b, "  <target dev='sda' bus='sata'/>\n");
    xbuf_raw(b, indent);
    xbuf_raw(b, "  <readonly/>\n");
    xbuf_raw(b, indent);
    xbuf_raw(b, "  <address type='drive' controller='0' bus='0' target='0' unit='0'/>\n");
    xbuf_raw(b, indent);
    xbuf_raw(b, "</disk>\n");
}

/* Every value from the spec goes through xbuf_text/xbuf_elem; only fixed
 * markup and numbers are raw. */
char *domain_xml_build(const struct cfs_domain_spec *s, const char *name, const char *title,
                       long long max_mem, int max_vcpus)
{
    struct xbuf b = {0};
    bool test = !strcmp(s->type, "test");

    xbuf_raw(&b, "<domain type='");
    xbuf_text(&b, s->type);
    xbuf_raw(&b, "'>\n  ");
    xbuf_elem(&b, "name", name);
    xbuf_raw(&b, "\n  ");
    xbuf_elem(&b, "uuid", s->uuid);
    xbuf_raw(&b, "\n");
    if (is_set(title)) {
        xbuf_raw(&b, "  ");
        xbuf_elem(&b, "title", title);
        xbuf_raw(&b, "\n");
    }
    if (is_set(s->description)) {
        xbuf_raw(&b, "  ");
        xbuf_elem(&b, "description", s->description);
        xbuf_raw(&b, "\n");
    }
    xbuf_rawf(&b, "  <memory unit='KiB'>%lld</memory>\n", max_mem);
    xbuf_rawf(&b, "  <currentMemory unit='KiB'>%lld</currentMemory>\n", s->memory_kib);
    xbuf_rawf(&b, "  <vcpu placement='static' current='%d'>%d</vcpu>\n", s->vcpus, max_vcpus);

    xbuf_raw(&b, "  <os>\n    <type");
    /* The test driver only knows its own (i686) guest arch. */
    if (!test && is_set(s->arch)) {
        xbuf_raw(&b, " arch='");
        xbuf_text(&b, s->arch);
        xbuf_raw(&b, "'");
    }
    xbuf_raw(&b, ">hvm</type>\n");
    if (is_set(s->kernel)) {
        xbuf_raw(&b, "    ");
        xbuf_elem(&b, "kernel", s->kernel);
        xbuf_raw(&b, "\n");
        if (is_set(s->initrd)) {
            xbuf_raw(&b, "    ");
            xbuf_elem(&b, "initrd", s->initrd);
            xbuf_raw(&b, "\n");
        }
        if (is_set(s->cmdline)) {
            xbuf_raw(&b, "    ");
            xbuf_elem(&b, "cmdline", s->cmdline);
            xbuf_raw(&b, "\n");
        }
    } else if (is_set(s->boot)) {
        /* "hd", "cdrom", "hd,cdrom" or "cdrom,hd", checked by the caller. */
        if (!strncmp(s->boot, "cdrom", 5))
            xbuf_raw(&b, "    <boot dev='cdrom'/>\n");
        if (strstr(s->boot, "hd"))
            xbuf_raw(&b, "    <boot dev='hd'/>\n");
        if (!strcmp(s->boot, "hd,cdrom"))
            xbuf_raw(&b, "    <boot dev='cdrom'/>\n");
    } else {
        if (is_set(s->cdrom))
            xbuf_raw(&b, "    <boot dev='cdrom'/>\n");
        xbuf_raw(&b, "    <boot dev='hd'/>\n");
    }
    xbuf_raw(&b, "  </os>\n");
    /* Only enlightenments that are CPUID bits: vapic needs MSRs that nested
     * KVM (these test machines) refuses, so it is left out. */
    if (!test && s->windows)
        xbuf_raw(&b, "  <features><acpi/><apic/><hyperv mode='custom'><relaxed state='on'/>"
                     "<spinlocks state='on' retries='8191'/></hyperv>"
                     "</features>\n  <clock offset='localtime'/>\n");
    else if (!test)
        xbuf_raw(&b, "  <features><acpi/><apic/></features>\n");
    if (!test && is_set(s->cpu_mode)) {
        xbuf_raw(&b, "  <cpu mode='");
        xbuf_text(&b, s->cpu_mode);
        xbuf_raw(&b, s->cpu_no_arch_caps
                         ? "'><feature policy='disable' name='arch-capabilities'/></cpu>\n"
                         : "'/>\n");
    }
    xbuf_raw(&b, "  <on_poweroff>destroy</on_poweroff>\n"
                 "  <on_reboot>restart</on_reboot>\n"
                 "  <on_crash>destroy</on_crash>\n");
    if (!test) {
        xbuf_raw(&b, "  <devices>\n");
        domain_xml_graphics(&b, s->vnc_password, s->vnc_valid_to, "    ");
        xbuf_raw(&b, "    <controller type='scsi' index='0' model='virtio-scsi'/>\n");
        for (int i = 0; i < s->ndisks; i++)
            domain_xml_disk(&b, &s->disks[i]);
        for (int i = 0; i < s->nnics; i++) {
            struct cfs_err ignore;  /* checked by libvirt_define */
            if (nic_xml_interface(&b, &s->nics[i], &ignore) < 0)
                b.failed = 1;
        }
        /* The CD-ROM drive is always there, empty or not: an ISO can be
         * inserted into a running domain only into a drive it has. */
        domain_xml_cdrom(&b, s->cdrom, "    ");
        if (is_set(s->seed)) {
            xbuf_raw(&b, "    <disk type='file' device='cdrom'>\n"
                         "      <driver name='qemu' type='raw'/>\n      <source file='");
            xbuf_text(&b, s->seed);
            /* On the first controller beside the CD-ROM: by its name alone
             * libvirt would add controllers up to the 26th unit. */
            xbuf_raw(&b, "'/>\n      <target dev='sdz' bus='sata'/>\n      <readonly/>\n"
                         "      <address type='drive' controller='0' bus='0' target='0' unit='1'/>\n"
                         "    </disk>\n");
        }
        /* The guest agent's channel: libvirt picks the socket, and reports
         * the agent's connection as the channel's state. */
        xbuf_raw(&b, "    <channel type='unix'><target type='virtio' "
                     "name='org.qemu.guest_agent.0'/></channel>\n");
        if (is_set(s->console_path)) {
            xbuf_raw(&b, "    <serial type='file'><source path='");
            xbuf_text(&b, s->console_path);
            xbuf_raw(&b, "' append='on'/><target port='0'/></serial>\n"
                         "    <console type='file'><source path='");
            xbuf_text(&b, s->console_path);
            xbuf_raw(&b, "'/><target type='serial' port='0'/></console>\n");
        }
        xbuf_raw(&b, "    <memballoon model='virtio'/>\n  </devices>\n");
    }
    xbuf_raw(&b, "</domain>\n");
    return xbuf_steal(&b);
}

/* ---- reading ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 must be initialised once before threads use it. */
static void xml_init(void)
{
    xmlInitParser();
}

static xmlDocPtr parse(const char *xml)
{
    pthread_once(&xml_once, xml_init);
    if (!xml)
        return NULL;
    return xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The nodes an XPath expression selects under node (or the document);
 * NULL when none.  Free with xmlXPathFreeObject. */
static xmlXPathObjectPtr select_nodes(xmlDocPtr doc, xmlNodePtr node, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr obj = NULL;
    if (!ctx)
        return NULL;
    if (node)
        ctx->node = node;
    obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    xmlXPathFreeContext(ctx);
    if (obj && (obj->type != XPATH_NODESET || !obj->nodesetval || obj->nodesetval->nodeNr == 0)) {
        xmlXPathFreeObject(obj);
        obj = NULL;
    }
    return obj;
}

/* Copy the text of the first node expr selects into dst; false when none. */
static bool text_of(xmlDocPtr doc, xmlNodePtr node, const char *expr, char *dst, size_t size)
{
    xmlXPathObjectPtr obj = select_nodes(doc, node, expr);
    xmlChar *v = obj ? xmlNodeGetContent(obj->nodesetval->nodeTab[0]) : NULL;
    bool found = v != NULL;
    if (v)
        snprintf(dst, size, "%s", (const char *)v);
    xmlFree(v);
    xmlXPathFreeObject(obj);
    return found;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "ARCH VENDOR MODEL HASH" of the host CPU libvirt describes (- for what
 * it does not say): HASH is FNV-1a of the sorted feature names, so two
 * hosts have the same signature only when libvirt sees the same CPU. */
static void cpu_signature(xmlDocPtr doc, struct cfs_host_info *out)
{
    static const char *const exprs[] = {"/capabilities/host/cpu/feature/@name",
                                        "/capabilities/host/cpu/features/*"};
    xmlChar **names = NULL;
    size_t n = 0, cap = 0;
    uint32_t hash = 2166136261u;
    for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
        xmlXPathObjectPtr obj = select_nodes(doc, NULL, exprs[e]);
        for (int i = 0; obj && i < obj->nodesetval->nodeNr; i++) {
            xmlNodePtr node = obj->nodesetval->nodeTab[i];
            xmlChar *v = node->type == XML_ELEMENT_NODE ? xmlStrdup(node->name)
                                                         : xmlNodeGetContent(node);
            if (!v)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                xmlChar **grown = realloc(names, ncap * sizeof(*grown));
                if (!grown) {
                    xmlFree(v);
                    break;
                }
                names = grown;
                cap = ncap;
            }
            names[n++] = v;
        }
        xmlXPathFreeObject(obj);
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        for (const xmlChar *c = names[i]; *c; c++)
            hash = (hash ^ *c) * 16777619u;
        hash = (hash ^ '\n') * 16777619u;
        xmlFree(names[i]);
    }
    free(names);
    snprintf(out->cpu_sig, sizeof(out->cpu_sig), "%s %s %s %08x", out->arch[0] ? out->arch : "-",
             out->cpu_vendor[0] ? out->cpu_vendor : "-", out->cpu_model[0] ? out->cpu_model : "-",
             hash);
}

void domain_xml_caps(const char *caps, struct cfs_host_info *out)
{
    xmlDocPtr doc = parse(caps);
    if (!doc)
        return;
    text_of(doc, NULL, "/capabilities/host/cpu/arch", out->arch, sizeof(out->arch));
    text_of(doc, NULL, "/capabilities/host/cpu/model", out->cpu_model, sizeof(out->cpu_model));
    text_of(doc, NULL, "/capabilities/host/cpu/vendor", out->cpu_vendor, sizeof(out->cpu_vendor));
    cpu_signature(doc, out);
    static const char *const best[] = {"kvm", "qemu"};
    bool found = false;
    for (size_t i = 0; i < sizeof(best) / sizeof(best[0]) && !found; i++) {
        char expr[96], type[16];
        snprintf(expr, sizeof(expr), "/capabilities/guest/arch/domain[@type='%s']/@type", best[i]);
        if ((found = text_of(doc, NULL, expr, type, sizeof(type))))
            snprintf(out->domain_type, sizeof(out->domain_type), "%s", type);
    }
    if (!found)
        text_of(doc, NULL, "/capabilities/guest/arch/domain/@type", out->domain_type,
                sizeof(out->domain_type));
    xmlFreeDoc(doc);
}

void domain_xml_live(const char *xml, struct cfs_domain_info *out)
{
    char port[16], state[32];
    out->vnc_port = -1;
    out->vnc_listen[0] = '\0';
    out->agent = CFS_AGENT_NONE;
    xmlDocPtr doc = parse(xml);
    if (!doc)
        return;
    if (text_of(doc, NULL, "/domain/devices/graphics[@type='vnc']/@port", port, sizeof(port)))
        out->vnc_port = atoi(port);
    text_of(doc, NULL, "/domain/devices/graphics[@type='vnc']/@listen", out->vnc_listen,
            sizeof(out->vnc_listen));
    /* The agent channel's <target> carries state='connected' or
     * 'disconnected' while the domain runs. */
    xmlXPathObjectPtr agent =
        select_nodes(doc, NULL, "/domain/devices/channel/target[@name='org.qemu.guest_agent.0']");
    if (agent) {
        out->agent = text_of(doc, agent->nodesetval->nodeTab[0], "@state", state, sizeof(state)) &&
                             !strcmp(state, "connected")
                         ? CFS_AGENT_CONNECTED
                         : CFS_AGENT_DISCONNECTED;
        xmlXPathFreeObject(agent);
    }
    xmlFreeDoc(doc);
}

long long domain_xml_current_memory_kib(const char *xml)
{
    char v[32], unit[16] = "KiB";
    long long kib = 0;
    xmlDocPtr doc = parse(xml);
    if (!doc)
        return 0;
    if (text_of(doc, NULL, "/domain/currentMemory", v, sizeof(v))) {
        text_of(doc, NULL, "/domain/currentMemory/@unit", unit, sizeof(unit));
        kib = atoll(v);
        if (!strcmp(unit, "b") || !strcmp(unit, "bytes"))
            kib /= 1024;
        else if (!strcmp(unit, "MiB") || !strcmp(unit, "M"))
            kib *= 1024;
        else if (!strcmp(unit, "GiB") || !strcmp(unit, "G"))
            kib *= 1024 * 1024;
    }
    xmlFreeDoc(doc);
    return kib > 0 ? kib : 0;
}

void domain_xml_disks(const char *xml, cfs_disk_list_cb cb, void *arg)
{
    xmlDocPtr doc = parse(xml);
    if (!doc)
        return;
    xmlXPathObjectPtr disks = select_nodes(doc, NULL, "/domain/devices/disk");
    for (int i = 0; disks && i < disks->nodesetval->nodeNr; i++) {
        xmlNodePtr d = disks->nodesetval->nodeTab[i];
        char serial[64], target[32];
        if (text_of(doc, d, "serial", serial, sizeof(serial)) &&
            text_of(doc, d, "target/@dev", target, sizeof(target)) && serial[0] && target[0])
            cb(serial, target, arg);
    }
    xmlXPathFreeObject(disks);
    xmlFreeDoc(doc);
}

bool domain_xml_has_mac(const char *xml, const char *mac)
{
    bool found = false;
    xmlDocPtr doc = parse(xml);
    if (!doc)
        return false;
    xmlXPathObjectPtr macs = select_nodes(doc, NULL, "/domain/devices/interface/mac/@address");
    for (int i = 0; macs && i < macs->nodesetval->nodeNr && !found; i++) {
        xmlChar *v = xmlNodeGetContent(macs->nodesetval->nodeTab[i]);
        found = v && !strcasecmp((const char *)v, mac);
        xmlFree(v);
    }
    xmlXPathFreeObject(macs);
    xmlFreeDoc(doc);
    return found;
}
