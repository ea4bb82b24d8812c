/* audit.c: the audit of writes through the mount (see audit.h). */
#define FUSE_USE_VERSION 312
#include "audit.h"

#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

static void caller_comm(pid_t pid, char *comm, size_t len)
{
    char path[64];
    comm[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(comm, (int)len, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
}

void audit_fs(struct cfs_store *st, const char *op, const char *path, const char *value,
              size_t len, bool secret, int rc)
{
    struct fuse_context *ctx = fuse_get_context();
    char comm[32], result[32];
    char *shown = NULL;
    struct cfs_err err;
    caller_comm(ctx->pid, comm, sizeof(comm));
    if (rc == 0) {
        snprintf(result, sizeof(result), "ok");
    } else {
        const char *name = strerrorname_np(-rc);
        snprintf(result, sizeof(result), "%s", name ? name : "error");
    }
    if (value && secret) {
        shown = strdup("***");
    } else if (value) {
        /* Values are text; a trailing newline is how shells write them. */
        size_t n = len;
        if (n && value[n - 1] == '\n')
            n--;
        size_t keep = n > AUDIT_VALUE_MAX ? AUDIT_VALUE_MAX : n;
        struct textbuf b = {0};
        tb_put(&b, value, keep);
        if (keep < n)
            tb_printf(&b, "...(%zu more bytes)", n - keep);
        /* An embedded NUL would cut the stored text short: it is shown as
         * the end of the value, which is what SQLite keeps anyway. */
        shown = tb_steal(&b, NULL);
    }
    struct cfs_audit a = {
        .time = store_now(),
        .uid = ctx->uid,
        .pid = ctx->pid,
        .comm = comm,
        .op = op,
        .path = path,
        .value = shown,
        .result = result,
    };
    if (store_audit_append(st, &a, &err) < 0)
        fprintf(stderr, "cloudfs: audit: %s\n", err.msg);
    free(shown);
}

struct render {
    struct textbuf b;
    const struct events_viewer *w;
};

/* Runs under the store's lock. */
static int render_one(const struct cfs_audit *a, void *arg)
{
    struct render *r = arg;
    struct textbuf *b = &r->b;
    if (!r->w->all && a->uid != r->w->uid)
        return 0;
    tb_time(b, a->time);
    tb_printf(b, " uid=%lu pid=%ld comm=", (unsigned long)a->uid, (long)a->pid);
    tb_json(b, a->comm);
    tb_printf(b, " op=%s path=", a->op);
    tb_json(b, a->path);
    if (a->value) {
        tb_puts(b, " value=");
        tb_json(b, a->value);
    }
    tb_printf(b, " result=%s\n", a->result);
    return 0;
}

int audit_render(struct cfs_store *st, const struct events_viewer *w, char **out, size_t *len)
{
    struct render r = {.w = w};
    struct cfs_err err;
    if (store_audit_list(st, 0, -1, render_one, &r, &err) < 0) {
        tb_free(&r.b);
        return -(err.code ? err.code : EIO);
    }
    *out = tb_steal(&r.b, len);
    return *out ? 0 : -ENOMEM;
}
