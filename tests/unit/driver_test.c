/* driver_test.c: exercise every operation of cfs_libvirt_driver against a
 * real host (qemu:///system, a 64 MiB domain with no OS, KVM or TCG) and
 * against libvirt's in-process test driver (test:///default).
 *
 * Built and run by tests/14-units.bats (scripts/libvirt-up.sh first).
 * Arguments: the URIs to test (default both).  Prints one line per check; exits 0 only if every check passed.
 */
#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compute.h"
#include "xml.h"

static const struct cfs_compute_driver *drv = &cfs_libvirt_driver;
static int passed, failed;
static char real_type[16] = "kvm";     /* the real host's domain type, from host_info */
static const char *suite = "";

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    printf("%s [%s] ", ok ? "PASS" : "FAIL", suite);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (ok)
        passed++;
    else
        failed++;
}

static const char *power_name(enum cfs_power p)
{
    static const char *const names[] = {"none", "shutoff", "running", "paused",
                                        "shutdown", "crashed", "other"};
    return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- events seen by the driver's callbacks ---- */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct {
    char uuid[VIR_UUID_STRING_BUFLEN];
    enum cfs_power power;
} events[4096];
static int nevents, nlost;

static void on_event(const char *uuid, enum cfs_power power, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ev_lock);
    if (nevents < (int)(sizeof(events) / sizeof(events[0]))) {
        snprintf(events[nevents].uuid, sizeof(events[nevents].uuid), "%s", uuid);
        events[nevents].power = power;
        nevents++;
    }
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
}

static void on_lost(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ev_lock);
    nlost++;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
}

/* Wait until at least n connections were reported lost. */
static int lost_wait(int n, double timeout_s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout_s;
    pthread_mutex_lock(&ev_lock);
    while (nlost < n && !pthread_cond_timedwait(&ev_cond, &ev_lock, &deadline))
        ;
    int ok = nlost >= n;
    pthread_mutex_unlock(&ev_lock);
    return ok;
}

static int event_mark(void)
{
    pthread_mutex_lock(&ev_lock);
    int n = nevents;
    pthread_mutex_unlock(&ev_lock);
    return n;
}

/* Wait until an event (uuid, power) arrived at index >= from. */
static int event_wait(const char *uuid, enum cfs_power power, int from, double timeout_s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout_s;
    int found = 0;
    pthread_mutex_lock(&ev_lock);
    for (;;) {
        for (int i = from; i < nevents && !found; i++)
            found = !strcmp(events[i].uuid, uuid) && events[i].power == power;
        if (found || pthread_cond_timedwait(&ev_cond, &ev_lock, &deadline))
            break;
    }
    pthread_mutex_unlock(&ev_lock);
    return found;
}

/* ---- helpers ---- */

static void make_uuid(char out[VIR_UUID_STRING_BUFLEN])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof(b), f) != sizeof(b)) {
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(rand() ^ (int)time(NULL));
    }
    if (f)
        fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, VIR_UUID_STRING_BUFLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* Content of the first <tag>...</tag> with XML entities decoded (malloc'd). */
static char *xml_elem_text(const char *xml, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%.*s>", (int)strcspn(tag, " "), tag);
    const char *s = strstr(xml, open);
    const char *e = s ? strstr(s, close) : NULL;
    if (!s || !e)
        return NULL;
    s += strlen(open);
    char *out = malloc((size_t)(e - s) + 1), *o = out;
    if (!out)
        return NULL;
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&lt;", '<'},   {"&gt;", '>'},    {"&amp;", '&'},  {"&apos;", '\''},
                {"&quot;", '"'}, {"&#10;", '\n'},  {"&#xA;", '\n'}, {"&#9;", '\t'}};
    while (s < e) {
        size_t i, n = sizeof(ents) / sizeof(ents[0]);
        for (i = 0; i < n; i++)
            if (!strncmp(s, ents[i].ent, strlen(ents[i].ent)))
                break;
        if (i < n) {
            *o++ = ents[i].ch;
            s += strlen(ents[i].ent);
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

/* stdout of a shell command (malloc'd), NULL on failure. */
static char *run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    int status = pclose(p);
    if (buf)
        buf[len] = '\0';
    if (status != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct find_ctx {
    const char *name;
    const char *uuid;
    int found;
    int total;
};

static void list_cb(const char *name, const char *uuid, void *arg)
{
    struct find_ctx *f = arg;
    f->total++;
    if (!strcmp(name, f->name) && !strcmp(uuid, f->uuid))
        f->found = 1;
}

struct hammer {
    struct cfs_conn *conn;
    const char *uuid;
    int errors;
};

/* Several threads on one connection at once, like the reconciler's workers. */
static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 25; i++) {
        struct cfs_domain_info info;
        struct cfs_err err;
        struct find_ctx f = {.name = "", .uuid = ""};
        if (drv->info(h->conn, h->uuid, &info, &err) < 0 || info.power != CFS_POWER_RUNNING)
            h->errors++;
        if (drv->list(h->conn, list_cb, &f, &err) < 0)
            h->errors++;
    }
    return NULL;
}

static struct cfs_domain_info info_of(struct cfs_conn *conn, const char *uuid, int *rc)
{
    struct cfs_domain_info info;
    struct cfs_err err = {0};
    *rc = drv->info(conn, uuid, &info, &err);
    if (*rc < 0)
        printf("     info: %s\n", err.msg);
    return info;
}

/* Define a domain outside the driver that holds uuid under another name. */
static int define_foreign(const char *uri, const char *type, const char *uuid)
{
    char xml[1024];
    int ok = 0;
    virConnectPtr vc = virConnectOpen(uri);
    if (!vc)
        return 0;
    snprintf(xml, sizeof(xml),
             "<domain type='%s'><name>foreign-%.8s</name><uuid>%s</uuid>"
             "<memory unit='KiB'>65536</memory><os><type>hvm</type></os></domain>",
             type, uuid, uuid);
    virDomainPtr d = virDomainDefineXML(vc, xml);
    if (d) {
        ok = 1;
        virDomainFree(d);
    }
    virConnectClose(vc);
    return ok;
}

static void undefine_foreign(const char *uri, const char *uuid)
{
    virConnectPtr vc = virConnectOpen(uri);
    if (!vc)
        return;
    virDomainPtr d = virDomainLookupByUUIDString(vc, uuid);
    if (d) {
        virDomainUndefine(d);
        virDomainFree(d);
    }
    virConnectClose(vc);
}

/* ---- xbuf ---- */

static void xml_suite(void)
{
    struct xbuf b = {0};
    suite = "xml";
    xbuf_raw(&b, "<a x='");
    xbuf_text(&b, "<>&'\"");
    xbuf_raw(&b, "'>");
    xbuf_text(&b, "t\tn\nc\x01\x1f\x7f\xc3\xa9!");
    xbuf_text(&b, NULL);
    xbuf_rawf(&b, "%d/%lld", -1, 123456789012LL);
    xbuf_elem(&b, "b", "1 < 2");
    xbuf_raw(&b, "</a>");
    char *s = xbuf_steal(&b);
    const char *want = "<a x='&lt;&gt;&amp;&apos;&quot;'>t&#9;n&#10;c\xc3\xa9!-1/123456789012"
                       "<b>1 &lt; 2</b></a>";
    check(s && !strcmp(s, want), "escape, drop controls, keep UTF-8: %s", s ? s : "(null)");
    check(b.data == NULL && b.len == 0, "steal empties the buffer");
    free(s);
    s = xbuf_steal(&b);
    check(s && s[0] == '\0', "steal of an empty buffer gives \"\"");
    free(s);
    xbuf_raw(&b, "x");
    b.failed = 1;
    xbuf_raw(&b, "y");
    check(xbuf_steal(&b) == NULL && b.data == NULL, "a failed buffer yields NULL");
    /* Growth well past the first allocation. */
    for (int i = 0; i < 10000; i++)
        xbuf_text(&b, "&");
    s = xbuf_steal(&b);
    check(s && strlen(s) == 50000, "grows: %zu bytes", s ? strlen(s) : 0);
    free(s);
    xbuf_raw(&b, "z");
    xbuf_free(&b);
    check(b.data == NULL && !b.failed, "free resets");
}

struct churn {
    struct cfs_conn *conn;
    const char *uuid;
    int rounds;
    int errors;
    char last[CFS_ERR_MSG_MAX + 16];    /* the last error's text, for the report */
};

/* Start and destroy a domain over and over: a stream of lifecycle events. */
static void *churn_main(void *arg)
{
    struct churn *ch = arg;
    struct cfs_err err;
    for (int i = 0; i < ch->rounds; i++)
        if (drv->start(ch->conn, ch->uuid, false, &err) < 0 ||
            drv->destroy(ch->conn, ch->uuid, &err) < 0) {
            ch->errors++;
            snprintf(ch->last, sizeof(ch->last), "start/destroy: %s", err.msg);
        }
    return NULL;
}

/* Open and close connections while events for them are being dispatched. */
static void close_race(const char *uri, const char *type, int rounds)
{
    struct cfs_conn *conn = NULL, *other;
    struct cfs_err err;
    char uuid[VIR_UUID_STRING_BUFLEN];
    make_uuid(uuid);
    if (drv->connect(uri, on_event, on_lost, NULL, &conn, &err) < 0) {
        check(0, "close race: connect (%s)", err.msg);
        return;
    }
    struct cfs_domain_spec spec = {.uuid = uuid, .type = type, .vcpus = 1,
                                   .memory_kib = 65536};
    int rc = drv->define(conn, &spec, &err);
    struct churn ch = {.conn = conn, .uuid = uuid, .rounds = rounds};
    pthread_t th;
    pthread_create(&th, NULL, churn_main, &ch);
    int opened = 0, tries = 0;
    char conn_last[CFS_ERR_MSG_MAX + 16] = "";  /* ch.last is the churn thread's */
    void *done = NULL;
    /* Keep reconnecting while the churn runs (bounded, to spare libvirtd). */
    bool joined = false;
    do {
        tries++;
        if (drv->connect(uri, on_event, on_lost, NULL, &other, &err) == 0) {
            opened++;
            drv->close(other);
        } else {
            snprintf(conn_last, sizeof(conn_last), "connect: %s", err.msg);
        }
        joined = pthread_tryjoin_np(th, &done) == 0;
    } while (!joined && tries < 2000);
    if (!joined)
        pthread_join(th, NULL);
    check(rc == 0 && ch.errors == 0 && opened == tries,
          "%d connect/close while another connection churns %d start/destroy: %d errors%s%s",
          tries, rounds, ch.errors + tries - opened, ch.last[0] || conn_last[0] ? ": " : "",
          ch.last[0] ? ch.last : conn_last);
    drv->undefine(conn, uuid, &err);
    drv->close(conn);
}

/* libvirtd drops this process's client connections (virt-admin), as if the
 * daemon went away: on_lost must fire and calls must fail with EHOSTDOWN. */
static int lost_suite(const char *uri)
{
    struct cfs_conn *conn = NULL;
    struct cfs_err err;
    struct cfs_domain_info info;
    char cmd[1024], uuid[VIR_UUID_STRING_BUFLEN];
    make_uuid(uuid);
    if (drv->connect(uri, on_event, on_lost, NULL, &conn, &err) < 0) {
        check(0, "lost: connect (%s)", err.msg);
        return 0;
    }
    pthread_mutex_lock(&ev_lock);
    int before = nlost;
    pthread_mutex_unlock(&ev_lock);
    snprintf(cmd, sizeof(cmd),
             "for id in $(virt-admin srv-clients-list libvirtd | awk 'NR>2 && $1 ~ /^[0-9]+$/ "
             "{print $1}'); do virt-admin client-info libvirtd $id | "
             "grep -Eq '^unix_process_id: *%d$' && virt-admin client-disconnect libvirtd $id; "
             "done >/dev/null 2>&1; true",
             (int)getpid());
    int rc = system(cmd);
    check(rc == 0 && lost_wait(before + 1, 5), "lost: on_lost called after libvirtd dropped us");
    check(!drv->alive(conn), "lost: alive() is false");
    rc = drv->info(conn, uuid, &info, &err);
    check(rc < 0 && err.code == EHOSTDOWN, "lost: info fails with EHOSTDOWN (%s)", err.msg);
    drv->close(conn);
    check(1, "lost: close");
    return 1;
}

/* ---- the suite ---- */

static void run_suite(const char *uri)
{
    struct cfs_conn *conn = NULL;
    struct cfs_err err = {0};
    struct cfs_host_info host;
    struct cfs_domain_info info;
    char uuid[VIR_UUID_STRING_BUFLEN], uuid2[VIR_UUID_STRING_BUFLEN], missing[VIR_UUID_STRING_BUFLEN];
    char name[128], console[256], cmd[512];
    char *xml = NULL, *text = NULL;
    int rc, rc2, mark;

    suite = uri;
    make_uuid(uuid);
    make_uuid(uuid2);
    make_uuid(missing);
    snprintf(name, sizeof(name), "%s%s", CFS_DOMAIN_PREFIX, uuid);

    rc = drv->connect(uri, on_event, on_lost, NULL, &conn, &err);
    check(rc == 0 && conn, "connect (%s)", rc ? err.msg : "ok");
    if (rc)
        return;
    check(drv->alive(conn), "alive");

    rc = drv->host_info(conn, &host, &err);
    check(rc == 0 && host.cpus > 0 && host.memory_kib > 0 && host.arch[0] && host.domain_type[0],
          "host_info: cpus=%d memory=%lld KiB arch=%s model=%s type=%s", host.cpus,
          host.memory_kib, host.arch, host.cpu_model, host.domain_type);
    bool test = !strcmp(host.domain_type, "test");
    if (!test) {
        /* KVM where the host has it, else TCG (machines without /dev/kvm). */
        const char *best = access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "qemu";
        check(!strcmp(host.domain_type, best), "host_info: best domain type is %s", best);
        snprintf(real_type, sizeof(real_type), "%s", host.domain_type);
    }
    const char *type = test ? "test" : real_type;

    info = info_of(conn, uuid, &rc);
    check(rc == 0 && info.power == CFS_POWER_NONE, "info before define: %s",
          power_name(info.power));

    const char *title = "vm <a> & 'b' \"c\"\nsecond line";
    const char *descr = "desc <x> & 'y' \"z\"\nline 2";
    snprintf(console, sizeof(console), "/tmp/cfs-driver-test-%s.log", uuid);
    struct cfs_domain_spec spec = {
        .uuid = uuid,
        .title = title,
        .description = descr,
        .type = type,
        .arch = host.arch,
        .vcpus = 1,
        .max_vcpus = 2,
        .memory_kib = 64 * 1024,
        .max_memory_kib = 128 * 1024,
        .console_path = test ? NULL : console,
    };
    rc = drv->define(conn, &spec, &err);
    check(rc == 0, "define (%s)", rc ? err.msg : "ok");
    rc = drv->define(conn, &spec, &err);
    check(rc == 0, "define again updates (%s)", rc ? err.msg : "ok");

    if (define_foreign(uri, type, uuid2)) {
        struct cfs_domain_spec clash = spec;
        clash.uuid = uuid2;
        rc = drv->define(conn, &clash, &err);
        check(rc < 0 && err.code == EEXIST, "define over a foreign domain's UUID: EEXIST (%s)",
              err.msg);
        undefine_foreign(uri, uuid2);
    } else {
        check(0, "define a foreign domain for the EEXIST check");
    }

    struct find_ctx f = {.name = name, .uuid = uuid};
    rc = drv->list(conn, list_cb, &f, &err);
    check(rc == 0 && f.found, "list finds %s among %d domains", name, f.total);

    info = info_of(conn, uuid, &rc);
    check(rc == 0 && info.power == CFS_POWER_SHUTOFF && info.persistent,
          "info after define: %s persistent=%d", power_name(info.power), info.persistent);
    check(info.vcpus == 1 && info.max_vcpus == 2 && info.max_memory_kib == 128 * 1024,
          "info after define: vcpus=%d/%d memory=%lld/%lld KiB", info.vcpus, info.max_vcpus,
          info.memory_kib, info.max_memory_kib);

    /* The escaped title/description as libvirt stored them. */
    if (test) {
        xml = drv->xml(conn, uuid, &err);
    } else {
        snprintf(cmd, sizeof(cmd), "virsh -c '%s' dumpxml %s", uri, name);
        xml = run_capture(cmd);
    }
    check(xml != NULL, "%s", test ? "xml()" : "virsh dumpxml");
    if (xml) {
        char *t = xml_elem_text(xml, "title"), *d = xml_elem_text(xml, "description");
        check(t && !strcmp(t, "vm <a> & 'b' \"c\" second line"),
              "title round-trips, newline folded: [%s]", t ? t : "(none)");
        check(d && !strcmp(d, descr), "description round-trips with its newline");
        check(strstr(xml, "&lt;a&gt; &amp;") != NULL, "title is stored escaped");
        if (!test) {
            check(strstr(xml, console) != NULL, "serial console file in XML");
            check(strstr(xml, "<memballoon model='virtio'") != NULL, "virtio balloon in XML");
        }
        free(t);
        free(d);
        free(xml);
        xml = NULL;
    }

    mark = event_mark();
    double t0 = now_s();
    rc = drv->start(conn, uuid, false, &err);
    check(rc == 0, "start (%s, %.2f s)", rc ? err.msg : "ok", now_s() - t0);
    rc = drv->start(conn, uuid, false, &err);
    check(rc == 0, "start again is a no-op (%s)", rc ? err.msg : "ok");
    check(event_wait(uuid, CFS_POWER_RUNNING, mark, 5), "event: running");
    info = info_of(conn, uuid, &rc);
    check(rc == 0 && info.power == CFS_POWER_RUNNING, "info after start: %s cpu_time=%llu ns",
          power_name(info.power), info.cpu_time_ns);
    if (!test)
        check(info.vnc_port > 0 && !strcmp(info.vnc_listen, "127.0.0.1"), "vnc port %d on %s",
              info.vnc_port, info.vnc_listen);
    else
        check(info.vnc_port == -1, "no vnc on the test driver: port %d", info.vnc_port);

    mark = event_mark();
    rc = drv->suspend(conn, uuid, &err);
    info = info_of(conn, uuid, &rc2);
    check(rc == 0 && rc2 == 0 && info.power == CFS_POWER_PAUSED, "suspend: %s", power_name(info.power));
    check(event_wait(uuid, CFS_POWER_PAUSED, mark, 5), "event: paused");
    rc = drv->suspend(conn, uuid, &err);
    check(rc == 0, "suspend again is a no-op (%s)", rc ? err.msg : "ok");

    mark = event_mark();
    rc = drv->resume(conn, uuid, &err);
    info = info_of(conn, uuid, &rc2);
    check(rc == 0 && rc2 == 0 && info.power == CFS_POWER_RUNNING, "resume: %s", power_name(info.power));
    check(event_wait(uuid, CFS_POWER_RUNNING, mark, 5), "event: running after resume");
    rc = drv->resume(conn, uuid, &err);
    check(rc == 0, "resume again is a no-op (%s)", rc ? err.msg : "ok");

    rc = drv->set_memory(conn, uuid, 96 * 1024, &err);
    check(rc == 0, "set_memory 96 MiB (%s)", rc ? err.msg : "ok");
    info = info_of(conn, uuid, &rc);
    check(rc == 0, "info after set_memory: memory=%lld KiB (balloon target; no guest driver)",
          info.memory_kib);
    if (!test) {
        snprintf(cmd, sizeof(cmd), "virsh -c '%s' dumpxml --inactive %s", uri, name);
        xml = run_capture(cmd);
        text = xml ? xml_elem_text(xml, "currentMemory unit='KiB'") : NULL;
        check(text && !strcmp(text, "98304"), "persistent currentMemory: %s KiB",
              text ? text : "?");
        free(text);
        free(xml);
        xml = text = NULL;
    }
    rc = drv->set_memory(conn, uuid, 256 * 1024, &err);
    check(rc < 0 && err.code == EIO, "set_memory beyond max fails: %s", err.msg);

    rc = drv->set_vcpus(conn, uuid, 2, &err);
    check(rc == 0, "set_vcpus 2 (%s)", rc ? err.msg : "ok");
    info = info_of(conn, uuid, &rc);
    check(rc == 0 && info.vcpus == 2 && info.max_vcpus == 2, "info after set_vcpus: %d/%d",
          info.vcpus, info.max_vcpus);
    rc = drv->set_vcpus(conn, uuid, 3, &err);
    check(rc < 0 && err.code == EIO, "set_vcpus beyond max fails: %s", err.msg);

    rc = drv->reset(conn, uuid, &err);
    check(rc == 0, "reset (%s)", rc ? err.msg : "ok");
    rc = drv->reboot(conn, uuid, &err);
    check(rc == 0 || test, "reboot (%s)", rc ? err.msg : "ok");
    if (!test) {
        /* No OS answers ACPI: the request is accepted, the domain keeps running. */
        rc = drv->shutdown_guest(conn, uuid, &err);
        check(rc == 0, "shutdown_guest (%s)", rc ? err.msg : "ok");
    }

    struct hammer hs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        hs[i] = (struct hammer){.conn = conn, .uuid = uuid};
        pthread_create(&th[i], NULL, hammer_main, &hs[i]);
    }
    int herr = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        herr += hs[i].errors;
    }
    check(herr == 0, "4 threads x 25 info+list on one connection: %d errors", herr);

    xml = drv->xml(conn, uuid, &err);
    check(xml && strstr(xml, name), "xml (%s)", xml ? "ok" : err.msg);
    free(xml);
    xml = NULL;

    mark = event_mark();
    rc = drv->destroy(conn, uuid, &err);
    info = info_of(conn, uuid, &rc2);
    check(rc == 0 && rc2 == 0 && info.power == CFS_POWER_SHUTOFF, "destroy: %s", power_name(info.power));
    check(event_wait(uuid, CFS_POWER_SHUTOFF, mark, 5), "event: shutoff");
    rc = drv->destroy(conn, uuid, &err);
    check(rc == 0, "destroy again is a no-op (%s)", rc ? err.msg : "ok");
    rc = drv->shutdown_guest(conn, uuid, &err);
    check(rc == 0, "shutdown_guest of a stopped domain is a no-op (%s)", rc ? err.msg : "ok");

    rc = drv->start(conn, uuid, true, &err);
    info = info_of(conn, uuid, &rc2);
    check(rc == 0 && rc2 == 0 && info.power == CFS_POWER_PAUSED, "start paused: %s (%s)",
          power_name(info.power), rc ? err.msg : "ok");
    rc = drv->destroy(conn, uuid, &err);
    check(rc == 0, "destroy the paused domain (%s)", rc ? err.msg : "ok");

    rc = drv->set_vcpus(conn, uuid, 1, &err);
    check(rc == 0, "set_vcpus on a stopped domain (%s)", rc ? err.msg : "ok");

    rc = drv->start(conn, missing, false, &err);
    check(rc < 0 && err.code == ENOENT, "start of a missing domain: ENOENT (%s)", err.msg);
    rc = drv->suspend(conn, missing, &err);
    check(rc < 0 && err.code == ENOENT, "suspend of a missing domain: ENOENT");
    rc = drv->destroy(conn, missing, &err);
    check(rc == 0, "destroy of a missing domain succeeds");
    xml = drv->xml(conn, missing, &err);
    check(!xml && err.code == ENOENT, "xml of a missing domain: ENOENT");
    free(xml);
    xml = NULL;

    mark = event_mark();
    rc = drv->undefine(conn, uuid, &err);
    check(rc == 0, "undefine (%s)", rc ? err.msg : "ok");
    info = info_of(conn, uuid, &rc);
    check(rc == 0 && info.power == CFS_POWER_NONE, "info after undefine: %s",
          power_name(info.power));
    check(event_wait(uuid, CFS_POWER_NONE, mark, 5), "event: none (undefined)");
    rc = drv->undefine(conn, uuid, &err);
    check(rc == 0, "undefine again is a no-op (%s)", rc ? err.msg : "ok");

    if (getenv("DRIVER_TEST_EVENTS")) {
        pthread_mutex_lock(&ev_lock);
        for (int i = 0; i < nevents; i++)
            if (!strcmp(events[i].uuid, uuid))
                printf("     event %s\n", power_name(events[i].power));
        pthread_mutex_unlock(&ev_lock);
    }
    check(drv->alive(conn), "still alive");
    drv->close(conn);
    check(1, "close");
    remove(console);
}

int main(int argc, char **argv)
{
    struct cfs_err err = {0};
    const char *defaults[] = {"qemu:///system", "test:///default"};
    const char **uris = argc > 1 ? (const char **)argv + 1 : defaults;
    int nuris = argc > 1 ? argc - 1 : 2;

    suite = "driver";
    int rc = drv->init(&err);
    check(rc == 0, "init (%s)", rc ? err.msg : "ok");
    if (rc)
        return 1;
    rc = drv->init(&err);
    check(rc == 0, "init twice is harmless");

    xml_suite();
    int lost = 0;
    for (int i = 0; i < nuris; i++) {
        run_suite(uris[i]);
        if (!strncmp(uris[i], "test:", 5))
            close_race(uris[i], "test", 200);
        else
            close_race(uris[i], real_type, 10);
        if (!strcmp(uris[i], "qemu:///system"))
            lost += lost_suite(uris[i]);
    }

    suite = "driver";
    struct cfs_conn *conn = NULL;
    rc = drv->connect("qemu+tcp://127.0.0.1:1/system", on_event, on_lost, NULL, &conn, &err);
    check(rc < 0 && !conn && err.code == EHOSTDOWN, "connect refused: EHOSTDOWN (%s)", err.msg);
    rc = drv->connect("nosuchdriver:///x", on_event, on_lost, NULL, &conn, &err);
    check(rc < 0 && !conn && err.code == EHOSTDOWN, "connect unknown driver: EHOSTDOWN (%s)",
          err.msg);

    double t0 = now_s();
    drv->shutdown();
    double took = now_s() - t0;
    check(took < 1.0, "shutdown stops the event thread in %.3f s", took);
    pthread_mutex_lock(&ev_lock);
    int nl = nlost;
    pthread_mutex_unlock(&ev_lock);
    check(nl == lost, "connections reported lost: %d of %d expected", nl, lost);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
