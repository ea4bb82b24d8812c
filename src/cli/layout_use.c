/* layout_use.c: "cloudfs layout-use" (see layout_use.h). */
#include "layout_use.h"

#include "rc_kind.h"

int layout_use_print(FILE *out, const struct cfs_layout *l, struct cfs_err *err)
{
    struct rc_bound *rows = NULL;
    if (rc_kinds_bind(l, &rows, err) < 0)
        return -1;
    for (size_t i = 0; i < l->nkinds; i++) {
        const struct cfs_kind *k = &l->kinds[i];
        for (size_t j = 0; j < k->nattrs; j++) {
            const struct cfs_attr_def *a = &k->attrs[j];
            int n = 0;
            fprintf(out, "%s/%s\t", k->name, a->name);
            for (size_t r = 0; r < rc_nkinds; r++)
                if (rc_declared(&rows[r], RC_ATTRS_READ, k, a->name))
                    fprintf(out, "%sreconcile:%s", n++ ? " " : "", rows[r].row->name);
            if (a->link)
                fprintf(out, "%smount:link", n++ ? " " : "");
            if (a->type == CFS_T_TAGS)
                fprintf(out, "%smount:tags", n++ ? " " : "");   /* the /tags index */
            if (a->spec_only)
                fprintf(out, "%sspec-only", n++ ? " " : "");
            fputs(n ? "\n" : "-\n", out);
        }
    }
    rc_kinds_unbind(rows);
    return 0;
}
