/* task.c: tasks/<id>/ for operations that take time (image imports and
 * copies).
 *
 * A task is a resource of the "task" kind made by the reconciler only; its
 * files are status values, written at once (not at the end of the pass
 * that runs the operation: progress is for watching while it runs).  The
 * target's status/task names the task while it runs.  Finished tasks are
 * pruned by their own pass (reconcile_task.c).
 */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_store.h"

int task_begin(struct reconciler *rc, const char *op, const struct cfs_res *target,
               struct rc_task *t)
{
    struct cfs_err err;
    char *next = NULL, name[32], nextbuf[32], path[1024], now[32];
    const struct rc_bound *scope = NULL;
    int ret = -1;
    memset(t, 0, sizeof(*t));
    t->rc = rc;
    t->target = *target;
    t->progress = -1;
    pthread_mutex_lock(&rc->task_lock);
    long long id = 1;
    if (store_meta_get(rc->st, "task-next", &next, &err) == 0 && next)
        id = atoll(next) > 0 ? atoll(next) : 1;
    free(next);
    snprintf(name, sizeof(name), "%lld", id);
    snprintf(nextbuf, sizeof(nextbuf), "%lld", id + 1);
    int numbered = store_meta_set(rc->st, "task-next", nextbuf, &err);
    pthread_mutex_unlock(&rc->task_lock);
    scope = rc_scope_enter(rc, &rc_kind_task);
    if (numbered < 0 ||
        rc_res_create(rc, 0, &rc_kind_task, name, target->uid, target->gid, &t->res, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: task %s: %s\n", op, err.msg);
        goto cleanup;
    }
    store_res_path(rc->st, target, path, sizeof(path), &err);
    rc_iso_time(now, sizeof(now));
    rc_set_status(rc, &t->res, "op", op);
    rc_set_status(rc, &t->res, "target", path);
    rc_set_status(rc, &t->res, "started", now);
    rc_set_status(rc, &t->res, "progress", "0");
    rc_set_status(rc, &t->res, "state", "running");
    rc_set_status(rc, target, "task", name);
    rc_flush(rc);
    t->progress = 0;
    ret = 0;
cleanup:
    rc_scope_leave(scope);
    return ret;
}

int task_progress(int percent, void *arg)
{
    struct rc_task *t = arg;
    if (!t || t->progress < 0 || percent <= t->progress)
        return 0;
    /* Every whole percent is one status change: enough for a progress bar,
     * few enough for the changes log. */
    t->progress = percent > 100 ? 100 : percent;
    const struct rc_bound *scope = rc_scope_enter(t->rc, &rc_kind_task);
    rc_set_status_int(t->rc, &t->res, "progress", t->progress);
    rc_flush(t->rc);
    rc_scope_leave(scope);
    return 0;
}

void task_end(struct rc_task *t, const struct cfs_err *err)
{
    char now[32];
    if (t->progress < 0)
        return;
    rc_iso_time(now, sizeof(now));
    if (!err)
        task_progress(100, t);
    const struct rc_bound *scope = rc_scope_enter(t->rc, &rc_kind_task);
    rc_set_status(t->rc, &t->res, "error", err ? err->msg : "");
    rc_set_status(t->rc, &t->res, "finished", now);
    rc_set_status(t->rc, &t->res, "state", err ? "failed" : "succeeded");
    rc_set_status(t->rc, &t->target, "task", "");
    rc_wake(t->rc, t->res.id);      /* schedules its pruning */
    rc_scope_leave(scope);
    t->progress = -1;
}
