/* conf.c: load cloudfs.conf with defaults for everything. */
#include "conf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        take_string(&conf->cfg, "layout", NULL, &conf->layout_dir, err) < 0)
        return -1;
    conf->limits = config_lookup(&conf->cfg, "limits");
    return 0;
}

void conf_free(struct cfs_conf *conf)
{
    free(conf->path);
    free(conf->store);
    free(conf->hypervisor);
    free(conf->pool_path);
    free(conf->layout_dir);
    config_destroy(&conf->cfg);
    memset(conf, 0, sizeof(*conf));
}
