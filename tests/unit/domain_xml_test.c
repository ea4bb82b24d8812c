/* domain_xml_test.c: the readers of libvirt's XML (src/drivers/domain_xml.c)
 * on documents shaped as libvirt writes them and as it may (double quotes,
 * other attribute orders, look-alike names), and a build-then-read round
 * trip with values that need escaping.  Prints one line per failure; exits
 * 0 only when every case holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "storage.h"

static int failed, checked;

static void expect(int ok, const char *what)
{
    checked++;
    if (!ok) {
        failed++;
        printf("FAIL %s\n", what);
    }
}

struct seen {
    char text[256];
};

static void disk_cb(const char *serial, const char *target, void *arg)
{
    struct seen *s = arg;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "%s=%s;", serial, target);
}

int main(void)
{
    struct cfs_host_info hi;
    memset(&hi, 0, sizeof(hi));
    domain_xml_caps("<capabilities><host><uuid>u</uuid><cpu><arch>x86_64</arch>"
                    "<model>EPYC-Rome</model><vendor>AMD</vendor></cpu>"
                    "<secmodel><model>apparmor</model></secmodel></host>"
                    "<guest><arch name='x86_64'><domain type=\"qemu\"/><domain type='kvm'/>"
                    "</arch></guest></capabilities>", &hi);
    expect(!strcmp(hi.arch, "x86_64"), "caps arch");
    expect(!strcmp(hi.cpu_model, "EPYC-Rome"), "caps model (not secmodel's)");
    expect(!strcmp(hi.cpu_vendor, "AMD"), "caps vendor");
    expect(!strcmp(hi.domain_type, "kvm"), "caps prefers kvm");
    /* The CPU signature: arch, vendor, model and a hash of the features,
     * in any order; one feature more or another model is another CPU. */
    struct cfs_host_info c1, c2, c3, c4;
    memset(&c1, 0, sizeof(c1));
    memset(&c2, 0, sizeof(c2));
    memset(&c3, 0, sizeof(c3));
    memset(&c4, 0, sizeof(c4));
    domain_xml_caps("<capabilities><host><cpu><arch>x86_64</arch><model>EPYC-Rome</model>"
                    "<vendor>AMD</vendor><feature name='x2apic'/><feature name='svm'/></cpu>"
                    "</host></capabilities>", &c1);
    domain_xml_caps("<capabilities><host><cpu><arch>x86_64</arch><model>EPYC-Rome</model>"
                    "<vendor>AMD</vendor><feature name='svm'/><feature name='x2apic'/></cpu>"
                    "</host></capabilities>", &c2);
    domain_xml_caps("<capabilities><host><cpu><arch>x86_64</arch><model>EPYC-Rome</model>"
                    "<vendor>AMD</vendor><feature name='svm'/><feature name='x2apic'/>"
                    "<feature name='avx512f'/></cpu></host></capabilities>", &c3);
    domain_xml_caps("<capabilities><host><cpu><arch>x86_64</arch><model>EPYC-Milan</model>"
                    "<vendor>AMD</vendor><feature name='svm'/><feature name='x2apic'/></cpu>"
                    "</host></capabilities>", &c4);
    expect(!strncmp(c1.cpu_sig, "x86_64 AMD EPYC-Rome ", 21) && strlen(c1.cpu_sig) == 29,
           "cpu signature: arch vendor model hash");
    expect(!strcmp(c1.cpu_sig, c2.cpu_sig), "cpu signature: feature order does not matter");
    expect(strcmp(c1.cpu_sig, c3.cpu_sig), "cpu signature: one feature more differs");
    expect(strcmp(c1.cpu_sig, c4.cpu_sig), "cpu signature: another model differs");
    memset(&c1, 0, sizeof(c1));
    domain_xml_caps("<capabilities><host><cpu><arch>i686</arch><features><pae/><nonpae/>"
                    "</features></cpu></host></capabilities>", &c1);
    memset(&c2, 0, sizeof(c2));
    domain_xml_caps("<capabilities><host><cpu><arch>i686</arch><features><pae/></features>"
                    "</cpu></host></capabilities>", &c2);
    expect(!strncmp(c1.cpu_sig, "i686 - - ", 9), "cpu signature: - for what libvirt does not say");
    expect(strcmp(c1.cpu_sig, c2.cpu_sig), "cpu signature: the <features> flags count too");
    memset(&hi, 0, sizeof(hi));
    domain_xml_caps("<capabilities><guest><arch><domain type='test'/></arch></guest>"
                    "</capabilities>", &hi);
    expect(!strcmp(hi.domain_type, "test"), "caps falls back to the first type");
    memset(&hi, 0, sizeof(hi));
    domain_xml_caps("<capabilities><host><cpu><arch>x86", &hi);
    expect(hi.arch[0] == '\0' && hi.domain_type[0] == '\0', "caps: broken XML reads as absent");

    struct cfs_domain_info di;
    memset(&di, 0, sizeof(di));
    domain_xml_live("<domain><devices><graphics autoport=\"yes\" type=\"vnc\" port=\"5901\" "
                    "listen=\"127.0.0.1\"/><channel type='unix'><target type='virtio' "
                    "name='org.qemu.guest_agent.0' state='connected'/></channel></devices>"
                    "</domain>", &di);
    expect(di.vnc_port == 5901, "vnc port beside autoport");
    expect(!strcmp(di.vnc_listen, "127.0.0.1"), "vnc listen");
    expect(di.agent == CFS_AGENT_CONNECTED, "agent connected");
    domain_xml_live("<domain><devices><graphics type='spice' port='5902'/><channel><target "
                    "name='org.qemu.guest_agent.0' state='disconnected'/></channel></devices>"
                    "</domain>", &di);
    expect(di.vnc_port == -1 && di.agent == CFS_AGENT_DISCONNECTED, "spice is not vnc; agent off");
    domain_xml_live("<domain><devices/></domain>", &di);
    expect(di.agent == CFS_AGENT_NONE, "no agent channel");

    expect(domain_xml_current_memory_kib("<domain><currentMemory unit='KiB'>65536"
                                         "</currentMemory></domain>") == 65536, "currentMemory KiB");
    expect(domain_xml_current_memory_kib("<domain><currentMemory unit='MiB'>64"
                                         "</currentMemory></domain>") == 65536, "currentMemory MiB");
    expect(domain_xml_current_memory_kib("<domain/>") == 0, "no currentMemory");

    struct seen s = {""};
    domain_xml_disks("<domain><devices><disk type='file' device='cdrom'><target dev='sda'/>"
                     "</disk><disk><serial>abc</serial><target bus='virtio' dev='vda'/></disk>"
                     "<disk><target dev='sdb'/><serial>def</serial></disk></devices></domain>",
                     disk_cb, &s);
    expect(!strcmp(s.text, "abc=vda;def=sdb;"), "disks with serial and target only");

    const char *nics = "<domain><devices><interface type='bridge'><mac address='52:54:00:AA:bb:01'/>"
                       "</interface></devices></domain>";
    expect(domain_xml_has_mac(nics, "52:54:00:aa:bb:01"), "mac found, any case");
    expect(!domain_xml_has_mac(nics, "52:54:00:aa:bb:02"), "other mac not found");

    /* Round trip: what the builder escapes, the reader gets back. */
    struct cfs_disk_source src = {.network = false};
    snprintf(src.path, sizeof(src.path), "/pool/v'1<&>.qcow2");
    snprintf(src.format, sizeof(src.format), "qcow2");
    struct cfs_disk disk = {.serial = "s\"1&", .target = "vda", .src = &src};
    struct cfs_domain_spec spec = {.uuid = "0d3c1f6e-0000-4000-8000-000000000001", .type = "qemu",
                                   .vcpus = 1, .memory_kib = 65536, .disks = &disk, .ndisks = 1};
    char *xml = domain_xml_build(&spec, "cfs-x", "a <title> & 'quotes'", 65536, 1);
    memset(&s, 0, sizeof(s));
    if (xml)
        domain_xml_disks(xml, disk_cb, &s);
    expect(xml && !strcmp(s.text, "s\"1&=vda;"), "escaped serial reads back");
    expect(xml && domain_xml_current_memory_kib(xml) == 65536, "built currentMemory reads back");
    free(xml);

    printf("%d passed, %d failed\n", checked - failed, failed);
    return failed ? 1 : 0;
}
