/* metrics.h: /metrics, the Prometheus text exposition (format 0.0.4,
 * node_exporter textfile compatible).
 *
 * The mount computes what the store holds (VMs by observed state, host
 * capacity and allocation, pool capacity, tasks by state) when the file is
 * opened, and appends what the reconciler publishes in the store's meta
 * table under METRICS_META_KEY (prom_text.h; queue depth and latency, per-VM counters
 * from libvirt bulk stats) as long as that is fresh.
 *
 * Rendered for its reader: samples of a resource are shown to those who
 * may read its status (all of root's; a tenant's to its owner and group;
 * everything to root and the admin group), aggregates count only those.
 */
#ifndef CFS_METRICS_H
#define CFS_METRICS_H

#include <stddef.h>

#include "store.h"
#include "viewer.h"

int metrics_render(struct cfs_store *st, const struct events_viewer *w, char **out,
                   size_t *len);

#endif
