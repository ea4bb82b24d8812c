/* value_test.c: the attribute value parser (src/layout/value.c) against the
 * real layout (fs-layout/): normal forms, ranges, refusals with their errno,
 * and the text checks (control characters, UTF-8, bidirectional marks).
 *
 * Build and run: tests/14-units.bats.  Argument: the fs-layout directory.
 * Prints one line per failed check; exits 0 only if every check passed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "pwhash.h"
#include "value.h"

static int passed, failed;

/* One case: kind/attr, input, and either the stored form or the errno. */
struct vcase {
    const char *kind, *attr;
    const char *in;
    size_t len;         /* 0: strlen(in) */
    const char *out;    /* NULL: refused with code */
    int code;
};

static const struct vcase cases[] = {
    {"vm", "state", "running\n", 0, "running", 0},
    {"vm", "state", "Running", 0, NULL, EINVAL},
    {"vm", "state", "running\n\n", 0, NULL, EINVAL},
    {"vm", "root-size", "20G", 0, "20G", 0},
    {"vm", "root-size", "20480M", 0, "20G", 0},
    {"vm", "root-size", "20GiB", 0, "20G", 0},
    {"vm", "root-size", "19G", 0, NULL, EINVAL},
    {"vm", "root-size", "-20G", 0, NULL, EINVAL},
    {"vm", "root-size", "99999999999999999999G", 0, NULL, EINVAL},
    {"vm", "root-size", "20 G", 0, NULL, EINVAL},
    {"vm", "ha", "TRUE", 0, "on", 0},
    {"vm", "ha", "0", 0, "off", 0},
    {"vm", "ha", "maybe", 0, NULL, EINVAL},
    {"cluster", "cpu-overcommit", "1.5", 0, NULL, 0},   /* accepted; form checked below */
    {"cluster", "cpu-overcommit", "0.5", 0, NULL, EINVAL},
    {"cluster", "cpu-overcommit", "1.555", 0, NULL, EINVAL},
    {"vm", "hostname", "web-1.example", 0, "web-1.example", 0},
    {"vm", "hostname", "-web", 0, NULL, EINVAL},
    {"vm", "hostname", "", 0, "", 0},
    {"vm", "kernel", "/boot/vmlinuz", 0, "/boot/vmlinuz", 0},
    {"vm", "kernel", "boot/vmlinuz", 0, NULL, EINVAL},
    {"vm", "kernel", "/boot/../etc/shadow", 0, NULL, EINVAL},
    {"vm", "offering", "2C4G", 0, "2C4G", 0},
    {"vm", "offering", "../x", 0, NULL, EINVAL},
    {"vm", "description", "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82", 0,
     "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82", 0},
    {"vm", "description", "tab\there", 0, NULL, EINVAL},
    {"vm", "description", "esc\x1b[2J", 0, NULL, EINVAL},
    {"vm", "description", "bad \xc3\x28 utf8", 0, NULL, EINVAL},
    {"vm", "description", "overlong \xc0\xaf", 0, NULL, EINVAL},
    {"vm", "description", "surrogate \xed\xa0\x80", 0, NULL, EINVAL},
    {"vm", "description", "past max \xf4\x90\x80\x80", 0, NULL, EINVAL},
    {"vm", "description", "cut \xe4\xb8", 0, NULL, EINVAL},
    {"vm", "description", "rlo \xe2\x80\xae" "cod.exe", 0, NULL, EINVAL},
    {"vm", "description", "isolate \xe2\x81\xa6x", 0, NULL, EINVAL},
    {"vm", "description", "c1 \xc2\x85", 0, NULL, EINVAL},
    {"vm", "description", "nul\0byte", 8, NULL, EINVAL},
    {"vm", "user-data", "#cloud-config\nruncmd:\n  - [echo, hi]\n", 0,
     "#cloud-config\nruncmd:\n  - [echo, hi]\n", 0},
    {"vm", "user-data", "nul\0", 4, NULL, EINVAL},
    {"vm", "tags", "", 0, "", 0},
    {"vm", "tags", "env=prod\n team = web \n\nk=a=b\n", 0, "env=prod\nteam=web\nk=a=b", 0},
    {"volume", "tags", "caf\xc3\xa9=\xe4\xb8\xad", 0, "caf\xc3\xa9=\xe4\xb8\xad", 0},
    {"vm", "tags", "env=prod\nenv=test", 0, NULL, EINVAL},     /* one value per key */
    {"vm", "tags", "Env=prod\nenv=test", 0, "Env=prod\nenv=test", 0},  /* case-sensitive */
    {"vm", "tags", "noequals", 0, NULL, EINVAL},
    {"vm", "tags", "=value", 0, NULL, EINVAL},
    {"vm", "tags", "key=", 0, NULL, EINVAL},
    {"vm", "tags", "a/b=c", 0, NULL, EINVAL},
    {"vm", "tags", "a=b/c", 0, NULL, EINVAL},
    {"vm", "tags", "a=..", 0, NULL, EINVAL},
    {"vm", "tags", "a=b\tc", 0, NULL, EINVAL},
    {"vm", "tags", "a=b\r\n", 0, NULL, EINVAL},
    {"vm", "tags", "a=\xe2\x80\xae" "b", 0, NULL, EINVAL},
    {"vm", "tags", "a=b\0", 4, NULL, EINVAL},
    {"host", "uri", "qemu:///system", 0, "qemu:///system", 0},
    {"host", "uri", "qemu:// system", 0, NULL, EINVAL},
};

static void fail(const char *fmt, const char *a, const char *b, const char *c)
{
    printf("FAIL ");
    printf(fmt, a, b, c);
    putchar('\n');
    failed++;
}

static void run_case(const struct cfs_layout *l, const struct vcase *c)
{
    const struct cfs_kind *k = layout_kind(l, c->kind);
    const struct cfs_attr_def *a = k ? layout_attr(k, c->attr) : NULL;
    if (!a) {
        fail("%s/%s: no such attribute in the layout%s", c->kind, c->attr, "");
        return;
    }
    size_t len = c->len ? c->len : strlen(c->in);
    char *out = NULL;
    struct cfs_err err;
    cfs_err_clear(&err);
    int rc = value_normalize(a, c->in, len, &out, &err);
    if (c->code) {
        if (rc == 0 || err.code != c->code || !err.msg[0] || !strstr(err.msg, c->attr))
            fail("%s/%s: '%s' should be refused naming the attribute", c->kind, c->attr, c->in);
        else
            passed++;
    } else if (rc < 0) {
        fail("%s/%s: '%s' refused", c->kind, c->attr, c->in);
        printf("     (%s)\n", err.msg);
    } else if (c->out && strcmp(out, c->out)) {
        fail("%s: '%s' stored as '%s'", c->attr, c->in, out);
    } else {
        passed++;
    }
    free(out);
}

static void check(int ok, const char *what)
{
    if (ok)
        passed++;
    else
        fail("%s%s%s", what, "", "");
}

static int count_tag(const char *key, const char *value, void *arg)
{
    (void)value;
    char *seen = arg;
    strcat(seen, key);
    strcat(seen, ";");
    return 0;
}

/* Tags: 50 of them, lines of 127 characters (not bytes), and one more of each. */
static void check_tags(const struct cfs_layout *l)
{
    const struct cfs_attr_def *a = layout_attr(layout_kind(l, "vm"), "tags");
    struct cfs_err err;
    char buf[8192], *out = NULL;
    size_t used = 0;
    for (int i = 0; i < 50; i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "k%d=v\n", i);
    check(value_normalize(a, buf, used, &out, &err) == 0, "50 tags are accepted");
    free(out);
    out = NULL;
    used += (size_t)snprintf(buf + used, sizeof(buf) - used, "k50=v\n");
    check(value_normalize(a, buf, used, &out, &err) < 0 && err.code == EINVAL &&
              strstr(err.msg, "more than 50 tags"),
          "a 51st tag is refused");
    memset(buf, 'x', 127);
    buf[3] = '=';
    check(value_normalize(a, buf, 127, &out, &err) == 0, "a 127-character tag is accepted");
    free(out);
    out = NULL;
    buf[127] = 'x';
    check(value_normalize(a, buf, 128, &out, &err) < 0 && err.code == EINVAL &&
              strstr(err.msg, "128 characters"),
          "a 128-character tag is refused");
    /* 127 characters of two bytes each: characters count, not bytes */
    used = (size_t)snprintf(buf, sizeof(buf), "k=");
    for (int i = 0; i < 125; i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "\xc3\xa9");
    check(value_normalize(a, buf, used, &out, &err) == 0, "127 two-byte characters are accepted");
    free(out);
    out = NULL;
    char seen[64] = "";
    check(value_tags_each("a=1\nb=2=3\nc=x", count_tag, seen) == 0 && !strcmp(seen, "a;b;c;"),
          "value_tags_each walks every tag in order");
}

int main(int argc, char **argv)
{
    struct cfs_err err;
    cfs_err_clear(&err);
    struct cfs_layout *l = layout_load(argc > 1 ? argv[1] : "fs-layout", NULL, &err);
    if (!l) {
        printf("FAIL layout_load: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(l, &cases[i]);

    long long n = 0;
    char buf[32];
    check(value_parse_size("1T", &n) == 0 && n == 1LL << 40, "1T is 2^40 bytes");
    check(value_parse_size("512", &n) == 0 && n == 512, "a bare number is bytes");
    check(value_parse_size("", &n) < 0, "an empty size is refused");
    check(value_parse_size("9223372036854775807K", &n) < 0, "an overflowing size is refused");
    value_format_size(3LL << 30, buf, sizeof(buf));
    check(!strcmp(buf, "3G"), "3 GiB formats as 3G");
    value_format_size((3LL << 30) + 1, buf, sizeof(buf));
    check(!strcmp(buf, "3221225473"), "a size no unit divides formats in bytes");
    check(value_parse_ratio("1.5", &n) == 0 && n == 150, "1.5 is 150 hundredths");
    value_format_ratio(150, buf, sizeof(buf));
    long long back = 0;
    check(value_parse_ratio(buf, &back) == 0 && back == 150, "a formatted ratio parses back");

    char name[80];
    memset(name, 'a', 63);
    name[63] = '\0';
    check(value_name_ok(name), "a 63-character name is valid");
    strcat(name, "a");
    check(!value_name_ok(name), "a 64-character name is not");
    check(!value_name_ok(".hidden") && !value_name_ok("-x") && !value_name_ok("a b") &&
              !value_name_ok("a/b") && !value_name_ok("") && !value_name_ok("caf\xc3\xa9"),
          "names: no leading dot or dash, no blank, slash, empty or non-ASCII name");
    check(value_name_ok("web-1.prod_a"), "letters, digits, '.', '_' and '-' make a name");

    check_tags(l);
    /* passwords: stored hashed, a hash kept as it is (idempotent) */
    const struct cfs_attr_def *pw = layout_attr(layout_kind(l, "vm"), "password");
    char *h1 = NULL, *h2 = NULL, *h3 = NULL;
    check(pw && value_normalize(pw, "s3cret\n", 7, &h1, &err) == 0 && pwhash_is_hash(h1) &&
              strlen(h1) == 106 && !strstr(h1, "s3cret"),
          "a password is stored as a $6$ hash");
    check(h1 && value_normalize(pw, h1, strlen(h1), &h2, &err) == 0 && !strcmp(h1, h2),
          "a stored hash normalises to itself");
    check(pw && value_normalize(pw, "s3cret", 6, &h3, &err) == 0 && strcmp(h1, h3) &&
              strncmp(h1, h3, 20),
          "each hashing has a fresh salt");
    free(h1);
    free(h2);
    free(h3);
    h1 = NULL;
    check(pw && value_normalize(pw, "$6$abc$short", 12, &h1, &err) < 0 && err.code == EINVAL,
          "a malformed $6$ value is refused");
    free(h1);
    h1 = NULL;
    check(pw && value_normalize(pw, "", 0, &h1, &err) == 0 && h1 && !h1[0],
          "an empty password stays empty");
    free(h1);
    check(pwhash_is_hash("$6$rounds=10000$abcdefgh$"
                         "0123456789012345678901234567890123456789012345678901234567890123456789"
                         "0123456789abcdef") &&
              !pwhash_is_hash("$6$abcdefghijklmnopq$"
                              "0123456789012345678901234567890123456789012345678901234567890123456789"
                              "0123456789abcdef") &&
              !pwhash_is_hash("$5$abc$x") && !pwhash_is_hash("plain"),
          "pwhash_is_hash: rounds, salt length, other schemes");

    layout_free(l);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
