/* compute.h: the compute driver interface.
 *
 * The reconciler talks to hypervisors only through this table of operations;
 * driver_libvirt.c implements it over libvirt (qemu:///system, qemu+ssh://,
 * qemu+tls://, test:///...).  Every call is idempotent and safe to retry:
 * define of an existing domain updates it, destroy of a stopped one and
 * undefine of a missing one succeed.  Domains are addressed by UUID (the VM's
 * UUID); their libvirt name is "cfs-" + UUID so VMs with equal names in
 * different clusters never collide.
 */
#ifndef CFS_COMPUTE_H
#define CFS_COMPUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfs_error.h"
#include "storage.h"

struct cfs_conn;    /* one connection to one host, opaque */
struct cfs_nic;     /* a NIC's <interface> (nic_xml.h) */
struct cfs_domain_stats;   /* counters of one domain (all_stats), defined below */

enum cfs_power {
    CFS_POWER_NONE,     /* no such domain on the host */
    CFS_POWER_SHUTOFF,
    CFS_POWER_RUNNING,
    CFS_POWER_PAUSED,
    CFS_POWER_SHUTDOWN, /* shutting down */
    CFS_POWER_CRASHED,
    CFS_POWER_OTHER,
};

struct cfs_host_info {
    int cpus;                   /* logical CPUs */
    long long memory_kib;
    char arch[32];              /* x86_64 */
    char cpu_model[64];
    char cpu_vendor[16];        /* AMD, Intel, ... ("" when libvirt does not say) */
    char cpu_sig[160];          /* "ARCH VENDOR MODEL HASH" (domain_xml_caps): identical CPUs only */
    char domain_type[16];       /* best type the host offers: kvm, else qemu, else test */
};

/* A disk of a domain.  The serial (at most 20 characters, from the volume's
 * UUID) identifies the volume inside the domain and inside the guest
 * (/dev/disk/by-id/...). */
struct cfs_disk {
    const char *serial;
    const char *target;         /* vda (the root disk, virtio), sdb.. (data, virtio-scsi) */
    const struct cfs_disk_source *src;
};

struct cfs_domain_spec {
    const char *uuid;           /* the VM's UUID */
    const char *title;          /* tree path of the VM, shown by virsh list --title */
    const char *description;
    const char *type;           /* kvm, qemu, test */
    const char *arch;           /* host arch (x86_64) */
    int vcpus;                  /* at start */
    int max_vcpus;              /* hot-plug ceiling, >= vcpus */
    long long memory_kib;       /* at start */
    long long max_memory_kib;   /* balloon ceiling, >= memory_kib */
    const char *kernel;         /* direct kernel boot, or NULL/"" */
    const char *initrd;
    const char *cmdline;
    const char *console_path;   /* serial console to this file, or NULL/"" */
    const struct cfs_disk *disks;
    int ndisks;
    const char *cdrom;          /* ISO in the CD-ROM drive, or NULL/"": an empty drive */
    /* Boot order: "hd", "cdrom", "hd,cdrom" or "cdrom,hd"; NULL: the CD
     * first when it holds an ISO, then the disk. */
    const char *boot;
    const char *seed;           /* cloud-init seed ISO in a second, never booted drive (sdz) */
    const struct cfs_nic *nics; /* network interfaces, in guest order (eth0 first) */
    int nnics;
    bool windows;               /* Hyper-V enlightenments, clock in local time */
    const char *cpu_mode;       /* <cpu mode=...>: host-model, host-passthrough, maximum; NULL: none */
    bool cpu_no_arch_caps;      /* with cpu_mode: leave out arch-capabilities (see reconcile_vm.c) */
    const char *vnc_password;   /* the VNC console's password, or NULL/"" for none */
    long long vnc_valid_to;     /* when it expires (seconds since the epoch); 0: never */
};

enum cfs_agent { CFS_AGENT_NONE, CFS_AGENT_DISCONNECTED, CFS_AGENT_CONNECTED };

struct cfs_domain_info {
    enum cfs_power power;
    int reason;                 /* libvirt state reason, for messages */
    bool persistent;
    int vcpus;
    int max_vcpus;
    long long memory_kib;
    long long max_memory_kib;
    unsigned long long cpu_time_ns;
    int vnc_port;               /* -1 when none */
    enum cfs_agent agent;       /* the guest agent channel of a running domain */
    char vnc_listen[64];
};

/* A live migration's progress, and when done its outcome; -1 where the
 * host gave nothing.  Bytes and milliseconds. */
struct cfs_migration_stats {
    long long memory_total, memory_remaining, memory_processed;
    long long elapsed_ms, downtime_ms;
};

/* Called about every 500 ms while a migration runs, in the thread that
 * called migrate; returning true aborts the migration. */
/* migrate flags: some disk is a file on storage every host shares, which
 * the hypervisor cannot tell (VIR_MIGRATE_UNSAFE skips libvirt's check). */
#define CFS_MIGRATE_SHARED_FILES 1u
typedef bool (*cfs_migrate_progress_cb)(const struct cfs_migration_stats *s, void *arg);

/* Called from the driver's event thread when a domain changes state. */
typedef void (*cfs_domain_event_cb)(const char *uuid, enum cfs_power power, void *arg);
/* Called from the event thread when a connection is lost. */
typedef void (*cfs_conn_lost_cb)(void *arg);
/* One disk of a domain: its serial and target. */
typedef void (*cfs_disk_list_cb)(const char *serial, const char *target, void *arg);
/* One domain found on a host. */
typedef void (*cfs_domain_list_cb)(const char *name, const char *uuid, void *arg);

struct cfs_compute_driver {
    const char *name;
    /* Once per process, before the first connect: start the event loop. */
    int (*init)(struct cfs_err *err);
    void (*shutdown)(void);
    int (*connect)(const char *uri, cfs_domain_event_cb on_event, cfs_conn_lost_cb on_lost,
                   void *arg, struct cfs_conn **out, struct cfs_err *err);
    void (*close)(struct cfs_conn *c);
    bool (*alive)(struct cfs_conn *c);
    int (*host_info)(struct cfs_conn *c, struct cfs_host_info *out, struct cfs_err *err);
    int (*list)(struct cfs_conn *c, cfs_domain_list_cb cb, void *arg, struct cfs_err *err);
    int (*define)(struct cfs_conn *c, const struct cfs_domain_spec *spec, struct cfs_err *err);
    int (*undefine)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*info)(struct cfs_conn *c, const char *uuid, struct cfs_domain_info *out,
                struct cfs_err *err);
    int (*start)(struct cfs_conn *c, const char *uuid, bool paused, struct cfs_err *err);
    int (*shutdown_guest)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*destroy)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*suspend)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*resume)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*reboot)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    int (*reset)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    /* Live and persistent change of a running domain, within its maximum. */
    int (*set_vcpus)(struct cfs_conn *c, const char *uuid, int vcpus, struct cfs_err *err);
    int (*set_memory)(struct cfs_conn *c, const char *uuid, long long kib, struct cfs_err *err);
    /* The password of user in the running guest, through its guest agent;
     * hash is a crypt(3) hash. */
    int (*set_password)(struct cfs_conn *c, const char *uuid, const char *user, const char *hash,
                        struct cfs_err *err);
    /* A new VNC console password for the running domain, valid until
     * valid_to (seconds since the epoch), live only. */
    int (*set_vnc_password)(struct cfs_conn *c, const char *uuid, const char *password,
                            long long valid_to, struct cfs_err *err);
    /* The guest's addresses as its agent reports them: "NAME ADDR/PREFIX"
     * lines (loopback left out) into out, "" when there are none. */
    int (*guest_ips)(struct cfs_conn *c, const char *uuid, char *out, size_t len,
                     struct cfs_err *err);
    /* The ISO in the domain's CD-ROM drive (NULL or "": empty), live when
     * it runs and in its definition. */
    int (*change_media)(struct cfs_conn *c, const char *uuid, const char *iso,
                        struct cfs_err *err);
    /* Current XML of the domain (malloc'd). */
    char *(*xml)(struct cfs_conn *c, const char *uuid, struct cfs_err *err);
    /* Disks of the running domain when it runs, else of its definition. */
    int (*disks)(struct cfs_conn *c, const char *uuid, cfs_disk_list_cb cb, void *arg,
                 struct cfs_err *err);
    /* Plug a disk into the domain (live when it runs, always in its
     * definition); unplugging a disk that is not there succeeds. */
    int (*attach_disk)(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                       struct cfs_err *err);
    int (*detach_disk)(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                       struct cfs_err *err);
    /* Plug a NIC into the running domain, or unplug it (by MAC): live only,
     * the definition follows define.  Nothing to do succeeds (a stopped
     * domain, a NIC already there or already gone). */
    int (*attach_nic)(struct cfs_conn *c, const char *uuid, const struct cfs_nic *nic,
                      struct cfs_err *err);
    int (*detach_nic)(struct cfs_conn *c, const char *uuid, const struct cfs_nic *nic,
                      struct cfs_err *err);
    /* Grow a disk of a running domain (and what backs it) to bytes. */
    int (*block_resize)(struct cfs_conn *c, const char *uuid, const char *target,
                        long long bytes, struct cfs_err *err);
    /* Counters of every domain of the host in one call (libvirt bulk
     * stats); cb runs once per domain, in the caller's thread. */
    int (*all_stats)(struct cfs_conn *c, void (*cb)(const struct cfs_domain_stats *s, void *arg),
                     void *arg, struct cfs_err *err);
    /* Live-migrate the running (or paused) domain from c to dst: live,
     * persistent on dst, undefined on c.  Blocks until it ends; cb (may be
     * NULL) sees its progress.  0 with the completed stats in out (elapsed
     * and downtime), or -1 with err and the domain still running on c.
     * flags: CFS_MIGRATE_SHARED_FILES. */
    int (*migrate)(struct cfs_conn *c, struct cfs_conn *dst, const char *uuid, unsigned flags,
                   cfs_migrate_progress_cb cb, void *arg, struct cfs_migration_stats *out,
                   struct cfs_err *err);
    /* Whole-VM snapshots (reconcile_vmsnap.c).  Freeze (thaw false) or
     * thaw the running guest's file systems through its agent. */
    int (*fs_freeze)(struct cfs_conn *c, const char *uuid, bool thaw, struct cfs_err *err);
    /* An internal snapshot of the running domain, memory and every disk,
     * named name (plain [a-z0-9-]); taken already succeeds (libvirt
     * snapshots only qcow2 disks internally: the caller refuses others). */
    int (*vm_snapshot_create)(struct cfs_conn *c, const char *uuid, const char *name,
                              struct cfs_err *err);
    /* 1 when the domain has snapshot name, 0 when not, -1 on error. */
    int (*vm_snapshot_exists)(struct cfs_conn *c, const char *uuid, const char *name,
                              struct cfs_err *err);
    /* Delete it (gone succeeds); revert to it (memory too: runs after). */
    int (*vm_snapshot_delete)(struct cfs_conn *c, const char *uuid, const char *name,
                              struct cfs_err *err);
    int (*vm_snapshot_revert)(struct cfs_conn *c, const char *uuid, const char *name,
                              struct cfs_err *err);
    /* Storage migration of a running domain's disk d->target into d->src,
     * a blank volume of its size made by the caller: copied live, then the
     * guest switched to it (pivot).  Blocks until then; cb (may be NULL)
     * sees the percentage and may cancel; no progress for timeout seconds
     * (120 at least) fails.  On failure the guest goes on from its old disk. */
    int (*block_copy)(struct cfs_conn *c, const char *uuid, const struct cfs_disk *d,
                      int timeout, cfs_progress_cb cb, void *arg, struct cfs_err *err);
};

extern const struct cfs_compute_driver cfs_libvirt_driver;

/* Domain name for a VM UUID: "cfs-" + uuid. */
#define CFS_DOMAIN_PREFIX "cfs-"

/* One domain's counters from all_stats; -1 where the host gave none. */
struct cfs_domain_stats {
    char uuid[37];
    enum cfs_power power;
    long long cpu_time_ns;
    long long memory_kib;           /* balloon: current */
    long long rss_kib;              /* resident set of the QEMU process */
    long long disk_rd_bytes, disk_wr_bytes, disk_rd_reqs, disk_wr_reqs;   /* all disks */
    long long net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts;       /* all interfaces */
};

#endif
