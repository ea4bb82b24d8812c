/* task.h: tasks/<id>/ of long operations (task.c; the pass that prunes
 * them is reconcile_task.c). */
#ifndef CFS_TASK_H
#define CFS_TASK_H

#include "reconcile.h"

struct rc_task {
    struct reconciler *rc;
    struct cfs_res res;         /* the task */
    struct cfs_res target;      /* what it works on: its status/task names the task */
    int progress;               /* -1: no task (it could not be made, or it ended) */
};

/* Make a task for op on target and name it in target's status/task; its
 * files are written at once (not at the end of the pass). */
int task_begin(struct reconciler *rc, const char *op, const struct cfs_res *target,
               struct rc_task *t);
/* A progress callback (cfs_progress_cb) for arg = struct rc_task *. */
int task_progress(int percent, void *arg);
/* Finish the task (err NULL: succeeded) and clear target's status/task. */
void task_end(struct rc_task *t, const struct cfs_err *err);

#endif
