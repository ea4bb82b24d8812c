/* events.c: change-log entries as JSON lines (see events.h). */
#define FUSE_USE_VERSION 312
#include "events.h"

#include <errno.h>
#include <fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct events_reader {
    struct cfs_store *st;
    struct notify_fs *nf;
    pthread_mutex_t lock;       /* cursor and pending: reads of one open file may overlap */
    int64_t cursor;             /* last seq formatted */
    struct textbuf pending;     /* formatted, not yet read */
    size_t off;
    struct fuse_pollhandle *ph; /* armed through notify_fs_poll_arm */
    struct events_viewer who;
};

static bool is_secret(const struct cfs_layout *l, const struct cfs_change *c)
{
    const struct cfs_kind *k = c->kind ? layout_kind(l, c->kind) : NULL;
    const struct cfs_attr_def *a = k && c->attr && strcmp(c->op, "status") ? layout_attr(k, c->attr)
                                                                           : NULL;
    return a && a->type == CFS_T_SECRET;
}

/* The level of a status change (whitepaper 5.13: normal, warning, error),
 * as rows: the status file, the new value ("" any non-empty one, NULL any
 * at all).  The first row that matches wins; anything else is normal. */
static const struct {
    const char *attr, *value, *level;
} levels[] = {
    {"error", "", "error"},             /* a refusal or a failed operation */
    {"state", "error", "error"},
    {"state", "failed", "error"},       /* tasks, images */
    {"state", "unavailable", "error"},  /* pools */
    {"state", "firing", "warning"},     /* alarms */
    {"connection", "disconnected", "warning"},
    {"last-error", "", "warning"},      /* a notification, retried */
    {"orphans", "", "warning"},
};

static const char *event_level(const struct cfs_change *c)
{
    if (!c->attr || strcmp(c->op, "status"))
        return "normal";
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(levels[i].attr, c->attr))
            continue;
        const char *v = c->new_value ? c->new_value : "";
        if (levels[i].value[0] ? !strcmp(v, levels[i].value) : v[0] != '\0')
            return levels[i].level;
    }
    return "normal";
}

static void format(const struct cfs_layout *l, const struct cfs_change *c, int count,
                   int64_t first, struct textbuf *b);

void events_format(const struct cfs_layout *l, const struct cfs_change *c, struct textbuf *b)
{
    format(l, c, 1, 0, b);
}

/* One event as a JSON line; count > 1 adds how many identical ones were
 * folded into it and when the first was (this one is the last). */
static void format(const struct cfs_layout *l, const struct cfs_change *c, int count,
                   int64_t first, struct textbuf *b)
{
    bool secret = is_secret(l, c);
    tb_printf(b, "{\"seq\":%lld,\"time\":\"", (long long)c->seq);
    tb_time(b, c->time);
    tb_puts(b, "\",\"path\":");
    if (c->path) {
        /* Paths are built from validated names: no escaping is needed, but
         * the formatter escapes anyway. */
        char *p = malloc(strlen(c->path) + 2);
        if (p) {
            p[0] = '/';
            strcpy(p + 1, c->path);
        }
        tb_json(b, p ? p : c->path);
        free(p);
    } else {
        tb_puts(b, "null");
    }
    tb_puts(b, ",\"kind\":");
    tb_json(b, c->kind);
    tb_puts(b, ",\"op\":");
    tb_json(b, c->op);
    tb_puts(b, ",\"attribute\":");   /* the file, relative to the resource */
    const struct cfs_kind *k = c->kind ? layout_kind(l, c->kind) : NULL;
    if (c->attr && !strcmp(c->op, "status") && !(k && k->system)) {
        struct textbuf rel = {0};
        tb_printf(&rel, "status/%s", c->attr);
        tb_json(b, rel.s ? rel.s : c->attr);
        tb_free(&rel);
    } else {
        tb_json(b, c->attr);
    }
    tb_puts(b, ",\"old\":");
    tb_json(b, secret && c->old_value ? "***" : c->old_value);
    tb_puts(b, ",\"new\":");
    tb_json(b, secret && c->new_value ? "***" : c->new_value);
    tb_puts(b, ",\"actor\":");
    if (c->actor && !strcmp(c->actor, "fs")) {
        tb_printf(b, "{\"uid\":%lld,\"pid\":%lld,\"comm\":", (long long)c->uid, (long long)c->pid);
        tb_json(b, c->comm ? c->comm : "");
        tb_puts(b, "}");
    } else {
        tb_json(b, c->actor ? c->actor : "unknown");
    }
    tb_printf(b, ",\"level\":\"%s\"", event_level(c));
    if (count > 1) {
        tb_printf(b, ",\"count\":%d,\"first\":\"", count);
        tb_time(b, first);
        tb_puts(b, "\"");
    }
    tb_puts(b, "}\n");
}

/* ---- /events ---- */

int events_open(struct cfs_store *st, struct notify_fs *nf, const struct events_viewer *who,
                struct events_reader **out)
{
    struct events_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->st = st;
    r->nf = nf;
    r->who = *who;
    pthread_mutex_init(&r->lock, NULL);
    r->cursor = store_last_seq(st);
    *out = r;
    return 0;
}

#define FETCH_MAX 256

/* A formatted line of this fetch and what decides who may see it. */
struct line {
    int64_t res;
    uid_t actor_uid;
    bool by_fs;             /* a write through a mount (actor_uid is meaningful) */
    bool status;            /* a change of an observed value (status/...) */
    size_t start, end;      /* in pending */
};

struct fetch {
    struct events_reader *r;
    const struct cfs_layout *layout;
    struct line lines[FETCH_MAX];
    size_t n;
};

/* Runs under the store's lock: formats and notes, touches nothing else. */
static int fetch_one(const struct cfs_change *c, void *arg)
{
    struct fetch *f = arg;
    size_t start = f->r->pending.len;
    events_format(f->layout, c, &f->r->pending);
    f->r->cursor = c->seq;
    if (f->n < FETCH_MAX)
        f->lines[f->n++] = (struct line){.res = c->res, .actor_uid = (uid_t)c->uid,
                                         .by_fs = c->actor && !strcmp(c->actor, "fs"),
                                         .status = c->op && !strcmp(c->op, "status"),
                                         .start = start, .end = f->r->pending.len};
    return 0;
}

/* May w see the entries of resource l->res?  Of a resource already gone,
 * only w's own writes; its observed values only if w may read its status
 * files. */
static bool may_see(struct cfs_store *st, const struct events_viewer *w, const struct line *l)
{
    struct cfs_res r;
    struct cfs_err ignore;
    if (l->res == 0 || w->all)
        return true;
    switch (viewer_may_reach(st, w, l->res)) {
    case VIEWER_SEES:
        return !l->status ||
               (store_res_get(st, l->res, &r, &ignore) == 0 && viewer_may_read_status(w, &r));
    case VIEWER_GONE:
        return l->by_fs && l->actor_uid == w->uid;
    default:
        return false;
    }
}

/* Drop from pending the lines of this fetch that the reader may not see. */
static void filter(struct events_reader *r, const struct fetch *f)
{
    if (!f->n)
        return;
    size_t out = f->lines[0].start;
    bool ok = false;
    for (size_t i = 0; i < f->n; i++) {
        const struct line *l = &f->lines[i], *prev = i ? &f->lines[i - 1] : NULL;
        /* Runs of one resource's entries are the common case: asked once. */
        if (!prev || prev->res != l->res || prev->by_fs != l->by_fs ||
            prev->actor_uid != l->actor_uid || prev->status != l->status)
            ok = may_see(r->st, &r->who, l);
        if (!ok)
            continue;
        memmove(r->pending.s + out, r->pending.s + l->start, l->end - l->start);
        out += l->end - l->start;
    }
    r->pending.len = out;
}

/* Called with r->lock held.  The number of entries read (FETCH_MAX: there
 * may be more), or a negative errno. */
static int fetch(struct events_reader *r)
{
    struct fetch *f = calloc(1, sizeof(*f));
    struct cfs_err err;
    int ret = 0;
    if (!f)
        return -ENOMEM;
    f->r = r;
    f->layout = store_layout(r->st);
    if (r->off == r->pending.len) {
        r->pending.len = 0;
        r->off = 0;
    }
    if (store_changes_since(r->st, r->cursor, FETCH_MAX, fetch_one, f, &err) < 0)
        ret = -EIO;
    else if (r->pending.oom)
        ret = -ENOMEM;
    else if (!r->who.all)
        filter(r, f);
    if (ret == 0)
        ret = (int)f->n;
    free(f);
    return ret;
}

int events_read(struct events_reader *r, char *buf, size_t size, bool nonblock,
                bool (*interrupted)(void))
{
    bool look = true;       /* the store may have something for us */
    for (;;) {
        pthread_mutex_lock(&r->lock);
        if (r->pending.len > r->off) {
            size_t n = r->pending.len - r->off;
            if (n > size)
                n = size;
            memcpy(buf, r->pending.s + r->off, n);
            r->off += n;
            pthread_mutex_unlock(&r->lock);
            return (int)n;
        }
        uint64_t gen = notify_fs_gen(r->nf);
        int rc = look ? fetch(r) : 0;
        look = true;
        bool have = r->pending.len > r->off;
        pthread_mutex_unlock(&r->lock);
        if (rc < 0)
            return rc;
        if (have || rc == FETCH_MAX)
            continue;   /* a full fetch of lines hidden from us: read on */
        if (nonblock)
            return -EAGAIN;
        if (interrupted && interrupted())
            return -EINTR;
        /* Asleep until the feed moves: an idle reader costs no query.  The
         * tick is only there to notice an interrupted reader (Ctrl-C, a
         * killed cat), which nothing else wakes. */
        notify_fs_wait(r->nf, gen, EVENTS_TICK_MS);
        look = !r->nf || notify_fs_gen(r->nf) != gen;
    }
}

unsigned events_poll(struct events_reader *r, struct fuse_pollhandle *ph)
{
    pthread_mutex_lock(&r->lock);
    bool have = r->pending.len > r->off;
    pthread_mutex_unlock(&r->lock);
    if (!have && ph) {
        /* Arm first, then look: a batch landing in between still wakes us. */
        notify_fs_poll_arm(r->nf, &r->ph, ph);
        ph = NULL;
    }
    if (ph)
        fuse_pollhandle_destroy(ph);
    if (!have && store_last_seq(r->st) > r->cursor) {
        /* Only what this reader may see makes it readable. */
        pthread_mutex_lock(&r->lock);
        have = fetch(r) < 0 || r->pending.len > r->off;     /* an error is for read to say */
        pthread_mutex_unlock(&r->lock);
    }
    return have ? POLLIN | POLLRDNORM : 0;
}

void events_close(struct events_reader *r)
{
    if (!r)
        return;
    notify_fs_poll_forget(r->nf, &r->ph);
    tb_free(&r->pending);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- status/events ---- */

/* status/events folds identical events (the same operation, file, old and
 * new value and actor; whitepaper 5.13) into one line with a count and the
 * time of the first: a value flapping between two states shows as two
 * lines, not as a screenful.  The last EVENTS_SCAN entries are read and
 * the EVENTS_RECENT most recently seen kinds of event shown, oldest first. */
#define EVENTS_SCAN 400

struct folded {
    struct cfs_change c;        /* the last one; strings owned (strdup) */
    int count;
    int64_t first;
};

struct recent {
    const struct cfs_layout *layout;
    struct folded *v;
    size_t n;
    bool oom;
};

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_event(const struct cfs_change *a, const struct cfs_change *b)
{
    return same_text(a->op, b->op) && same_text(a->attr, b->attr) &&
           same_text(a->old_value, b->old_value) && same_text(a->new_value, b->new_value) &&
           same_text(a->actor, b->actor) && same_text(a->path, b->path) &&
           same_text(a->comm, b->comm) && a->uid == b->uid;
}

static void folded_free(struct folded *f)
{
    free((char *)f->c.kind);
    free((char *)f->c.path);
    free((char *)f->c.op);
    free((char *)f->c.attr);
    free((char *)f->c.old_value);
    free((char *)f->c.new_value);
    free((char *)f->c.actor);
    free((char *)f->c.comm);
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

/* Runs under the store's lock: copies, touches nothing else. */
static int recent_one(const struct cfs_change *c, void *arg)
{
    struct recent *rc = arg;
    for (size_t i = 0; i < rc->n; i++) {
        if (!same_event(&rc->v[i].c, c))
            continue;
        /* Seen before: counted, and moved to the end as the latest. */
        struct folded f = rc->v[i];
        f.count++;
        f.c.seq = c->seq;
        f.c.time = c->time;
        memmove(&rc->v[i], &rc->v[i + 1], (rc->n - i - 1) * sizeof(rc->v[0]));
        rc->v[rc->n - 1] = f;
        return 0;
    }
    struct folded f = {.c = *c, .count = 1, .first = c->time};
    f.c.kind = dup_or_null(c->kind, &rc->oom);
    f.c.path = dup_or_null(c->path, &rc->oom);
    f.c.op = dup_or_null(c->op, &rc->oom);
    f.c.attr = dup_or_null(c->attr, &rc->oom);
    f.c.old_value = dup_or_null(c->old_value, &rc->oom);
    f.c.new_value = dup_or_null(c->new_value, &rc->oom);
    f.c.actor = dup_or_null(c->actor, &rc->oom);
    f.c.comm = dup_or_null(c->comm, &rc->oom);
    f.c.origin = NULL;
    rc->v[rc->n++] = f;
    return 0;
}

int events_recent(struct cfs_store *st, int64_t res, char **out, size_t *len)
{
    struct recent rc = {.layout = store_layout(st)};
    struct textbuf b = {0};
    struct cfs_err err;
    int ret = 0;
    rc.v = calloc(EVENTS_SCAN, sizeof(*rc.v));
    if (!rc.v)
        return -ENOMEM;
    if (store_res_recent(st, res, EVENTS_SCAN, recent_one, &rc, &err) < 0) {
        ret = -(err.code ? err.code : EIO);
        goto cleanup;
    }
    if (rc.oom) {
        ret = -ENOMEM;
        goto cleanup;
    }
    for (size_t i = rc.n > EVENTS_RECENT ? rc.n - EVENTS_RECENT : 0; i < rc.n; i++)
        format(rc.layout, &rc.v[i].c, rc.v[i].count, rc.v[i].first, &b);
    *out = tb_steal(&b, len);
    if (!*out)
        ret = -ENOMEM;
cleanup:
    for (size_t i = 0; i < rc.n; i++)
        folded_free(&rc.v[i]);
    free(rc.v);
    tb_free(&b);
    return ret;
}
