/* prom_text.c: labels of the Prometheus text exposition (see prom_text.h). */
#include "prom_text.h"

#include <stdio.h>
#include <string.h>

void metrics_label_value(struct textbuf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            tb_printf(b, "\\%c", *p);
        else if (*p == '\n')
            tb_puts(b, "\\n");
        else
            tb_put(b, p, 1);
    }
}

/* Labels of a resource from its path: one per level, named after the kind
 * ("zones/z/clusters/c/hosts/h" -> zone="z",cluster="c",host="h"). */
void metrics_res_labels(struct cfs_store *st, const struct cfs_res *r, struct textbuf *b)
{
    char path[1024];
    struct cfs_err ignore;
    const struct cfs_layout *l = store_layout(st);
    if (store_res_path(st, r, path, sizeof(path), &ignore) < 0) {
        tb_puts(b, "name=\"");
        metrics_label_value(b, r->name);
        tb_puts(b, "\"");
        return;
    }
    char *save = NULL;
    bool first = true;
    for (char *coll = strtok_r(path, "/", &save); coll; coll = strtok_r(NULL, "/", &save)) {
        char *name = strtok_r(NULL, "/", &save);
        if (!name)
            break;
        const char *label = coll;
        for (size_t i = 0; i < l->nkinds; i++)
            if (!strcmp(l->kinds[i].collection, coll))
                label = l->kinds[i].name;
        tb_printf(b, "%s", first ? "" : ",");
        for (const char *p = label; *p; p++)
            tb_put(b, *p == '-' ? "_" : p, 1);
        tb_puts(b, "=\"");
        metrics_label_value(b, name);
        tb_puts(b, "\"");
        first = false;
    }
}
