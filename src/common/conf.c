/* conf.c: load cloudfs.conf with defaults for everything. */
#include "conf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "value.h"

static int take_string(config_t *cfg, const char *key, const char *dflt, char **out,
                       struct cfs_err *err)
{
    const char *v = NULL;
    if (!config_lookup_string(cfg, key, &v))
        v = dflt;
    *out = v ? strdup(v) : NULL;
    if (v && !*out)
        return cfs_err_set(err, ENOMEM, "out of memory");
    return 0;
}

/* A ratio key, written as a float or an integer (1.5, 2), into hundredths
 * in [min, max]. */
static int take_ratio(config_t *cfg, const char *key, long long dflt, long long min,
                      long long max, long long *out, struct cfs_err *err)
{
    double d = 0;
    int i = 0;
    *out = dflt;
    if (config_lookup_float(cfg, key, &d))
        *out = (long long)(d * 100 + 0.5);
    else if (config_lookup_int(cfg, key, &i))
        *out = (long long)i * 100;
    else if (config_lookup(cfg, key))
        return cfs_err_set(err, EINVAL, "%s must be a number (e.g. 1.5)", key);
    if (*out < min || *out > max)
        return cfs_err_set(err, EINVAL, "%s must be in %lld.%02lld..%lld.%02lld", key, min / 100,
                           min % 100, max / 100, max % 100);
    return 0;
}

int conf_load(struct cfs_conf *conf, const char *path, struct cfs_err *err)
{
    memset(conf, 0, sizeof(*conf));
    config_init(&conf->cfg);
    if (!path && access(CFS_DEFAULT_CONF, R_OK) == 0)
        path = CFS_DEFAULT_CONF;
    if (path) {
        if (!config_read_file(&conf->cfg, path)) {
            if (config_error_type(&conf->cfg) == CONFIG_ERR_FILE_IO)
                return cfs_err_set(err, ENOENT, "%s: cannot read configuration", path);
            return cfs_err_set(err, EINVAL, "%s:%d: %s", path, config_error_line(&conf->cfg),
                               config_error_text(&conf->cfg));
        }
        conf->path = strdup(path);
    }
    const char *sync = "full";
    config_lookup_string(&conf->cfg, "sync", &sync);
    if (strcmp(sync, "full") && strcmp(sync, "normal"))
        return cfs_err_set(err, EINVAL, "%s: sync must be \"full\" or \"normal\"",
                           path ? path : "configuration");
    conf->sync_full = !strcmp(sync, "full");
    if (take_string(&conf->cfg, "store", "/var/lib/cloudfs/store.db", &conf->store, err) < 0 ||
        take_string(&conf->cfg, "hypervisor", "qemu:///system", &conf->hypervisor, err) < 0 ||
        take_string(&conf->cfg, "pool-path", "/var/lib/cloudfs/pools/local", &conf->pool_path,
                    err) < 0 ||
        take_string(&conf->cfg, "layout", NULL, &conf->layout_dir, err) < 0 ||
        take_string(&conf->cfg, "default-subnet", "10.0.0.0/24", &conf->default_subnet,
                    err) < 0)
        return -1;
    conf->limits = config_lookup(&conf->cfg, "limits");
    if (take_string(&conf->cfg, "admin-group", "", &conf->admin_group, err) < 0)
        return -1;
    int allow_test = 0;
    if (config_lookup_bool(&conf->cfg, "allow-test-uri", &allow_test))
        conf->allow_test_uri = allow_test;
    if (take_string(&conf->cfg, "console-dir", "/var/lib/cloudfs/console", &conf->console_dir,
                    err) < 0 ||
        take_string(&conf->cfg, "image-dir", "/var/lib/cloudfs/images", &conf->image_dir,
                    err) < 0 ||
        take_string(&conf->cfg, "seed-dir", "/var/lib/cloudfs/seed", &conf->seed_dir, err) < 0)
        return -1;
    static const struct {
        const char *key;
        int dflt, min, max;
        size_t off;
    } ints[] = {
        {"workers", 4, 1, 64, offsetof(struct cfs_conf, workers)},
        {"resync-interval", 30, 1, 86400, offsetof(struct cfs_conf, resync_interval)},
        {"stop-timeout", 60, 0, 3600, offsetof(struct cfs_conf, stop_timeout)},
        {"hotplug-factor", 2, 1, 16, offsetof(struct cfs_conf, hotplug_factor)},
        /* ZStack evacuates a host 2 VMs at a time. */
        {"migrations-per-host", 2, 1, 16, offsetof(struct cfs_conf, migrations_per_host)},
        {"task-retention", 86400, 0, 31536000, offsetof(struct cfs_conf, task_retention)},
        /* The seeds keep operation logs 6 months (180 days). */
        {"changes-retention", 15552000, 0, 315360000,
         offsetof(struct cfs_conf, changes_retention)},
        {"audit-retention", 15552000, 0, 315360000, offsetof(struct cfs_conf, audit_retention)},
        {"storage-timeout", 30, 1, 3600, offsetof(struct cfs_conf, storage_timeout)},
        {"metrics-interval", 5, 1, 3600, offsetof(struct cfs_conf, metrics_interval)},
        /* The seeds: at most 5 manual snapshots per disk, adjustable. */
        {"volume-snapshots", 5, 1, 128, offsetof(struct cfs_conf, volume_snapshots)},
        {"vm-snapshots", 5, 1, 64, offsetof(struct cfs_conf, vm_snapshots)},
        /* The seeds: a console password is valid 300 s. */
        {"vnc-password-validity", 300, 10, 86400, offsetof(struct cfs_conf, vnc_validity)},
        /* The seeds' Delay deletion policy: expunged after 86,400 s. */
        {"recycle-retention", 86400, 1, 315360000, offsetof(struct cfs_conf, recycle_retention)},
        /* Each open blocking reader may hold a FUSE worker thread: the
         * mount's cap stays below the loop's thread limit (fs_mount). */
        {"user-readers", 64, 1, 4096, offsetof(struct cfs_conf, user_readers)},
        {"mount-readers", 448, 1, 4096, offsetof(struct cfs_conf, mount_readers)},
        {"user-scratch-files", 256, 1, 1024, offsetof(struct cfs_conf, user_scratch_files)},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int v = ints[i].dflt;
        config_lookup_int(&conf->cfg, ints[i].key, &v);
        if (v < ints[i].min || v > ints[i].max)
            return cfs_err_set(err, EINVAL, "%s must be in %d..%d", ints[i].key, ints[i].min,
                               ints[i].max);
        *(int *)((char *)conf + ints[i].off) = v;
    }
    /* The seeds' primary-storage defaults: over-provisioning ratio 1.0 in
     * [1.0, 1000.0], usage threshold 0.9 in (0, 1]. */
    if (take_ratio(&conf->cfg, "pool-over-subscription", 100, 100, 100000, &conf->pool_ratio,
                   err) < 0 ||
        take_ratio(&conf->cfg, "pool-usage-threshold", 90, 1, 100, &conf->pool_threshold,
                   err) < 0)
        return -1;
    int warn = 1;
    config_lookup_bool(&conf->cfg, "pool-store-warning", &warn);
    conf->pool_store_warning = warn;
    int recycle = 1;
    config_lookup_bool(&conf->cfg, "recycle", &recycle);
    conf->recycle = recycle;
    const char *reserved = "1G";
    config_lookup_string(&conf->cfg, "reserved-memory", &reserved);
    if (value_parse_size(reserved, &conf->reserved_memory) < 0)
        return cfs_err_set(err, EINVAL, "reserved-memory: '%s' is not a size", reserved);
    const char *scratch = "64M";
    config_lookup_string(&conf->cfg, "user-scratch-size", &scratch);
    if (value_parse_size(scratch, &conf->user_scratch_size) < 0 ||
        conf->user_scratch_size < 65536 || conf->user_scratch_size > (4LL << 30))
        return cfs_err_set(err, EINVAL, "user-scratch-size: '%s' is not a size in 64K..4G",
                           scratch);
    return 0;
}

void conf_free(struct cfs_conf *conf)
{
    free(conf->path);
    free(conf->store);
    free(conf->hypervisor);
    free(conf->pool_path);
    free(conf->default_subnet);
    free(conf->layout_dir);
    free(conf->admin_group);
    free(conf->console_dir);
    free(conf->image_dir);
    free(conf->seed_dir);
    config_destroy(&conf->cfg);
    memset(conf, 0, sizeof(*conf));
}
