/* layout_use.h: "cloudfs layout-use", who acts on each layout attribute.
 *
 * One line per attribute of the layout, "KIND/ATTR<TAB>READERS", READERS
 * being space-separated: "reconcile:KIND" for each reconciler pass whose
 * table row (rc_kind.h) declares reading it, "mount:link" for a verb the
 * mount turns into a link or unlink, "spec-only" for an attribute the
 * layout marks as acted on by nothing (with its reason), or "-" when the
 * reconciler and the layout name no reader.  The mount's preconditions
 * (precond.c) read some attributes too; tests/15-layout-use.bats adds
 * those from the source.
 */
#ifndef CFS_LAYOUT_USE_H
#define CFS_LAYOUT_USE_H

#include <stdio.h>

#include "cfs_error.h"
#include "layout.h"

/* 0, or -1 with err when the reconciler's table does not fit the layout. */
int layout_use_print(FILE *out, const struct cfs_layout *l, struct cfs_err *err);

#endif
