/* prom_text.h: what the mount's /metrics (src/fs/metrics.c) and the
 * reconciler's publisher (src/reconcile/reconcile_metrics.c) share of the
 * Prometheus text exposition (format 0.0.4): where the reconciler's part
 * is kept, and how a resource is labelled. */
#ifndef CFS_PROM_TEXT_H
#define CFS_PROM_TEXT_H

#include "store.h"
#include "textbuf.h"

/* The store meta key holding the reconciler's part: "<publication time, ns
 * since the epoch> <interval s>\n" then complete metric families. */
#define METRICS_META_KEY "metrics.reconciler"

/* Label value escaped for the exposition format (backslash, quote, newline). */
void metrics_label_value(struct textbuf *b, const char *v);
/* Labels naming a resource, one per level of its path, named after the
 * kinds: zone="z",cluster="c",vm="web1". */
void metrics_res_labels(struct cfs_store *st, const struct cfs_res *r, struct textbuf *b);

#endif
