/* reconcile_alarm.c: the alarm kind's pass, an evaluator of conditions on
 * the series of /metrics.
 *
 * The numbers are the ones /metrics shows, rendered from the store by
 * metrics_render (what the mount computes plus what the reconciler's
 * metrics thread published: per-VM libvirt counters), not scraped through
 * the mount.  A pass evaluates its alarm against them and looks again a
 * metrics interval later (sooner when a pending alarm is due to fire):
 *
 *   ok --condition holds--> pending --held for `for` s--> firing
 *   pending, firing --condition fails--> ok        (for = 0: ok -> firing)
 *
 * state, since, value and resources are written in one transaction at the
 * end of the pass; the change of status/state is the event.  While firing,
 * the pass hands the alarm's JSON document to alarm_notify.c for each
 * notification target linked in notify/.
 *
 * Rates (rate = on) are per series: the difference between the values of
 * two publications of the reconciler's metrics divided by the time between
 * them; a counter that went back (a restarted guest) starts over.  The
 * previous samples are kept in memory: after a restart a rate has data
 * again one interval later, and until then the alarm keeps its state, as
 * it does until every host was tried (numbers_complete).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alarm_notify.h"
#include "metrics.h"
#include "prom_text.h"
#include "rc_state.h"
#include "rc_store.h"
#include "status_keys.h"
#include "textbuf.h"
#include "value.h"

/* The last sample of one series of an alarm. */
struct sample {
    char *labels;               /* {zone="z",...} as /metrics spells it */
    double v, rate;
    bool has_rate;
};

/* What an alarm remembers between passes (rates need the last sample). */
struct alarm_mem {
    int64_t id;
    int64_t at;                 /* publication time of the samples (ns) */
    struct sample *s;
    size_t n;
};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct alarm_mem *mems;
static size_t nmems;

static void samples_free(struct sample *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i].labels);
    free(s);
}

/* One matched series of this pass. */
struct series {
    char *labels;
    double v;                   /* the value compared: the sample or its rate */
    bool has_v;
    bool holds;
};

struct eval {
    struct series *s;
    size_t n;
};

static void eval_free(struct eval *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->s[i].labels);
    free(e->s);
}

static bool compare(double v, const char *op, double threshold)
{
    if (!strcmp(op, ">"))
        return v > threshold;
    if (!strcmp(op, ">="))
        return v >= threshold;
    if (!strcmp(op, "<"))
        return v < threshold;
    return v <= threshold;
}

/* Publication time (ns) of the reconciler's part of /metrics, else now. */
static int64_t published_at(struct reconciler *rc)
{
    char *v = NULL;
    struct cfs_err ignore;
    long long at = 0;
    if (store_meta_get(rc->st, METRICS_META_KEY, &v, &ignore) < 0 || sscanf(v, "%lld", &at) != 1)
        at = (long long)store_now();
    free(v);
    return at;
}

/* Are the reconciler's numbers published at `at` complete?  Not before
 * every host had its first connection attempt since the daemon started
 * and the metrics thread published after that: until then the series of
 * the VMs on a host not yet connected are missing, which would read as
 * "the VM stopped". */
static bool numbers_complete(struct reconciler *rc, int64_t at)
{
    static _Atomic int64_t ready_since;
    int64_t ready = atomic_load(&ready_since);
    if (!ready) {
        struct cfs_res *hosts = NULL;
        size_t n = 0;
        struct cfs_err err;
        bool all = store_res_all(rc->st, rc_layout_kind(rc, &rc_kind_host), &hosts, &n, &err) == 0;
        for (size_t i = 0; all && i < n; i++) {
            struct rc_host *h = hosts[i].deleted ? NULL : rc_host_get(rc, &hosts[i]);
            all = hosts[i].deleted || (h && !rc_host_untried(h));
        }
        free(hosts);
        if (!all)
            return false;
        ready = store_now();
        atomic_store(&ready_since, ready);
    }
    return at > ready;
}

/* The series of text that sel matches, with their values. */
static void match(const char *text, const struct value_selector *sel, struct eval *e)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (len == 0 || *p == '#')
            continue;
        char *line = strndup(p, len);
        char *sp = line ? strrchr(line, ' ') : NULL;
        struct value_selector series;
        struct cfs_err ignore;
        if (!sp) {
            free(line);
            continue;
        }
        *sp = '\0';
        char *end = NULL;
        double v = strtod(sp + 1, &end);
        if (*end || isnan(v) || value_selector_parse(line, &series, NULL, &ignore) < 0) {
            free(line);
            continue;
        }
        if (value_selector_matches(sel, &series)) {
            struct series *grown = realloc(e->s, (e->n + 1) * sizeof(*grown));
            const char *brace = strchr(line, '{');
            if (grown) {
                e->s = grown;
                e->s[e->n] = (struct series){.labels = strdup(brace ? brace : "{}"), .v = v,
                                             .has_v = true};
                if (e->s[e->n].labels)
                    e->n++;
            }
        }
        value_selector_free(&series);
        free(line);
    }
}

static struct alarm_mem *mem_of(int64_t id)
{
    for (size_t i = 0; i < nmems; i++)
        if (mems[i].id == id)
            return &mems[i];
    struct alarm_mem *grown = realloc(mems, (nmems + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    mems = grown;
    mems[nmems] = (struct alarm_mem){.id = id};
    return &mems[nmems++];
}

/* Forget the samples of alarms that are gone or no longer take rates
 * (their passes stop, so nothing else would free them). */
static void mems_prune(struct reconciler *rc, int64_t self, bool self_rates)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < nmems;) {
        struct cfs_res r;
        struct cfs_err ignore;
        bool keep = mems[i].id == self ? self_rates
                                       : store_res_get(rc->st, mems[i].id, &r, &ignore) == 0 &&
                                             !r.deleted;
        if (keep) {
            i++;
            continue;
        }
        samples_free(mems[i].s, mems[i].n);
        mems[i] = mems[--nmems];
    }
    pthread_mutex_unlock(&mem_lock);
}

/* Turn the values of e into per-second rates against the alarm's last
 * samples (a series without a previous sample has no value yet). */
static void to_rates(int64_t alarm, int64_t at, struct eval *e)
{
    pthread_mutex_lock(&mem_lock);
    struct alarm_mem *m = mem_of(alarm);
    struct sample *now = e->n ? calloc(e->n, sizeof(*now)) : NULL;
    for (size_t i = 0; i < e->n; i++) {
        const struct sample *prev = NULL;
        for (size_t j = 0; m && j < m->n && !prev; j++)
            if (!strcmp(m->s[j].labels, e->s[i].labels))
                prev = &m->s[j];
        double v = e->s[i].v;
        bool has = false;
        double rate = 0;
        if (prev && at == m->at) {              /* nothing new was published */
            has = prev->has_rate;
            rate = prev->rate;
            v = prev->v;
        } else if (prev && at > m->at && v >= prev->v) {
            has = true;
            rate = (v - prev->v) / ((double)(at - m->at) / 1e9);
        }
        if (now) {
            now[i] = (struct sample){.labels = strdup(e->s[i].labels), .v = v, .rate = rate,
                                     .has_rate = has};
        }
        e->s[i].v = rate;
        e->s[i].has_v = has;
    }
    if (m && now) {
        samples_free(m->s, m->n);
        m->s = now;
        m->n = e->n;
        m->at = at;
    } else {
        samples_free(now, e->n);
    }
    pthread_mutex_unlock(&mem_lock);
}

static time_t parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    return s[0] && strptime(s, RC_ISO_TIME_FORMAT, &tm) ? timegm(&tm) : 0;
}

struct notify_ctx {
    struct reconciler *rc;
    const struct cfs_res *alarm;
    const char *since, *body;
};

static int notify_one(const struct cfs_res *n, void *arg)
{
    struct notify_ctx *c = arg;
    char *type = rc_attr(c->rc, n->id, "type");
    char *url = rc_attr(c->rc, n->id, "url");
    char *repeat = rc_attr(c->rc, n->id, "repeat-interval");
    if (!n->deleted && !strcmp(type, "webhook") && url[0])
        alarm_notify_fire(c->alarm, n, url, atoi(repeat), c->since, c->body);
    free(type);
    free(url);
    free(repeat);
    return 0;
}

/* The JSON document a receiver gets. */
static char *document(struct reconciler *rc, const struct cfs_res *a, const char *metric,
                      const char *op, const char *threshold, const char *severity,
                      const char *value, const struct eval *e, const char *since)
{
    struct textbuf b = {0};
    char path[1024];
    struct cfs_err ignore;
    if (store_res_path(rc->st, a, path, sizeof(path), &ignore) < 0)
        snprintf(path, sizeof(path), "alarms/%s", a->name);
    tb_puts(&b, "{\"alarm\":");
    tb_json(&b, a->name);
    tb_puts(&b, ",\"path\":");
    tb_json(&b, path);
    tb_puts(&b, ",\"state\":\"firing\",\"severity\":");
    tb_json(&b, severity);
    tb_puts(&b, ",\"metric\":");
    tb_json(&b, metric);
    tb_puts(&b, ",\"op\":");
    tb_json(&b, op);
    tb_puts(&b, ",\"threshold\":");
    tb_json(&b, threshold);
    tb_puts(&b, ",\"value\":");
    tb_json(&b, value);
    tb_puts(&b, ",\"resources\":[");
    bool first = true;
    for (size_t i = 0; i < e->n; i++) {
        if (!e->s[i].holds)
            continue;
        tb_puts(&b, first ? "" : ",");
        tb_json(&b, e->s[i].labels);
        first = false;
    }
    tb_puts(&b, "],\"since\":");
    tb_json(&b, since);
    tb_puts(&b, ",\"time\":\"");
    tb_time(&b, store_now());
    tb_puts(&b, "\"}\n");
    return tb_steal(&b, NULL);
}

static int reconcile_alarm(struct reconciler *rc, const struct cfs_res *a)
{
    int64_t gen = store_spec_generation(rc->st, a->id);
    char *metric = rc_attr(rc, a->id, "metric");
    char *rate = rc_attr(rc, a->id, "rate");
    char *op = rc_attr(rc, a->id, "op");
    char *threshold = rc_attr(rc, a->id, "threshold");
    char *hold = rc_attr(rc, a->id, "for");
    char *severity = rc_attr(rc, a->id, "severity");
    char *was = rc_status(rc, a->id, "state");
    char *since = rc_status(rc, a->id, "since");
    struct eval e = {0};
    struct value_selector sel;
    struct cfs_err err;
    char *text = NULL;
    double limit = 0;
    int interval_ms = rc->conf->metrics_interval * 1000;
    int again = interval_ms;

    mems_prune(rc, a->id, !strcmp(rate, "on"));
    bool parsed = metric[0] && value_selector_parse(metric, &sel, NULL, &err) == 0;
    if (metric[0] && !parsed) {
        rc_set_status(rc, a, "error", err.msg);
    } else {
        rc_set_status(rc, a, "error", "");
    }
    value_parse_decimal(threshold, &limit);
    /* Without a fresh publication of the reconciler's part (a slow
     * metrics thread, a host call holding it up) the VM series are missing
     * for no reason of theirs: the alarm keeps its state until the numbers
     * are back, rather than going to ok and firing again. */
    bool stale = false;
    const struct events_viewer everything = {.all = true};   /* alarms are the operator's */
    if (parsed) {
        int64_t at = published_at(rc);
        stale = !numbers_complete(rc, at) || metrics_render(rc->st, &everything, &text, NULL) < 0 ||
                !strstr(text, "\ncloudfs_reconciler_up 1\n");
        if (!stale)
            match(text, &sel, &e);
        value_selector_free(&sel);
        if (!stale && !strcmp(rate, "on"))
            to_rates(a->id, at, &e);
    }
    /* Series that are there but have no rate yet (the first sample after a
     * start of the reconciler or of the VM) say nothing either way. */
    size_t known = 0;
    for (size_t i = 0; i < e.n; i++)
        known += e.s[i].has_v;
    stale = stale || (e.n > 0 && known == 0 && was[0]);
    if (stale) {
        if (!was[0]) {          /* a new alarm starts ok */
            char now[32];
            rc_iso_time(now, sizeof(now));
            rc_set_status(rc, a, "since", now);
            rc_set_status(rc, a, "state", "ok");
        }
        rc_set_status_int(rc, a, CFS_ST_GEN, gen);
        goto cleanup;
    }
    bool holds = false;
    const char *value_of = NULL;
    char value[64] = "";
    struct textbuf res = {0};
    for (size_t i = 0; i < e.n; i++) {
        e.s[i].holds = e.s[i].has_v && compare(e.s[i].v, op, limit);
        if (e.s[i].has_v && (!value_of || (e.s[i].holds && !holds))) {
            snprintf(value, sizeof(value), "%.6g", e.s[i].v);
            value_of = value;
        }
        if (e.s[i].holds) {
            tb_printf(&res, "%s%s", holds ? "\n" : "", e.s[i].labels);
            holds = true;
        }
    }

    /* The state machine. */
    char now[32];
    rc_iso_time(now, sizeof(now));
    const char *state = was[0] ? was : "ok";
    const char *next = state;
    int for_s = atoi(hold);
    if (!holds)
        next = "ok";
    else if (!strcmp(state, "ok"))
        next = for_s == 0 ? "firing" : "pending";
    else if (!strcmp(state, "pending") && time(NULL) - parse_iso(since) >= for_s)
        next = "firing";
    const char *when = strcmp(next, state) || !since[0] ? now : since;
    if (!strcmp(next, "pending")) {
        long long left = (long long)parse_iso(when) + for_s - (long long)time(NULL);
        if (left * 1000 < again)
            again = left > 0 ? (int)left * 1000 + 10 : 10;
    }
    char *resources = tb_steal(&res, NULL);
    rc_set_status(rc, a, "value", value);
    rc_set_status(rc, a, "resources", resources ? resources : "");
    rc_set_status(rc, a, "since", when);
    rc_set_status(rc, a, "state", next);
    rc_set_status_int(rc, a, CFS_ST_GEN, gen);

    if (!strcmp(next, "firing")) {
        char *body = document(rc, a, metric, op, threshold, severity, value, &e, when);
        const struct cfs_link_def *l = layout_link(a->kind, "notify");
        struct notify_ctx c = {.rc = rc, .alarm = a, .since = when, .body = body};
        if (body && l && store_link_list(rc->st, a, l, notify_one, &c, &err) < 0)
            rc_set_status(rc, a, "error", err.msg);
        free(body);
    } else {
        alarm_notify_cancel(a->id);
    }
    free(resources);
cleanup:
    eval_free(&e);
    free(text);
    free(metric);
    free(rate);
    free(op);
    free(threshold);
    free(hold);
    free(severity);
    free(was);
    free(since);
    /* Without a metric there is nothing to look at until the spec changes. */
    return parsed ? again : 0;
}

static void alarm_start(struct reconciler *rc)
{
    alarm_notify_start(rc);
}

/* An alarm is woken by its own spec changes and looks again every metrics
 * interval; the notification targets it posts to are read here (their own
 * status is written by alarm_notify.c, outside any pass). */
const struct rc_kind rc_kind_alarm = {
    .name = "alarm", .pass = reconcile_alarm, .start = alarm_start, .wakes = RC_WAKE_SELF,
    .attrs_read = "metric rate op threshold for severity "
                  "notification/type notification/url notification/repeat-interval",
    .status_read = "state since " CFS_ST_NOTIFIED,
    .status_written = "error value resources since state " CFS_ST_GEN " "
                      "notification/sent notification/last-sent notification/last-error "
                      CFS_ST_NOTIFIED,
};
