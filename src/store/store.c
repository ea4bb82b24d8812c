/* store.c: the SQLite store (see store.h for the contract). */
#include "store.h"
#include "status_keys.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pwhash.h"

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
    int write_depth;        /* nested store_write_begin calls holding the lock */
    bool write_failed;      /* the open write batch cannot commit */
    bool write_any;         /* a write of the open batch changed something */
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
    /* 5: retention (store_prune).  Each daemon that follows the changes
     * log records how far it has read; the audit stays append-only except
     * below a floor that only the pruner raises. */
    "CREATE TABLE cursors(name TEXT PRIMARY KEY, seq INTEGER NOT NULL, time INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE audit_floor(id INTEGER NOT NULL);"
    "INSERT INTO audit_floor VALUES(0);"
    "CREATE TRIGGER audit_floor_rises BEFORE UPDATE ON audit_floor WHEN NEW.id < OLD.id"
    "  BEGIN SELECT RAISE(ABORT, 'the audit floor only rises'); END;"
    "DROP TRIGGER audit_no_delete;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  WHEN OLD.id > (SELECT id FROM audit_floor)"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",
    /* 6: offerings lose gpus, which nothing acted on (no passthrough yet). */
    "DELETE FROM attrs WHERE name = 'gpus'"
    "  AND res IN (SELECT id FROM resources WHERE kind = 'offering');",
    /* 7: a resource directory's permission bits (chmod; 0755 = 493), and
     * what each user owns, for quotas. */
    "ALTER TABLE resources ADD COLUMN mode INTEGER NOT NULL DEFAULT 493;"
    "CREATE INDEX resources_owner ON resources(kind, uid);",
    /* 8: the tags of every resource by key and value, for the /tags
     * index; store_attr_set keeps it in step with the tags attributes in
     * the same transaction.  Filled from the tags already stored (their
     * lines in normal form, value.h). */
    "CREATE TABLE tags(key TEXT NOT NULL, value TEXT NOT NULL, res INTEGER NOT NULL,"
    "  PRIMARY KEY(key, value, res)) WITHOUT ROWID;"
    "CREATE INDEX tags_res ON tags(res);"
    "WITH RECURSIVE split(res, line, rest) AS ("
    "  SELECT a.res, '', a.value || char(10) FROM attrs a JOIN resources r ON r.id = a.res"
    "    WHERE a.name = 'tags' AND r.deleted = 0"
    "  UNION ALL"
    "  SELECT res, substr(rest, 1, instr(rest, char(10)) - 1),"
    "    substr(rest, instr(rest, char(10)) + 1) FROM split WHERE rest <> '')"
    "INSERT OR IGNORE INTO tags SELECT substr(line, 1, instr(line, '=') - 1),"
    "  substr(line, instr(line, '=') + 1), res FROM split WHERE instr(line, '=') > 1;",
    /* 9: VM passwords at rest as SHA-512 crypt hashes (cfs_pwhash, see
     * pwhash_sql: a value already hashed is kept). */
    "UPDATE attrs SET value = cfs_pwhash(value) WHERE name = 'password' AND value <> ''"
    "  AND res IN (SELECT id FROM resources WHERE kind = 'vm');",
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

/* Bind s's parameters in order, one letter of types each: 'i' an int64_t,
 * 'd' an int, 's' a string that outlives the statement's next reset, 'S'
 * a string copied now.  A NULL string binds SQL NULL. */
static void bind_v(sqlite3_stmt *s, const char *types, va_list ap)
{
    for (int i = 1; types[i - 1]; i++) {
        char t = types[i - 1];
        if (t == 'i') {
            sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
        } else if (t == 'd') {
            sqlite3_bind_int(s, i, va_arg(ap, int));
        } else {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(s, i, v, -1, t == 'S' ? SQLITE_TRANSIENT : SQLITE_STATIC);
        }
    }
}

/* The cached statement for sql with its parameters bound (see bind_v), or
 * NULL with err. */
static sqlite3_stmt *query(struct cfs_store *st, struct cfs_err *err, const char *sql,
                           const char *types, ...)
{
    sqlite3_stmt *s = stmt(st, sql, err);
    if (s) {
        va_list ap;
        va_start(ap, types);
        bind_v(s, types, ap);
        va_end(ap);
    }
    return s;
}

/* Run a statement that returns no rows: 0, or -1 with err naming what. */
static int run(struct cfs_store *st, struct cfs_err *err, const char *what, const char *sql,
               const char *types, ...)
{
    sqlite3_stmt *s = stmt(st, sql, err);
    if (!s)
        return -1;
    va_list ap;
    va_start(ap, types);
    bind_v(s, types, ap);
    va_end(ap);
    int step = sqlite3_step(s);
    int ret = step == SQLITE_DONE ? 0 : db_error(st, err, what);
    sqlite3_reset(s);
    return ret;
}

/* The first column of s's first row as an integer, 0 when there is no
 * row; -1 with err naming what. */
static int one_int64(struct cfs_store *st, sqlite3_stmt *s, int64_t *out, struct cfs_err *err,
                     const char *what)
{
    int step = sqlite3_step(s);
    int ret = 0;
    *out = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        ret = db_error(st, err, what);
    sqlite3_reset(s);
    return ret;
}

static int exec(struct cfs_store *st, const char *sql, struct cfs_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int ret = db_error(st, err, msg ? msg : sql);
        sqlite3_free(msg);
        return ret;
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

static void lock(struct cfs_store *st)
{
    pthread_mutex_lock(&st->lock);
}

static void unlock(struct cfs_store *st)
{
    pthread_mutex_unlock(&st->lock);
}

/* Every write runs between txn_begin and txn_end: the lock, then a write
 * transaction, or inside a write batch a savepoint of the batch's
 * transaction (the write still succeeds or fails on its own).  txn_begin
 * holds nothing when it fails. */
static int txn_begin(struct cfs_store *st, struct cfs_err *err)
{
    lock(st);
    if (st->read_depth > 0) {
        unlock(st);
        return cfs_err_set(err, EDEADLK, "store: a write inside a read batch");
    }
    if (st->write_depth > 0 ? exec(st, "SAVEPOINT w", err) < 0 : begin(st, err) < 0) {
        unlock(st);
        return -1;
    }
    return 0;
}

/* rc == 0: commit; rc > 0: nothing to do, roll back and succeed; rc < 0:
 * roll back and fail.  Releases the lock; returns 0 or -1. */
static int txn_end(struct cfs_store *st, int rc, struct cfs_err *err)
{
    if (st->write_depth > 0) {
        if (rc != 0)
            sqlite3_exec(st->db, "ROLLBACK TO w", NULL, NULL, NULL);
        else
            st->write_any = true;
        if (exec(st, "RELEASE w", err) < 0) {
            st->write_failed = true;
            rc = -1;
        }
    } else {
        if (rc == 0 && commit(st, err) < 0)
            rc = -1;
        if (rc != 0)
            rollback(st);
    }
    unlock(st);
    return rc < 0 ? -1 : 0;
}

int store_write_begin(struct cfs_store *st, struct cfs_err *err)
{
    lock(st);
    if (st->read_depth > 0) {
        unlock(st);
        return cfs_err_set(err, EDEADLK, "store: a write batch inside a read batch");
    }
    if (st->write_depth == 0) {
        if (begin(st, err) < 0) {
            unlock(st);
            return -1;
        }
        st->write_failed = false;
        st->write_any = false;
    }
    st->write_depth++;
    return 0;
}

int store_write_end(struct cfs_store *st, struct cfs_err *err)
{
    int ret = 0;
    if (--st->write_depth == 0) {
        if (st->write_failed)
            ret = cfs_err_set(err, EIO, "store: a write of the batch broke its transaction");
        else if (st->write_any && commit(st, err) < 0)
            ret = -1;
        /* Nothing changed: no commit, so nobody is woken for nothing. */
        if (ret < 0 || !st->write_any)
            rollback(st);
    }
    unlock(st);
    return ret;
}

void store_write_abort(struct cfs_store *st)
{
    struct cfs_err ignore;
    st->write_failed = true;    /* the lock is held since store_write_begin */
    store_write_end(st, &ignore);
}

static int user_version(struct cfs_store *st, int *version, struct cfs_err *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_error(st, err, "user_version");
    *version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    return 0;
}

/* cfs_pwhash(TEXT): the SQL face of pwhash_make, for the migration that
 * hashes the passwords an older store held in plain text. */
static void pwhash_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char hash[PWHASH_MAX];
    struct cfs_err err;
    const unsigned char *v = argc == 1 ? sqlite3_value_text(argv[0]) : NULL;
    if (!v) {
        sqlite3_result_error(ctx, "cfs_pwhash: no text", -1);
        return;
    }
    if (pwhash_make((const char *)v, hash, sizeof(hash), &err) < 0) {
        sqlite3_result_error(ctx, err.msg, -1);
        return;
    }
    sqlite3_result_text(ctx, hash, -1, SQLITE_TRANSIENT);
    explicit_bzero(hash, sizeof(hash));
}

static int migrate(struct cfs_store *st, struct cfs_err *err)
{
    int version = 0;
    if (user_version(st, &version, err) < 0)
        return -1;
    int n = (int)(sizeof(migrations) / sizeof(migrations[0]));
    if (version > n)
        return cfs_err_set(err, EINVAL, "store: schema version %d is newer than this cloudfs (%d)",
                           version, n);
    for (int v = version; v < n; v++) {
        char pragma[64];
        int now = 0;
        if (begin(st, err) < 0)
            return -1;
        /* Re-check under the write lock: the other process may have migrated. */
        if (user_version(st, &now, err) < 0) {
            rollback(st);
            return -1;
        }
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

/* The store holds every tenant's secrets (passwords, user-data, the audit
 * trail): the database, its -wal/-shm and the -notify file are 0600 and the
 * directory cloudfs creates for it 0700, also when they already exist with
 * wider modes.  A file another user owns or a directory others may write is
 * refused: whoever can replace the files can read or lock what root writes. */
static int secure_store_file(const char *path, bool create, struct cfs_err *err)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0),
                  0600);
    if (fd < 0) {
        if (errno == ENOENT && !create)
            return 0;
        return cfs_err_set(err, errno, "store %s: %s", path, strerror(errno));
    }
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) < 0)
        rc = cfs_err_set(err, errno, "store %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        rc = cfs_err_set(err, EINVAL, "store %s: not a regular file", path);
    else if (sb.st_uid != geteuid())
        rc = cfs_err_set(err, EPERM, "store %s: owned by uid %u, not by this daemon", path,
                         (unsigned)sb.st_uid);
    else if ((sb.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
        rc = cfs_err_set(err, errno, "store %s: chmod 0600: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int secure_store(const char *path, struct cfs_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat sb;
    if (lstat(dir, &sb) < 0 && errno == ENOENT) {
        /* parents as usual, the store's own directory private */
        for (char *p = dir + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                (void)mkdir(dir, 0755);
                *p = '/';
            }
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return cfs_err_set(err, errno, "store directory %s: %s", dir, strerror(errno));
    }
    if (lstat(dir, &sb) < 0)
        return cfs_err_set(err, errno, "store directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cfs_err_set(err, ENOTDIR, "store directory %s: not a directory", dir);
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX))
        return cfs_err_set(err, EPERM,
                           "store directory %s: writable by group or others (mode %04o)", dir,
                           (unsigned)(sb.st_mode & 07777));
    if (sb.st_uid != geteuid() && sb.st_uid != 0)
        return cfs_err_set(err, EPERM, "store directory %s: owned by uid %u", dir,
                           (unsigned)sb.st_uid);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal", "-notify"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char f[4200];
        snprintf(f, sizeof(f), "%s%s", path, suffix[i]);
        if (secure_store_file(f, i == 0 || i == 4, err) < 0)
            return -1;
    }
    return 0;
}

int store_open(const char *path, const struct cfs_layout *layout, bool sync_full,
               struct cfs_store **out, struct cfs_err *err)
{
    struct cfs_store *st = calloc(1, sizeof(*st));
    if (!st)
        return cfs_err_set(err, ENOMEM, "out of memory");
    st->layout = layout;
    st->notify_fd = -1;
    make_uuid(st->origin);
    /* Recursive: a batch holds the lock across the calls it groups. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&st->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    snprintf(st->notify_path, sizeof(st->notify_path), "%s-notify", path);
    if (secure_store(path, err) < 0) {
        store_close(st);
        return -1;
    }
    st->notify_fd = open(st->notify_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        cfs_err_set(err, EIO, "store %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        store_close(st);
        return -1;
    }
    sqlite3_busy_timeout(st->db, 30000);
    if (exec(st, "PRAGMA journal_mode=WAL", err) < 0 ||
        exec(st, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", err) < 0 ||
        (sqlite3_create_function(st->db, "cfs_pwhash", 1, SQLITE_UTF8, NULL, pwhash_sql, NULL,
                                 NULL) != SQLITE_OK &&
         db_error(st, err, "cfs_pwhash") < 0) ||
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
    int64_t version = 0;
    uint64_t gen = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = query(st, &err, "PRAGMA data_version", "");
    if (s && one_int64(st, s, &version, &err, "data_version") == 0)
        gen = ((uint64_t)version << 32) + (st->commits & 0xffffffffULL) + 1;
    unlock(st);
    return gen;
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
    int ret = -1;
    lock(st);
    sqlite3_stmt *s = query(st, err, "SELECT value FROM meta WHERE key = ?", "s", key);
    if (!s)
        goto cleanup;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *value = col_dup(s, 0);
        ret = 0;
    } else if (step == SQLITE_DONE) {
        cfs_err_set(err, ENOENT, "no meta key %s", key);
    } else {
        db_error(st, err, "meta");
    }
    sqlite3_reset(s);
cleanup:
    unlock(st);
    return ret;
}

int store_meta_set(struct cfs_store *st, const char *key, const char *value, struct cfs_err *err)
{
    lock(st);
    int ret = run(st, err, "meta", "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", "ss",
                  key, value);
    if (ret == 0 && st->write_depth > 0)
        st->write_any = true;
    unlock(st);
    return ret;
}

/* ---- resources ---- */

#define RES_COLS "id, parent, kind, name, uuid, uid, gid, ctime, mtime, deleted, mode"

/* The row reader of resources: RES_COLS, or the same with a link's mtime
 * in place of mtime and no deleted or mode column.  -1 for a kind the layout
 * does not have. */
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
    r->deleted = sqlite3_column_count(s) > 9 && sqlite3_column_int(s, 9) == 1;
    r->recycled = sqlite3_column_count(s) > 9 && sqlite3_column_int(s, 9) == 2;
    r->mode = sqlite3_column_count(s) > 10 ? (mode_t)sqlite3_column_int(s, 10) & 0777 : 0755;
    return r->kind ? 0 : -1;
}

/* The first resource s returns: 0, 1 when there is none (err untouched),
 * -1 with err naming what. */
static int one_res(struct cfs_store *st, sqlite3_stmt *s, struct cfs_res *out,
                   struct cfs_err *err, const char *what)
{
    int step = sqlite3_step(s);
    int ret = 1;
    if (step == SQLITE_ROW)
        ret = row_to_res(st, s, out) == 0 ? 0 : 1;
    else if (step != SQLITE_DONE)
        ret = db_error(st, err, what);
    sqlite3_reset(s);
    return ret;
}

/* A row reader: fill *out from s's current row; non-zero skips the row. */
typedef int (*row_reader)(struct cfs_store *st, sqlite3_stmt *s, void *out);

/* Every row of s, read by read into an array of elements of size bytes
 * (*arr, malloc'd, *n of them); on failure *arr is NULL and *n 0. */
static int collect(struct cfs_store *st, sqlite3_stmt *s, row_reader read, size_t size,
                   void **arr, size_t *n, struct cfs_err *err, const char *what)
{
    size_t cap = 0;
    int step, ret = -1;
    *arr = NULL;
    *n = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *grown = realloc(*arr, ncap * size);
            if (!grown) {
                cfs_err_set(err, ENOMEM, "out of memory");
                goto cleanup;
            }
            *arr = grown;
            cap = ncap;
        }
        if (read(st, s, (char *)*arr + *n * size) == 0)
            (*n)++;
    }
    ret = step == SQLITE_DONE ? 0 : db_error(st, err, what);
cleanup:
    sqlite3_reset(s);
    if (ret < 0) {
        free(*arr);
        *arr = NULL;
        *n = 0;
    }
    return ret;
}

static int read_res(struct cfs_store *st, sqlite3_stmt *s, void *out)
{
    return row_to_res(st, s, out);
}

/* Every resource s returns, into *list (malloc'd). */
static int all_res(struct cfs_store *st, sqlite3_stmt *s, struct cfs_res **list, size_t *n,
                   struct cfs_err *err, const char *what)
{
    void *arr = NULL;
    int ret = collect(st, s, read_res, sizeof(**list), &arr, n, err, what);
    *list = arr;
    return ret;
}

/* Hand every resource s returns to cb, after the lock is released
 * (callbacks may use the store).  Called with the lock held; releases it. */
static int each_res_unlock(struct cfs_store *st, sqlite3_stmt *s, store_res_cb cb, void *arg,
                           struct cfs_err *err, const char *what)
{
    struct cfs_res *list = NULL;
    size_t n = 0;
    int ret = s ? all_res(st, s, &list, &n, err, what) : -1;
    unlock(st);
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (cb(&list[i], arg) != 0)
            break;
    free(list);
    return ret;
}

static int res_get_locked(struct cfs_store *st, int64_t id, struct cfs_res *out,
                          struct cfs_err *err)
{
    sqlite3_stmt *s = query(st, err, "SELECT " RES_COLS " FROM resources WHERE id = ?", "i", id);
    int ret = s ? one_res(st, s, out, err, "resource") : -1;
    if (ret > 0)
        ret = cfs_err_set(err, ENOENT, "no resource %lld", (long long)id);
    return ret;
}

int store_res_get(struct cfs_store *st, int64_t id, struct cfs_res *out, struct cfs_err *err)
{
    lock(st);
    int ret = res_get_locked(st, id, out, err);
    unlock(st);
    return ret;
}

static int res_find_locked(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                           const char *name, struct cfs_res *out, struct cfs_err *err)
{
    sqlite3_stmt *s = query(st, err,
        "SELECT " RES_COLS " FROM resources WHERE parent = ? AND kind = ? AND name = ?", "iss",
        parent, k->name, name);
    int ret = s ? one_res(st, s, out, err, "resource") : -1;
    if (ret > 0)
        ret = cfs_err_set(err, ENOENT, "%s '%s' does not exist", k->name, name);
    return ret;
}

int store_res_find(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   const char *name, struct cfs_res *out, struct cfs_err *err)
{
    lock(st);
    int ret = res_find_locked(st, parent, k, name, out, err);
    unlock(st);
    return ret;
}

int store_ref_resolve(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                      const char *value, struct cfs_res *out, struct cfs_err *err)
{
    const struct cfs_kind *chain[8];
    int depth = a->ref_depth;
    if (depth < 1 || depth > 8) {
        cfs_err_set(err, EINVAL, "%s: bad reference", a->name);
        return -1;
    }
    const struct cfs_kind *k = a->ref_kind;
    for (int i = depth - 1; i >= 0; i--, k = k->parent)
        chain[i] = k;
    /* k is now the common ancestor kind (NULL: the root). */
    struct cfs_res cur = *r;
    int64_t parent = 0;
    if (k) {
        while (cur.kind != k) {
            if (!cur.parent || store_res_get(st, cur.parent, &cur, err) < 0) {
                cfs_err_set(err, ENOENT, "%s: no %s above %s", a->name, k->name, r->name);
                return -1;
            }
        }
        parent = cur.id;
    }
    const char *p = value;
    for (int i = 0; i < depth; i++) {
        char name[CFS_NAME_MAX + 1];
        size_t l = strcspn(p, "/");
        snprintf(name, sizeof(name), "%.*s", (int)l, p);
        if (store_res_find(st, parent, chain[i], name, out, err) < 0) {
            cfs_err_set(err, ENOENT, "%s: %s '%s' does not exist%s%s", a->name, chain[i]->name,
                        name, k ? " in this " : "", k ? k->name : "");
            return -1;
        }
        parent = out->id;
        p += l + (p[l] ? 1 : 0);
    }
    return 0;
}

int store_res_list(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                   store_res_cb cb, void *arg, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT " RES_COLS " FROM resources WHERE parent = ? AND kind = ? AND deleted = 0"
        " ORDER BY name", "is", parent, k->name);
    return each_res_unlock(st, s, cb, arg, err, "list");
}

int store_res_count(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                    int64_t *count, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err, "SELECT n FROM counts WHERE parent = ? AND kind = ?", "is",
                            parent, k->name);
    int ret = s ? one_int64(st, s, count, err, "count") : -1;
    unlock(st);
    return ret;
}

static int res_path_locked(struct cfs_store *st, const struct cfs_res *r, char *buf, size_t len,
                           struct cfs_err *err)
{
    /* Walk from the leaf upwards, then print from the root down. */
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
    size_t used = 0;
    buf[0] = '\0';
    for (int i = depth; i >= 0; i--) {
        int w = snprintf(buf + used, len - used, "%s%s/%s", i < depth ? "/" : "",
                         chain[i].kind->collection, chain[i].name);
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
    int ret = res_path_locked(st, r, buf, len, err);
    unlock(st);
    return ret;
}

/* Append one entry to the changes log; called inside a transaction. */
static int log_change(struct cfs_store *st, const struct cfs_res *r, const char *op,
                      const char *attr, const char *old_value, const char *new_value,
                      const struct cfs_actor *actor, struct cfs_err *err)
{
    char path[1024];
    if (res_path_locked(st, r, path, sizeof(path), err) < 0)
        return -1;
    return run(st, err, "log change",
        "INSERT INTO changes(time, res, kind, path, op, attr, old, new, actor, uid, pid, comm,"
        " origin) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "iisSsssssiiss",
        store_now(), r->id, r->kind->name, path, op, attr, old_value, new_value,
        actor && actor->who ? actor->who : "unknown", (int64_t)(actor ? actor->uid : 0),
        (int64_t)(actor ? actor->pid : 0), actor ? actor->comm : NULL, st->origin);
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
    return run(st, err, "touch", "UPDATE resources SET mtime = ? WHERE id = ?", "ii", store_now(),
               id);
}

struct tag_row {
    struct cfs_store *st;
    int64_t res;
    struct cfs_err *err;
    bool failed;            /* err says why */
};

static int tag_insert(const char *key, const char *value, void *arg)
{
    struct tag_row *t = arg;
    if (run(t->st, t->err, "tag", "INSERT OR IGNORE INTO tags(key, value, res) VALUES(?, ?, ?)",
            "ssi", key, value, t->res) < 0)
        t->failed = true;
    return t->failed ? -1 : 0;
}

/* The tags table rows of resource res: those of its tags value (normal
 * form); called inside the transaction that stores the value. */
static int tags_index_locked(struct cfs_store *st, int64_t res, const char *tags,
                             struct cfs_err *err)
{
    struct tag_row t = {st, res, err, false};
    if (run(st, err, "untag", "DELETE FROM tags WHERE res = ?", "i", res) < 0)
        return -1;
    if (value_tags_each(tags, tag_insert, &t) == 0)
        return 0;
    return t.failed ? -1 : cfs_err_set(err, ENOMEM, "out of memory");
}

int store_res_create(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                     const char *name, uid_t uid, gid_t gid, const struct cfs_actor *actor,
                     struct cfs_res *out, struct cfs_err *err)
{
    return store_res_create_mode(st, parent, k, name, uid, gid, 0755, actor, out, err);
}

int store_res_create_mode(struct cfs_store *st, int64_t parent, const struct cfs_kind *k,
                          const char *name, uid_t uid, gid_t gid, mode_t mode,
                          const struct cfs_actor *actor, struct cfs_res *out,
                          struct cfs_err *err)
{
    struct cfs_res r, existing;
    struct cfs_err ignore;
    int ret = -1;
    if (!value_res_name_ok(k, name))
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
    r.mode = mode & 0777;
    r.ctime = r.mtime = store_now();

    if (txn_begin(st, err) < 0)
        return -1;
    if (res_find_locked(st, parent, k, name, &existing, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s '%s' already exists", k->name, name);
        goto cleanup;
    }
    if (run(st, err, "create",
            "INSERT INTO resources(parent, kind, name, uuid, uid, gid, mode, ctime, mtime)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", "isssiiiii", parent, k->name, r.name, r.uuid,
            (int64_t)uid, (int64_t)gid, (int64_t)r.mode, r.ctime, r.mtime) < 0)
        goto cleanup;
    r.id = sqlite3_last_insert_rowid(st->db);
    for (size_t i = 0; i < k->nattrs; i++) {
        const struct cfs_attr_def *a = &k->attrs[i];
        if (a->type != CFS_T_VERB &&
            run(st, err, "create attrs",
                "INSERT INTO attrs(res, name, value, mtime) VALUES(?, ?, ?, ?)", "issi", r.id,
                a->name, a->def ? a->def : "", r.ctime) < 0)
            goto cleanup;
        if (a->type == CFS_T_TAGS && a->def && a->def[0] &&
            tags_index_locked(st, r.id, a->def, err) < 0)
            goto cleanup;
    }
    if (touch_res_locked(st, parent, err) < 0 ||
        log_change(st, &r, "create", NULL, NULL, r.uuid, actor, err) < 0)
        goto cleanup;
    if (out)
        *out = r;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

/* A path reference (attribute a of kind k, "VPC/SUBNET") naming r or a
 * resource under r: as find_user_locked.  Resources of k anywhere count
 * (not only under the common ancestor): a rename or rmdir is refused a
 * little too often rather than breaking a reference. */
static int find_path_user_locked(struct cfs_store *st, const struct cfs_res *r,
                                 const struct cfs_kind *k, const struct cfs_attr_def *a,
                                 char *who, size_t len, struct cfs_err *err)
{
    const struct cfs_kind *chain = a->ref_kind;
    int pos = a->ref_depth - 1;
    while (chain && chain != r->kind && pos > 0) {
        chain = chain->parent;
        pos--;
    }
    if (chain != r->kind)
        return 1;
    /* The names from the common ancestor down to r: "VPC" or "VPC/SUBNET". */
    char names[8][CFS_NAME_MAX + 1];
    char prefix[(CFS_NAME_MAX + 1) * 8] = "";
    struct cfs_res cur = *r;
    if (pos >= 8)
        return 1;
    for (int i = pos; i >= 0; i--) {
        memcpy(names[i], cur.name, sizeof(names[i]));
        if (i > 0 && res_get_locked(st, cur.parent, &cur, err) < 0)
            return -1;
    }
    for (int i = 0; i <= pos; i++) {
        if (i)
            strcat(prefix, "/");
        strcat(prefix, names[i]);   /* fits: 8 names of CFS_NAME_MAX and '/' */
    }
    char below[sizeof(prefix) + 1];
    snprintf(below, sizeof(below), "%s/", prefix);
    sqlite3_stmt *s = query(st, err,
        "SELECT r.name FROM attrs a JOIN resources r ON r.id = a.res"
        " WHERE a.name = ? AND r.kind = ? AND r.deleted = 0"
        " AND (a.value = ? OR substr(a.value, 1, ?) = ?) LIMIT 1", "ssSiS", a->name, k->name,
        prefix, (int64_t)strlen(below), below);
    if (!s)
        return -1;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        snprintf(who, len, "%s %s", k->name, (const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    if (step == SQLITE_ROW)
        return 0;
    return step == SQLITE_DONE ? 1 : db_error(st, err, "users");
}

/* Name of the first resource that refers to r by name through a ref
 * attribute, written into who; 0 when there is one, 1 when none. */
static int find_user_locked(struct cfs_store *st, const struct cfs_res *r, bool with_links,
                            char *who, size_t len, struct cfs_err *err)
{
    const struct cfs_layout *l = st->layout;
    sqlite3_stmt *s;
    int step;
    for (size_t i = 0; i < l->nkinds; i++) {
        const struct cfs_kind *k = &l->kinds[i];
        for (size_t j = 0; j < k->nattrs; j++) {
            const struct cfs_attr_def *a = &k->attrs[j];
            if (a->type == CFS_T_REF && a->ref_once)
                continue;   /* read when its resource was made: nothing depends on it */
            if (a->type == CFS_T_REF && a->ref_depth > 1) {
                int used = find_path_user_locked(st, r, k, a, who, len, err);
                if (used <= 0)
                    return used;
                continue;
            }
            if (a->type != CFS_T_REF || a->ref_kind != r->kind)
                continue;
            /* Top-level targets are used from anywhere; others only by siblings
             * (layout_load guarantees there is no third case). */
            s = query(st, err,
                "SELECT r.name FROM attrs a JOIN resources r ON r.id = a.res"
                " WHERE a.name = ? AND a.value = ? AND r.kind = ? AND (? = 0 OR r.parent = ?)"
                " AND r.deleted = 0 LIMIT 1", "sssii", a->name, r->name, k->name, r->parent,
                r->parent);
            if (!s)
                return -1;
            step = sqlite3_step(s);
            if (step == SQLITE_ROW)
                snprintf(who, len, "%s %s", k->name, (const char *)sqlite3_column_text(s, 0));
            sqlite3_reset(s);
            if (step == SQLITE_ROW)
                return 0;
            if (step != SQLITE_DONE)
                return db_error(st, err, "users");
        }
    }
    if (!with_links)
        return 1;
    /* Relations: a link target is in use by the link holder. */
    s = query(st, err,
        "SELECT r.kind, r.name FROM links l JOIN resources r ON r.id = l.res"
        " WHERE l.target = ? LIMIT 1", "i", r->id);
    if (!s)
        return -1;
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        snprintf(who, len, "%s %s (attached)", (const char *)sqlite3_column_text(s, 0),
                 (const char *)sqlite3_column_text(s, 1));
    sqlite3_reset(s);
    if (step == SQLITE_ROW)
        return 0;
    return step == SQLITE_DONE ? 1 : db_error(st, err, "users");
}

/* Run each statement of sql (NULL-terminated) with the one parameter id. */
static int run_each(struct cfs_store *st, const char *const *sql, int64_t id, struct cfs_err *err)
{
    for (; *sql; sql++)
        if (run(st, err, "delete", *sql, "i", id) < 0)
            return -1;
    return 0;
}

static const char *const delete_rows_sql[] = {
    "DELETE FROM attrs WHERE res = ?",
    "DELETE FROM tags WHERE res = ?",
    "DELETE FROM status WHERE res = ?",
    "DELETE FROM links WHERE res = ?",
    "DELETE FROM resources WHERE id = ?",
    NULL,
};

/* Keep a hidden tombstone until the reconciler has torn down what the
 * resource owns outside the store; its name is freed now. */
static const char *const tombstone_sql[] = {
    "UPDATE resources SET deleted = 1, name = '.deleted-' || uuid WHERE id = ?",
    "DELETE FROM links WHERE res = ?",
    "DELETE FROM tags WHERE res = ?",
    NULL,
};

/* 0 when r holds no child (live ones, and recycled ones when
 * recycled_hold) and nothing refers to it; -1 with ENOTEMPTY or EBUSY and
 * the reason.  Inside a write transaction. */
static int removable_locked(struct cfs_store *st, const struct cfs_res *r, bool recycled_hold,
                            struct cfs_err *err)
{
    char who[160];
    sqlite3_stmt *s = query(st, err, recycled_hold
        ? "SELECT kind, name, deleted FROM resources WHERE parent = ? AND deleted != 1 LIMIT 1"
        : "SELECT kind, name, deleted FROM resources WHERE parent = ? AND deleted = 0 LIMIT 1",
        "i", r->id);
    if (!s)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW) {
        cfs_err_set(err, ENOTEMPTY, "%s %s still holds %s %s%s", r->kind->name, r->name,
                    (const char *)sqlite3_column_text(s, 0),
                    (const char *)sqlite3_column_text(s, 1),
                    sqlite3_column_int(s, 2) == 2 ? " (in /recycle)" : "");
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    int used = find_user_locked(st, r, true, who, sizeof(who), err);
    if (used == 0)
        cfs_err_set(err, EBUSY, "%s %s is in use by %s", r->kind->name, r->name, who);
    return used <= 0 ? -1 : 0;
}

int store_res_delete(struct cfs_store *st, const struct cfs_res *r,
                     const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    if (txn_begin(st, err) < 0)
        return -1;
    /* Resources in the recycle bin hold their parent too: they are
     * restored into it. */
    if (removable_locked(st, r, true, err) < 0)
        goto cleanup;
    if (log_change(st, r, "delete", NULL, r->uuid, NULL, actor, err) < 0 ||
        run_each(st, r->kind->teardown ? tombstone_sql : delete_rows_sql, r->id, err) < 0 ||
        touch_res_locked(st, r->parent, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_res_purge(struct cfs_store *st, const struct cfs_res *r, const struct cfs_actor *actor,
                    struct cfs_err *err)
{
    int ret = -1;
    if (txn_begin(st, err) < 0)
        return -1;
    if (log_change(st, r, "purge", NULL, r->uuid, NULL, actor, err) < 0 ||
        run_each(st, delete_rows_sql, r->id, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

/* ---- recycle bin ---- */

static int kv_get_locked(struct cfs_store *st, const char *sql, int64_t res, const char *name,
                         char **value, int64_t *mtime, struct cfs_err *err);

/* The /tags rows of a restored resource, from its tags attributes. */
static int retag_locked(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    for (size_t i = 0; i < r->kind->nattrs; i++) {
        const struct cfs_attr_def *a = &r->kind->attrs[i];
        char *tags = NULL;
        if (a->type != CFS_T_TAGS)
            continue;
        if (kv_get_locked(st, "SELECT value, mtime FROM attrs WHERE res = ? AND name = ?",
                          r->id, a->name, &tags, NULL, err) < 0)
            return -1;
        int bad = tags && tags_index_locked(st, r->id, tags, err) < 0;
        free(tags);
        if (bad)
            return -1;
    }
    return 0;
}

int store_res_recycle(struct cfs_store *st, const struct cfs_res *r, int64_t expires,
                      const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    char path[1024], when[32];
    if (txn_begin(st, err) < 0)
        return -1;
    if (removable_locked(st, r, false, err) < 0)
        goto cleanup;
    snprintf(when, sizeof(when), "%lld", (long long)expires);
    if (res_path_locked(st, r, path, sizeof(path), err) < 0 ||
        log_change(st, r, "delete", NULL, r->uuid, NULL, actor, err) < 0 ||
        run(st, err, "recycle",
            "UPDATE resources SET deleted = 2, name = '.recycled-' || id, mtime = ? WHERE id = ?",
            "ii", store_now(), r->id) < 0 ||
        run(st, err, "recycle", "DELETE FROM links WHERE res = ?", "i", r->id) < 0 ||
        run(st, err, "recycle", "DELETE FROM tags WHERE res = ?", "i", r->id) < 0)
        goto cleanup;
    const char *const names[] = {CFS_ST_RECYCLE_NAME, CFS_ST_RECYCLE_ORIGIN,
                                 CFS_ST_RECYCLE_EXPIRES};
    const char *const values[] = {r->name, path, when};
    for (size_t i = 0; i < 3; i++)
        if (run(st, err, "recycle",
                "INSERT OR REPLACE INTO status(res, name, value, mtime) VALUES(?, ?, ?, ?)", "issi",
                r->id, names[i], values[i], store_now()) < 0)
            goto cleanup;
    if (touch_res_locked(st, r->parent, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_res_restore(struct cfs_store *st, const struct cfs_res *r, const char *name,
                      const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    struct cfs_res other, back = *r;
    struct cfs_err ignore;
    if (!value_res_name_ok(r->kind, name))
        return cfs_err_set(err, EINVAL, "'%.64s' is not a valid name", name);
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_get_locked(st, r->id, &back, err) < 0)
        goto cleanup;
    if (!back.recycled) {
        cfs_err_set(err, ENOENT, "%s %s is not in the recycle bin", r->kind->name, r->name);
        goto cleanup;
    }
    if (res_find_locked(st, r->parent, r->kind, name, &other, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s '%s' already exists", r->kind->name, name);
        goto cleanup;
    }
    if (run(st, err, "restore",
            "UPDATE resources SET deleted = 0, name = ?, mtime = ? WHERE id = ?", "sii", name,
            store_now(), r->id) < 0 ||
        run(st, err, "restore", "DELETE FROM status WHERE res = ? AND name GLOB '_recycle_*'",
            "i", r->id) < 0)
        goto cleanup;
    snprintf(back.name, sizeof(back.name), "%s", name);
    back.deleted = back.recycled = false;
    if (retag_locked(st, &back, err) < 0 || touch_res_locked(st, r->parent, err) < 0 ||
        log_change(st, &back, "create", NULL, NULL, back.uuid, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_res_expunge(struct cfs_store *st, const struct cfs_res *r,
                      const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    struct cfs_res cur;
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_get_locked(st, r->id, &cur, err) < 0)
        goto cleanup;
    if (!cur.recycled) {
        ret = 1;    /* expunged already, or restored */
        goto cleanup;
    }
    if (log_change(st, &cur, "delete", NULL, cur.uuid, NULL, actor, err) < 0 ||
        run_each(st, cur.kind->teardown ? tombstone_sql : delete_rows_sql, cur.id, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_recycled_list(struct cfs_store *st, store_res_cb cb, void *arg, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT " RES_COLS " FROM resources WHERE deleted = 2 ORDER BY id", "");
    return each_res_unlock(st, s, cb, arg, err, "recycled");
}

int store_res_all(struct cfs_store *st, const struct cfs_kind *k, struct cfs_res **list,
                  size_t *n, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err, "SELECT " RES_COLS " FROM resources WHERE kind = ? ORDER BY id",
                            "s", k->name);
    int ret = s ? all_res(st, s, list, n, err, "list") : -1;
    unlock(st);
    return ret;
}

int store_res_by_status(struct cfs_store *st, const struct cfs_kind *k, int64_t parent,
                        const char *name, const char *value, struct cfs_res **list, size_t *n,
                        struct cfs_err *err)
{
    lock(st);
    /* A status never written reads as empty: "" also finds resources
     * without the row (live ones only: tombstones are never "unplaced").
     * CROSS JOIN keeps status as the outer loop: for ORDER BY r.name the
     * planner preferred walking every VM of the cluster and probing its
     * status, 63 ms instead of 4 ms per host at 100,000 VMs, and each host
     * pass asks this once. */
    sqlite3_stmt *s = value[0] ? query(st, err,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, r.mtime, r.deleted,"
        " r.mode"
        " FROM status x CROSS JOIN resources r ON r.id = x.res"
        " WHERE x.name = ? AND x.value = ? AND r.kind = ? AND r.parent = ? ORDER BY r.name",
        "sssi", name, value, k->name, parent)
        : query(st, err,
        "SELECT r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, r.mtime, r.deleted,"
        " r.mode"
        " FROM resources r LEFT JOIN status x ON x.res = r.id AND x.name = ?1"
        " WHERE coalesce(x.value, '') = ?2 AND r.kind = ?3 AND r.parent = ?4 AND r.deleted = 0"
        " ORDER BY r.name", "sssi", name, value, k->name, parent);
    int ret = s ? all_res(st, s, list, n, err, "list") : -1;
    unlock(st);
    return ret;
}

struct tag_hit {
    struct cfs_res res;
    char *key, *value;
};

static int read_tag(struct cfs_store *st, sqlite3_stmt *s, void *out)
{
    struct tag_hit *h = out;
    if (row_to_res(st, s, &h->res) < 0)
        return -1;
    h->key = col_dup(s, 11);
    h->value = col_dup(s, 12);
    if (h->key && h->value)
        return 0;
    free(h->key);
    free(h->value);
    return -1;
}

int store_tags_list(struct cfs_store *st, const char *key, const char *value, store_tag_cb cb,
                    void *arg, struct cfs_err *err)
{
    void *arr = NULL;
    size_t n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT " RES_COLS ", key, value FROM tags JOIN resources ON id = res"
        " WHERE deleted = 0 AND (?1 IS NULL OR key = ?1) AND (?2 IS NULL OR value = ?2)"
        " ORDER BY key, value, kind, name, id", "ss", key, value);
    int ret = s ? collect(st, s, read_tag, sizeof(struct tag_hit), &arr, &n, err, "tags") : -1;
    unlock(st);
    struct tag_hit *hits = arr;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (ret == 0 && !stop)
            stop = cb(hits[i].key, hits[i].value, &hits[i].res, arg) != 0;
        free(hits[i].key);
        free(hits[i].value);
    }
    free(hits);
    return ret;
}

int store_res_by_uuid(struct cfs_store *st, const char *uuid, struct cfs_res *out,
                      struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err, "SELECT " RES_COLS " FROM resources WHERE uuid = ?", "s",
                            uuid);
    int ret = s ? one_res(st, s, out, err, "uuid") : -1;
    if (ret > 0)
        ret = cfs_err_set(err, ENOENT, "no resource with uuid %s", uuid);
    unlock(st);
    return ret;
}

int64_t store_spec_generation(struct cfs_store *st, int64_t res)
{
    int64_t gen = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = query(st, &err,
        "SELECT coalesce(max(seq), 0) FROM changes WHERE res = ?"
        " AND op IN ('create', 'set', 'link', 'unlink', 'delete')", "i", res);
    if (s)
        one_int64(st, s, &gen, &err, "generation");
    unlock(st);
    return gen;
}

int store_res_rename(struct cfs_store *st, const struct cfs_res *r, const char *newname,
                     const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    char who[160];
    struct cfs_res other, renamed = *r;
    struct cfs_err ignore;
    if (!value_res_name_ok(r->kind, newname))
        return cfs_err_set(err, EINVAL, "'%.64s' is not a valid name", newname);
    if (!strcmp(newname, r->name))
        return 0;
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_find_locked(st, r->parent, r->kind, newname, &other, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s '%s' already exists", r->kind->name, newname);
        goto cleanup;
    }
    /* References are by name: renaming a used resource would break them.
     * Links hold ids, so a linked resource may be renamed. */
    int used = find_user_locked(st, r, false, who, sizeof(who), err);
    if (used < 0)
        goto cleanup;
    if (used == 0) {
        cfs_err_set(err, EBUSY, "%s %s is referred to by %s; cannot rename", r->kind->name,
                    r->name, who);
        goto cleanup;
    }
    if (run(st, err, "rename", "UPDATE resources SET name = ?, mtime = ? WHERE id = ?", "sii",
            newname, store_now(), r->id) < 0)
        goto cleanup;
    snprintf(renamed.name, sizeof(renamed.name), "%s", newname);
    if (touch_res_locked(st, r->parent, err) < 0 ||
        log_change(st, &renamed, "rename", NULL, r->name, newname, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_res_chown(struct cfs_store *st, const struct cfs_res *r, uid_t uid, gid_t gid,
                    const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    char old[64], new_value[64];
    if (uid == r->uid && gid == r->gid)
        return 0;
    snprintf(old, sizeof(old), "%lu:%lu", (unsigned long)r->uid, (unsigned long)r->gid);
    snprintf(new_value, sizeof(new_value), "%lu:%lu", (unsigned long)uid, (unsigned long)gid);
    if (txn_begin(st, err) < 0)
        return -1;
    if (run(st, err, "chown", "UPDATE resources SET uid = ?, gid = ? WHERE id = ?", "iii",
            (int64_t)uid, (int64_t)gid, r->id) < 0 ||
        log_change(st, r, "chown", NULL, old, new_value, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_res_chmod(struct cfs_store *st, const struct cfs_res *r, mode_t mode,
                    const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    char old[16], new_value[16];
    mode &= 0777;
    if (mode == r->mode)
        return 0;
    snprintf(old, sizeof(old), "%04o", (unsigned)r->mode);
    snprintf(new_value, sizeof(new_value), "%04o", (unsigned)mode);
    if (txn_begin(st, err) < 0)
        return -1;
    if (run(st, err, "chmod", "UPDATE resources SET mode = ? WHERE id = ?", "ii", (int64_t)mode,
            r->id) < 0 ||
        log_change(st, r, "chmod", NULL, old, new_value, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

/* ---- key/value tables (attrs, status) ---- */

/* Rows collected under the lock and handed to a callback after it (the
 * callback may use the store): two text columns and two integer ones. */
struct row {
    char *a, *b;
    int64_t x, y;
};

/* The row reader of such rows: columns 0 and 1 as text, 2 and 3 (when s
 * has them) as integers. */
static int read_row(struct cfs_store *st, sqlite3_stmt *s, void *out)
{
    struct row *r = out;
    (void)st;
    r->a = col_dup(s, 0);
    r->b = col_dup(s, 1);
    r->x = sqlite3_column_int64(s, 2);
    r->y = sqlite3_column_count(s) > 3 ? sqlite3_column_int64(s, 3) : 0;
    return 0;
}

/* Every row of s into *rows (malloc'd; free_rows). */
static int collect_rows(struct cfs_store *st, sqlite3_stmt *s, struct row **rows, size_t *n,
                        struct cfs_err *err)
{
    void *arr = NULL;
    int ret = collect(st, s, read_row, sizeof(**rows), &arr, n, err, "list");
    *rows = arr;
    return ret;
}

static void free_rows(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].a);
        free(rows[i].b);
    }
    free(rows);
}

/* The stored value of (res, name) in the table sql reads (value, mtime of
 * one row): 0, 1 when there is none, -1 with err.  Called with the lock
 * held. */
static int kv_get_locked(struct cfs_store *st, const char *sql, int64_t res, const char *name,
                         char **value, int64_t *mtime, struct cfs_err *err)
{
    sqlite3_stmt *s = query(st, err, sql, "is", res, name);
    if (!s)
        return -1;
    int step = sqlite3_step(s);
    int ret = 1;
    if (step == SQLITE_ROW) {
        if (value)
            *value = col_dup(s, 0);
        if (mtime)
            *mtime = sqlite3_column_int64(s, 1);
        ret = 0;
    } else if (step != SQLITE_DONE) {
        ret = db_error(st, err, "get");
    }
    sqlite3_reset(s);
    return ret;
}

static int kv_get(struct cfs_store *st, const char *sql, int64_t res, const char *name,
                  char **value, int64_t *mtime, struct cfs_err *err)
{
    lock(st);
    int ret = kv_get_locked(st, sql, res, name, value, mtime, err);
    unlock(st);
    if (ret > 0)
        ret = cfs_err_set(err, ENOENT, "no value for %s", name);
    return ret;
}

static int kv_list(struct cfs_store *st, const char *sql, int64_t res, store_kv_cb cb, void *arg,
                   struct cfs_err *err)
{
    struct row *rows = NULL;
    size_t n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err, sql, "i", res);
    int ret = s ? collect_rows(st, s, &rows, &n, err) : -1;
    unlock(st);
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (cb(rows[i].a, rows[i].b, rows[i].x, arg) != 0)
            break;
    free_rows(rows, n);
    return ret;
}

#define ATTR_GET "SELECT value, mtime FROM attrs WHERE res = ? AND name = ?"
#define STATUS_GET "SELECT value, mtime FROM status WHERE res = ? AND name = ?"

int store_attr_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                   int64_t *mtime, struct cfs_err *err)
{
    return kv_get(st, ATTR_GET, res, name, value, mtime, err);
}

int store_attr_list(struct cfs_store *st, int64_t res, store_kv_cb cb, void *arg,
                    struct cfs_err *err)
{
    return kv_list(st, "SELECT name, value, mtime FROM attrs WHERE res = ?", res, cb, arg, err);
}

int store_status_get(struct cfs_store *st, int64_t res, const char *name, char **value,
                     int64_t *mtime, struct cfs_err *err)
{
    return kv_get(st, STATUS_GET, res, name, value, mtime, err);
}

static char *text_or_empty(struct cfs_store *st, const char *sql, int64_t res, const char *name)
{
    char *v = NULL;
    struct cfs_err ignore;
    if (kv_get(st, sql, res, name, &v, NULL, &ignore) < 0)
        v = NULL;
    return v ? v : strdup("");
}

char *store_attr_text(struct cfs_store *st, int64_t res, const char *name)
{
    return text_or_empty(st, ATTR_GET, res, name);
}

char *store_status_text(struct cfs_store *st, int64_t res, const char *name)
{
    return text_or_empty(st, STATUS_GET, res, name);
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
    int ret = -1;
    char *old = NULL;
    struct cfs_res target;
    if (changed)
        *changed = false;
    if (txn_begin(st, err) < 0)
        return -1;
    /* Path references (ref_depth > 1) are resolved by precond_attr. */
    if (a->type == CFS_T_REF && value[0] && a->ref_depth <= 1 &&
        res_find_locked(st, a->ref_kind->parent ? r->parent : 0, a->ref_kind, value, &target,
                        err) < 0) {
        cfs_err_set(err, ENOENT, "%s: %s '%s' does not exist%s", a->name, a->ref_kind->name,
                    value, a->ref_kind->parent ? " in this cluster" : "");
        goto cleanup;
    }
    if (kv_get_locked(st, ATTR_GET, r->id, a->name, &old, NULL, err) < 0)
        goto cleanup;
    if (old && !strcmp(old, value)) {
        ret = 1;    /* idempotent: nothing to write, nothing to log */
        goto cleanup;
    }
    if (a->immutable && old && old[0]) {
        cfs_err_set(err, EPERM, "%s cannot be changed once set", a->name);
        goto cleanup;
    }
    bool secret = a->type == CFS_T_SECRET;
    /* Redacted values (user-data) are logged as their size only; a URL's
     * user information and query may be credentials (a webhook's token):
     * the log, and so the events, show it without them. */
    char old_size[48], new_size[48], old_url[512] = "", new_url[512] = "";
    bool url = a->type == CFS_T_URL;
    snprintf(old_size, sizeof(old_size), "<%zu bytes>", old ? strlen(old) : (size_t)0);
    snprintf(new_size, sizeof(new_size), "<%zu bytes>", strlen(value));
    if (url && old && old[0])
        value_url_redacted(old, old_url, sizeof(old_url));
    if (url && value[0])
        value_url_redacted(value, new_url, sizeof(new_url));
    const char *old_shown = secret ? "***" : (old && a->redact) ? old_size
                            : url && old && old[0]              ? old_url
                                                                : old;
    const char *new_shown = secret ? "***" : a->redact ? new_size : url && value[0] ? new_url : value;
    if (run(st, err, "set",
            "INSERT OR REPLACE INTO attrs(res, name, value, mtime) VALUES(?, ?, ?, ?)", "issi",
            r->id, a->name, value, store_now()) < 0 ||
        (a->type == CFS_T_TAGS && tags_index_locked(st, r->id, value, err) < 0) ||
        log_change(st, r, "set", a->name, old_shown, new_shown, actor, err) < 0)
        goto cleanup;
    if (changed)
        *changed = true;
    ret = 0;
cleanup:
    ret = txn_end(st, ret, err);
    free(old);
    return ret;
}

int store_verb(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
               const char *verb, const struct cfs_actor *actor, struct cfs_err *err)
{
    if (txn_begin(st, err) < 0)
        return -1;
    int ret = log_change(st, r, "verb", a->name, NULL, verb, actor, err);
    return txn_end(st, ret, err);
}

int store_status_set(struct cfs_store *st, const struct cfs_res *r, const char *name,
                     const char *value, const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    char *old = NULL;
    if (txn_begin(st, err) < 0)
        return -1;
    if (kv_get_locked(st, STATUS_GET, r->id, name, &old, NULL, err) < 0)
        goto cleanup;
    if ((old && !strcmp(old, value)) || (!old && !value[0])) {
        ret = 1;    /* unchanged */
        goto cleanup;
    }
    const struct cfs_status_def *def = layout_status(r->kind, name);
    bool quiet = name[0] == '_' || (def && def->volatile_value);
    /* A pass may finish after its resource was purged: its status must not
     * outlive it (check reports such rows). */
    if (run(st, err, "status",
            "INSERT OR REPLACE INTO status(res, name, value, mtime)"
            " SELECT ?, ?, ?, ? WHERE EXISTS(SELECT 1 FROM resources WHERE id = ?)", "issii",
            r->id, name, value, store_now(), r->id) < 0)
        goto cleanup;
    if (sqlite3_changes64(st->db) == 0) {
        ret = 1;    /* the resource is gone */
        goto cleanup;
    }
    if ((!quiet && log_change(st, r, "status", name,
                              def && def->redact && old ? "***" : old,
                              def && def->redact ? "***" : value, actor, err) < 0))
        goto cleanup;
    ret = 0;
cleanup:
    ret = txn_end(st, ret, err);
    free(old);
    return ret;
}

/* ---- links ---- */

#define LINK_COLS "r.id, r.parent, r.kind, r.name, r.uuid, r.uid, r.gid, r.ctime, l.mtime"

int store_link_list(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    store_res_cb cb, void *arg, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT " LINK_COLS " FROM links l JOIN resources r ON r.id = l.target"
        " WHERE l.res = ? AND l.link = ? ORDER BY r.name", "is", r->id, l->name);
    return each_res_unlock(st, s, cb, arg, err, "links");
}

static int link_find_locked(struct cfs_store *st, const struct cfs_res *r,
                            const struct cfs_link_def *l, const char *name,
                            struct cfs_res *target, struct cfs_err *err)
{
    sqlite3_stmt *s = query(st, err,
        "SELECT " LINK_COLS " FROM links l JOIN resources r ON r.id = l.target"
        " WHERE l.res = ? AND l.link = ? AND r.name = ?", "iss", r->id, l->name, name);
    int ret = s ? one_res(st, s, target, err, "link") : -1;
    if (ret > 0)
        ret = cfs_err_set(err, ENOENT, "%s is not linked in %s/%s", name, r->name, l->name);
    return ret;
}

int store_link_find(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                    const char *name, struct cfs_res *target, struct cfs_err *err)
{
    lock(st);
    int ret = link_find_locked(st, r, l, name, target, err);
    unlock(st);
    return ret;
}

int store_link_add(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    struct cfs_res target, existing;
    struct cfs_err ignore;
    sqlite3_stmt *s;
    if (txn_begin(st, err) < 0)
        return -1;
    if (res_find_locked(st, r->parent, l->kind, name, &target, err) < 0) {
        cfs_err_set(err, ENOENT, "%s: no %s '%s' in this cluster", l->name, l->kind->name, name);
        goto cleanup;
    }
    if (link_find_locked(st, r, l, name, &existing, &ignore) == 0) {
        cfs_err_set(err, EEXIST, "%s %s is already linked to %s", l->kind->name, name, r->name);
        goto cleanup;
    }
    if (l->max > 0) {
        int64_t count = 0;
        s = query(st, err, "SELECT count(*) FROM links WHERE res = ? AND link = ?", "is", r->id,
                  l->name);
        if (!s || one_int64(st, s, &count, err, "link") < 0)
            goto cleanup;
        if (count >= l->max) {
            cfs_err_set(err, EDQUOT, "%s: at most %d %s per %s", l->name, l->max, l->kind->name,
                        r->kind->name);
            goto cleanup;
        }
    }
    if (l->exclusive) {
        s = query(st, err,
            "SELECT r.kind, r.name FROM links l JOIN resources r ON r.id = l.res"
            " WHERE l.target = ? AND l.link = ? LIMIT 1", "is", target.id, l->name);
        if (!s)
            goto cleanup;
        if (sqlite3_step(s) == SQLITE_ROW) {
            cfs_err_set(err, EBUSY, "%s %s is already attached to %s %s", l->kind->name, name,
                        (const char *)sqlite3_column_text(s, 0),
                        (const char *)sqlite3_column_text(s, 1));
            sqlite3_reset(s);
            goto cleanup;
        }
        sqlite3_reset(s);
    }
    if (run(st, err, "link", "INSERT INTO links(res, link, target, mtime) VALUES(?, ?, ?, ?)",
            "isii", r->id, l->name, target.id, store_now()) < 0 ||
        log_change(st, r, "link", l->name, NULL, name, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

int store_link_del(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   const char *name, const struct cfs_actor *actor, struct cfs_err *err)
{
    int ret = -1;
    struct cfs_res target;
    if (txn_begin(st, err) < 0)
        return -1;
    if (link_find_locked(st, r, l, name, &target, err) < 0 ||
        run(st, err, "unlink", "DELETE FROM links WHERE res = ? AND link = ? AND target = ?",
            "isi", r->id, l->name, target.id) < 0 ||
        log_change(st, r, "unlink", l->name, name, NULL, actor, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    return txn_end(st, ret, err);
}

/* ---- changes ---- */

#define CHANGE_COLS "seq, time, res, kind, path, op, attr, old, new, actor, uid, pid, comm, origin"

/* The row reader of changes (CHANGE_COLS); the strings live until s moves. */
static void row_to_change(sqlite3_stmt *s, struct cfs_change *c)
{
    *c = (struct cfs_change){
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
}

/* Hand every row of s (CHANGE_COLS) to cb until it returns non-zero.  The
 * callback runs with the lock held and must not call the store. */
static int each_change(struct cfs_store *st, sqlite3_stmt *s, store_change_cb cb, void *arg,
                       struct cfs_err *err)
{
    int step, ret = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct cfs_change c;
        row_to_change(s, &c);
        if (cb(&c, arg) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        ret = db_error(st, err, "changes");
    sqlite3_reset(s);
    return ret;
}

int store_changes_since(struct cfs_store *st, int64_t after_seq, int limit, store_change_cb cb,
                        void *arg, struct cfs_err *err)
{
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT " CHANGE_COLS " FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", "id", after_seq,
        limit > 0 ? limit : -1);
    int ret = s ? each_change(st, s, cb, arg, err) : -1;
    unlock(st);
    return ret;
}

int store_res_changes(struct cfs_store *st, int64_t res, const char *op, int64_t after_seq,
                      store_change_cb cb, void *arg, struct cfs_err *err)
{
    struct row *rows = NULL;
    size_t n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT attr, new, seq, time FROM changes WHERE res = ? AND op = ? AND seq > ?"
        " ORDER BY seq", "isi", res, op, after_seq);
    int ret = s ? collect_rows(st, s, &rows, &n, err) : -1;
    unlock(st);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        struct cfs_change c = {.seq = rows[i].x, .time = rows[i].y, .res = res, .op = op,
                               .attr = rows[i].a, .new_value = rows[i].b};
        if (cb(&c, arg) != 0)
            break;
    }
    free_rows(rows, n);
    return ret;
}

int store_owned(struct cfs_store *st, const char *kind, uid_t uid, const char *a, const char *b,
                store_owned_cb cb, void *arg, struct cfs_err *err)
{
    struct row *rows = NULL;
    size_t n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT coalesce(x.value, ''), coalesce(y.value, ''), r.id, 0 FROM resources r"
        " LEFT JOIN attrs x ON x.res = r.id AND x.name = ?1"
        " LEFT JOIN attrs y ON y.res = r.id AND y.name = ?2"
        " WHERE r.kind = ?3 AND r.uid = ?4 AND r.deleted = 0", "sssi", a ? a : "", b ? b : "",
        kind, (int64_t)uid);
    int ret = s ? collect_rows(st, s, &rows, &n, err) : -1;
    unlock(st);
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (cb(rows[i].x, rows[i].a, rows[i].b, arg) != 0)
            break;
    free_rows(rows, n);
    return ret;
}

int store_owner_uids(struct cfs_store *st, uid_t **uids, size_t *n, struct cfs_err *err)
{
    struct row *rows = NULL;
    size_t count = 0;
    *uids = NULL;
    *n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT '', '', uid, 0 FROM resources WHERE deleted = 0 GROUP BY uid ORDER BY uid", "");
    int ret = s ? collect_rows(st, s, &rows, &count, err) : -1;
    unlock(st);
    if (ret == 0 && count) {
        *uids = calloc(count, sizeof(**uids));
        if (!*uids)
            ret = cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; ret == 0 && i < count; i++)
            (*uids)[i] = (uid_t)rows[i].x;
        if (ret == 0)
            *n = count;
    }
    free_rows(rows, count);
    return ret;
}

struct child_row {
    int64_t id;
    char *name;
    char *v[4];
};

static int read_child(struct cfs_store *st, sqlite3_stmt *s, void *out)
{
    struct child_row *r = out;
    (void)st;
    r->id = sqlite3_column_int64(s, 0);
    r->name = col_dup(s, 1);
    for (int i = 0; i < 4; i++)
        r->v[i] = col_dup(s, 2 + i);
    return 0;
}

int store_children(struct cfs_store *st, int64_t parent, const char *kind,
                   const char *const names[4], store_child_cb cb, void *arg,
                   struct cfs_err *err)
{
    void *arr = NULL;
    size_t n = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT r.id, r.name, coalesce(a.value, ''), coalesce(b.value, ''),"
        " coalesce(c.value, ''), coalesce(d.value, '') FROM resources r"
        " LEFT JOIN attrs a ON a.res = r.id AND a.name = ?1"
        " LEFT JOIN attrs b ON b.res = r.id AND b.name = ?2"
        " LEFT JOIN attrs c ON c.res = r.id AND c.name = ?3"
        " LEFT JOIN status d ON d.res = r.id AND d.name = ?4"
        " WHERE r.parent = ?5 AND r.kind = ?6 AND r.deleted = 0", "ssssis",
        names[0] ? names[0] : "", names[1] ? names[1] : "", names[2] ? names[2] : "",
        names[3] ? names[3] : "", parent, kind);
    int ret = s ? collect(st, s, read_child, sizeof(struct child_row), &arr, &n, err,
                          "children") : -1;
    unlock(st);
    struct child_row *rows = arr;
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (cb(rows[i].id, rows[i].name, rows[i].v, arg) != 0)
            break;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        for (int j = 0; j < 4; j++)
            free(rows[i].v[j]);
    }
    free(rows);
    return ret;
}

int64_t store_last_seq(struct cfs_store *st)
{
    int64_t seq = 0;
    struct cfs_err err;
    lock(st);
    sqlite3_stmt *s = query(st, &err, "SELECT coalesce(max(seq), 0) FROM changes", "");
    if (s)
        one_int64(st, s, &seq, &err, "changes");
    unlock(st);
    return seq;
}

int store_res_recent(struct cfs_store *st, int64_t res, int n, store_change_cb cb, void *arg,
                     struct cfs_err *err)
{
    lock(st);
    /* The newest n, handed out oldest first. */
    sqlite3_stmt *s = query(st, err,
        "SELECT * FROM (SELECT " CHANGE_COLS " FROM changes WHERE res = ? ORDER BY seq DESC"
        " LIMIT ?) ORDER BY seq", "id", res, n);
    int ret = s ? each_change(st, s, cb, arg, err) : -1;
    unlock(st);
    return ret;
}

/* ---- retention ---- */

int store_cursor_mark(struct cfs_store *st, const char *name, int64_t seq, struct cfs_err *err)
{
    if (txn_begin(st, err) < 0)
        return -1;
    int ret = run(st, err, "cursors", "INSERT OR REPLACE INTO cursors VALUES(?, ?, ?)", "sii",
                  name, seq, store_now());
    return txn_end(st, ret, err);
}

/* Rows deleted per transaction: the other daemon's writes wait at most
 * one chunk. */
#define PRUNE_CHUNK 5000
/* A consumer that has not marked for this long is not waited for: a
 * daemon that starts again resyncs instead of reading the log. */
#define CURSOR_STALE_NS (600LL * 1000000000LL)

/* One chunk of prunable changes: 0 done, 1 more may follow, -1 error. */
static int prune_changes_chunk(struct cfs_store *st, int64_t floor, int64_t before,
                               int64_t *n, struct cfs_err *err)
{
    if (txn_begin(st, err) < 0)
        return -1;
    /* Kept: the newest entry of all (the sequence readers compare with),
     * and each live resource's newest spec entry (its generation, which
     * wait compares with status/_gen). */
    int ret = run(st, err, "changes",
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes"
        "  WHERE seq <= ? AND time < ? AND seq < (SELECT max(seq) FROM changes)"
        "  AND seq NOT IN (SELECT max(c.seq) FROM changes c JOIN resources r ON r.id = c.res"
        "    WHERE c.op IN ('create', 'set', 'link', 'unlink', 'delete') GROUP BY c.res)"
        "  ORDER BY seq LIMIT ?)", "iii", floor, before, (int64_t)PRUNE_CHUNK);
    int more = 0;
    if (ret == 0) {
        int64_t k = sqlite3_changes64(st->db);
        *n += k;
        more = k == PRUNE_CHUNK;
    }
    return txn_end(st, ret, err) < 0 ? -1 : more;
}

/* One chunk of audit rows older than before: 0 done, 1 more, -1 error. */
static int prune_audit_chunk(struct cfs_store *st, int64_t before, int64_t *n,
                             struct cfs_err *err)
{
    int64_t target = 0, floor = 0;
    if (txn_begin(st, err) < 0)
        return -1;
    sqlite3_stmt *s = query(st, err, "SELECT coalesce(max(id), 0) FROM audit WHERE time < ?",
                            "i", before);
    int ret = s ? one_int64(st, s, &target, err, "audit") : -1;
    if (ret == 0 && (s = query(st, err, "SELECT id FROM audit_floor", "")))
        ret = one_int64(st, s, &floor, err, "audit_floor");
    else
        ret = -1;
    int more = 0;
    if (ret == 0 && target > floor) {
        int64_t to = target - floor > PRUNE_CHUNK ? floor + PRUNE_CHUNK : target;
        ret = run(st, err, "audit_floor", "UPDATE audit_floor SET id = ?", "i", to);
        if (ret == 0)
            ret = run(st, err, "audit", "DELETE FROM audit WHERE id <= ?", "i", to);
        if (ret == 0) {
            *n += sqlite3_changes64(st->db);
            more = to < target;
        }
    } else if (ret == 0) {
        ret = 1;    /* nothing to do */
    }
    return txn_end(st, ret, err) < 0 ? -1 : more;
}

int store_prune(struct cfs_store *st, int64_t read_seq, int64_t changes_before,
                int64_t audit_before, int64_t *changes, int64_t *audit, struct cfs_err *err)
{
    int64_t now = store_now(), floor = read_seq;
    *changes = *audit = 0;
    lock(st);
    sqlite3_stmt *s = query(st, err, "SELECT coalesce(min(seq), ?) FROM cursors WHERE time > ?",
                            "ii", read_seq, now - CURSOR_STALE_NS);
    int ret = s ? one_int64(st, s, &floor, err, "cursors") : -1;
    unlock(st);
    if (ret < 0)
        return -1;
    if (floor > read_seq)
        floor = read_seq;
    int more = 1;
    while (changes_before > 0 && more == 1)
        more = prune_changes_chunk(st, floor, changes_before, changes, err);
    if (more < 0)
        return -1;
    more = 1;
    while (audit_before > 0 && more == 1)
        more = prune_audit_chunk(st, audit_before, audit, err);
    if (more < 0)
        return -1;
    /* Cursors of daemons long gone. */
    if (txn_begin(st, err) < 0)
        return -1;
    ret = run(st, err, "cursors", "DELETE FROM cursors WHERE time < ?", "i",
              now - 144 * CURSOR_STALE_NS);
    return txn_end(st, ret, err);
}

/* ---- audit ---- */

/* Its own small transaction, without touching the notify file: nobody
 * acts on audit rows, so waking the other daemon would be wasted work. */
int store_audit_append(struct cfs_store *st, const struct cfs_audit *a, struct cfs_err *err)
{
    lock(st);
    int ret = run(st, err, "audit",
        "INSERT INTO audit(time, uid, pid, comm, op, path, value, result)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", "iiisssss", a->time, (int64_t)a->uid, (int64_t)a->pid,
        a->comm ? a->comm : "", a->op, a->path, a->value, a->result);
    if (ret == 0 && st->write_depth > 0)
        st->write_any = true;
    unlock(st);
    return ret;
}

/* The row reader of audit; the strings live until s moves. */
static void row_to_audit(sqlite3_stmt *s, struct cfs_audit *a)
{
    *a = (struct cfs_audit){
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
}

int store_audit_list(struct cfs_store *st, int64_t after_id, int limit, store_audit_cb cb,
                     void *arg, struct cfs_err *err)
{
    int ret = -1, step;
    lock(st);
    sqlite3_stmt *s = query(st, err,
        "SELECT id, time, uid, pid, comm, op, path, value, result FROM audit WHERE id > ?"
        " ORDER BY id LIMIT ?", "id", after_id, limit > 0 ? limit : -1);
    if (!s)
        goto cleanup;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct cfs_audit a;
        row_to_audit(s, &a);
        if (cb(&a, arg) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        db_error(st, err, "audit");
    else
        ret = 0;
    sqlite3_reset(s);
cleanup:
    unlock(st);
    return ret;
}
