/* reconcile_task.c: the task kind's pass: finished tasks are pruned
 * task-retention seconds after they end; at start, tasks a previous
 * process left running are marked failed (task.c makes and runs them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_store.h"

static void task_fail_orphans(struct reconciler *rc)
{
    struct cfs_res *list = NULL;
    size_t n = 0;
    struct cfs_err err;
    char now[32];
    if (store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_task), &list, &n, &err) < 0)
        return;
    rc_iso_time(now, sizeof(now));
    for (size_t i = 0; i < n; i++) {
        char *state = rc_status(rc, list[i].id, "state");
        if (!strcmp(state, "running") || !strcmp(state, "queued")) {
            rc_set_status(rc, &list[i], "error", "interrupted: the reconciler restarted; "
                                                 "the operation is retried in a new task");
            rc_set_status(rc, &list[i], "finished", now);
            rc_set_status(rc, &list[i], "state", "failed");
        }
        free(state);
    }
    free(list);
}

static int reconcile_task(struct reconciler *rc, const struct cfs_res *task)
{
    char *finished = rc_status(rc, task->id, "finished");
    int result = 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (finished[0] && strptime(finished, RC_ISO_TIME_FORMAT, &tm)) {
        time_t end = timegm(&tm);
        long long left = (long long)end + rc->conf->task_retention - (long long)time(NULL);
        if (left <= 0) {
            struct cfs_err err;
            if (rc_res_delete(rc, task, &err) < 0)
                fprintf(stderr, "cloudfs reconcile: pruning task %s: %s\n", task->name, err.msg);
        } else {
            result = left > 3600 ? 3600000 : (int)left * 1000 + 1;
        }
    }
    free(finished);
    return result;
}

/* Tasks are the reconciler's own: their changes wake nobody.  The status
 * of the target (status/task) is written by task.c on the task's behalf. */
const struct rc_kind rc_kind_task = {
    .name = "task", .pass = reconcile_task, .start = task_fail_orphans, .wakes = RC_WAKE_NONE,
    .status_read = "state finished",
    .status_written = "op target started progress state error finished image/task pool/task",
};
