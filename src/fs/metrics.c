/* metrics.c: the /metrics file (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_text.h"
#include "textbuf.h"
#include "value.h"
#include "viewer.h"

enum conv { CONV_INT, CONV_SIZE, CONV_FLAG };

/* A status file of some kind shown as a gauge per resource. */
struct gauge_def {
    const char *kind, *status, *metric, *help;
    enum conv conv;
    const char *flag_value;     /* CONV_FLAG: 1 when the status equals it */
};

static const struct gauge_def gauges[] = {
    {"host", "connection", "cloudfs_host_connected", "1 when the reconciler is connected to the host.", CONV_FLAG, "connected"},
    {"host", "cpus", "cloudfs_host_cpus", "Physical CPU threads of the host.", CONV_INT, NULL},
    {"host", "memory", "cloudfs_host_memory_bytes", "Physical memory of the host.", CONV_SIZE, NULL},
    {"host", "allocated-cpus", "cloudfs_host_allocated_cpus", "vCPUs of the VMs placed on the host.", CONV_INT, NULL},
    {"host", "allocated-memory", "cloudfs_host_allocated_memory_bytes", "Memory of the VMs placed on the host.", CONV_SIZE, NULL},
    {"host", "free-cpus", "cloudfs_host_free_cpus", "vCPUs still placeable on the host after overcommit.", CONV_INT, NULL},
    {"host", "free-memory", "cloudfs_host_free_memory_bytes", "Memory still placeable on the host after overcommit and reservation.", CONV_SIZE, NULL},
    {"host", "vm-count", "cloudfs_host_vms", "VMs placed on the host.", CONV_INT, NULL},
    {"pool", "state", "cloudfs_pool_available", "1 when the pool is available.", CONV_FLAG, "available"},
    {"pool", "capacity", "cloudfs_pool_capacity_bytes", "Total bytes of the pool.", CONV_SIZE, NULL},
    {"pool", "allocation", "cloudfs_pool_allocation_bytes", "Bytes in use in the pool.", CONV_SIZE, NULL},
    {"pool", "available", "cloudfs_pool_available_bytes", "Bytes free in the pool.", CONV_SIZE, NULL},
};

/* Samples of a resource are the reader's when it may read the resource's
 * status (what they are made of): everyone's for root's resources, the
 * owner's and group's for a tenant's. */
static bool shown(struct cfs_store *st, const struct events_viewer *w, const struct cfs_res *r)
{
    return w->all ||
           (viewer_may_read_status(w, r) && viewer_may_reach(st, w, r->id) == VIEWER_SEES);
}

static void family(struct textbuf *out, const char *name, const char *type, const char *help,
                   const struct textbuf *samples)
{
    if (!samples->len)
        return;
    tb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    tb_put(out, samples->s, samples->len);
}

static void gauge_family(struct cfs_store *st, const struct events_viewer *w,
                         const struct gauge_def *g, struct textbuf *out)
{
    const struct cfs_kind *k = layout_kind(store_layout(st), g->kind);
    struct cfs_res *list = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    if (!k || !layout_status(k, g->status) || store_res_all(st, k, &list, &n, &ignore) < 0)
        return;
    struct textbuf s = {0};
    for (size_t i = 0; i < n; i++) {
        if (list[i].deleted || !shown(st, w, &list[i]))
            continue;
        char *v = store_status_text(st, list[i].id, g->status);
        long long x = 0;
        bool ok = v[0] != '\0';
        if (ok && g->conv == CONV_FLAG) {
            x = !strcmp(v, g->flag_value);
        } else if (ok && g->conv == CONV_SIZE) {
            ok = value_parse_size(v, &x) == 0;
        } else if (ok) {
            char *end = NULL;
            errno = 0;
            x = strtoll(v, &end, 10);
            ok = !errno && end && !*end;
        }
        free(v);
        if (!ok)
            continue;
        tb_printf(&s, "%s{", g->metric);
        metrics_res_labels(st, &list[i], &s);
        tb_printf(&s, "} %lld\n", x);
    }
    free(list);
    family(out, g->metric, "gauge", g->help, &s);
    tb_free(&s);
}

/* Counts of the resources of a kind per parent and state. */
struct count {
    int64_t parent;
    char state[64];
    long long n;
};

static void count_family(struct cfs_store *st, const struct events_viewer *w, const char *kind,
                         const char *metric, const char *help, struct textbuf *out)
{
    const struct cfs_kind *k = layout_kind(store_layout(st), kind);
    struct cfs_res *list = NULL;
    size_t n = 0, nc = 0;
    struct count *counts = NULL;
    struct cfs_err ignore;
    if (!k || store_res_all(st, k, &list, &n, &ignore) < 0)
        return;
    /* Observed state where the kind has one, else the desired one. */
    bool observed = layout_status(k, "state") != NULL;
    if (!observed && !layout_attr(k, "state")) {
        free(list);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].deleted || !shown(st, w, &list[i]))
            continue;
        char *v = observed ? store_status_text(st, list[i].id, "state")
                           : store_attr_text(st, list[i].id, "state");
        const char *state = v[0] ? v : "unknown";
        size_t j;
        for (j = 0; j < nc; j++)
            if (counts[j].parent == list[i].parent && !strcmp(counts[j].state, state))
                break;
        if (j == nc) {
            struct count *grown = realloc(counts, (nc + 1) * sizeof(*grown));
            if (!grown) {
                free(v);
                break;
            }
            counts = grown;
            counts[nc].parent = list[i].parent;
            snprintf(counts[nc].state, sizeof(counts[nc].state), "%s", state);
            counts[nc].n = 0;
            nc++;
        }
        counts[j].n++;
        free(v);
    }
    struct textbuf s = {0};
    for (size_t j = 0; j < nc; j++) {
        struct cfs_res parent;
        tb_printf(&s, "%s{", metric);
        if (counts[j].parent && store_res_get(st, counts[j].parent, &parent, &ignore) == 0) {
            metrics_res_labels(st, &parent, &s);
            tb_puts(&s, ",");
        }
        tb_puts(&s, "state=\"");
        metrics_label_value(&s, counts[j].state);
        tb_printf(&s, "\"} %lld\n", counts[j].n);
    }
    family(out, metric, "gauge", help, &s);
    tb_free(&s);
    free(counts);
    free(list);
}

/* The reconciler's samples of one resource start with "@ID " (reconcile_
 * metrics.c): shown without it to readers of that resource, and a family's
 * HELP/TYPE lines only when one of its samples is. */
static void published_lines(struct cfs_store *st, const struct events_viewer *w,
                            const char *text, struct textbuf *out)
{
    struct textbuf head = {0};
    int64_t last_id = -1;
    bool last_ok = false;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (line[0] == '#') {
            if (!strncmp(line, "# HELP ", 7))
                head.len = 0;       /* a new family: the last one's header goes */
            tb_put(&head, line, len);
        } else if (line[0] == '@') {
            char *end = NULL;
            long long id = strtoll(line + 1, &end, 10);
            if (id != last_id) {
                struct cfs_res r;
                struct cfs_err ignore;
                last_id = id;
                last_ok = store_res_get(st, id, &r, &ignore) == 0 && shown(st, w, &r);
            }
            if (last_ok && end && *end == ' ') {
                tb_put(out, head.s, head.len);
                head.len = 0;
                tb_put(out, end + 1, len - (size_t)(end + 1 - line));
            }
        } else {
            tb_put(out, head.s, head.len);
            head.len = 0;
            tb_put(out, line, len);
        }
        line += len;
    }
    tb_free(&head);
}

/* What the reconciler published, when it is recent enough to be true. */
static void reconciler_part(struct cfs_store *st, const struct events_viewer *w,
                            struct textbuf *out)
{
    char *v = NULL;
    struct cfs_err ignore;
    bool up = false;
    const char *text = NULL;
    if (store_meta_get(st, METRICS_META_KEY, &v, &ignore) == 0) {
        long long at = 0;
        int interval = 0;
        char *nl = strchr(v, '\n');
        if (nl && sscanf(v, "%lld %d", &at, &interval) == 2 && interval > 0) {
            /* Three missed publications: the reconciler is not running. */
            long long age = (long long)(store_now() - at);
            up = age >= 0 && age < 3LL * interval * 1000000000LL + 1000000000LL;
            text = nl + 1;
        }
    }
    tb_puts(out, "# HELP cloudfs_reconciler_up 1 when the reconciler published its metrics "
                 "within the last three intervals.\n# TYPE cloudfs_reconciler_up gauge\n");
    tb_printf(out, "cloudfs_reconciler_up %d\n", up ? 1 : 0);
    if (up && text)
        published_lines(st, w, text, out);
    free(v);
}

int metrics_render(struct cfs_store *st, const struct events_viewer *w, char **out,
                   size_t *len)
{
    struct textbuf b = {0};
    count_family(st, w, "vm", "cloudfs_vms", "VMs by observed state (status/state).", &b);
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
        gauge_family(st, w, &gauges[i], &b);
    count_family(st, w, "task", "cloudfs_tasks", "Tasks by state.", &b);
    tb_puts(&b, "# HELP cloudfs_changes_last_seq Sequence number of the newest change-log entry.\n"
                "# TYPE cloudfs_changes_last_seq gauge\n");
    tb_printf(&b, "cloudfs_changes_last_seq %lld\n", (long long)store_last_seq(st));
    reconciler_part(st, w, &b);
    *out = tb_steal(&b, len);
    return *out ? 0 : -ENOMEM;
}
