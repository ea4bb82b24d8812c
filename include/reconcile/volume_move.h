/* volume_move.h: storage migration of a volume (its pool written once it
 * holds data), for the volume's pass (reconcile_volume.c). */
#ifndef CFS_VOLUME_MOVE_H
#define CFS_VOLUME_MOVE_H

#include "reconcile.h"

/* Status keys of a move (volume): the spec generation whose move failed
 * (not tried again until a new write), and the failure's reason. */
#define CFS_ST_MOVE_FAILED "_move_failed"
#define CFS_ST_MOVE_ERROR "_move_error"

/* Move vol from pool `from` (status pool) to pool `to` (its pool
 * attribute, gen its spec generation) when they differ: live through the
 * running domain it is plugged into, else offline with qemu-img.  0 when
 * there is nothing to do or the move is done (the pass goes on), else a
 * delay in ms after which to look again (the move failed: status/error
 * says why and the volume stays where it was). */
int volume_move(struct reconciler *rc, const struct cfs_res *vol, const char *from,
                const char *to, int64_t gen);

/* What the pass leaves in status/error when all is well: the reason of a
 * move that failed for this spec generation, else "" (malloc'd). */
char *volume_move_error(struct reconciler *rc, const struct cfs_res *vol, int64_t gen);

#endif
