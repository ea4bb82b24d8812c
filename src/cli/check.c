/* check.c: "cloudfs check" (see check.h for the contract).
 *
 * Two halves.  The store half checks what every writer promises: SQLite's
 * own integrity, every row belonging to a resource that exists, every
 * stored value being one the layout accepts in its normal form, relations
 * within their limits, the changes log in order, status that names things
 * which exist, and no tombstone left behind.  The reality half asks every
 * host what it runs (domains; bridges, routers, libvirt networks and DHCP
 * ranges of the VPCs) and every pool what it holds, and compares it with
 * the tree.  The check reads through its own read-only connection in one
 * read transaction, so the daemons may keep running and the snapshot is
 * still consistent.
 */
#include "check.h"

#include <ctype.h>
#include <libvirt/libvirt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute.h"
#include "conf.h"
#include "netaddr.h"
#include "netlink.h"
#include "precond_secgroup.h"
#include "secgroup_nft.h"
#include "network.h"
#include "status_keys.h"
#include "storage.h"
#include "value.h"

/* Spec operations of the changes log (store_spec_generation counts these). */
#define SPEC_OPS "'create', 'set', 'link', 'unlink', 'delete'"
/* Writers take the time inside the write lock; allow for a clock step. */
#define CLOCK_SLACK_NS 1000000000LL

struct chk_res {
    int64_t id;
    int64_t parent;
    const struct cfs_kind *kind;    /* NULL when the layout has no such kind */
    char kind_name[64];
    char name[CFS_NAME_MAX + 64];
    char uuid[40];
    bool deleted;
    bool recycled;      /* in /recycle: kept, hidden (store_res_recycle) */
};

struct check {
    sqlite3 *db;
    const struct cfs_layout *layout;
    const struct check_opts *opts;
    FILE *out, *notes;
    long diffs;
    struct chk_res *res;            /* every resource, sorted by id */
    size_t nres;
    struct cfs_err *err;
};

/* ---- output ---- */

static const struct chk_res *res_by_id(const struct check *c, int64_t id)
{
    size_t lo = 0, hi = c->nres;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->res[mid].id == id)
            return &c->res[mid];
        if (c->res[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The tree path of r, as store_res_path spells it. */
static void res_path(const struct check *c, const struct chk_res *r, char *buf, size_t len)
{
    const struct chk_res *chain[32] = {NULL};
    size_t n = 0;
    for (const struct chk_res *p = r; p && n < 32; p = p->parent ? res_by_id(c, p->parent) : NULL)
        chain[n++] = p;
    size_t off = 0;
    buf[0] = '\0';
    if (n && chain[n - 1]->parent)
        off += (size_t)snprintf(buf, len, "?/");     /* the chain is broken above */
    while (n-- > 0 && off < len) {
        const struct chk_res *p = chain[n];
        off += (size_t)snprintf(buf + off, len - off, "%s%s/%s", off && buf[off - 1] != '/' ? "/" : "",
                                p->kind ? p->kind->collection : p->kind_name, p->name);
    }
}

/* A value as one printable line: control bytes escaped, long ones cut. */
static void printable(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)v;
    for (; *p && o + 8 < len; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
        else
            buf[o++] = (char)*p;
    }
    if (*p)
        o += (size_t)snprintf(buf + o, len - o, "...");
    buf[o < len ? o : len - 1] = '\0';
}

/* "PREFIXPATH: message" on out, or "PREFIXstore: message" without a resource. */
__attribute__((format(printf, 5, 0)))
static void report(struct check *c, FILE *out, const char *prefix, const struct chk_res *r,
                   const char *fmt, va_list ap)
{
    char path[1024], msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (r)
        res_path(c, r, path, sizeof(path));
    else
        snprintf(path, sizeof(path), "store");
    fprintf(out, "%s%s: %s\n", prefix, path, msg);
}

/* One difference: "PATH: message", or "store: message" without a resource. */
__attribute__((format(printf, 3, 4)))
static void diff(struct check *c, const struct chk_res *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, c->out, "", r, fmt, ap);
    va_end(ap);
    c->diffs++;
}

__attribute__((format(printf, 3, 4)))
static void note(struct check *c, const struct chk_res *r, const char *fmt, ...)
{
    va_list ap;
    if (!c->notes)
        return;
    va_start(ap, fmt);
    report(c, c->notes, "note: ", r, fmt, ap);
    va_end(ap);
}

/* ---- SQL helpers ---- */

static sqlite3_stmt *prep(struct check *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        cfs_err_set(c->err, EIO, "store: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* Step s; on an error other than the end of rows, record it. */
static int next(struct check *c, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE) {
        cfs_err_set(c->err, EIO, "store: %s", sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* The value of one attribute or status row, "" when absent (malloc'd). */
static char *row_value(struct check *c, const char *table, int64_t res, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE res = ? AND name = ?", table);
    sqlite3_stmt *s = prep(c, sql);
    char *v = NULL;
    if (s) {
        sqlite3_bind_int64(s, 1, res);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        if (next(c, s) == 1)
            v = strdup(col(s, 0));
        sqlite3_finalize(s);
    }
    return v ? v : strdup("");
}

/* ---- the store ---- */

static int check_integrity(struct check *c)
{
    sqlite3_stmt *s = prep(c, "PRAGMA integrity_check");
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1)
        if (strcmp(col(s, 0), "ok"))
            diff(c, NULL, "integrity: %s", col(s, 0));
    sqlite3_finalize(s);
    if (rc < 0)
        return -1;
    /* Declared foreign keys (none in the first schemas; later ones may add some). */
    if (!(s = prep(c, "PRAGMA foreign_key_check")))
        return -1;
    while ((rc = next(c, s)) == 1)
        diff(c, NULL, "foreign key: %s row %lld refers to a missing %s row", col(s, 0),
             (long long)sqlite3_column_int64(s, 1), col(s, 2));
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

static int load_resources(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT id, parent, kind, name, uuid, deleted FROM resources"
                              " ORDER BY id");
    size_t cap = 0;
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        if (c->nres == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            struct chk_res *grown = realloc(c->res, ncap * sizeof(*grown));
            if (!grown) {
                sqlite3_finalize(s);
                return cfs_err_set(c->err, ENOMEM, "out of memory");
            }
            c->res = grown;
            cap = ncap;
        }
        struct chk_res *r = &c->res[c->nres++];
        memset(r, 0, sizeof(*r));
        r->id = sqlite3_column_int64(s, 0);
        r->parent = sqlite3_column_int64(s, 1);
        snprintf(r->kind_name, sizeof(r->kind_name), "%s", col(s, 2));
        r->kind = layout_kind(c->layout, r->kind_name);
        snprintf(r->name, sizeof(r->name), "%s", col(s, 3));
        snprintf(r->uuid, sizeof(r->uuid), "%s", col(s, 4));
        r->deleted = sqlite3_column_int(s, 5) == 1;
        r->recycled = sqlite3_column_int(s, 5) == 2;
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

static bool uuid_ok(const char *u)
{
    if (strlen(u) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
            return false;
    }
    return true;
}

static void check_resources(struct check *c)
{
    for (size_t i = 0; i < c->nres; i++) {
        const struct chk_res *r = &c->res[i];
        char shown[160];
        if (!r->kind) {
            diff(c, r, "kind '%s' is not in the layout", r->kind_name);
            continue;
        }
        const struct chk_res *p = r->parent ? res_by_id(c, r->parent) : NULL;
        if (r->parent && !p)
            diff(c, r, "parent resource %lld does not exist", (long long)r->parent);
        else if (!p && r->kind->parent)
            diff(c, r, "at the top of the tree; a %s belongs in a %s", r->kind->name,
                 r->kind->parent->name);
        else if (p && p->kind != r->kind->parent)
            diff(c, r, "inside a %s; a %s belongs in a %s", p->kind_name, r->kind->name,
                 r->kind->parent ? r->kind->parent->name : "the top of the tree");
        else if (p && p->deleted && !r->deleted)
            diff(c, r, "lives inside a deleted %s", p->kind_name);
        if (!uuid_ok(r->uuid)) {
            printable(r->uuid, shown, sizeof(shown));
            diff(c, r, "uuid '%s' is malformed", shown);
        }
        if (r->deleted) {
            char want[CFS_NAME_MAX + 64];
            snprintf(want, sizeof(want), ".deleted-%s", r->uuid);
            if (!r->kind->teardown)
                diff(c, r, "tombstone of a kind that has no teardown");
            if (strcmp(r->name, want))
                diff(c, r, "tombstone not named %s", want);
        } else if (r->recycled) {
            char want[CFS_NAME_MAX + 64];
            snprintf(want, sizeof(want), ".recycled-%lld", (long long)r->id);
            if (!r->kind->recycle)
                diff(c, r, "a %s in the recycle bin (its layout has no 'recycle')", r->kind_name);
            if (strcmp(r->name, want))
                diff(c, r, "recycled resource not named %s", want);
        } else if (!value_res_name_ok(r->kind, r->name)) {
            printable(r->name, shown, sizeof(shown));
            diff(c, r, "name '%s' is not a valid name", shown);
        }
    }
}

/* The values of table ("attrs" or "status") called name, on live resources
 * of kind k, that name no live resource of kind target: among the
 * resource's siblings (sibling) or at the top.  One difference each. */
static int dangling_names(struct check *c, const char *table, const struct cfs_kind *k,
                          const char *name, const struct cfs_kind *target, bool sibling)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT r.id, v.value FROM %s v JOIN resources r ON r.id = v.res"
             " WHERE r.kind = ?1 AND v.name = ?2 AND v.value != '' AND r.deleted = 0"
             " AND NOT EXISTS (SELECT 1 FROM resources t WHERE t.kind = ?3"
             "   AND t.name = v.value AND t.deleted = 0"
             "   AND t.parent = CASE WHEN ?4 THEN r.parent ELSE 0 END)", table);
    sqlite3_stmt *s = prep(c, sql);
    int rc;
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, target->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, sibling);
    while ((rc = next(c, s)) == 1) {
        char shown[160];
        const struct chk_res *r = res_by_id(c, sqlite3_column_int64(s, 0));
        printable(col(s, 1), shown, sizeof(shown));
        if (!strcmp(table, "status"))
            diff(c, r, "status/%s names %s '%s', which does not exist", name, target->name, shown);
        else
            diff(c, r, "%s: %s '%s' does not exist", name, target->name, shown);
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* The resource a row of attrs, status or links (res, name, ...) belongs to,
 * or NULL, reported, when there is none; "what NAME of resource ID". */
static const struct chk_res *row_owner(struct check *c, sqlite3_stmt *s, const char *what)
{
    int64_t id = sqlite3_column_int64(s, 0);
    const struct chk_res *r = res_by_id(c, id);
    if (!r)
        diff(c, NULL, "%s %s of resource %lld, which does not exist", what, col(s, 1),
             (long long)id);
    return r;
}

static int check_attrs(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT res, name, value FROM attrs ORDER BY res, name");
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        const char *name = col(s, 1);
        const char *value = col(s, 2);
        const struct chk_res *r = row_owner(c, s, "attribute");
        char shown[160];
        if (!r || !r->kind)
            continue;   /* no kind: reported with the resource */
        const struct cfs_attr_def *a = layout_attr(r->kind, name);
        if (!a) {
            diff(c, r, "attribute '%s' is not in the layout of a %s", name, r->kind->name);
            continue;
        }
        if (a->type == CFS_T_VERB) {
            diff(c, r, "%s: a one-shot verb is stored as a value", name);
            continue;
        }
        if (a->type == CFS_T_SECRET)
            snprintf(shown, sizeof(shown), "***");
        else
            printable(value, shown, sizeof(shown));
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        char *norm = NULL;
        struct cfs_err verr;
        if (strlen(value) != len) {
            diff(c, r, "%s: stored value holds a NUL byte", name);
        } else if (value_normalize(a, value, len, &norm, &verr) < 0) {
            diff(c, r, "%s: stored value '%s' is invalid: %s", name, shown, verr.msg);
        } else if (strcmp(norm, value)) {
            diff(c, r, "%s: stored value '%s' is not in normal form", name, shown);
        }
        free(norm);
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

static int check_status(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT res, name FROM status ORDER BY res, name");
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        const char *name = col(s, 1);
        const struct chk_res *r = row_owner(c, s, "status");
        if (r && r->kind && name[0] != '_' && !layout_status(r->kind, name))
            diff(c, r, "status '%s' is not in the layout of a %s", name, r->kind->name);
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* Names held as values, kind by kind: references by name (top-level
 * targets anywhere, others among siblings: the rule store_attr_set
 * enforces) and status that names a sibling (a VM's status/host). */
static int check_names(struct check *c)
{
    for (size_t i = 0; i < c->layout->nkinds; i++) {
        const struct cfs_kind *k = &c->layout->kinds[i];
        for (size_t j = 0; j < k->nattrs; j++) {
            const struct cfs_attr_def *a = &k->attrs[j];
            if (a->type != CFS_T_REF || !a->ref_kind || a->ref_depth > 1)
                continue;   /* path references: the NICs' by check_nics */
            if (dangling_names(c, "attrs", k, a->name, a->ref_kind,
                               a->ref_kind->parent != NULL) < 0)
                return -1;
        }
        for (size_t j = 0; j < k->nbacklinks; j++) {
            const struct cfs_backlink_def *b = &k->backlinks[j];
            if (dangling_names(c, "status", b->kind, b->via, k, true) < 0)
                return -1;
        }
    }
    return 0;
}

static int check_links(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT res, link, target, count(*) OVER (PARTITION BY res, link)"
                              " FROM links ORDER BY res, link, target");
    int rc;
    int64_t last_res = -1;
    char last_link[128] = "";
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        int64_t id = sqlite3_column_int64(s, 0), tid = sqlite3_column_int64(s, 2);
        const char *name = col(s, 1);
        long long count = sqlite3_column_int64(s, 3);
        const struct chk_res *r = row_owner(c, s, "link"), *t = res_by_id(c, tid);
        if (!r || !r->kind)
            continue;
        const struct cfs_link_def *l = layout_link(r->kind, name);
        if (!l) {
            diff(c, r, "link directory '%s' is not in the layout of a %s", name, r->kind->name);
            continue;
        }
        if (r->deleted)
            diff(c, r, "%s: a deleted resource still holds links", name);
        if (!t)
            diff(c, r, "%s: link to resource %lld, which does not exist", name, (long long)tid);
        else if (t->kind != l->kind)
            diff(c, r, "%s/%s: links a %s, expected a %s", name, t->name, t->kind_name,
                 l->kind_name);
        else if (t->deleted)
            diff(c, r, "%s: links a deleted %s", name, t->kind_name);
        else if (l->kind->parent && t->parent != r->parent)
            diff(c, r, "%s/%s: the target is not in the same %s", name, t->name,
                 l->kind->parent->name);
        if (l->max > 0 && count > l->max && (id != last_res || strcmp(last_link, name)))
            diff(c, r, "%s: %lld links, at most %d allowed", name, count, l->max);
        last_res = id;
        snprintf(last_link, sizeof(last_link), "%s", name);
    }
    sqlite3_finalize(s);
    if (rc < 0)
        return -1;

    /* An exclusive target is linked from one resource only. */
    if (!(s = prep(c, "SELECT r.kind, l.link, l.target, count(*) FROM links l"
                      " JOIN resources r ON r.id = l.res GROUP BY r.kind, l.link, l.target"
                      " HAVING count(*) > 1")))
        return -1;
    while ((rc = next(c, s)) == 1) {
        const struct cfs_kind *k = layout_kind(c->layout, col(s, 0));
        const struct cfs_link_def *l = k ? layout_link(k, col(s, 1)) : NULL;
        if (l && l->exclusive)
            diff(c, res_by_id(c, sqlite3_column_int64(s, 2)),
                 "linked from %lld %s %s/ directories; %s links are exclusive",
                 (long long)sqlite3_column_int64(s, 3), k->name, l->name, l->name);
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

static bool known_op(const char *op)
{
    static const char *const ops[] = {"create", "delete", "purge", "rename", "set", "link",
                                      "unlink", "status", "verb", "chown", "chmod"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (!strcmp(op, ops[i]))
            return true;
    return false;
}

static int check_changes(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT seq, time, op FROM changes ORDER BY seq");
    int rc;
    int64_t prev_seq = 0, prev_time = 0;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        int64_t seq = sqlite3_column_int64(s, 0), t = sqlite3_column_int64(s, 1);
        const char *op = col(s, 2);
        if (prev_seq && t < prev_time - CLOCK_SLACK_NS)
            diff(c, NULL, "changes: seq %lld is %.3f s older than seq %lld before it",
                 (long long)seq, (double)(prev_time - t) / 1e9, (long long)prev_seq);
        if (!known_op(op)) {
            char shown[64];
            printable(op, shown, sizeof(shown));
            diff(c, NULL, "changes: seq %lld has unknown operation '%s'", (long long)seq, shown);
        }
        prev_seq = seq;
        prev_time = t;
    }
    sqlite3_finalize(s);
    if (rc < 0)
        return -1;
    /* AUTOINCREMENT's high-water mark: never below a seq handed out, or a
     * reader that remembers its last seq would skip or replay entries. */
    if (!(s = prep(c, "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'changes'),"
                      " (SELECT max(seq) FROM changes)")))
        return -1;
    if ((rc = next(c, s)) == 1 && sqlite3_column_type(s, 1) != SQLITE_NULL &&
        sqlite3_column_int64(s, 0) < sqlite3_column_int64(s, 1))
        diff(c, NULL, "changes: sequence counter %lld is below the last seq %lld",
             (long long)sqlite3_column_int64(s, 0), (long long)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* The stored per-collection counts (collection nlink) against the rows. */
static int check_counts(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT parent, kind, sum(real), sum(stored) FROM ("
                              "  SELECT parent, kind, count(*) AS real, 0 AS stored FROM resources"
                              "    WHERE deleted = 0 GROUP BY parent, kind"
                              "  UNION ALL SELECT parent, kind, 0, n FROM counts)"
                              " GROUP BY parent, kind HAVING sum(real) != sum(stored)");
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        const struct chk_res *p = res_by_id(c, sqlite3_column_int64(s, 0));
        if (sqlite3_column_int64(s, 0) != 0 && !p)
            continue;   /* rows under a missing parent are reported already */
        diff(c, p, "count of %s is stored as %lld but %lld exist", col(s, 1),
             (long long)sqlite3_column_int64(s, 3), (long long)sqlite3_column_int64(s, 2));
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* The tags table (the /tags index) holds exactly the tags of the live
 * resources' tags attributes: no tag missing, none left over. */
static int check_tags(struct check *c)
{
    sqlite3_stmt *s = prep(c,
        "WITH RECURSIVE split(res, line, rest) AS ("
        "  SELECT a.res, '', a.value || char(10) FROM attrs a JOIN resources r ON r.id = a.res"
        "    WHERE a.name = 'tags' AND r.deleted = 0"
        "  UNION ALL"
        "  SELECT res, substr(rest, 1, instr(rest, char(10)) - 1),"
        "    substr(rest, instr(rest, char(10)) + 1) FROM split WHERE rest <> ''),"
        " want(key, value, res) AS (SELECT substr(line, 1, instr(line, '=') - 1),"
        "  substr(line, instr(line, '=') + 1), res FROM split WHERE instr(line, '=') > 1)"
        " SELECT res, key, value, 'is missing from' FROM"
        "   (SELECT key, value, res FROM want EXCEPT SELECT key, value, res FROM tags)"
        " UNION ALL SELECT res, key, value, 'is in' FROM"
        "   (SELECT key, value, res FROM tags EXCEPT SELECT key, value, res FROM want)"
        " ORDER BY 1, 2, 3");
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        char key[160], value[160];
        printable(col(s, 1), key, sizeof(key));
        printable(col(s, 2), value, sizeof(value));
        const struct chk_res *r = res_by_id(c, sqlite3_column_int64(s, 0));
        if (r)
            diff(c, r, "tag %s=%s %s the tags index, not as its tags file says", key, value,
                 col(s, 3));
        else
            diff(c, NULL, "tag %s=%s of resource %lld, which does not exist, is in the tags "
                 "index", key, value, (long long)sqlite3_column_int64(s, 0));
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* Every live NIC's address (status ip) is a host address of the subnet it
 * was given in (_subnet), not the gateway, and no other NIC of the subnet
 * holds it; the subnet exists. */
static int check_nics(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT r.id, coalesce(i.value, ''), u.value FROM resources r"
                              " JOIN status u ON u.res = r.id AND u.name = '" CFS_ST_SUBNET "'"
                              " LEFT JOIN status i ON i.res = r.id AND i.name = 'ip'"
                              " WHERE r.kind = 'nic' AND r.deleted = 0 AND u.value != ''"
                              " ORDER BY u.value, i.value, r.id");
    char last_subnet[40] = "", last_ip[CFS_IPV4_LEN] = "";
    int rc;
    if (!s)
        return -1;
    while ((rc = next(c, s)) == 1) {
        const struct chk_res *nic = res_by_id(c, sqlite3_column_int64(s, 0));
        const char *ip = col(s, 1), *sub = col(s, 2);
        const struct chk_res *subnet = NULL;
        for (size_t i = 0; i < c->nres && !subnet; i++)
            if (!strcmp(c->res[i].uuid, sub) && !strcmp(c->res[i].kind_name, "subnet"))
                subnet = &c->res[i];
        if (!subnet || subnet->deleted) {
            diff(c, nic, "status ip %s is in subnet %s, which does not exist", ip, sub);
            continue;
        }
        char *cidr = row_value(c, "attrs", subnet->id, "cidr");
        char *gw = row_value(c, "status", subnet->id, "gateway");
        struct cfs_cidr net;
        struct cfs_err ignore;
        uint32_t a;
        if (netaddr_cidr_parse(cidr, &net, &ignore) < 0 || netaddr_ipv4_parse(ip, &a, &ignore) < 0 ||
            !netaddr_cidr_host(&net, a))
            diff(c, nic, "status ip '%s' is not a host address of subnet %s (%s)", ip,
                 subnet->name, cidr);
        else if (!strcmp(ip, gw))
            diff(c, nic, "status ip %s is the gateway of subnet %s", ip, subnet->name);
        else if (!strcmp(sub, last_subnet) && !strcmp(ip, last_ip))
            diff(c, nic, "status ip %s is held by another NIC of subnet %s too", ip,
                 subnet->name);
        snprintf(last_subnet, sizeof(last_subnet), "%s", sub);
        snprintf(last_ip, sizeof(last_ip), "%s", ip);
        free(cidr);
        free(gw);
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

static int check_tombstones(struct check *c)
{
    sqlite3_stmt *s = prep(c, "SELECT r.id, max(c.time) FROM resources r"
                              " LEFT JOIN changes c ON c.res = r.id AND c.op = 'delete'"
                              " WHERE r.deleted = 1 GROUP BY r.id");
    int rc;
    struct timespec now;
    if (!s)
        return -1;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    int64_t limit = (int64_t)c->opts->tombstone_minutes * 60LL * 1000000000LL;
    while ((rc = next(c, s)) == 1) {
        const struct chk_res *r = res_by_id(c, sqlite3_column_int64(s, 0));
        if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
            diff(c, r, "tombstone without a delete entry in the changes log");
            continue;
        }
        int64_t age = now_ns - sqlite3_column_int64(s, 1);
        if (age > limit)
            diff(c, r, "deleted %lld minutes ago and still not torn down",
                 (long long)(age / 60000000000LL));
    }
    sqlite3_finalize(s);
    return rc < 0 ? -1 : 0;
}

/* ---- reality ---- */

struct dom {
    char name[256];
    char uuid[40];
};

struct dom_list {
    struct dom *d;
    size_t n, cap;
};

static void dom_add(const char *name, const char *uuid, void *arg)
{
    struct dom_list *l = arg;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct dom *grown = realloc(l->d, ncap * sizeof(*grown));
        if (!grown)
            return;
        l->d = grown;
        l->cap = ncap;
    }
    snprintf(l->d[l->n].name, sizeof(l->d[l->n].name), "%s", name);
    snprintf(l->d[l->n].uuid, sizeof(l->d[l->n].uuid), "%s", uuid);
    l->n++;
}

static const char *power_text(enum cfs_power p)
{
    switch (p) {
    case CFS_POWER_NONE: return "missing";
    case CFS_POWER_SHUTOFF: return "shut off";
    case CFS_POWER_RUNNING: return "running";
    case CFS_POWER_PAUSED: return "paused";
    case CFS_POWER_SHUTDOWN: return "shutting down";
    case CFS_POWER_CRASHED: return "crashed";
    case CFS_POWER_OTHER:
    default: return "in another state";
    }
}

/* The power state a spec state asks for, as status/state spells it. */
static bool power_matches(const char *state, enum cfs_power p)
{
    if (!strcmp(state, "running"))
        return p == CFS_POWER_RUNNING;
    if (!strcmp(state, "paused"))
        return p == CFS_POWER_PAUSED;
    if (!strcmp(state, "stopped"))
        return p == CFS_POWER_SHUTOFF || p == CFS_POWER_NONE;
    return true;    /* a transition (starting, stopping...) is not compared */
}

/* A VM, VPC or subnet has converged when the reconciler recorded reaching
 * its latest spec generation; only then is a difference from reality a fault. */
static bool converged(struct check *c, const struct chk_res *r)
{
    sqlite3_stmt *s = prep(c, "SELECT coalesce(max(seq), 0) FROM changes WHERE res = ?"
                              " AND op IN (" SPEC_OPS ")");
    int64_t gen = 0;
    if (!s)
        return false;
    sqlite3_bind_int64(s, 1, r->id);
    if (next(c, s) == 1)
        gen = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    char *acted = row_value(c, "status", r->id, CFS_ST_GEN);
    bool ok = acted && atoll(acted) > 0 && atoll(acted) >= gen;
    free(acted);
    return ok;
}

/* The VM whose UUID a domain name carries, or NULL. */
static const struct chk_res *vm_by_uuid(struct check *c, const char *uuid)
{
    char lower[40];
    size_t n = 0;
    for (; n < sizeof(lower) - 1 && uuid[n]; n++)
        lower[n] = (char)tolower((unsigned char)uuid[n]);
    lower[n] = '\0';
    sqlite3_stmt *s = prep(c, "SELECT id FROM resources WHERE uuid = ? AND kind = 'vm'");
    const struct chk_res *vm = NULL;
    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, lower, -1, SQLITE_STATIC);
    if (next(c, s) == 1)
        vm = res_by_id(c, sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    return vm;
}

static const struct cfs_compute_driver *const drv = &cfs_libvirt_driver;
static const struct cfs_network_driver *const net = &cfs_network_linux;

/* A host the reconciler found lost (host_failure.c) is not asked: it may be
 * frozen (a connection would hang); said in a note, with its fencing. */
static bool host_lost(struct check *c, const struct chk_res *host)
{
    char *conn = row_value(c, "status", host->id, "connection");
    char *fenced = row_value(c, "status", host->id, "fenced");
    bool lost = conn && !strcmp(conn, "lost");
    if (lost)
        note(c, host, "lost (fenced: %s): its domains and networks are not compared",
             fenced && fenced[0] ? fenced : "no");
    free(conn);
    free(fenced);
    return lost;
}

/* Each VM placed on the host has its domain cfs-UUID in the state its spec
 * asks for, and every cfs- domain there belongs to a VM placed there. */
static int check_host_domains(struct check *c, const struct chk_res *host)
{
    char *uri = row_value(c, "attrs", host->id, "uri");
    struct cfs_conn *conn = NULL;
    struct dom_list doms = {0};
    struct cfs_err err;
    sqlite3_stmt *s = NULL;
    int ret = -1, rc;
    if (!uri)
        return cfs_err_set(c->err, ENOMEM, "out of memory");
    if (!strncmp(uri, "test:", 5)) {
        /* libvirt's test driver lives inside the process that opened it. */
        note(c, host, "%s is a simulated host private to the reconciler: domains not compared", uri);
        ret = 0;
        goto cleanup;
    }
    if (host_lost(c, host)) {
        ret = 0;
        goto cleanup;
    }
    if (drv->connect(uri, NULL, NULL, NULL, &conn, &err) < 0 ||
        drv->list(conn, dom_add, &doms, &err) < 0) {
        diff(c, host, "cannot list the domains of %s: %s", uri, err.msg);
        ret = 0;
        goto cleanup;
    }

    /* The VMs placed here. */
    s = prep(c, "SELECT r.id FROM resources r JOIN status s ON s.res = r.id AND s.name = 'host'"
                " WHERE r.kind = 'vm' AND r.parent = ? AND s.value = ? AND r.deleted = 0"
                " ORDER BY r.id");
    if (!s)
        goto cleanup;
    sqlite3_bind_int64(s, 1, host->parent);
    sqlite3_bind_text(s, 2, host->name, -1, SQLITE_STATIC);
    while ((rc = next(c, s)) == 1) {
        const struct chk_res *vm = res_by_id(c, sqlite3_column_int64(s, 0));
        if (!vm)
            continue;
        if (!converged(c, vm)) {
            note(c, vm, "still converging: not compared");
            continue;
        }
        char dom[64];
        snprintf(dom, sizeof(dom), "%s%s", CFS_DOMAIN_PREFIX, vm->uuid);
        bool listed = false;
        for (size_t i = 0; i < doms.n && !listed; i++)
            listed = !strcmp(doms.d[i].name, dom);
        if (!listed) {
            diff(c, vm, "domain %s is missing on host %s", dom, host->name);
            continue;
        }
        struct cfs_domain_info info;
        if (drv->info(conn, vm->uuid, &info, &err) < 0) {
            diff(c, vm, "domain %s on host %s: %s", dom, host->name, err.msg);
            continue;
        }
        char *want = row_value(c, "attrs", vm->id, "state");
        char *seen = row_value(c, "status", vm->id, "state");
        if (want && !power_matches(want, info.power))
            diff(c, vm, "state is %s but domain %s is %s", want, dom, power_text(info.power));
        if (seen && !power_matches(seen, info.power))
            diff(c, vm, "status/state says %s but domain %s is %s", seen, dom,
                 power_text(info.power));
        free(want);
        free(seen);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc < 0)
        goto cleanup;

    /* Every cfs- domain belongs to a live VM placed on a host with this URI. */
    for (size_t i = 0; i < doms.n; i++) {
        const char *name = doms.d[i].name;
        size_t pl = strlen(CFS_DOMAIN_PREFIX);
        if (strncmp(name, CFS_DOMAIN_PREFIX, pl))
            continue;   /* not named like ours: someone else's business */
        const struct chk_res *vm = vm_by_uuid(c, name + pl);
        if (!vm) {
            diff(c, host, "orphan domain %s: no VM has UUID %s", name, name + pl);
            continue;
        }
        if (vm->deleted) {
            note(c, host, "domain %s of a deleted VM awaits its teardown", name);
            continue;
        }
        if (vm->recycled) {
            note(c, host, "domain %s of a recycled VM awaits its undefinition", name);
            continue;
        }
        char *placed = row_value(c, "status", vm->id, "host");
        bool here = placed && vm->parent == host->parent && !strcmp(placed, host->name);
        if (!here && placed && placed[0]) {
            /* Another host of the cluster may reach the same libvirtd. */
            for (size_t j = 0; j < c->nres && !here; j++) {
                const struct chk_res *h = &c->res[j];
                if (h->parent == vm->parent && h->kind == host->kind && !h->deleted &&
                    !strcmp(h->name, placed)) {
                    char *huri = row_value(c, "attrs", h->id, "uri");
                    here = huri && !strcmp(huri, uri);
                    free(huri);
                }
            }
        }
        if (!here)
            diff(c, vm, "has a domain %s on host %s but is placed on '%s'", name, host->name,
                 placed ? placed : "");
        free(placed);
    }
    ret = 0;

cleanup:
    sqlite3_finalize(s);
    if (conn)
        drv->close(conn);
    free(doms.d);
    free(uri);
    return ret;
}

/* ---- pools ---- */

struct obj_list {
    char (*name)[128];
    size_t n, cap;
};

static int obj_add(const char *name, void *arg)
{
    struct obj_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char (*grown)[128] = realloc(l->name, cap * sizeof(*grown));
        if (!grown)
            return -1;
        l->name = grown;
        l->cap = cap;
    }
    snprintf(l->name[l->n++], sizeof(l->name[0]), "%s", name);
    return 0;
}

static const struct chk_res *res_by_kind_uuid(const struct check *c, const char *kind,
                                              const char *uuid)
{
    for (size_t i = 0; i < c->nres; i++)
        if (!strcmp(c->res[i].kind_name, kind) && !strcmp(c->res[i].uuid, uuid))
            return &c->res[i];
    return NULL;
}

/* Every object in the pool belongs to a volume made there or an image, none
 * is half-made, and every volume made there has its object. */
static int check_pool_objects(struct check *c, const struct chk_res *pool)
{
    char *type = row_value(c, "attrs", pool->id, "type");
    char *path = row_value(c, "attrs", pool->id, "path");
    char *conf = row_value(c, "attrs", pool->id, "ceph-conf");
    char *rpool = row_value(c, "attrs", pool->id, "rbd-pool");
    char *user = row_value(c, "attrs", pool->id, "ceph-user");
    struct cfs_pool_def def = {.type = type ? type : "", .path = path, .ceph_conf = conf,
                               .rbd_pool = rpool, .ceph_user = user, .timeout = 10};
    const struct cfs_storage_driver *sd = storage_driver(def.type);
    struct cfs_pool *p = NULL;
    struct obj_list objs = {0};
    struct cfs_err err;
    if (!sd) {
        diff(c, pool, "unknown pool type '%s'", def.type);
        goto cleanup;
    }
    if (sd->open(&def, &p, &err) < 0 || sd->list(p, obj_add, &objs, &err) < 0) {
        diff(c, pool, "cannot list the pool: %s", err.msg);
        goto cleanup;
    }
    for (size_t i = 0; i < objs.n; i++) {
        const char *o = objs.name[i];
        size_t n = strlen(o), sl = strlen(CFS_PART_SUFFIX);
        if (n > sl && !strcmp(o + n - sl, CFS_PART_SUFFIX)) {
            diff(c, pool, "half-made object %s (removed when the reconciler next opens the pool)", o);
            continue;
        }
        bool vol = !strncmp(o, CFS_VOL_PREFIX, strlen(CFS_VOL_PREFIX));
        const char *uuid = o + strlen(vol ? CFS_VOL_PREFIX : CFS_IMG_PREFIX);
        const struct chk_res *r = res_by_kind_uuid(c, vol ? "volume" : "image", uuid);
        if (!r) {
            diff(c, pool, "orphan object %s: no %s has UUID %s", o, vol ? "volume" : "image", uuid);
            continue;
        }
        if (vol) {
            char *made = row_value(c, "status", r->id, "pool");
            if (!r->deleted && (!made || strcmp(made, pool->name) || r->parent != pool->parent))
                diff(c, r, "has an object %s in pool %s but status/pool says '%s'", o, pool->name,
                     made ? made : "");
            free(made);
        }
    }
    /* The volumes made in this pool. */
    for (size_t i = 0; i < c->nres; i++) {
        const struct chk_res *r = &c->res[i];
        if (strcmp(r->kind_name, "volume") || r->deleted || r->parent != pool->parent)
            continue;
        char *made = row_value(c, "status", r->id, "pool");
        char *state = row_value(c, "status", r->id, "state");
        if (made && !strcmp(made, pool->name) && state &&
            (!strcmp(state, "available") || !strcmp(state, "attached"))) {
            char want[128];
            bool found = false;
            snprintf(want, sizeof(want), "%s%s", CFS_VOL_PREFIX, r->uuid);
            for (size_t j = 0; j < objs.n && !found; j++)
                found = !strcmp(objs.name[j], want);
            if (!found)
                diff(c, r, "is %s%s but its object %s is missing in pool %s", state,
                     r->recycled ? " (in the recycle bin)" : "", want, pool->name);
        }
        free(made);
        free(state);
    }
cleanup:
    if (p)
        sd->close(p);
    free(objs.name);
    free(type);
    free(path);
    free(conf);
    free(rpool);
    free(user);
    return 0;
}

/* ---- networks ---- */

/* What the network driver found on a host (network.h, list). */
struct net_item {
    enum cfs_net_kind kind;
    char vpc[CFS_UUID_LEN];
    char subnet[CFS_UUID_LEN];
    char what[400];
};

struct net_items {
    struct net_item *v;
    size_t n, cap;
    bool oom;
};

static void net_found(enum cfs_net_kind kind, const char *vpc, const char *subnet, const char *what,
                      void *arg)
{
    struct net_items *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct net_item *grown = realloc(l->v, cap * sizeof(*grown));
        if (!grown) {
            l->oom = true;
            return;
        }
        l->v = grown;
        l->cap = cap;
    }
    struct net_item *it = &l->v[l->n++];
    it->kind = kind;
    snprintf(it->vpc, sizeof(it->vpc), "%s", vpc ? vpc : "");
    snprintf(it->subnet, sizeof(it->subnet), "%s", subnet ? subnet : "");
    snprintf(it->what, sizeof(it->what), "%s", what ? what : "");
}

/* The item of vpc (and subnet, or any when NULL) whose what is exactly
 * what, or starts with it when prefix. */
static const struct net_item *net_item_find(const struct net_items *l, const char *vpc,
                                            const char *subnet, const char *what, bool prefix)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct net_item *it = &l->v[i];
        if (strcmp(it->vpc, vpc) || (subnet && strcmp(it->subnet, subnet)))
            continue;
        if (prefix ? !strncmp(it->what, what, strlen(what)) : !strcmp(it->what, what))
            return it;
    }
    return NULL;
}

/* Whether the newline-separated list holds line. */
static bool has_line(const char *list, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, line, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* The libvirt network name on uri: 1 active, 0 inactive, -1 unknown
 * (absent, or libvirt unreachable). */
static int lv_network_active(const char *uri, const char *name)
{
    virConnectPtr conn = virConnectOpen(uri);
    int active = -1;
    if (!conn)
        return -1;
    virNetworkPtr n = virNetworkLookupByName(conn, name);
    if (n) {
        active = virNetworkIsActive(n);
        virNetworkFree(n);
    }
    virConnectClose(conn);
    return active < 0 ? -1 : active;
}

/* Whether the namespace holds the address a/prefix. */
static bool netns_has_addr(const struct nl_list *addrs, uint32_t a, int prefix)
{
    for (int i = 0; i < addrs->n; i++) {
        const struct nl_addr *x = NL_AT(addrs, struct nl_addr, i);
        if (x->addr == a && x->prefix == prefix)
            return true;
    }
    return false;
}

/* The subnets of vpc set up on the host: their DHCP range on its dnsmasq
 * and their gateway on its router. */
static void check_subnets_on(struct check *c, const struct chk_res *host, const char *uri,
                             const struct chk_res *vpc, const struct net_items *found,
                             const char *netns)
{
    struct nl_list addrs = {0};
    struct cfs_err err;
    bool have_addrs = netns && nl_addrs(netns, &addrs, &err) == 0;
    if (netns && !have_addrs)
        diff(c, vpc, "cannot read the router addresses of host %s: %s", host->name, err.msg);
    for (size_t i = 0; i < c->nres; i++) {
        const struct chk_res *s = &c->res[i];
        if (s->parent != vpc->id || s->deleted || strcmp(s->kind_name, "subnet"))
            continue;
        char *hosts = row_value(c, "status", s->id, CFS_ST_HOSTS);
        char *state = row_value(c, "status", s->id, "state");
        char *cidr = row_value(c, "attrs", s->id, "cidr");
        char *gw = row_value(c, "status", s->id, "gateway");
        struct cfs_cidr net;
        uint32_t a;
        if (!has_line(hosts, uri) || strcmp(state, "available") || !converged(c, s)) {
            note(c, s, "not set up on host %s or still converging: not compared", host->name);
        } else if (!net_item_find(found, vpc->uuid, s->uuid, "subnet ", true)) {
            diff(c, s, "DHCP range of subnet %s is missing from the dnsmasq of host %s", cidr,
                 host->name);
        } else if (have_addrs && netaddr_cidr_parse(cidr, &net, &err) == 0 &&
                   netaddr_ipv4_parse(gw, &a, &err) == 0 && !netns_has_addr(&addrs, a, net.prefix)) {
            diff(c, s, "gateway %s/%d is missing from the router (network namespace %s) of host %s",
                 gw, net.prefix, netns, host->name);
        }
        free(hosts);
        free(state);
        free(cidr);
        free(gw);
    }
    nl_list_free(&addrs);
}

/* One VPC set up on the host: its bridge, libvirt network (active) and
 * router namespace are there, and so are its subnets. */
static void check_vpc_on(struct check *c, const struct chk_res *host, const char *uri,
                         struct cfs_net_host *h, const struct chk_res *vpc,
                         const struct net_items *found)
{
    struct cfs_net_attach at;
    struct cfs_err err;
    char what[128];
    if (net->attachment(h, vpc->uuid, &at, &err) < 0) {
        diff(c, vpc, "cannot name its objects on host %s: %s", host->name, err.msg);
        return;
    }
    snprintf(what, sizeof(what), "bridge %s", at.bridge);
    if (!net_item_find(found, vpc->uuid, NULL, what, false))
        diff(c, vpc, "bridge %s is missing on host %s", at.bridge, host->name);
    if (at.network[0]) {
        snprintf(what, sizeof(what), "libvirt network %s", at.network);
        if (!net_item_find(found, vpc->uuid, NULL, what, false))
            diff(c, vpc, "libvirt network %s is missing on host %s", at.network, host->name);
        else if (lv_network_active(uri, at.network) == 0)
            diff(c, vpc, "libvirt network %s is not active on host %s", at.network, host->name);
    }
    const struct net_item *ns = net_item_find(found, vpc->uuid, NULL, "network namespace ", true);
    if (!ns)
        diff(c, vpc, "router (network namespace) is missing on host %s", host->name);
    check_subnets_on(c, host, uri, vpc, found,
                     ns ? ns->what + strlen("network namespace ") : NULL);
}

/* The first live host of the tree with this URI (hosts sharing one are
 * compared once). */
static bool first_with_uri(struct check *c, const struct chk_res *host, const char *uri)
{
    for (size_t i = 0; i < c->nres && &c->res[i] != host; i++) {
        const struct chk_res *o = &c->res[i];
        if (o->kind != host->kind || o->deleted)
            continue;
        char *ouri = row_value(c, "attrs", o->id, "uri");
        bool same = !strcmp(ouri, uri);
        free(ouri);
        if (same)
            return false;
    }
    return true;
}

/* Every VPC and subnet set up on the host (status _hosts) has its objects
 * there, and every object of cloudfs's there belongs to a VPC or subnet. */
static int check_host_network(struct check *c, const struct chk_res *host)
{
    char *uri = row_value(c, "attrs", host->id, "uri");
    char *netns = NULL;
    struct cfs_net_host *h = NULL;
    struct net_items found = {0};
    struct cfs_err err;
    int ret = 0;
    if (!strncmp(uri, "test:", 5) || !uri[0] || !first_with_uri(c, host, uri) ||
        host_lost(c, host))
        goto cleanup;       /* simulated hosts have no network; lost ones answer no one */
    struct cfs_net_host_def def = {.libvirt_uri = uri};
    /* A host simulated in a network namespace (test-only netns), as the
     * reconciler's host_open() opens it. */
    char state_dir[128];
    netns = row_value(c, "attrs", host->id, "netns");
    if (netns && netns[0]) {
        snprintf(state_dir, sizeof(state_dir), CFS_NET_STATE_DIR "/ns-%s", netns);
        def.netns = netns;
        def.state_dir = state_dir;
    }
    if (net->open(&def, &h, &err) < 0 || net->list(h, net_found, &found, &err) < 0) {
        diff(c, host, "cannot list the networks of %s: %s", uri, err.msg);
        goto cleanup;
    }
    if (found.oom) {
        ret = cfs_err_set(c->err, ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < c->nres; i++) {
        const struct chk_res *vpc = &c->res[i];
        if (vpc->deleted || strcmp(vpc->kind_name, "vpc"))
            continue;
        char *hosts = row_value(c, "status", vpc->id, CFS_ST_HOSTS);
        char *state = row_value(c, "status", vpc->id, "state");
        if (!has_line(hosts, uri) || strcmp(state, "available") || !converged(c, vpc))
            note(c, vpc, "not set up on host %s or still converging: not compared", host->name);
        else
            check_vpc_on(c, host, uri, h, vpc, &found);
        free(hosts);
        free(state);
    }
    /* Orphans: what no VPC or subnet of the store owns. */
    for (size_t i = 0; i < found.n; i++) {
        const struct net_item *it = &found.v[i];
        const struct chk_res *vpc = res_by_kind_uuid(c, "vpc", it->vpc);
        if (!vpc) {
            diff(c, host, "orphan %s: no VPC has UUID %s", it->what, it->vpc);
        } else if (vpc->deleted) {
            note(c, host, "%s of a deleted VPC awaits its teardown", it->what);
        } else if (it->kind == CFS_NET_SUBNET) {
            const struct chk_res *s = res_by_kind_uuid(c, "subnet", it->subnet);
            if (!s || s->parent != vpc->id)
                diff(c, vpc, "orphan %s on host %s: no subnet has UUID %s", it->what, host->name,
                     it->subnet);
            else if (s->deleted)
                note(c, s, "%s awaits its teardown", it->what);
        }
    }

cleanup:
    if (h)
        net->close(h);
    free(found.v);
    free(uri);
    free(netns);
    return ret;
}

/* ---- security groups: each host's nftables tables (secgroup_nft.c) ---- */

static int64_t chk_up(const struct check *c, int64_t id, int up)
{
    const struct chk_res *r = res_by_id(c, id);
    for (int i = 0; r && i < up; i++)
        r = r->deleted ? NULL : res_by_id(c, r->parent);
    return r && !r->deleted ? r->id : 0;
}

static const struct chk_res *chk_group(const struct check *c, int64_t zone, const char *ref)
{
    const char *slash = strchr(ref, '/');
    for (size_t i = 0; i < c->nres; i++)
        if (!c->res[i].deleted && !strcmp(c->res[i].kind_name, "secgroup") &&
            c->res[i].parent == zone && !strcmp(c->res[i].name, slash ? slash + 1 : ref))
            return &c->res[i];
    return NULL;
}

/* A live NIC with an address; *zone and *vpc set. */
static bool chk_sg_nic(struct check *c, const struct chk_res *n, int64_t *zone, int64_t *vpc,
                       char ip[CFS_IPV4_LEN])
{
    if (n->deleted || strcmp(n->kind_name, "nic") || !(*zone = chk_up(c, n->id, 3)))
        return false;
    char *sub = row_value(c, "status", n->id, CFS_ST_SUBNET);
    char *addr = row_value(c, "status", n->id, "ip");
    const struct chk_res *s = sub[0] ? res_by_kind_uuid(c, "subnet", sub) : NULL;
    const struct chk_res *v = s ? res_by_id(c, s->parent) : NULL;
    bool ok = v && !v->deleted && !s->deleted && addr[0] && strlen(addr) < CFS_IPV4_LEN;
    if (ok) {
        *vpc = v->id;
        snprintf(ip, CFS_IPV4_LEN, "%s", addr);
    }
    free(sub);
    free(addr);
    return ok;
}

static bool chk_sg_member(struct check *c, const struct chk_res *g)
{
    for (size_t i = 0; i < c->nres; i++) {
        int64_t zone, vpc;
        char ip[CFS_IPV4_LEN], buf[512];
        const char *names[SG_MAX_PER_NIC + 1];
        if (!chk_sg_nic(c, &c->res[i], &zone, &vpc, ip) || zone != g->parent)
            continue;
        char *list = row_value(c, "attrs", c->res[i].id, "security-groups");
        int k = sg_split_names(list, buf, sizeof(buf), names, SG_MAX_PER_NIC);
        free(list);
        for (int j = 0; j < k && j < SG_MAX_PER_NIC; j++)
            if (chk_group(c, zone, names[j]) == g)
                return true;
    }
    return false;
}

/* How many in and out rules NIC n's chains should hold. */
static void chk_sg_counts(struct check *c, const struct chk_res *n, int64_t zone, int *in,
                          int *out)
{
    char buf[512];
    const char *names[SG_MAX_PER_NIC + 1];
    char *list = row_value(c, "attrs", n->id, "security-groups");
    int k = sg_split_names(list, buf, sizeof(buf), names, SG_MAX_PER_NIC);
    free(list);
    *in = *out = 0;
    for (int j = 0; j < k && j < SG_MAX_PER_NIC; j++) {
        const struct chk_res *g = chk_group(c, zone, names[j]);
        for (size_t i = 0; g && i < c->nres; i++) {
            const struct chk_res *r = &c->res[i];
            if (r->deleted || r->parent != g->id || strcmp(r->kind_name, "sgrule"))
                continue;
            char *dir = row_value(c, "attrs", r->id, "direction");
            char *remote = row_value(c, "attrs", r->id, "remote");
            uint32_t net;
            int prefix;
            struct cfs_err e;
            int kind = sg_parse_remote(remote[0] ? remote : "0.0.0.0/0", &net, &prefix, &e);
            const struct chk_res *rg = kind == 0 ? chk_group(c, zone, remote) : NULL;
            if (kind == 1 || (rg && chk_sg_member(c, rg)))
                (*(strcmp(dir, "out") ? in : out))++;
            free(dir);
            free(remote);
        }
    }
}

/* The rules of chain NAME in a table's listing. */
static int chk_chain_rules(const char *table, const char *name)
{
    char head[64];
    snprintf(head, sizeof(head), "\tchain %s {\n", name);
    const char *p = table ? strstr(table, head) : NULL;
    if (!p)
        return -1;
    int n = 0;
    for (p += strlen(head); *p && strncmp(p, "\t}", 2); p = strchr(p, '\n') + 1) {
        if (!strchr(p, '\n'))
            break;
        n += p[strspn(p, "\t ")] != '\n';
    }
    return n;
}

static void chk_hex(const char *uuid, char hex[33])
{
    int j = 0;
    for (int i = 0; uuid[i] && j < 32; i++)
        if (uuid[i] != '-')
            hex[j++] = uuid[i];
    hex[j] = '\0';
}

/* Each VPC with NICs has its table, each NIC its chains with as many rules
 * as its groups give; a table of a VPC the store lacks is an orphan. */
static int check_host_secgroups(struct check *c, const struct chk_res *host)
{
    static const char *const list_args[] = {"list", "ruleset", "inet", NULL};
    char *uri = row_value(c, "attrs", host->id, "uri");
    char *netns = row_value(c, "attrs", host->id, "netns");
    char *listing = NULL;
    struct cfs_err err;
    if (!strncmp(uri, "test:", 5) || !uri[0] || netns[0] || strstr(uri, "+ssh") ||
        !first_with_uri(c, host, uri))
        goto cleanup;
    if (sg_nft_run("", list_args, NULL, &listing, &err) < 0) {
        diff(c, host, "cannot list the nftables rules: %s", err.msg);
        goto cleanup;
    }
    for (size_t i = 0; i < c->nres; i++) {
        const struct chk_res *n = &c->res[i];
        int64_t zone, vpc;
        char ip[CFS_IPV4_LEN], vhex[33], nhex[33], name[96], line[160];
        if (!chk_sg_nic(c, n, &zone, &vpc, ip))
            continue;
        chk_hex(res_by_id(c, vpc)->uuid, vhex);
        chk_hex(n->uuid, nhex);
        snprintf(name, sizeof(name), SG_TABLE_PREFIX "%s", vhex);
        char *table = sg_nft_table_text(listing, name);
        int in, out;
        chk_sg_counts(c, n, zone, &in, &out);
        snprintf(line, sizeof(line), "ip daddr %s jump i_%s\n", ip, nhex);
        snprintf(name, sizeof(name), "i_%s", nhex);
        int kin = chk_chain_rules(table, name);
        snprintf(name, sizeof(name), "o_%s", nhex);
        int kout = chk_chain_rules(table, name);
        if (!table)
            diff(c, n, "no nftables table inet " SG_TABLE_PREFIX "%s on host %s: its security "
                 "groups are not enforced", vhex, host->name);
        else if (!strstr(table, line))
            diff(c, n, "table inet " SG_TABLE_PREFIX "%s on host %s does not send %s to the "
                 "NIC's rules", vhex, host->name, ip);
        else if (kin != in + 4 || kout != out + 1)
            diff(c, n, "its nftables chains on host %s hold %d in and %d out rules; its "
                 "security groups give %d and %d", host->name, kin - 4, kout - 1, in, out);
        free(table);
    }
    for (const char *p = strstr(listing, "table inet " SG_TABLE_PREFIX); p;
         p = strstr(p + 1, "table inet " SG_TABLE_PREFIX)) {
        const char *h = p + strlen("table inet " SG_TABLE_PREFIX);
        bool known = false;
        for (size_t i = 0; i < c->nres && !known; i++) {
            char hex[33];
            if (strcmp(c->res[i].kind_name, "vpc"))
                continue;
            chk_hex(c->res[i].uuid, hex);
            known = !strncmp(h, hex, 32);
        }
        if (!known)
            note(c, host, "nftables table inet " SG_TABLE_PREFIX "%.32s: of no VPC of this "
                 "store (another store's, or left behind)", h);
    }
cleanup:
    free(listing);
    free(uri);
    free(netns);
    return 0;
}

/* What each kind is compared with outside the store.  One function per kind
 * that owns something real; pools gain theirs (volumes against the pool's
 * backend) here. */
static const struct {
    const char *kind;
    int (*compare)(struct check *c, const struct chk_res *r);
} reality_checks[] = {
    {"host", check_host_domains},
    {"host", check_host_network},
    {"host", check_host_secgroups},
    {"pool", check_pool_objects},
};

static int check_reality(struct check *c)
{
    bool started = false;
    int ret = 0;
    for (size_t i = 0; i < c->nres && ret == 0; i++) {
        const struct chk_res *r = &c->res[i];
        if (!r->kind || r->deleted)
            continue;
        for (size_t j = 0; j < sizeof(reality_checks) / sizeof(reality_checks[0]); j++) {
            if (strcmp(reality_checks[j].kind, r->kind->name))
                continue;
            if (!started) {
                if (drv->init(c->err) < 0)
                    return -1;
                started = true;
            }
            if (reality_checks[j].compare(c, r) < 0) {
                ret = -1;
                break;
            }
        }
    }
    if (started)
        drv->shutdown();
    return ret;
}

long check_run(const struct cfs_conf *conf, const struct cfs_layout *layout,
               const struct check_opts *opts, FILE *out, FILE *notes, struct cfs_err *err)
{
    struct check c = {.layout = layout, .opts = opts, .out = out, .notes = notes, .err = err};
    long ret = -1;
    if (sqlite3_open_v2(conf->store, &c.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cfs_err_set(err, EIO, "store %s: %s", conf->store,
                    c.db ? sqlite3_errmsg(c.db) : "cannot open");
        goto cleanup;
    }
    sqlite3_busy_timeout(c.db, 30000);
    /* One snapshot for the whole store half. */
    if (sqlite3_exec(c.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        cfs_err_set(err, EIO, "store %s: %s", conf->store, sqlite3_errmsg(c.db));
        goto cleanup;
    }
    if (check_integrity(&c) < 0 || load_resources(&c) < 0)
        goto cleanup;
    check_resources(&c);
    if (check_attrs(&c) < 0 || check_status(&c) < 0 || check_names(&c) < 0 ||
        check_links(&c) < 0 || check_changes(&c) < 0 || check_tombstones(&c) < 0 ||
        check_counts(&c) < 0 || check_nics(&c) < 0 || check_tags(&c) < 0)
        goto cleanup;
    if (opts->reality && check_reality(&c) < 0)
        goto cleanup;
    ret = c.diffs;

cleanup:
    if (c.db) {
        sqlite3_exec(c.db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(c.db);
    }
    free(c.res);
    return ret;
}
