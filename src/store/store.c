/* store.c: the SQLite store (see store.h for the contract). */
#include "store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STMT_CACHE 96

struct cfs_store {
    sqlite3 *db;
    int notify_fd;          /* "<store>-notify": touched after every commit */
    char notify_path[4096];
    char origin[37];        /* this handle's id in changes.origin */
    const struct cfs_layout *layout;
    pthread_mutex_t lock;
    uint64_t commits;       /* commits on this connection (data_version ignores them) */
    int read_depth;         /* nested store_read_begin calls holding the lock */
    bool read_txn;          /* the outermost one opened a read transaction */
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE];
};

/* Numbered forward migrations; PRAGMA user_version holds how many ran. */
static const char *const migrations[] = {
    /* 1: resources, spec, status, relations and the changes log. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE resources("
    "  id INTEGER PRIMARY KEY,"
    "  parent INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  uid INTEGER NOT NULL DEFAULT 0,"
    "  gid INTEGER NOT NULL DEFAULT 0,"
    "  ctime INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX resources_name ON resources(parent, kind, name);"
    "CREATE INDEX resources_kind ON resources(kind);"
    "CREATE TABLE attrs(res INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    "  mtime INTEGER NOT NULL, PRIMARY KEY(res, name)) WITHOUT ROWID;"
    "CREATE INDEX attrs_value ON attrs(name, value);"
    "CREATE TABLE status(res INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    "  mtime INTEGER NOT NULL, PRIMARY KEY(res, name)) WITHOUT ROWID;"
    "CREATE TABLE links(res INTEGER NOT NULL, link TEXT NOT NULL, target INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL, PRIMARY KEY(res, link, target)) WITHOUT ROWID;"
    "CREATE INDEX links_target ON links(target);"
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    "  res INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL, op TEXT NOT NULL,"
    "  attr TEXT, old TEXT, new TEXT, actor TEXT NOT NULL, uid INTEGER, pid INTEGER,"
    "  comm TEXT);",
    /* 2: tombstones for resources whose teardown the reconciler finishes
     * (a deleted VM's domain), and indexes for per-resource history and
     * status lookups (VMs placed on a host). */
    "ALTER TABLE resources ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX changes_res ON changes(res, seq);"
    "CREATE INDEX status_value ON status(name, value);",
    /* 3: which store handle logged each change (a mount tells its own
     * changes, whose inotify events the kernel already raised, from those
     * of other processes), and the audit of writes through a mount:
     * append-only, enforced here as well as by the tree. */
    "ALTER TABLE changes ADD COLUMN origin TEXT;"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL, pid INTEGER NOT NULL, comm TEXT NOT NULL, op TEXT NOT NULL,"
    "  path TEXT NOT NULL, value TEXT, result TEXT NOT NULL);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",
    /* 4: how many live resources of each kind each parent holds, kept by
     * triggers.  A collection's nlink is that count, and the kernel asks
     * for it after every mkdir in it: counting rows made filling a
     * collection quadratic (100,000 VMs did not finish). */
    "CREATE TABLE counts(parent INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY(parent, kind)) WITHOUT ROWID;"
    "INSERT INTO counts SELECT parent, kind, count(*) FROM resources WHERE deleted = 0"
    "  GROUP BY parent, kind;"
    "CREATE TRIGGER counts_insert AFTER INSERT ON resources WHEN NEW.deleted = 0 BEGIN"
    "  INSERT INTO counts VALUES(NEW.parent, NEW.kind, 1)"
    "    ON CONFLICT(parent, kind) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER counts_delete AFTER DELETE ON resources BEGIN"
    "  UPDATE counts SET n = n - 1"
    "    WHERE OLD.deleted = 0 AND parent = OLD.parent AND kind = OLD.kind;"
    "  DELETE FROM counts WHERE parent = OLD.id; END;"
    "CREATE TRIGGER counts_update AFTER UPDATE OF parent, kind, deleted ON resources BEGIN"
    "  UPDATE counts SET n = n - 1"
    "    WHERE OLD.deleted = 0 AND parent = OLD.parent AND kind = OLD.kind;"
    "  INSERT INTO counts SELECT NEW.parent, NEW.kind, 1 WHERE NEW.deleted = 0"
    "    ON CONFLICT(parent, kind) DO UPDATE SET n = n + 1; END;",
};

int64_t store_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *store_notify_path(const struct cfs_store *st)
{
    return st->notify_path;
}

const struct cfs_layout *store_layout(const struct cfs_store *st)
{
    return st->layout;
}

const char *store_origin(const struct cfs_store *st)
{
    return st->origin;
}

static int db_error(struct cfs_store *st, struct cfs_err *err, const char *what)
{
    int code = sqlite3_errcode(st->db);
    int e = EIO;
    if (code == SQLITE_FULL)
        e = ENOSPC;
    else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        e = EAGAIN;
    else if (code == SQLITE_READONLY)
        e = EROFS;
    return cfs_err_set(err, e, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

/* A cached prepared statement for a literal SQL string (keyed by address). */
static sqlite3_stmt *stmt(struct cfs_store *st, const char *sql, struct cfs_err *err)
{
    int free_slot = -1;
    for (int i = 0; i < STMT_CACHE; i++) {
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            return st->cache[i].stmt;
        }
        if (!st->cache[i].sql && free_slot < 0)
            free_slot = i;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        db_error(st, err, "prepare");
        return NULL;
    }
    if (free_slot >= 0) {
        st->cache[free_slot].sql = sql;
        st->cache[free_slot].stmt = s;
    }
    /* A full cache would leak s; STMT_CACHE is sized above the number of
     * statements in this file. */
    return s;
}

static int exec(struct cfs_store *st, const char *sql, struct cfs_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = db_error(st, err, msg ? msg : sql);
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int begin(struct cfs_store *st, struct cfs_err *err)
{
    return exec(st, "BEGIN IMMEDIATE", err);
}

/* After COMMIT returns the change is visible to other connections; only
 * then touch the notify file.  Waking a reader on the WAL write itself
 * races with SQLite's update of the WAL index (the reader could look too
 * early and see nothing). */
static int commit(struct cfs_store *st, struct cfs_err *err)
{
    if (exec(st, "COMMIT", err) < 0)
        return -1;
    st->commits++;      /* under the store lock, like every write */
    if (st->notify_fd >= 0)
        futimens(st->notify_fd, NULL);
    return 0;
}

static void rollback(struct cfs_store *st)
{
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static void lock(struct cfs_store *st);
static void unlock(struct cfs_store *st);

/* Every write runs between txn_begin and txn_end: the lock, then a write
 * transaction.  txn_begin holds nothing when it fails. */
static int txn_begin(struct cfs_store *st, struct cfs_err *err)
{
    lock(st);
    if (st->read_depth > 0) {
        unlock(st);
        return cfs_err_set(err, EDEADLK, "store: a write inside a read batch");
    }
    if (begin(st, err) < 0) {
        unlock(st);
        return -1;
    }
    return 0;
}

/* rc == 0: commit; rc > 0: nothing to do, roll back and succeed; rc < 0:
 * roll back and fail.  Releases the lock; returns 0 or -1. */
static int txn_end(struct cfs_store *st, int rc, struct cfs_err *err)
{
    if (rc == 0 && commit(st, err) < 0)
        rc = -1;
    if (rc != 0)
        rollback(st);
    unlock(st);
    return rc < 0 ? -1 : 0;
}

static int migrate(struct cfs_store *st, struct cfs_err *err)
{
    sqlite3_stmt *s = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_error(st, err, "user_version");
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);

    int n = (int)(sizeof(migrations) / sizeof(migrations[0]));
    if (version > n)
        return cfs_err_set(err, EINVAL, "store: schema version %d is newer than this cloudfs (%d)",
                           version, n);
    for (int v = version; v < n; v++) {
        char pragma[64];
        if (begin(st, err) < 0)
            return -1;
        /* Re-check under the write lock: the other process may have migrated. */
        if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
            rollback(st);
            return db_error(st, err, "user_version");
        }
        int now = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        sqlite3_finalize(s);
        if (now > v) {
            rollback(st);
            v = now - 1;
            continue;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v], err) < 0 || exec(st, pragma, err) < 0 || commit(st, err) < 0) {
            rollback(st);
            return -1;
        }
    }
    return 0;
}

static void make_uuid(char out[37]);

int store_open(const char *path, const struct cfs_layout *layout, bool sync_full,
               struct cfs_store **out, struct cfs_err *err)
{
    struct cfs_store *st = calloc(1, sizeof(*st));
    if (!st)
        return cfs_err_set(err, ENOMEM, "out of memory");
    st->layout = layout;
    st->notify_fd = -1;
    make_uuid(st->origin);
    /* Recursive: a read batch holds the lock across the calls it groups. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&st->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    snprintf(st->notify_path, sizeof(st->notify_path), "%s-notify", path);
    st->notify_fd = open(st->notify_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        cfs_err_set(err, EIO, "store %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        store_close(st);
        return -1;
    }
    sqlite3_busy_timeout(st->db, 30000);
    if (exec(st, "PRAGMA journal_mode=WAL", err) < 0 ||
        exec(st, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", err) < 0 ||
        migrate(st, err) < 0) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(struct cfs_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(st->cache[i].stmt);
    sqlite3_close(st->db);
    if (st->notify_fd >= 0)
        close(st->notify_fd);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

uint64_t store_generation(struct cfs_store *st)
{
    uint64_t gen = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = stmt(st, "PRAGMA data_version", &err);
    if (s) {
        if (sqlite3_step(s) == SQLITE_ROW)
            gen = ((uint64_t)sqlite3_column_int64(s, 0) << 32) + (st->commits & 0xffffffffULL) + 1;
        sqlite3_reset(s);
    }
    unlock(st);
    return gen;
}

static void lock(struct cfs_store *st)
{
    pthread_mutex_lock(&st->lock);
}

static void unlock(struct cfs_store *st)
{
    pthread_mutex_unlock(&st->lock);
}

void store_read_begin(struct cfs_store *st)
{
    lock(st);
    if (st->read_depth++ == 0 && sqlite3_get_autocommit(st->db))
        st->read_txn = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
}

void store_read_end(struct cfs_store *st)
{
    if (--st->read_depth == 0 && st->read_txn) {
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        st->read_txn = false;
    }
    unlock(st);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return strdup(t ? (const char *)t : "");
}

/* ---- meta ---- */

int store_meta_get(struct cfs_store *st, const char *key, char **value, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, "SELECT value FROM meta WHERE key = ?", err);
    if (!s)
        goto cleanup;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *value = col_dup(s, 0);
        rc = 0;
    } else if (r == SQLITE_DONE) {
        cfs_err_set(err, ENOENT, "no meta key %s", key);
    } else {
        db_error(st, err, "meta");
    }
cleanup:
    if (s)
        sqlite3_reset(s);
    unlock(st);
    return rc;
}

int store_meta_set(struct cfs_store *st, const char *key, const char *value, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", err);
    if (!s)
        goto cleanup;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        db_error(st, err, "meta");
    else
        rc = 0;
cleanup:
    if (s)
        sqlite3_reset(s);
    unlock(st);
    return rc;
}

/* ---- resources ---- */

#define RES_COLS "id, parent, kind, name, uuid, uid, gid, ctime, mtime, deleted"

static int row_to_res(struct cfs_store *st, sqlite3_stmt *s, struct cfs_res *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->parent = sqlite3_column_int64(s, 1);
    r->kind = layout_kind(st->layout, (const char *)sqlite3_column_text(s, 2));
    snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(s, 3));
    snprintf(r->uuid, sizeof(r->uuid), "%s", (const char *)sqlite3_column_text(s, 4));
    r->uid = (uid_t)sqlite3_column_int64(s, 5);
    r->gid = (gid_t)sqlite3_column_int64(s, 6);
    r->ctime = sqlite3_column_int64(s, 7);
    r->mtime = sqlite3_column_int64(s, 8);
    r->deleted = sqlite3_column_count(s) > 9 && sqlite3_column_int(s, 9) != 0;
    return r->kind ? 0 : -1;
}

static int res_get_locked(struct cfs_store *st, int64_t id, struct cfs_res *out,
                          struct cfs_err *err)
{
    sqlite3_stmt *s = stmt(st, "SELECT " RES_COLS " FROM resources WHERE id = ?", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    int rc = -1;
    if (r == SQLITE_ROW && row_to_res(st, s, out) == 0)
        rc = 0;
    else if (r == SQLITE_ROW || r == SQLITE_DONE)
        cfs_err_set(err, ENOENT, "no resource %lld", (long long)id);
    else
        db_error(st, err, "resource");
    sqlite3_reset(s);
    return rc;
}

int store_res_get(struct cfs_store *st, int64_t id, struct cfs_res *out, struct cfs_err *err)
{
    lock(st);
    int rc = res_get_locked(st, id, out, err);
    unlock(st);
    return rc;
}

static int res_find_locked(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                           const char *name, struct cfs_res *out, struct cfs_err *err)
{
    sqlite3_stmt *s = stmt(st,
        "SELECT " RES_COLS " FROM resources WHERE parent = ? AND kind = ? AND name = ?", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, parent);
    sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    int rc = -1;
    if (r == SQLITE_ROW && row_to_res(st, s, out) == 0)
        rc = 0;
    else if (r == SQLITE_ROW || r == SQLITE_DONE)
        cfs_err_set(err, ENOENT, "%s '%s' does not exist", k->name, name);
    else
        db_error(st, err, "resource");
    sqlite3_reset(s);
    return rc;
}

int store_res_find(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   const char *name, struct cfs_res *out, struct cfs_err *err)
{
    lock(st);
    int rc = res_find_locked(st, parent, k, name, out, err);
    unlock(st);
    return rc;
}

int store_res_list(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   store_res_cb cb, void *arg, struct cfs_err *err)
{
    /* Collect first, call back after unlocking: callbacks may use the store. */
    struct cfs_res *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT " RES_COLS " FROM resources WHERE parent = ? AND kind = ? AND deleted = 0"
        " ORDER BY name", err);
    if (!s) {
        unlock(st);
        return -1;
    }
    sqlite3_bind_int64(s, 1, parent);
    sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct cfs_res *grown = realloc(list, cap * sizeof(*list));
            if (!grown) {
                cfs_err_set(err, ENOMEM, "out of memory");
                break;
            }
            list = grown;
        }
        if (row_to_res(st, s, &list[n]) == 0)
            n++;
    }
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        db_error(st, err, "list");
    sqlite3_reset(s);
    unlock(st);
    if (r == SQLITE_DONE) {
        rc = 0;
        for (size_t i = 0; i < n; i++)
            if (cb(&list[i], arg) != 0)
                break;
    }
    free(list);
    return rc;
}

int store_res_count(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                    int64_t *count, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, "SELECT n FROM counts WHERE parent = ? AND kind = ?", err);
    if (s) {
        sqlite3_bind_int64(s, 1, parent);
        sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW || step == SQLITE_DONE) {
            *count = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
            rc = 0;
        } else {
            db_error(st, err, "count");
        }
        sqlite3_reset(s);
    }
    unlock(st);
    return rc;
}

static int res_path_locked(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                           struct cfs_err *err)
{
    /* Build from the leaf upwards into a scratch buffer, then reverse order. */
    const char *parts[16][2];
    struct cfs_res chain[8];
    int depth = 0;
    chain[0] = *r;
    while (chain[depth].parent != 0) {
        if (depth + 1 >= 8)
            return cfs_err_set(err, ELOOP, "resource tree too deep");
        if (res_get_locked(st, chain[depth].parent, &chain[depth + 1], err) < 0)
            return -1;
        depth++;
    }
    int np = 0;
    for (int i = depth; i >= 0; i--) {
        parts[np][0] = chain[i].kind->collection;
        parts[np][1] = chain[i].name;
        np++;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < np; i++) {
        int w = snprintf(buf + used, len - used, "%s%s/%s", i ? "/" : "", parts[i][0], parts[i][1]);
        if (w < 0 || (size_t)w >= len - used)
            return cfs_err_set(err, ENAMETOOLONG, "path too long");
        used += (size_t)w;
    }
    return 0;
}

int store_res_path(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                   struct cfs_err *err)
{
    lock(st);
    int rc = res_path_locked(st, r, buf, len, err);
    unlock(st);
    return rc;
}

/* Append one entry to the changes log; called inside a transaction. */
static int log_change(struct cfs_store *st, const struct cfs_res *r, const char *op,
                      const char *attr, const char *old_value, const char *new_value,
                      const struct cfs_actor *actor, struct cfs_err *err)
{
    char path[1024];
    if (res_path_locked(st, r, path, sizeof(path), err) < 0)
        return -1;
    sqlite3_stmt *s = stmt(st,
        "INSERT INTO changes(time, res, kind, path, op, attr, old, new, actor, uid, pid, comm,"
        " origin) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, store_now());
    sqlite3_bind_int64(s, 2, r->id);
    sqlite3_bind_text(s, 3, r->kind->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, op, -1, SQLITE_STATIC);
    if (attr)
        sqlite3_bind_text(s, 6, attr, -1, SQLITE_STATIC);
    if (old_value)
        sqlite3_bind_text(s, 7, old_value, -1, SQLITE_STATIC);
    if (new_value)
        sqlite3_bind_text(s, 8, new_value, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, actor && actor->who ? actor->who : "unknown", -1, SQLITE_STATIC);
    if (actor) {
        sqlite3_bind_int64(s, 10, (int64_t)actor->uid);
        sqlite3_bind_int64(s, 11, (int64_t)actor->pid);
        if (actor->comm)
            sqlite3_bind_text(s, 12, actor->comm, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(s, 13, st->origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(st, err, "log change");
    sqlite3_reset(s);
    return rc;
}

static void make_uuid(char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(b)) {
        /* Fall back to time and address bits; uniqueness is still enforced
         * by the UNIQUE constraint. */
        int64_t t = store_now();
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)((t >> ((i % 8) * 8)) ^ (intptr_t)&b[i]);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

static int touch_res_locked(struct cfs_store *st, int64_t id, struct cfs_err *err)
{
    if (id == 0)
        return 0;
    sqlite3_stmt *s = stmt(st, "UPDATE resources SET mtime = ? WHERE id = ?", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, store_now());
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(st, err, "touch");
    sqlite3_reset(s);
    return rc;
}

int store_res_create(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                     const char *name, uid_t uid, gid_t gid, const struct cfs_actor *actor,
                     struct cfs_res *out, struct cfs_err *err)
{
    struct cfs_res r;
    int rc = -1;
    if (!value_name_ok(name))
        return cfs_err_set(err, EINVAL,
                           "'%.64s' is not a valid name (1-63 of A-Z a-z 0-9 . _ -, not starting "
                           "with . or -)", name);
    memset(&r, 0, sizeof(r));
    r.parent = parent;
    r.kind = k;
    snprintf(r.name, sizeof(r.name), "%s", name);
    make_uuid(r.uuid);
    r.uid = uid;
    r.gid = gid;
    r.ctime = r.mtime = store_now();

    if (txn_begin(st, err) < 0)
        return -1;
    struct cfs_res existing;
    struct cfs_err ignore;
    if (res_find_locked(st, parent, k, name, &existing, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s '%s' already exists", k->name, name);
        goto fail;
    }
    sqlite3_stmt *s = stmt(st,
        "INSERT INTO resources(parent, kind, name, uuid, uid, gid, ctime, mtime)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, parent);
    sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r.uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (int64_t)uid);
    sqlite3_bind_int64(s, 6, (int64_t)gid);
    sqlite3_bind_int64(s, 7, r.ctime);
    sqlite3_bind_int64(s, 8, r.mtime);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "create");
        goto fail;
    }
    r.id = sqlite3_last_insert_rowid(st->db);

    s = stmt(st, "INSERT INTO attrs(res, name, value, mtime) VALUES(?, ?, ?, ?)", err);
    if (!s)
        goto fail;
    for (size_t i = 0; i < k->nattrs; i++) {
        const struct cfs_attr_def *a = &k->attrs[i];
        if (a->type == CFS_T_VERB)
            continue;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, r.id);
        sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, a->def ? a->def : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, r.ctime);
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite3_reset(s);
            db_error(st, err, "create attrs");
            goto fail;
        }
    }
    sqlite3_reset(s);
    if (touch_res_locked(st, parent, err) < 0 ||
        log_change(st, &r, "create", NULL, NULL, r.uuid, actor, err) < 0)
        goto fail;
    if (out)
        *out = r;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

/* Name of the first resource that refers to r by name through a ref
 * attribute, written into who; 0 when there is one, 1 when none. */
static int find_user_locked(struct cfs_store *st, const struct cfs_res *r, bool with_links,
                            char *who, size_t len, struct cfs_err *err)
{
    const struct cfs_layout *l = st->layout;
    for (size_t i = 0; i < l->nkinds; i++) {
        const struct cfs_kind *k = &l->kinds[i];
        for (size_t j = 0; j < k->nattrs; j++) {
            const struct cfs_attr_def *a = &k->attrs[j];
            if (a->type != CFS_T_REF || a->ref_kind != r->kind)
                continue;
            /* Top-level targets are used from anywhere; others only by siblings
             * (layout_load guarantees there is no third case). */
            sqlite3_stmt *s = stmt(st,
                "SELECT r.name FROM attrs a JOIN resources r ON r.id = a.res"
                " WHERE a.name = ? AND a.value = ? AND r.kind = ? AND (? = 0 OR r.parent = ?)"
                " AND r.deleted = 0"
                " LIMIT 1", err);
            if (!s)
                return -1;
            sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, r->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, k->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 4, r->parent);
            sqlite3_bind_int64(s, 5, r->parent);
            int step = sqlite3_step(s);
            if (step == SQLITE_ROW) {
                snprintf(who, len, "%s %s", k->name, (const char *)sqlite3_column_text(s, 0));
                sqlite3_reset(s);
                return 0;
            }
            sqlite3_reset(s);
            if (step != SQLITE_DONE)
                return db_error(st, err, "users");
        }
    }
    if (!with_links)
        return 1;
    /* Relations: a link target is in use by the link holder. */
    sqlite3_stmt *s = stmt(st,
        "SELECT r.kind, r.name FROM links l JOIN resources r ON r.id = l.res"
        " WHERE l.target = ? LIMIT 1", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, r->id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        snprintf(who, len, "%s %s (attached)", (const char *)sqlite3_column_text(s, 0),
                 (const char *)sqlite3_column_text(s, 1));
    sqlite3_reset(s);
    if (step == SQLITE_ROW)
        return 0;
    return step == SQLITE_DONE ? 1 : db_error(st, err, "users");
}

static int delete_rows_locked(struct cfs_store *st, int64_t id, struct cfs_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM attrs WHERE res = ?",
        "DELETE FROM status WHERE res = ?",
        "DELETE FROM links WHERE res = ?",
        "DELETE FROM resources WHERE id = ?",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        sqlite3_stmt *s = stmt(st, sql[i], err);
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, id);
        int step = sqlite3_step(s);
        sqlite3_reset(s);
        if (step != SQLITE_DONE)
            return db_error(st, err, "delete");
    }
    return 0;
}

int store_res_delete(struct cfs_store *st, const struct cfs_res *r,
                     const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    char who[160];
    if (txn_begin(st, err) < 0)
        return -1;
    sqlite3_stmt *s = stmt(st, "SELECT kind, name FROM resources WHERE parent = ? AND deleted = 0 LIMIT 1", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    if (sqlite3_step(s) == SQLITE_ROW) {
        cfs_err_set(err, ENOTEMPTY, "%s %s still holds %s %s", r->kind->name, r->name,
                    (const char *)sqlite3_column_text(s, 0),
                    (const char *)sqlite3_column_text(s, 1));
        sqlite3_reset(s);
        goto fail;
    }
    sqlite3_reset(s);
    int used = find_user_locked(st, r, true, who, sizeof(who), err);
    if (used < 0)
        goto fail;
    if (used == 0) {
        cfs_err_set(err, EBUSY, "%s %s is in use by %s", r->kind->name, r->name, who);
        goto fail;
    }
    if (log_change(st, r, "delete", NULL, r->uuid, NULL, actor, err) < 0)
        goto fail;
    if (r->kind->teardown) {
        /* Keep a hidden tombstone until the reconciler has torn down what
         * the resource owns outside the store; its name is freed now. */
        static const char *const sql[] = {
            "UPDATE resources SET deleted = 1, name = '.deleted-' || uuid WHERE id = ?",
            "DELETE FROM links WHERE res = ?",
        };
        for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
            s = stmt(st, sql[i], err);
            if (!s)
                goto fail;
            sqlite3_bind_int64(s, 1, r->id);
            int step = sqlite3_step(s);
            sqlite3_reset(s);
            if (step != SQLITE_DONE) {
                db_error(st, err, "delete");
                goto fail;
            }
        }
    } else if (delete_rows_locked(st, r->id, err) < 0) {
        goto fail;
    }
    if (touch_res_locked(st, r->parent, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

int store_res_purge(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                    struct cfs_err *err)
{
    int rc = -1;
    if (txn_begin(st, err) < 0)
        return -1;
    if (log_change(st, r, "purge", NULL, r->uuid, NULL, actor, err) < 0 ||
        delete_rows_locked(st, r->id, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

/* Collect rows of a prepared statement into an array of resources. */
static int collect_res(struct cfs_store *st, sqlite3_stmt *s, struct cfs_res **list, size_t *n,
                       struct cfs_err *err)
{
    size_t cap = 0;
    int step;
    *list = NULL;
    *n = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct cfs_res *grown = realloc(*list, cap * sizeof(**list));
            if (!grown) {
                sqlite3_reset(s);
                return cfs_err_set(err, ENOMEM, "out of memory");
            }
            *list = grown;
        }
        if (row_to_res(st, s, &(*list)[*n]) == 0)
            (*n)++;
    }
    sqlite3_reset(s);
    return step == SQLITE_DONE ? 0 : db_error(st, err, "list");
}

int store_res_all(struct cfs_store *st, const struct cfs_kind *k, struct cfs_res **list,
                  size_t *n, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, "SELECT " RES_COLS " FROM resources WHERE kind = ? ORDER BY id", err);
    if (s) {
        sqlite3_bind_text(s, 1, k->name, -1, SQLITE_STATIC);
        rc = collect_res(st, s, list, n, err);
    }
    unlock(st);
    return rc;
}

int store_res_by_status(struct cfs_store *st, const struct cfs_kind *k, int64_t parent,
                        const char *name, const char *value, struct cfs_res **list, size_t *n,
                        struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    /* A status never written reads as empty: "" also finds resources
     * without the row (live ones only: tombstones are never "unplaced").
     * CROSS JOIN keeps status as the outer loop: for ORDER BY r.name the
     * planner preferred walking every VM of the cluster and probing its
     * status, 63 ms instead of 4 ms per host at 100,000 VMs, and each host
     * pass asks this once. */
    sqlite3_stmt *s = value[0] ? stmt(st,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, r.mtime, r.deleted"
        " FROM status x CROSS JOIN resources r ON r.id = x.res"
        " WHERE x.name = ? AND x.value = ? AND r.kind = ? AND r.parent = ? ORDER BY r.name", err)
        : stmt(st,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, r.mtime, r.deleted"
        " FROM resources r LEFT JOIN status x ON x.res = r.id AND x.name = ?1"
        " WHERE coalesce(x.value, '') = ?2 AND r.kind = ?3 AND r.parent = ?4 AND r.deleted = 0"
        " ORDER BY r.name", err);
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, k->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, parent);
        rc = collect_res(st, s, list, n, err);
    }
    unlock(st);
    return rc;
}

int store_res_by_uuid(struct cfs_store *st, const char *uuid, struct cfs_res *out,
                      struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, "SELECT " RES_COLS " FROM resources WHERE uuid = ?", err);
    if (s) {
        sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW && row_to_res(st, s, out) == 0)
            rc = 0;
        else if (step == SQLITE_ROW || step == SQLITE_DONE)
            cfs_err_set(err, ENOENT, "no resource with uuid %s", uuid);
        else
            db_error(st, err, "uuid");
        sqlite3_reset(s);
    }
    unlock(st);
    return rc;
}

int64_t store_spec_generation(struct cfs_store *st, int64_t res)
{
    int64_t gen = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT coalesce(max(seq), 0) FROM changes WHERE res = ?"
        " AND op IN ('create', 'set', 'link', 'unlink', 'delete')", &err);
    if (s) {
        sqlite3_bind_int64(s, 1, res);
        if (sqlite3_step(s) == SQLITE_ROW)
            gen = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    unlock(st);
    return gen;
}

int store_res_rename(struct cfs_store *st, const struct cfs_res *r, const char *newname,
                     const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    char who[160];
    struct cfs_res other, renamed = *r;
    struct cfs_err ignore;
    if (!value_name_ok(newname))
        return cfs_err_set(err, EINVAL, "'%.64s' is not a valid name", newname);
    if (!strcmp(newname, r->name))
        return 0;
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_find_locked(st, r->parent, r->kind, newname, &other, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s '%s' already exists", r->kind->name, newname);
        goto fail;
    }
    /* References are by name: renaming a used resource would break them.
     * Links hold ids, so a linked resource may be renamed. */
    int used = find_user_locked(st, r, false, who, sizeof(who), err);
    if (used < 0)
        goto fail;
    if (used == 0) {
        cfs_err_set(err, EBUSY, "%s %s is referred to by %s; cannot rename", r->kind->name,
                    r->name, who);
        goto fail;
    }
    sqlite3_stmt *s = stmt(st, "UPDATE resources SET name = ?, mtime = ? WHERE id = ?", err);
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, newname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, store_now());
    sqlite3_bind_int64(s, 3, r->id);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "rename");
        goto fail;
    }
    snprintf(renamed.name, sizeof(renamed.name), "%s", newname);
    if (touch_res_locked(st, r->parent, err) < 0 ||
        log_change(st, &renamed, "rename", NULL, r->name, newname, actor, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

int store_res_chown(struct cfs_store *st, const struct cfs_res *r, uid_t uid, gid_t gid,
                    const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    char old[64], new_value[64];
    if (uid == r->uid && gid == r->gid)
        return 0;
    snprintf(old, sizeof(old), "%lu:%lu", (unsigned long)r->uid, (unsigned long)r->gid);
    snprintf(new_value, sizeof(new_value), "%lu:%lu", (unsigned long)uid, (unsigned long)gid);
    if (txn_begin(st, err) < 0)
        return -1;
    sqlite3_stmt *s = stmt(st, "UPDATE resources SET uid = ?, gid = ? WHERE id = ?", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, (int64_t)uid);
    sqlite3_bind_int64(s, 2, (int64_t)gid);
    sqlite3_bind_int64(s, 3, r->id);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "chown");
        goto fail;
    }
    if (log_change(st, r, "chown", NULL, old, new_value, actor, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

/* ---- key/value tables (attrs, status) ---- */

static int kv_get(struct cfs_store *st, const char *sql, int64_t res, const char *name,
                  char **value, int64_t *mtime, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st, sql, err);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, res);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        if (value)
            *value = col_dup(s, 0);
        if (mtime)
            *mtime = sqlite3_column_int64(s, 1);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        cfs_err_set(err, ENOENT, "no value for %s", name);
    } else {
        db_error(st, err, "get");
    }
    sqlite3_reset(s);
out:
    unlock(st);
    return rc;
}

static int kv_list(struct cfs_store *st, const char *sql, int64_t res, store_kv_cb cb, void *arg,
                   struct cfs_err *err)
{
    struct kv {
        char *name, *value;
        int64_t mtime;
    } *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step = SQLITE_DONE;
    lock(st);
    sqlite3_stmt *s = stmt(st, sql, err);
    if (s) {
        sqlite3_bind_int64(s, 1, res);
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct kv *grown = realloc(list, cap * sizeof(*list));
                if (!grown)
                    break;
                list = grown;
            }
            list[n].name = col_dup(s, 0);
            list[n].value = col_dup(s, 1);
            list[n].mtime = sqlite3_column_int64(s, 2);
            n++;
        }
        if (step != SQLITE_DONE)
            db_error(st, err, "list");
        sqlite3_reset(s);
    }
    unlock(st);
    if (s && step == SQLITE_DONE) {
        rc = 0;
        for (size_t i = 0; i < n; i++)
            if (cb(list[i].name, list[i].value, list[i].mtime, arg) != 0)
                break;
    }
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].value);
    }
    free(list);
    return rc;
}

int store_attr_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                   int64_t *mtime, struct cfs_err *err)
{
    return kv_get(st, "SELECT value, mtime FROM attrs WHERE res = ? AND name = ?", res, name,
                  value, mtime, err);
}

int store_attr_list(struct cfs_store *st, int64_t res, store_kv_cb cb, void *arg,
                    struct cfs_err *err)
{
    return kv_list(st, "SELECT name, value, mtime FROM attrs WHERE res = ?", res, cb, arg, err);
}

int store_status_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                     int64_t *mtime, struct cfs_err *err)
{
    return kv_get(st, "SELECT value, mtime FROM status WHERE res = ? AND name = ?", res, name,
                  value, mtime, err);
}

char *store_attr_text(struct cfs_store *st, int64_t res, const char *name)
{
    char *v = NULL;
    struct cfs_err ignore;
    if (store_attr_get(st, res, name, &v, NULL, &ignore) < 0)
        v = NULL;
    return v ? v : strdup("");
}

char *store_status_text(struct cfs_store *st, int64_t res, const char *name)
{
    char *v = NULL;
    struct cfs_err ignore;
    if (store_status_get(st, res, name, &v, NULL, &ignore) < 0)
        v = NULL;
    return v ? v : strdup("");
}

int store_status_list(struct cfs_store *st, int64_t res, store_kv_cb cb, void *arg,
                      struct cfs_err *err)
{
    return kv_list(st, "SELECT name, value, mtime FROM status WHERE res = ?", res, cb, arg, err);
}

int store_attr_set(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                   const char *value, const struct cfs_actor *actor, bool *changed,
                   struct cfs_err *err)
{
    int rc = -1;
    char *old = NULL;
    struct cfs_res target;
    if (changed)
        *changed = false;
    if (txn_begin(st, err) < 0)
        return -1;
    if (a->type == CFS_T_REF && value[0] &&
        res_find_locked(st, a->ref_kind->parent ? r->parent : 0, a->ref_kind, value, &target,
                        err) < 0) {
        cfs_err_set(err, ENOENT, "%s: %s '%s' does not exist%s", a->name, a->ref_kind->name,
                    value, a->ref_kind->parent ? " in this cluster" : "");
        goto fail;
    }
    sqlite3_stmt *s = stmt(st, "SELECT value FROM attrs WHERE res = ? AND name = ?", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        old = col_dup(s, 0);
    sqlite3_reset(s);
    if (old && !strcmp(old, value)) {
        rc = 1;     /* idempotent: nothing to write, nothing to log */
        goto fail;
    }
    if (a->immutable && old && old[0]) {
        cfs_err_set(err, EPERM, "%s cannot be changed once set", a->name);
        goto fail;
    }
    s = stmt(st, "INSERT OR REPLACE INTO attrs(res, name, value, mtime) VALUES(?, ?, ?, ?)", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, store_now());
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "set");
        goto fail;
    }
    bool secret = a->type == CFS_T_SECRET;
    if (log_change(st, r, "set", a->name, secret ? "***" : old, secret ? "***" : value, actor,
                   err) < 0)
        goto fail;
    if (changed)
        *changed = true;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    free(old);
    return rc;
}

int store_verb(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
               const char *verb, const struct cfs_actor *actor, struct cfs_err *err)
{
    if (txn_begin(st, err) < 0)
        return -1;
    int rc = log_change(st, r, "verb", a->name, NULL, verb, actor, err);
    return txn_end(st, rc, err);
}

int store_status_set(struct cfs_store *st, const struct cfs_res *r, const char *name,
                     const char *value, const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    char *old = NULL;
    if (txn_begin(st, err) < 0)
        return -1;
    sqlite3_stmt *s = stmt(st, "SELECT value FROM status WHERE res = ? AND name = ?", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        old = col_dup(s, 0);
    sqlite3_reset(s);
    if ((old && !strcmp(old, value)) || (!old && !value[0])) {
        rc = 1;     /* unchanged */
        goto fail;
    }
    s = stmt(st, "INSERT OR REPLACE INTO status(res, name, value, mtime) VALUES(?, ?, ?, ?)", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, store_now());
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "status");
        goto fail;
    }
    const struct cfs_status_def *def = layout_status(r->kind, name);
    bool quiet = name[0] == '_' || (def && def->volatile_value);
    if (!quiet && log_change(st, r, "status", name, old, value, actor, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    free(old);
    return rc;
}

/* ---- links ---- */

int store_link_list(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    store_res_cb cb, void *arg, struct cfs_err *err)
{
    struct cfs_res *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step = SQLITE_DONE;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, l.mtime"
        " FROM links l JOIN resources r ON r.id = l.target"
        " WHERE l.res = ? AND l.link = ? ORDER BY r.name", err);
    if (s) {
        sqlite3_bind_int64(s, 1, r->id);
        sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                struct cfs_res *grown = realloc(list, cap * sizeof(*list));
                if (!grown)
                    break;
                list = grown;
            }
            if (row_to_res(st, s, &list[n]) == 0)
                n++;
        }
        if (step != SQLITE_DONE)
            db_error(st, err, "links");
        sqlite3_reset(s);
    }
    unlock(st);
    if (s && step == SQLITE_DONE) {
        rc = 0;
        for (size_t i = 0; i < n; i++)
            if (cb(&list[i], arg) != 0)
                break;
    }
    free(list);
    return rc;
}

static int link_find_locked(struct cfs_store *st, const struct cfs_res *r,
                            const struct cfs_link_def *l, const char *name,
                            struct cfs_res *target, struct cfs_err *err)
{
    sqlite3_stmt *s = stmt(st,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, l.mtime"
        " FROM links l JOIN resources r ON r.id = l.target"
        " WHERE l.res = ? AND l.link = ? AND r.name = ?", err);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    int rc = -1;
    if (step == SQLITE_ROW && row_to_res(st, s, target) == 0)
        rc = 0;
    else if (step == SQLITE_DONE || step == SQLITE_ROW)
        cfs_err_set(err, ENOENT, "%s is not linked in %s/%s", name, r->name, l->name);
    else
        db_error(st, err, "link");
    sqlite3_reset(s);
    return rc;
}

int store_link_find(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    const char *name, struct cfs_res *target, struct cfs_err *err)
{
    lock(st);
    int rc = link_find_locked(st, r, l, name, target, err);
    unlock(st);
    return rc;
}

int store_link_add(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    struct cfs_res target, existing;
    struct cfs_err ignore;
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_find_locked(st, r->parent, l->kind, name, &target, err) < 0) {
        cfs_err_set(err, ENOENT, "%s: no %s '%s' in this cluster", l->name, l->kind->name, name);
        goto fail;
    }
    if (link_find_locked(st, r, l, name, &existing, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s %s is already linked to %s", l->kind->name, name, r->name);
        goto fail;
    }
    sqlite3_stmt *s;
    if (l->max > 0) {
        s = stmt(st, "SELECT count(*) FROM links WHERE res = ? AND link = ?", err);
        if (!s)
            goto fail;
        sqlite3_bind_int64(s, 1, r->id);
        sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
        int count = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        sqlite3_reset(s);
        if (count >= l->max) {
            cfs_err_set(err, EDQUOT, "%s: at most %d %s per %s", l->name, l->max, l->kind->name,
                        r->kind->name);
            goto fail;
        }
    }
    if (l->exclusive) {
        s = stmt(st,
            "SELECT r.kind, r.name FROM links l JOIN resources r ON r.id = l.res"
            " WHERE l.target = ? AND l.link = ? LIMIT 1", err);
        if (!s)
            goto fail;
        sqlite3_bind_int64(s, 1, target.id);
        sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            cfs_err_set(err, EBUSY, "%s %s is already attached to %s %s", l->kind->name, name,
                        (const char *)sqlite3_column_text(s, 0),
                        (const char *)sqlite3_column_text(s, 1));
            sqlite3_reset(s);
            goto fail;
        }
        sqlite3_reset(s);
    }
    s = stmt(st, "INSERT INTO links(res, link, target, mtime) VALUES(?, ?, ?, ?)", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, target.id);
    sqlite3_bind_int64(s, 4, store_now());
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "link");
        goto fail;
    }
    if (log_change(st, r, "link", l->name, NULL, name, actor, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

int store_link_del(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err)
{
    int rc = -1;
    struct cfs_res target;
    if (txn_begin(st, err) < 0)
        return -1;
    if (link_find_locked(st, r, l, name, &target, err) < 0)
        goto fail;
    sqlite3_stmt *s = stmt(st, "DELETE FROM links WHERE res = ? AND link = ? AND target = ?", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, target.id);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        db_error(st, err, "unlink");
        goto fail;
    }
    if (log_change(st, r, "unlink", l->name, name, NULL, actor, err) < 0)
        goto fail;
    rc = 0;
fail:
    rc = txn_end(st, rc, err);
    return rc;
}

/* ---- changes ---- */

/* Hand every row of s (the full column list of changes, in table order)
 * to cb until it returns non-zero.  The callback runs with the lock held
 * and must not call the store. */
static int each_change(struct cfs_store *st, sqlite3_stmt *s, store_change_cb cb, void *arg,
                       struct cfs_err *err)
{
    int step, rc = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct cfs_change c = {
            .seq = sqlite3_column_int64(s, 0),
            .time = sqlite3_column_int64(s, 1),
            .res = sqlite3_column_int64(s, 2),
            .kind = (const char *)sqlite3_column_text(s, 3),
            .path = (const char *)sqlite3_column_text(s, 4),
            .op = (const char *)sqlite3_column_text(s, 5),
            .attr = (const char *)sqlite3_column_text(s, 6),
            .old_value = (const char *)sqlite3_column_text(s, 7),
            .new_value = (const char *)sqlite3_column_text(s, 8),
            .actor = (const char *)sqlite3_column_text(s, 9),
            .uid = sqlite3_column_int64(s, 10),
            .pid = sqlite3_column_int64(s, 11),
            .comm = (const char *)sqlite3_column_text(s, 12),
            .origin = (const char *)sqlite3_column_text(s, 13),
        };
        if (cb(&c, arg) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = db_error(st, err, "changes");
    sqlite3_reset(s);
    return rc;
}

int store_changes_since(struct cfs_store *st, int64_t after_seq, int limit, store_change_cb cb,
                        void *arg, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT seq, time, res, kind, path, op, attr, old, new, actor, uid, pid, comm, origin"
        " FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", err);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    rc = each_change(st, s, cb, arg, err);
out:
    unlock(st);
    return rc;
}

int store_res_changes(struct cfs_store *st, int64_t res, const char *op, int64_t after_seq,
                      store_change_cb cb, void *arg, struct cfs_err *err)
{
    struct row {
        int64_t seq, time;
        char *attr, *new_value;
    } *rows = NULL;
    size_t n = 0;
    int step = SQLITE_DONE;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT seq, time, attr, new FROM changes WHERE res = ? AND op = ? AND seq > ?"
        " ORDER BY seq", err);
    if (s) {
        sqlite3_bind_int64(s, 1, res);
        sqlite3_bind_text(s, 2, op, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, after_seq);
        /* Collect first: the callback may call the store. */
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            struct row *grown = realloc(rows, (n + 1) * sizeof(*rows));
            if (!grown)
                break;
            rows = grown;
            rows[n++] = (struct row){
                .seq = sqlite3_column_int64(s, 0),
                .time = sqlite3_column_int64(s, 1),
                .attr = col_dup(s, 2),
                .new_value = col_dup(s, 3),
            };
        }
        sqlite3_reset(s);
    }
    unlock(st);
    int rc = -1;
    if (s && step == SQLITE_DONE)
        rc = 0;
    else if (s)
        cfs_err_set(err, EIO, "store: reading changes failed");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct cfs_change c = {.seq = rows[i].seq, .time = rows[i].time, .res = res, .op = op,
                               .attr = rows[i].attr, .new_value = rows[i].new_value};
        if (cb(&c, arg) != 0)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i].attr);
        free(rows[i].new_value);
    }
    free(rows);
    return rc;
}

int64_t store_last_seq(struct cfs_store *st)
{
    int64_t seq = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = stmt(st, "SELECT coalesce(max(seq), 0) FROM changes", &err);
    if (s) {
        if (sqlite3_step(s) == SQLITE_ROW)
            seq = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    unlock(st);
    return seq;
}

int store_res_recent(struct cfs_store *st, int64_t res, int n, store_change_cb cb, void *arg,
                     struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    /* The newest n, handed out oldest first. */
    sqlite3_stmt *s = stmt(st,
        "SELECT * FROM (SELECT seq, time, res, kind, path, op, attr, old, new, actor, uid, pid,"
        " comm, origin FROM changes WHERE res = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq", err);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, res);
    sqlite3_bind_int(s, 2, n);
    rc = each_change(st, s, cb, arg, err);
out:
    unlock(st);
    return rc;
}

/* ---- audit ---- */

/* Its own small transaction, without touching the notify file: nobody
 * acts on audit rows, so waking the other daemon would be wasted work. */
int store_audit_append(struct cfs_store *st, const struct cfs_audit *a, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "INSERT INTO audit(time, uid, pid, comm, op, path, value, result)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", err);
    if (s) {
        sqlite3_bind_int64(s, 1, a->time);
        sqlite3_bind_int64(s, 2, (int64_t)a->uid);
        sqlite3_bind_int64(s, 3, (int64_t)a->pid);
        sqlite3_bind_text(s, 4, a->comm ? a->comm : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, a->op, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, a->path, -1, SQLITE_STATIC);
        if (a->value)
            sqlite3_bind_text(s, 7, a->value, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, a->result, -1, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(st, err, "audit");
        sqlite3_reset(s);
    }
    unlock(st);
    return rc;
}

int store_audit_list(struct cfs_store *st, int64_t after_id, int limit, store_audit_cb cb,
                     void *arg, struct cfs_err *err)
{
    int rc = -1;
    lock(st);
    sqlite3_stmt *s = stmt(st,
        "SELECT id, time, uid, pid, comm, op, path, value, result FROM audit WHERE id > ?"
        " ORDER BY id LIMIT ?", err);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct cfs_audit a = {
            .id = sqlite3_column_int64(s, 0),
            .time = sqlite3_column_int64(s, 1),
            .uid = (uid_t)sqlite3_column_int64(s, 2),
            .pid = (pid_t)sqlite3_column_int64(s, 3),
            .comm = (const char *)sqlite3_column_text(s, 4),
            .op = (const char *)sqlite3_column_text(s, 5),
            .path = (const char *)sqlite3_column_text(s, 6),
            .value = (const char *)sqlite3_column_text(s, 7),
            .result = (const char *)sqlite3_column_text(s, 8),
        };
        if (cb(&a, arg) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        db_error(st, err, "audit");
    else
        rc = 0;
    sqlite3_reset(s);
out:
    unlock(st);
    return rc;
}
