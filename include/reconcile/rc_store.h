/* rc_store.h: the reconciler's reads and writes of the store.
 *
 * Passes read spec and status and write status through these helpers.  A
 * pass runs between rc_pass_begin and rc_pass_end (the worker brackets
 * it): its status writes are buffered in order, the last value of a key
 * wins, its own reads see them, and they are written in one store
 * transaction when the pass ends.  A pass calls rc_flush where another
 * process must see a value before the pass goes on: a transitional state
 * before a slow host or pool operation, a mark before a spec write that
 * relies on it.  A value equal to the stored one writes and logs nothing.
 * Outside a pass (start-up, the metrics thread) writes go straight to the
 * store, each its own transaction.
 *
 * Every read and write of a pass is checked against its row's declaration
 * (rc_kind.h); one outside it is logged as "undeclared", which the test
 * suite's log check fails on.
 */
#ifndef CFS_RC_STORE_H
#define CFS_RC_STORE_H

#include "reconcile.h"

/* Values as malloc'd strings ("" when absent). */
char *rc_attr(struct reconciler *rc, int64_t res, const char *name);
char *rc_status(struct reconciler *rc, int64_t res, const char *name);

/* status/NAME of r (NULL: empty).  status/error also carries the reasons
 * of writes the mount refused: the reconciler clears only what it reported
 * itself (CFS_ST_RC_ERROR), the user's next accepted write the rest. */
void rc_set_status(struct reconciler *rc, const struct cfs_res *r, const char *name,
                   const char *value);
/* The verbs written to r's ctl since the last pass saw them (their change
 * sequence is recorded, so each is acted on once): 1 when there were any,
 * *asked telling whether one of them was verb, written in the last 10
 * minutes (a verb older than that, from while the reconciler was down, is
 * dropped; several in a row are one); 0 when none; -1 with err. */
int rc_verbs_new(struct reconciler *rc, const struct cfs_res *r, const char *verb, bool *asked,
                 struct cfs_err *err);
/* status/state of vm, with status/since when it changes. */
void rc_set_state(struct reconciler *rc, const struct cfs_res *vm, const char *state);
/* status/error of r: "WHAT: the error's message" (WHAT NULL: the message). */
void rc_set_error(struct reconciler *rc, const struct cfs_res *r, const char *what,
                  const struct cfs_err *err);
void rc_set_status_int(struct reconciler *rc, const struct cfs_res *r, const char *name,
                       long long v);
/* A size in the tree's notation (512M, 20G); negative counts as 0. */
void rc_set_status_size(struct reconciler *rc, const struct cfs_res *r, const char *name,
                        long long bytes);

/* Write the pass's buffered status now, in one transaction.  Failures are
 * logged (the next pass writes again); outside a pass it does nothing. */
void rc_flush(struct reconciler *rc);

/* Enqueue resource id, after the pass's buffered status is written: the
 * pass woken may read it (a volume waiting for its pool's state). */
void rc_wake(struct reconciler *rc, int64_t id);

/* Spec changes a pass makes (the root volume it creates, poweroff's
 * state=stopped, purging a tombstone) go straight to the store, after the
 * pass's buffered status: what was reported before them stays before. */
int rc_res_create(struct reconciler *rc, int64_t parent, const struct rc_kind *row,
                  const char *name, uid_t uid, gid_t gid, struct cfs_res *out,
                  struct cfs_err *err);
int rc_attr_set(struct reconciler *rc, const struct cfs_res *r, const char *name,
                const char *value, struct cfs_err *err);
int rc_res_delete(struct reconciler *rc, const struct cfs_res *r, struct cfs_err *err);
int rc_res_purge(struct reconciler *rc, const struct cfs_res *r, struct cfs_err *err);
/* How many resources of row's kind parent still has, deleted or not (0 when
 * the store cannot tell or the layout has no such kind). */
int rc_children_left(struct reconciler *rc, const struct rc_kind *row, int64_t parent);

/* The worker's brackets around one pass of row over r. */
void rc_pass_begin(struct reconciler *rc, const struct rc_kind *row);
void rc_pass_end(struct reconciler *rc);
/* A helper that works for another kind inside a pass (a task's files, a
 * pool's spec) is checked against that kind's row until rc_scope_leave. */
const struct rc_bound *rc_scope_enter(struct reconciler *rc, const struct rc_kind *row);
void rc_scope_leave(const struct rc_bound *prev);

/* Time (UTC, ISO 8601) for since/started/finished, and its format. */
#define RC_ISO_TIME_FORMAT "%Y-%m-%dT%H:%M:%SZ"
void rc_iso_time(char *buf, size_t len);

#endif
