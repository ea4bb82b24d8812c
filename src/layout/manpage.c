/* manpage.c: roff for the tree reference, from the layout. */
#include "manpage.h"

#include "value.h"

/* roff-escape: backslashes and hyphens (so they print as ASCII minus). */
static void put(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void kind_path(FILE *out, const struct cfs_kind *k)
{
    if (k->parent)
        kind_path(out, k->parent);
    fputc('/', out);
    put(out, k->collection);
    fputs("/\\fI", out);
    put(out, k->name);
    fputs("\\fP", out);
}

static void describe_type(FILE *out, const struct cfs_attr_def *a)
{
    char lo[32], hi[32];
    fputs("(", out);
    put(out, layout_type_name(a->type));
    switch (a->type) {
    case CFS_T_ENUM:
    case CFS_T_VERB:
        if (a->link) {
            fputs(": a ", out);
            put(out, a->link->kind_name);
            fputs(a->link_remove ? " name, unlinked from " : " name, linked into ", out);
            put(out, a->link->name);
            fputs("/", out);
            break;
        }
        fputs(": ", out);
        for (size_t i = 0; i < a->nvalues; i++) {
            if (i)
                fputs(", ", out);
            put(out, a->values[i]);
        }
        break;
    case CFS_T_INT:
        fprintf(out, " %lld..%lld", a->min, a->max);
        break;
    case CFS_T_SIZE:
        value_format_size(a->min, lo, sizeof(lo));
        value_format_size(a->max, hi, sizeof(hi));
        fprintf(out, " %s..%s", lo, hi);
        break;
    case CFS_T_RATIO:
        value_format_ratio(a->min, lo, sizeof(lo));
        value_format_ratio(a->max, hi, sizeof(hi));
        fprintf(out, " %s..%s", lo, hi);
        break;
    case CFS_T_BOOL:
        if (a->nvalues)
            fputs(": on, off", out);
        for (size_t i = 0; i < a->nvalues; i++) {
            fputs(", ", out);
            put(out, a->values[i]);
        }
        break;
    case CFS_T_REF:
        fputs(" to ", out);
        put(out, a->ref);
        break;
    default:
        break;
    }
    if (a->type != CFS_T_VERB && a->type != CFS_T_SECRET) {
        fputs("; default ", out);
        if (a->def && a->def[0])
            put(out, a->def);
        else
            fputs("empty", out);
    }
    fprintf(out, "; mode %04o", (unsigned)a->mode);
    if (a->operator_only)
        fputs("; operator only: written by root or the admin group, whoever owns the resource",
              out);
    if (a->redact && a->type != CFS_T_SECRET)
        fputs("; its text never appears in events, status/events or the audit, only its size",
              out);
    if (a->ref_once)
        fputs("; read once, when the resource is made: what it names may go afterwards", out);
    if (a->user_file)
        fputs("; read with the rights of the writer at the write and of the resource's owner "
              "at the import: a regular file, no symbolic link in the path", out);
    if (a->test_only)
        fputs("; test only: refused (EPERM) unless cloudfs.conf has allow-test-uri", out);
    if (a->spec_only) {
        fputs("; nothing acts on it: ", out);
        put(out, a->spec_only);
    }
    fputs(")", out);
}

void manpage_write_layout(FILE *out, const struct cfs_layout *l)
{
    for (size_t i = 0; i < l->nkinds; i++) {
        const struct cfs_kind *k = &l->kinds[i];
        fputs(".SS ", out);
        kind_path(out, k);
        fputs("/\n", out);
        put(out, k->doc);
        if (k->operator_only)
            fputs(" Created, renamed and removed by root or the admin group only.", out);
        else if (k->shared)
            fputs(" Those root owns are public; the others only their owner (and root or the "
                  "admin group) may name in a reference.", out);
        else if (k->parent)
            fputs(" Only its owner (and root or the admin group) may name it in a reference "
                  "or a link.", out);
        if (k->tenant)
            fputs(" Any user may make one (the collection is sticky, as /tmp: each removes and "
                  "renames only their own), within their quota.", out);
        fputs("\n", out);
        for (size_t j = 0; j < k->nattrs; j++) {
            const struct cfs_attr_def *a = &k->attrs[j];
            fputs(".TP\n.B ", out);
            put(out, a->name);
            fputs("\n", out);
            put(out, a->doc);
            fputs(" ", out);
            describe_type(out, a);
            fputs("\n", out);
        }
        if (k->reconciled)
            fputs(".TP\n.B wait\nReading blocks until the reconciler has converged this "
                  "resource on the spec it had when the file was opened, then prints the "
                  "observed state; fails with EIO when the attempt failed (see status/error). "
                  "Not listed by ls, so recursive readers never block on it. (read-only)\n", out);
        for (size_t j = 0; j < k->nlinks; j++) {
            const struct cfs_link_def *d = &k->links[j];
            fputs(".TP\n.B ", out);
            put(out, d->name);
            fputs("/\n", out);
            put(out, d->doc);
            fprintf(out, " (links to ");
            put(out, d->kind_name);
            if (d->max)
                fprintf(out, "; at most %d", d->max);
            if (d->exclusive)
                fputs("; a target links from one place only", out);
            fputs(")\n", out);
        }
        for (size_t j = 0; j < k->nchildren; j++) {
            fputs(".TP\n.B ", out);
            put(out, k->children[j]->collection);
            fputs("/\n", out);
            put(out, k->children[j]->doc);
            fputs("\n", out);
        }
        for (size_t j = 0; j < k->nbacklinks; j++) {
            const struct cfs_backlink_def *d = &k->backlinks[j];
            fputs(".TP\n.B status/", out);
            put(out, d->name);
            fputs("/\n", out);
            put(out, d->doc);
            fputs(" (read-only symlinks to each ", out);
            put(out, d->kind_name);
            fputs(" whose status/", out);
            put(out, d->via);
            fputs(" names this one)\n", out);
        }
        if (k->system)
            fputs(".PP\nMade by the reconciler only: mkdir, rmdir, mv and writes are refused "
                  "(EPERM); its files sit in the directory itself.\n", out);
        for (size_t j = 0; j < k->nstatus; j++) {
            fputs(k->system ? ".TP\n.B " : ".TP\n.B status/", out);
            put(out, k->status[j].name);
            fputs("\n", out);
            put(out, k->status[j].doc);
            if (k->status[j].mode != 0444)
                fprintf(out, " Mode %04o: the resource's owner%s only.",
                        (unsigned)k->status[j].mode,
                        k->status[j].mode & 0040 ? " and group" : "");
            if (k->status[j].redact)
                fputs(" Its value never appears in /events or status/events.", out);
            fputs(k->status[j].volatile_value && k->status[j].redact
                      ? " (read-only; its changes raise no inotify event and no change entry)\n"
                  : k->status[j].volatile_value
                      ? " (read-only; a counter: its changes raise no inotify event)\n"
                      : " (read-only)\n", out);
        }
        if (!k->system && !layout_status(k, "events"))
            fputs(".TP\n.B status/events\nThe latest changes of this resource, one JSON "
                  "object per line, as in /events, identical ones (same file, old and new "
                  "value, actor) folded into the last of them with \\(dqcount\\(dq and the "
                  "time of the \\(dqfirst\\(dq; at most 20 lines. (read-only)\n", out);
    }
}
