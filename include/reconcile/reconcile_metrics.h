/* reconcile_metrics.h: the reconciler's part of /metrics.
 *
 * A thread publishes, every metrics-interval seconds, the work queue's
 * depth and latency and the per-VM counters of one libvirt bulk-stats call
 * per connected host into the store's meta table (METRICS_META_KEY), where
 * the mount reads them.  A plain meta write: it wakes nobody.
 */
#ifndef CFS_RECONCILE_METRICS_H
#define CFS_RECONCILE_METRICS_H

#include "reconcile.h"

struct rc_metrics;

/* NULL when the thread cannot start (metrics are then missing, nothing else). */
struct rc_metrics *rc_metrics_start(struct reconciler *rc);
/* Stop and join; before the hosts' connections are closed.  NULL is ignored. */
void rc_metrics_stop(struct rc_metrics *m);

#endif
