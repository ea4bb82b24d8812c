/* conf.h: cloudfs.conf, the daemon configuration (libconfig syntax). */
#ifndef CFS_CONF_H
#define CFS_CONF_H

#include <libconfig.h>
#include <stdbool.h>

#include "cfs_error.h"

#define CFS_DEFAULT_CONF "/etc/cloudfs/cloudfs.conf"

struct cfs_conf {
    char *path;             /* file read, or NULL when the defaults are used */
    char *store;            /* SQLite database */
    char *hypervisor;       /* libvirt URI of the default host */
    char *pool_path;        /* directory of the default "local" pool */
    char *default_subnet;   /* CIDR of the default VPC's subnet, "" for none */
    char *layout_dir;       /* fs-layout override, NULL for the embedded copy */
    bool sync_full;         /* PRAGMA synchronous=FULL (durable across power loss) */
    char *admin_group;      /* group whose members administer like root, "" for none */
    bool allow_test_uri;    /* hosts may use libvirt's test:/// driver (test suites) */
    /* reconciler */
    int workers;            /* worker threads */
    int resync_interval;    /* seconds between full resyncs */
    int stop_timeout;       /* seconds of graceful ACPI shutdown before a forced stop */
    long long reserved_memory;  /* bytes kept back on every host */
    int hotplug_factor;     /* max vCPUs/memory of a running VM = factor x value at start */
    int migrations_per_host;    /* live migrations at a time out of a host being evacuated */
    char *console_dir;      /* serial console logs of the VMs */
    char *image_dir;        /* the image catalogue's imported copies */
    char *seed_dir;         /* the VMs' cloud-init NoCloud seed ISOs */
    int task_retention;     /* seconds a finished task stays in tasks/ */
    int changes_retention;  /* seconds the changes log keeps an entry; 0: forever */
    int audit_retention;    /* seconds /audit keeps a row; 0: forever */
    int storage_timeout;    /* seconds before a stalled storage operation fails */
    int metrics_interval;   /* seconds between publications of the reconciler's metrics */
    int volume_snapshots;   /* most snapshots a volume may hold (the mount refuses more) */
    int vm_snapshots;       /* most whole-VM snapshots a VM may hold (the mount refuses more) */
    int vnc_validity;       /* seconds a VNC console password is valid */
    bool recycle;           /* rmdir of a VM, volume or image moves it to /recycle */
    int recycle_retention;  /* seconds a resource stays in /recycle before its expunge */
    /* pools (pool_cap.h) */
    long long pool_ratio;   /* over-subscription, in hundredths (150: 1.5) */
    long long pool_threshold;   /* real usage past which nothing new is allocated, hundredths */
    bool pool_store_warning;    /* a dir pool on the store's filesystem warns in status/error */
    /* mount: what one user may hold (root and admin-group: only the mount's caps) */
    int user_readers;       /* open blocking readers (/events, wait) per user */
    int mount_readers;      /* open blocking readers of the whole mount */
    int user_scratch_files; /* editors' temporary files per user */
    long long user_scratch_size;    /* bytes of those files per user */
    config_t cfg;           /* kept for the "limits" group */
    const config_setting_t *limits;
};

/* Read path; when path is NULL, read CFS_DEFAULT_CONF if it exists, else use
 * built-in defaults. */
int conf_load(struct cfs_conf *conf, const char *path, struct cfs_err *err);
void conf_free(struct cfs_conf *conf);

#endif
