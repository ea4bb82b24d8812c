/* alarm_notify.c: the webhook delivery thread (see alarm_notify.h). */
#include "alarm_notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_store.h"
#include "status_keys.h"
#include "value.h"

#define CONNECT_TIMEOUT_MS 3000
#define REQUEST_TIMEOUT_MS 10000
#define BACKOFF_FIRST_S 5
#define BACKOFF_MAX_S 300

/* One queued delivery: a firing of an alarm to one target. */
struct job {
    struct cfs_res alarm, notif;
    char since[32];
    char *url, *body;
    int attempts;
    int64_t due;                /* workq_now() clock */
};

/* A firing delivered to a target, and when (epoch s). */
struct delivered {
    int64_t alarm, notif;
    char since[32];
    long long sent;
};

static struct {
    struct reconciler *rc;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t cond;
    bool stop;
    struct job *jobs;
    size_t njobs;
    struct job *inflight;       /* taken off jobs while it is posted */
    bool inflight_cancelled;
    struct delivered *done;
    size_t ndone;
} nq = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool stopping;

static void job_free(struct job *j)
{
    free(j->url);
    free(j->body);
}

static struct delivered *done_find(int64_t alarm, int64_t notif)
{
    for (size_t i = 0; i < nq.ndone; i++)
        if (nq.done[i].alarm == alarm && nq.done[i].notif == notif)
            return &nq.done[i];
    return NULL;
}

static void done_record(int64_t alarm, int64_t notif, const char *since, long long sent)
{
    struct delivered *d = done_find(alarm, notif);
    if (!d) {
        struct delivered *grown = realloc(nq.done, (nq.ndone + 1) * sizeof(*grown));
        if (!grown)
            return;
        nq.done = grown;
        d = &nq.done[nq.ndone++];
        d->alarm = alarm;
        d->notif = notif;
    }
    snprintf(d->since, sizeof(d->since), "%s", since);
    d->sent = sent;
}

/* The record of CFS_ST_NOTIFIED (lines "NOTIF SINCE SENT") for notif. */
static bool persisted(const char *text, int64_t notif, char *since, size_t len, long long *sent)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        long long id = 0, at = 0;
        char s[32];
        if (sscanf(p, "%lld %31s %lld", &id, s, &at) == 3 && id == notif) {
            snprintf(since, len, "%s", s);
            *sent = at;
            return true;
        }
    }
    return false;
}

static struct job *job_find(int64_t alarm, int64_t notif)
{
    for (size_t i = 0; i < nq.njobs; i++)
        if (nq.jobs[i].alarm.id == alarm && nq.jobs[i].notif.id == notif)
            return &nq.jobs[i];
    return NULL;
}

void alarm_notify_fire(const struct cfs_res *alarm, const struct cfs_res *notif, const char *url,
                       int repeat, const char *since, const char *body)
{
    if (!nq.rc)
        return;
    /* Read before taking the lock: the store is after it in no order. */
    char *record = rc_status(nq.rc, alarm->id, CFS_ST_NOTIFIED);
    char was_since[32] = "";
    long long was_sent = 0;
    bool known = persisted(record, notif->id, was_since, sizeof(was_since), &was_sent);
    free(record);
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&nq.lock);
    const struct delivered *d = done_find(alarm->id, notif->id);
    if (d) {
        known = true;
        snprintf(was_since, sizeof(was_since), "%s", d->since);
        was_sent = d->sent;
    }
    bool due = !known || strcmp(was_since, since) || now - was_sent >= repeat;
    struct job *queued = job_find(alarm->id, notif->id);
    if (queued) {
        /* A retry posts what is true now, to where the target says now. */
        char *u = strdup(url), *b = strdup(body);
        if (u && b) {
            free(queued->url);
            free(queued->body);
            queued->url = u;
            queued->body = b;
            queued->alarm = *alarm;
            queued->notif = *notif;
            snprintf(queued->since, sizeof(queued->since), "%s", since);
            u = b = NULL;
        }
        free(u);
        free(b);
    }
    bool busy = queued ||
                (nq.inflight && nq.inflight->alarm.id == alarm->id &&
                 nq.inflight->notif.id == notif->id && !nq.inflight_cancelled);
    if (due && !busy) {
        struct job *grown = realloc(nq.jobs, (nq.njobs + 1) * sizeof(*grown));
        if (grown) {
            nq.jobs = grown;
            struct job *j = &nq.jobs[nq.njobs];
            memset(j, 0, sizeof(*j));
            j->alarm = *alarm;
            j->notif = *notif;
            snprintf(j->since, sizeof(j->since), "%s", since);
            j->url = strdup(url);
            j->body = strdup(body);
            j->due = workq_now();
            if (j->url && j->body) {
                nq.njobs++;
                pthread_cond_broadcast(&nq.cond);
            } else {
                job_free(j);
            }
        }
    }
    pthread_mutex_unlock(&nq.lock);
}

void alarm_notify_cancel(int64_t alarm)
{
    pthread_mutex_lock(&nq.lock);
    size_t kept = 0;
    for (size_t i = 0; i < nq.njobs; i++) {
        if (nq.jobs[i].alarm.id == alarm)
            job_free(&nq.jobs[i]);
        else
            nq.jobs[kept++] = nq.jobs[i];
    }
    nq.njobs = kept;
    if (nq.inflight && nq.inflight->alarm.id == alarm)
        nq.inflight_cancelled = true;
    pthread_mutex_unlock(&nq.lock);
}

/* ---- one POST ---- */

static size_t discard(const char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int abort_when_stopping(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)arg, (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&stopping) ? 1 : 0;
}

/* The part of url between "://" and the host, and its query: what must
 * not reach a message. */
static bool leaks(const char *url, const char *text)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t alen = strcspn(p, "/?#");
    const char *at = memchr(p, '@', alen);
    const char *q = strpbrk(p, "?#");
    return (at && at > p && memmem(text, strlen(text), p, (size_t)(at - p))) ||
           (q && q[1] && strstr(text, q + 1));
}

/* 0 when the receiver answered 2xx, else -1 and why (without secrets). */
static int post(const char *url, const char *body, char *why, size_t len)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    int ret = -1;
    if (!c || !headers) {
        snprintf(why, len, "out of memory");
        goto cleanup;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cloudfs");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
    CURLcode res = curl_easy_perform(c);
    if (res != CURLE_OK) {
        const char *text = errbuf[0] ? errbuf : curl_easy_strerror(res);
        snprintf(why, len, "%s", leaks(url, text) ? curl_easy_strerror(res) : text);
        goto cleanup;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        snprintf(why, len, "the receiver answered HTTP %ld", code);
        goto cleanup;
    }
    ret = 0;
cleanup:
    curl_slist_free_all(headers);
    if (c)
        curl_easy_cleanup(c);
    return ret;
}

/* ---- reporting ---- */

static bool alive(struct reconciler *rc, struct cfs_res *r)
{
    struct cfs_err ignore;
    struct cfs_res now;
    if (store_res_get(rc->st, r->id, &now, &ignore) < 0 || now.deleted)
        return false;
    *r = now;
    return true;
}

/* The alarm's CFS_ST_NOTIFIED with notif's line replaced. */
static char *notified_with(const char *text, int64_t notif, const char *since, long long sent)
{
    size_t cap = strlen(text) + 96;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o = '\0';
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        long long id = 0;
        if (n && !(sscanf(p, "%lld ", &id) == 1 && id == notif))
            o += snprintf(o, cap - (size_t)(o - out), "%.*s\n", (int)n, p);
        p = nl ? nl + 1 : NULL;
    }
    snprintf(o, cap - (size_t)(o - out), "%lld %s %lld", (long long)notif, since, sent);
    return out;
}

static void report(struct reconciler *rc, struct job *j, bool ok, const char *why,
                   int64_t next_s)
{
    struct cfs_err err;
    if (atomic_load(&stopping))
        return;
    /* Looked up inside the batch, which holds off the mount's writes: a
     * target or alarm removed meanwhile gets no status row. */
    if (store_write_begin(rc->st, &err) < 0) {
        fprintf(stderr, "cloudfs reconcile: notification %s: %s\n", j->notif.name, err.msg);
        return;
    }
    bool alarm_alive = alive(rc, &j->alarm);
    if (!alive(rc, &j->notif)) {
        /* nothing to report on */
    } else if (ok) {
        char now[32];
        rc_iso_time(now, sizeof(now));
        char *sent = rc_status(rc, j->notif.id, "sent");
        rc_set_status_int(rc, &j->notif, "sent", atoll(sent) + 1);
        free(sent);
        rc_set_status(rc, &j->notif, "last-sent", now);
        rc_set_status(rc, &j->notif, "last-error", "");
        if (alarm_alive) {
            char *was = rc_status(rc, j->alarm.id, CFS_ST_NOTIFIED);
            char *rec = notified_with(was, j->notif.id, j->since, (long long)time(NULL));
            if (rec)
                rc_set_status(rc, &j->alarm, CFS_ST_NOTIFIED, rec);
            free(rec);
            free(was);
        }
    } else {
        char where[256], msg[768];
        value_url_redacted(j->url, where, sizeof(where));
        snprintf(msg, sizeof(msg), "alarm %s: POST to %s failed: %s (attempt %d, retried in "
                 "%lld s)", j->alarm.name, where, why, j->attempts, (long long)next_s);
        rc_set_status(rc, &j->notif, "last-error", msg);
    }
    if (store_write_end(rc->st, &err) < 0)
        fprintf(stderr, "cloudfs reconcile: notification %s: %s\n", j->notif.name, err.msg);
}

/* ---- the thread ---- */

static void *notify_main(void *arg)
{
    struct reconciler *rc = arg;
    pthread_mutex_lock(&nq.lock);
    while (!nq.stop) {
        int64_t now = workq_now(), next = 0;
        size_t pick = nq.njobs;
        for (size_t i = 0; i < nq.njobs; i++) {
            if (nq.jobs[i].due <= now && (pick == nq.njobs || nq.jobs[i].due < nq.jobs[pick].due))
                pick = i;
            if (!next || nq.jobs[i].due < next)
                next = nq.jobs[i].due;
        }
        if (pick == nq.njobs) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait = next ? next - now : 3600LL * 1000000000LL;
            ts.tv_sec += (time_t)(wait / 1000000000LL);
            ts.tv_nsec += (long)(wait % 1000000000LL);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&nq.cond, &nq.lock, &ts);
            continue;
        }
        struct job j = nq.jobs[pick];
        nq.jobs[pick] = nq.jobs[--nq.njobs];
        nq.inflight = &j;
        nq.inflight_cancelled = false;
        pthread_mutex_unlock(&nq.lock);

        char why[CURL_ERROR_SIZE + 64] = "";
        bool gone = !alive(rc, &j.alarm) || !alive(rc, &j.notif);
        int ok = gone ? -1 : post(j.url, j.body, why, sizeof(why));
        j.attempts++;
        int64_t backoff = BACKOFF_FIRST_S;
        for (int i = 1; i < j.attempts && backoff < BACKOFF_MAX_S; i++)
            backoff *= 2;
        if (backoff > BACKOFF_MAX_S)
            backoff = BACKOFF_MAX_S;
        if (!gone)
            report(rc, &j, ok == 0, why, backoff);

        pthread_mutex_lock(&nq.lock);
        nq.inflight = NULL;
        if (ok == 0)
            done_record(j.alarm.id, j.notif.id, j.since, (long long)time(NULL));
        struct job *grown = NULL;
        if (ok != 0 && !gone && !nq.inflight_cancelled && !nq.stop && !job_find(j.alarm.id, j.notif.id))
            grown = realloc(nq.jobs, (nq.njobs + 1) * sizeof(*grown));
        if (grown) {
            nq.jobs = grown;
            j.due = workq_now() + backoff * 1000000000LL;
            nq.jobs[nq.njobs++] = j;
        } else {
            job_free(&j);
        }
    }
    pthread_mutex_unlock(&nq.lock);
    return NULL;
}

void alarm_notify_start(struct reconciler *rc)
{
    if (nq.running)
        return;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "cloudfs reconcile: libcurl does not initialise: no notification "
                        "will be sent\n");
        return;
    }
    workq_cond_init(&nq.cond);
    nq.rc = rc;
    nq.stop = false;
    atomic_store(&stopping, false);
    if (pthread_create(&nq.thread, NULL, notify_main, rc) != 0) {
        fprintf(stderr, "cloudfs reconcile: cannot start the notification thread\n");
        nq.rc = NULL;
        pthread_cond_destroy(&nq.cond);
        curl_global_cleanup();
        return;
    }
    nq.running = true;
}

void alarm_notify_stop(void)
{
    if (!nq.running)
        return;
    atomic_store(&stopping, true);
    pthread_mutex_lock(&nq.lock);
    nq.stop = true;
    pthread_cond_broadcast(&nq.cond);
    pthread_mutex_unlock(&nq.lock);
    pthread_join(nq.thread, NULL);
    pthread_mutex_lock(&nq.lock);
    for (size_t i = 0; i < nq.njobs; i++)
        job_free(&nq.jobs[i]);
    free(nq.jobs);
    free(nq.done);
    nq.jobs = NULL;
    nq.done = NULL;
    nq.njobs = nq.ndone = 0;
    nq.rc = NULL;
    nq.running = false;
    pthread_mutex_unlock(&nq.lock);
    pthread_cond_destroy(&nq.cond);
    curl_global_cleanup();
}
