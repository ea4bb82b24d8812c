/* manpage.h: the tree reference of cloudfs(7), generated from the layout. */
#ifndef CFS_MANPAGE_H
#define CFS_MANPAGE_H

#include <stdio.h>

#include "layout.h"

/* Write the roff text that stands between the LAYOUT markers of
 * man/cloudfs.7.  A test regenerates it and compares, so the page and the
 * layout cannot drift apart. */
void manpage_write_layout(FILE *out, const struct cfs_layout *l);

#endif
