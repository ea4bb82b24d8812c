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

void events_format(const struct cfs_layout *l, const struct cfs_change *c, struct textbuf *b)
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
    tb_printf(b, ",\"level\":\"%s\"}\n", event_level(c));
}

/* ---- /events ---- */

int events_open(struct cfs_store *st, struct notify_fs *nf, struct events_reader **out)
{
    struct events_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->st = st;
    r->nf = nf;
    pthread_mutex_init(&r->lock, NULL);
    r->cursor = store_last_seq(st);
    *out = r;
    return 0;
}

struct fetch {
    struct events_reader *r;
    const struct cfs_layout *layout;
};

/* Runs under the store's lock. */
static int fetch_one(const struct cfs_change *c, void *arg)
{
    struct fetch *f = arg;
    events_format(f->layout, c, &f->r->pending);
    f->r->cursor = c->seq;
    return 0;
}

/* Called with r->lock held. */
static int fetch(struct events_reader *r)
{
    struct fetch f = {.r = r, .layout = store_layout(r->st)};
    struct cfs_err err;
    if (r->off == r->pending.len) {
        r->pending.len = 0;
        r->off = 0;
    }
    if (store_changes_since(r->st, r->cursor, 256, fetch_one, &f, &err) < 0)
        return -EIO;
    return r->pending.oom ? -ENOMEM : 0;
}

int events_read(struct events_reader *r, char *buf, size_t size, bool nonblock,
                bool (*interrupted)(void))
{
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
        int rc = fetch(r);
        bool have = r->pending.len > r->off;
        pthread_mutex_unlock(&r->lock);
        if (rc < 0)
            return rc;
        if (have)
            continue;
        if (nonblock)
            return -EAGAIN;
        if (interrupted && interrupted())
            return -EINTR;
        /* Short ticks: an interrupted reader (Ctrl-C, timeout) is only seen
         * by looking. */
        notify_fs_wait(r->nf, gen, 100);
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
    if (!have)
        have = store_last_seq(r->st) > r->cursor;
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

struct recent {
    const struct cfs_layout *layout;
    struct textbuf b;
};

static int recent_one(const struct cfs_change *c, void *arg)
{
    struct recent *rc = arg;
    events_format(rc->layout, c, &rc->b);
    return 0;
}

int events_recent(struct cfs_store *st, int64_t res, char **out, size_t *len)
{
    struct recent rc = {.layout = store_layout(st)};
    struct cfs_err err;
    if (store_res_recent(st, res, EVENTS_RECENT, recent_one, &rc, &err) < 0) {
        tb_free(&rc.b);
        return -(err.code ? err.code : EIO);
    }
    *out = tb_steal(&rc.b, len);
    return *out ? 0 : -ENOMEM;
}
