/* rc_kind.h: the reconciler's kinds, one table row each.
 *
 * Like libvirt's registered drivers: each src/reconcile/reconcile_<kind>.c
 * exports one const struct rc_kind, and rc_kinds.c lists the rows in one
 * array, the only list of kinds in the reconciler.  reconcile.c loops over
 * it to dispatch changes, run passes, resync and start; passes that need
 * another kind ask rc_layout_kind() with that kind's row.  Kinds without a
 * pass whose changes matter (cluster, offering: capacity and sizes) have a
 * row without one.  Adding a kind: its .cfg, its reconcile_<kind>.c, one
 * line in rc_kinds.c and one declaration below.
 *
 * A row declares what its pass reads and writes (including what helpers
 * it calls read and write on its behalf); rc_kinds_bind() checks the table
 * against the layout at start, and rc_store.c checks every read and write
 * of a pass against its row while it runs.
 */
#ifndef CFS_RC_KIND_H
#define CFS_RC_KIND_H

#include <stddef.h>

#include "cfs_error.h"
#include "layout.h"
#include "store.h"

struct reconciler;

/* What a change of a kind (a spec write, mkdir, rmdir) makes the
 * reconciler look at. */
enum rc_wake {
    RC_WAKE_NONE,       /* nothing: the reconciler's own kinds (tasks) */
    RC_WAKE_SELF,       /* the changed resource's own pass */
    RC_WAKE_RESYNC,     /* every resource: capacity or sizes changed */
};

struct rc_kind {
    const char *name;           /* the layout's kind */
    /* One pass over r: milliseconds after which to look again (> 0), 0
     * when converged, -1 on an error recorded in r's status.  NULL for a
     * kind the reconciler does not converge. */
    int (*pass)(struct reconciler *rc, const struct cfs_res *r);
    /* Once at start, before the first resync (may be NULL). */
    void (*start)(struct reconciler *rc);
    enum rc_wake wakes;
    /* Kinds every resource of which is also woken by a change of this
     * kind, space-separated ("vpc subnet": a host's vtep is every VPC's
     * business); NULL: none. */
    const char *wakes_kinds;
    /* What the pass reads and writes, as space-separated names: "name" of
     * the row's own kind, "kind/name" of another kind's; status names
     * starting with '_' are the internal keys of status_keys.h.  NULL:
     * none. */
    const char *attrs_read, *attrs_written, *status_read, *status_written;
};

extern const struct rc_kind rc_kind_host, rc_kind_pool, rc_kind_image, rc_kind_volume,
    rc_kind_vm, rc_kind_task, rc_kind_cluster, rc_kind_offering, rc_kind_vpc, rc_kind_subnet,
    rc_kind_nic;
extern const struct rc_kind rc_kind_alarm;
extern const struct rc_kind rc_kind_snapshot;
extern const struct rc_kind rc_kind_vmsnap;
extern const struct rc_kind rc_kind_secgroup, rc_kind_sgrule;
extern const struct rc_kind rc_kind_affinity_group;

/* The table, in resync order (hosts first: VMs need their connections). */
extern const struct rc_kind *const rc_kinds[];
extern const size_t rc_nkinds;

enum rc_decl_list { RC_ATTRS_READ, RC_ATTRS_WRITTEN, RC_STATUS_READ, RC_STATUS_WRITTEN, RC_NLISTS };

/* One declared name, resolved against the layout. */
struct rc_decl {
    const struct cfs_kind *kind;
    char name[CFS_NAME_MAX + 1];
};

/* A row resolved against the layout. */
struct rc_bound {
    const struct rc_kind *row;
    const struct cfs_kind *kind;
    struct rc_decl *decl[RC_NLISTS];
    size_t ndecl[RC_NLISTS];
};

/* Resolve every row of rc_kinds against the layout (*out: rc_nkinds
 * entries, in table order).  Fails with a one-line reason when they
 * disagree: a kind the layout marks reconciled (or system: made by the
 * reconciler) without a pass, a pass for a kind that is neither, a row
 * for a kind the layout lacks, or a declared name the layout does not
 * have. */
int rc_kinds_bind(const struct cfs_layout *l, struct rc_bound **out, struct cfs_err *err);
void rc_kinds_unbind(struct rc_bound *b);
/* Is (kind, name) in list of b?  kind NULL: any kind (a read by id). */
bool rc_declared(const struct rc_bound *b, enum rc_decl_list list, const struct cfs_kind *kind,
                 const char *name);

/* The layout kind of a row (never NULL once the daemon runs). */
const struct cfs_kind *rc_layout_kind(const struct reconciler *rc, const struct rc_kind *row);
/* The bound row of a layout kind, or NULL when the reconciler has none. */
const struct rc_bound *rc_bound_of(const struct reconciler *rc, const struct cfs_kind *k);
/* The bound row of a table row. */
const struct rc_bound *rc_bound_row(const struct reconciler *rc, const struct rc_kind *row);

#endif
