/* offering.c: an offering's size (see offering.h). */
#include "offering.h"

#include <errno.h>
#include <stdlib.h>

#include "layout.h"
#include "value.h"

int store_offering_get(struct cfs_store *st, const char *name, struct cfs_offering *out,
                       struct cfs_err *err)
{
    const struct cfs_kind *ko = layout_kind(store_layout(st), "offering");
    struct cfs_res off;
    struct cfs_err ignore = {0};
    char *c = NULL, *m = NULL;
    int ret = -1;
    out->cpus = 0;
    out->memory = 0;
    if (!ko || !name || !name[0] || store_res_find(st, 0, ko, name, &off, &ignore) < 0) {
        cfs_err_set(err, ENOENT, "offering '%s' does not exist", name ? name : "");
        goto cleanup;
    }
    if (store_attr_get(st, off.id, "cpus", &c, NULL, &ignore) < 0 ||
        store_attr_get(st, off.id, "memory", &m, NULL, &ignore) < 0 || !c || !m ||
        value_parse_size(m, &out->memory) < 0 || (out->cpus = atoi(c)) < 1 || out->memory <= 0) {
        out->cpus = 0;
        out->memory = 0;
        cfs_err_set(err, EINVAL, "offering '%s' is incomplete", name);
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(c);
    free(m);
    return ret;
}
