/* rc_store.c: the reconciler's reads and writes of the store (see rc_store.h). */
#include "rc_store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status_keys.h"
#include "value.h"

/* One buffered status write. */
struct pending {
    struct cfs_res res;
    char *name, *value;
};

/* The pass a worker thread is running. */
struct pass {
    const struct rc_bound *scope;   /* the row reads and writes are checked against */
    struct pending *w;              /* in the order of each key's last write */
    size_t n, cap;
};

/* Per thread: each worker runs one pass at a time, and nothing of a pass
 * is shared with another thread. */
static _Thread_local struct pass *current;

/* ---- declarations ---- */

static atomic_int complaints;

static void undeclared(const char *what, const struct cfs_kind *k, const char *name)
{
    /* Enough to find the row to fix, not a flood on every pass. */
    if (atomic_fetch_add(&complaints, 1) < 20)
        fprintf(stderr, "cloudfs reconcile: undeclared: the %s pass %s %s%s%s (declare it in "
                        "its rc_kind row)\n",
                current->scope->row->name, what, k ? k->name : "", k ? "/" : "", name);
}

static void check(enum rc_decl_list list, const struct cfs_kind *k, const char *name)
{
    static const char *const what[RC_NLISTS] = {
        [RC_ATTRS_READ] = "reads attribute", [RC_ATTRS_WRITTEN] = "writes attribute",
        [RC_STATUS_READ] = "reads status", [RC_STATUS_WRITTEN] = "writes status",
    };
    if (current && current->scope && !rc_declared(current->scope, list, k, name))
        undeclared(what[list], k, name);
}

/* ---- reads ---- */

static struct pending *find(struct pass *p, int64_t res, const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (p->w[i].res.id == res && !strcmp(p->w[i].name, name))
            return &p->w[i];
    return NULL;
}

char *rc_attr(struct reconciler *rc, int64_t res, const char *name)
{
    check(RC_ATTRS_READ, NULL, name);
    return store_attr_text(rc->st, res, name);
}

char *rc_status(struct reconciler *rc, int64_t res, const char *name)
{
    check(RC_STATUS_READ, NULL, name);
    struct pending *w = find(current, res, name);
    return w ? strdup(w->value) : store_status_text(rc->st, res, name);
}

/* ---- writes ---- */

/* Write one status value now (inside a batch when flushing), with
 * status/error's rule: the reconciler's own reason is kept in
 * CFS_ST_RC_ERROR; clearing removes only that, and only while it still
 * stands (a refusal's reason stays until the user's next accepted write). */
static void write_now(struct reconciler *rc, const struct cfs_res *r, const char *name,
                      const char *value)
{
    struct cfs_err err;
    if (!strcmp(name, "error")) {
        char *mine = store_status_text(rc->st, r->id, CFS_ST_RC_ERROR);
        bool skip = !value[0] && !mine[0];      /* every converged pass: nothing to do */
        if (!value[0] && mine[0]) {
            char *cur = store_status_text(rc->st, r->id, "error");
            skip = strcmp(cur, mine) != 0;
            free(cur);
        }
        if (strcmp(mine, value))
            store_status_set(rc->st, r, CFS_ST_RC_ERROR, value, &rc_actor, &err);
        free(mine);
        if (skip)
            return;
    }
    if (store_status_set(rc->st, r, name, value, &rc_actor, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: %s/%s: %s\n", r->name, name, err.msg);
}

/* Would writing w change anything (write_now's rule)?  Read without the
 * write lock, so that a converged pass takes no write transaction at all. */
static bool changes(struct reconciler *rc, const struct pending *w)
{
    char *cur = store_status_text(rc->st, w->res.id, w->name);
    bool differ = strcmp(cur, w->value) != 0;
    if (!strcmp(w->name, "error")) {
        char *mine = store_status_text(rc->st, w->res.id, CFS_ST_RC_ERROR);
        differ = w->value[0] ? differ || strcmp(mine, w->value) : mine[0] != '\0';
        free(mine);
    }
    free(cur);
    return differ;
}

void rc_set_status(struct reconciler *rc, const struct cfs_res *r, const char *name,
                   const char *value)
{
    struct pass *p = current;
    if (!value)
        value = "";
    check(RC_STATUS_WRITTEN, r->kind, name);
    if (!p) {
        write_now(rc, r, name, value);
        return;
    }
    struct pending *w = find(p, r->id, name);
    char *v = strdup(value);
    if (!v) {
        fprintf(stderr, "cloudfs reconcile: %s/%s: out of memory\n", r->name, name);
        return;
    }
    if (w) {
        /* The last write of a key is the one that counts: it moves to the
         * end, where it would be in the changes log had it been written
         * now. */
        struct pending moved = *w;
        free(moved.value);
        moved.value = v;
        memmove(w, w + 1, (size_t)(&p->w[p->n - 1] - w) * sizeof(*w));
        p->w[p->n - 1] = moved;
        return;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct pending *grown = realloc(p->w, cap * sizeof(*grown));
        if (!grown) {
            free(v);
            fprintf(stderr, "cloudfs reconcile: %s/%s: out of memory\n", r->name, name);
            return;
        }
        p->w = grown;
        p->cap = cap;
    }
    p->w[p->n] = (struct pending){.res = *r, .name = strdup(name), .value = v};
    if (!p->w[p->n].name) {
        free(v);
        return;
    }
    p->n++;
}

void rc_set_error(struct reconciler *rc, const struct cfs_res *r, const char *what,
                  const struct cfs_err *err)
{
    char msg[CFS_ERR_MSG_MAX + 1200];
    snprintf(msg, sizeof(msg), "%.1024s%s%s", what ? what : "", what ? ": " : "", err->msg);
    rc_set_status(rc, r, "error", msg);
}

#define VERB_MAX_AGE_NS (600LL * 1000000000LL)

struct verb_scan {
    int64_t last;
    const char *verb;
    bool asked;
};

static int verb_scan_cb(const struct cfs_change *c, void *arg)
{
    struct verb_scan *v = arg;
    v->last = c->seq;
    if (c->new_value && !strcmp(c->new_value, v->verb) && store_now() - c->time <= VERB_MAX_AGE_NS)
        v->asked = true;
    return 0;
}

int rc_verbs_new(struct reconciler *rc, const struct cfs_res *r, const char *verb, bool *asked,
                 struct cfs_err *err)
{
    char *last = rc_status(rc, r->id, CFS_ST_VERB_SEQ);
    struct verb_scan v = {.last = atoll(last), .verb = verb};
    int64_t before = v.last;
    free(last);
    *asked = false;
    if (store_res_changes(rc->st, r->id, "verb", v.last, verb_scan_cb, &v, err) < 0)
        return -1;
    if (v.last == before)
        return 0;
    rc_set_status_int(rc, r, CFS_ST_VERB_SEQ, v.last);
    *asked = v.asked;
    return 1;
}

void rc_set_state(struct reconciler *rc, const struct cfs_res *vm, const char *state)
{
    char *old = rc_status(rc, vm->id, "state");
    if (strcmp(old, state)) {
        char since[32];
        rc_iso_time(since, sizeof(since));
        rc_set_status(rc, vm, "state", state);
        rc_set_status(rc, vm, "since", since);
    }
    free(old);
}

void rc_set_status_int(struct reconciler *rc, const struct cfs_res *r, const char *name,
                       long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    rc_set_status(rc, r, name, buf);
}

void rc_set_status_size(struct reconciler *rc, const struct cfs_res *r, const char *name,
                        long long bytes)
{
    char buf[32];
    value_format_size(bytes < 0 ? 0 : bytes, buf, sizeof(buf));
    rc_set_status(rc, r, name, buf);
}

static void drop(struct pass *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->w[i].name);
        free(p->w[i].value);
    }
    p->n = 0;
}

void rc_flush(struct reconciler *rc)
{
    struct pass *p = current;
    struct cfs_err err;
    size_t keep = 0;
    if (!p || !p->n)
        return;
    /* First drop what changes nothing, under a read snapshot only. */
    store_read_begin(rc->st);
    for (size_t i = 0; i < p->n; i++) {
        if (changes(rc, &p->w[i])) {
            struct pending w = p->w[keep];
            p->w[keep++] = p->w[i];
            p->w[i] = w;
        }
    }
    store_read_end(rc->st);
    if (keep == 0)
        goto cleanup;
    /* Then one transaction: readers see all of it or nothing (a wait
     * reader takes _gen as "status is final", so it must not show before
     * the values it vouches for). */
    if (store_write_begin(rc->st, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: %s: %s\n", p->w[0].res.name, err.msg);
        goto cleanup;
    }
    for (size_t i = 0; i < keep; i++)
        write_now(rc, &p->w[i].res, p->w[i].name, p->w[i].value);
    if (store_write_end(rc->st, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: %s: %s\n", p->w[0].res.name, err.msg);
cleanup:
    drop(p);
}

void rc_wake(struct reconciler *rc, int64_t id)
{
    rc_flush(rc);
    workq_add(&rc->q, id, 0);
}

/* ---- spec changes ---- */

int rc_res_create(struct reconciler *rc, int64_t parent, const struct rc_kind *row,
                  const char *name, uid_t uid, gid_t gid, struct cfs_res *out,
                  struct cfs_err *err)
{
    rc_flush(rc);
    return store_res_create(rc->st, parent, rc_layout_kind(rc, row), name, uid, gid, &rc_actor,
                            out, err);
}

int rc_attr_set(struct reconciler *rc, const struct cfs_res *r, const char *name,
                const char *value, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(r->kind, name);
    check(RC_ATTRS_WRITTEN, r->kind, name);
    if (!a)
        return cfs_err_set(err, EINVAL, "layout: %s has no attribute %s", r->kind->name, name);
    rc_flush(rc);
    return store_attr_set(rc->st, r, a, value, &rc_actor, NULL, err);
}

int rc_res_delete(struct reconciler *rc, const struct cfs_res *r, struct cfs_err *err)
{
    rc_flush(rc);
    return store_res_delete(rc->st, r, &rc_actor, err);
}

int rc_res_purge(struct reconciler *rc, const struct cfs_res *r, struct cfs_err *err)
{
    /* The status buffered for r is written first, and purged with it. */
    rc_flush(rc);
    return store_res_purge(rc->st, r, &rc_actor, err);
}

int rc_children_left(struct reconciler *rc, const struct rc_kind *row, int64_t parent)
{
    const struct cfs_kind *k = rc_layout_kind(rc, row);
    struct cfs_res *all = NULL;
    size_t n = 0;
    struct cfs_err ignore;
    int left = 0;
    if (!k || store_res_all(rc->st, k, &all, &n, &ignore) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        left += all[i].parent == parent;
    free(all);
    return left;
}

/* ---- passes ---- */

void rc_pass_begin(struct reconciler *rc, const struct rc_kind *row)
{
    struct pass *p = calloc(1, sizeof(*p));
    if (!p)
        return;     /* then the pass writes through, as outside a pass */
    p->scope = rc_bound_row(rc, row);
    current = p;
}

void rc_pass_end(struct reconciler *rc)
{
    struct pass *p = current;
    if (!p)
        return;
    rc_flush(rc);
    current = NULL;
    free(p->w);
    free(p);
}

const struct rc_bound *rc_scope_enter(struct reconciler *rc, const struct rc_kind *row)
{
    if (!current)
        return NULL;
    const struct rc_bound *prev = current->scope;
    current->scope = rc_bound_row(rc, row);
    return prev;
}

void rc_scope_leave(const struct rc_bound *prev)
{
    if (current && prev)
        current->scope = prev;
}

void rc_iso_time(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, RC_ISO_TIME_FORMAT, &tm);
}
