/* metrics.h: /metrics, the Prometheus text exposition (format 0.0.4,
 * node_exporter textfile compatible).
 *
 * The mount computes what the store holds (VMs by observed state, host
 * capacity and allocation, pool capacity, tasks by state) when the file is
 * opened, and appends what the reconciler publishes in the store's meta
 * table under METRICS_META_KEY (queue depth and latency, per-VM counters
 * from libvirt bulk stats) as long as that is fresh.
 */
#ifndef CFS_METRICS_H
#define CFS_METRICS_H

#include <stddef.h>

#include "store.h"

/* Value: "<publication time, ns since the epoch> <interval s>\n" then
 * complete metric families in the exposition format. */
#define METRICS_META_KEY "metrics.reconciler"

int metrics_render(struct cfs_store *st, char **out, size_t *len);

struct textbuf;
/* Label value escaped for the exposition format (backslash, quote, newline). */
void metrics_label_value(struct textbuf *b, const char *v);
/* Labels naming a resource, one per level of its path, named after the
 * kinds: zone="z",cluster="c",vm="web1". */
void metrics_res_labels(struct cfs_store *st, const struct cfs_res *r, struct textbuf *b);

#endif
