/* domain_xml.h: libvirt's XML for domains: built from a spec, read back.
 *
 * Building escapes every value (xml.h); reading parses with libxml2 and
 * XPath, so attribute order, quoting and whitespace in what libvirt returns
 * do not matter.  The readers never fail loudly: what is not there (or not
 * well-formed) reads as absent, and the caller keeps its defaults.
 */
#ifndef CFS_DOMAIN_XML_H
#define CFS_DOMAIN_XML_H

#include <stdbool.h>

#include "compute.h"
#include "xml.h"

/* The whole <domain> for spec; NULL when out of memory (or a NIC is bad). */
char *domain_xml_build(const struct cfs_domain_spec *s, const char *name, const char *title,
                       long long max_mem, int max_vcpus);
/* <disk> of a volume: a qcow2 file or an RBD image over the network. */
void domain_xml_disk(struct xbuf *b, const struct cfs_disk *d);
/* The VNC console on 127.0.0.1 with its password (none when NULL or ""),
 * valid until valid_to (seconds since the epoch; 0: always). */
void domain_xml_graphics(struct xbuf *b, const char *password, long long valid_to,
                         const char *indent);
/* The CD-ROM drive (sda), with iso in it or empty. */
void domain_xml_cdrom(struct xbuf *b, const char *iso, const char *indent);

/* Host CPU (arch, model, vendor) and the best domain type (kvm, else qemu,
 * else the first offered) from virConnectGetCapabilities' XML. */
void domain_xml_caps(const char *caps, struct cfs_host_info *out);
/* From a live domain XML: the VNC port and listen address (port -1 when
 * none) and the guest agent channel's state. */
void domain_xml_live(const char *xml, struct cfs_domain_info *out);
/* <currentMemory> in KiB, or 0. */
long long domain_xml_current_memory_kib(const char *xml);
/* Each disk's serial and target dev, for disks that have both. */
void domain_xml_disks(const char *xml, cfs_disk_list_cb cb, void *arg);
/* Does the domain have an <interface> with MAC address mac? */
bool domain_xml_has_mac(const char *xml, const char *mac);

#endif
