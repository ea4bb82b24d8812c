/* task.c: tasks/<id>/ for operations that take time (image imports).
 *
 * A task is a resource of the "task" kind made by the reconciler only; its
 * files are status values.  The target's status/task names the task while
 * it runs.  Finished tasks are pruned task-retention seconds after they end
 * (reconcile_task).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reconcile.h"

void rc_iso_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int task_begin(struct reconciler *rc, const char *op, const struct cfs_res *target,
               struct rc_task *t)
{
    struct cfs_err err;
    char *next = NULL, name[32], path[1024], now[32];
    memset(t, 0, sizeof(*t));
    t->rc = rc;
    t->progress = -1;
    if (!rc->k_task)
        return -1;
    pthread_mutex_lock(&rc->task_lock);
    long long id = 1;
    if (store_meta_get(rc->st, "task-next", &next, &err) == 0 && next)
        id = atoll(next) > 0 ? atoll(next) : 1;
    free(next);
    snprintf(name, sizeof(name), "%lld", id);
    char nextbuf[32];
    snprintf(nextbuf, sizeof(nextbuf), "%lld", id + 1);
    int r = store_meta_set(rc->st, "task-next", nextbuf, &err);
    pthread_mutex_unlock(&rc->task_lock);
    if (r < 0 ||
        store_res_create(rc->st, 0, rc->k_task, name, target->uid, target->gid, &rc_actor, &t->res,
                         &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: task %s: %s\n", op, err.msg);
        return -1;
    }
    store_res_path(rc->st, target, path, sizeof(path), &err);
    rc_iso_time(now, sizeof(now));
    rc_set_status(rc, &t->res, "op", op);
    rc_set_status(rc, &t->res, "target", path);
    rc_set_status(rc, &t->res, "started", now);
    rc_set_status(rc, &t->res, "progress", "0");
    rc_set_status(rc, &t->res, "state", "running");
    rc_set_status(rc, target, "task", name);
    t->progress = 0;
    return 0;
}

int task_progress(int percent, void *arg)
{
    struct rc_task *t = arg;
    if (!t || t->progress < 0 || percent <= t->progress)
        return 0;
    /* Every whole percent is one status change: enough for a progress bar,
     * few enough for the changes log. */
    char buf[8];
    t->progress = percent > 100 ? 100 : percent;
    snprintf(buf, sizeof(buf), "%d", t->progress);
    rc_set_status(t->rc, &t->res, "progress", buf);
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
    rc_set_status(t->rc, &t->res, "error", err ? err->msg : "");
    rc_set_status(t->rc, &t->res, "finished", now);
    rc_set_status(t->rc, &t->res, "state", err ? "failed" : "succeeded");
    workq_add(&t->rc->q, t->res.id, 0);    /* schedules its pruning */
    t->progress = -1;
}

void task_fail_orphans(struct reconciler *rc)
{
    struct cfs_res *list = NULL;
    size_t n = 0;
    struct cfs_err err;
    char now[32];
    if (!rc->k_task || store_res_all(rc->st, rc->k_task, &list, &n, &err) < 0)
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

int reconcile_task(struct reconciler *rc, const struct cfs_res *task)
{
    char *finished = rc_status(rc, task->id, "finished");
    int result = 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (finished[0] && strptime(finished, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        time_t end = timegm(&tm);
        long long left = (long long)end + rc->conf->task_retention - (long long)time(NULL);
        if (left <= 0) {
            struct cfs_err err;
            if (store_res_delete(rc->st, task, &rc_actor, &err) < 0)
                fprintf(stderr, "cloudfs reconcile: pruning task %s: %s\n", task->name, err.msg);
        } else {
            result = left > 3600 ? 3600000 : (int)left * 1000 + 1;
        }
    }
    free(finished);
    return result;
}
