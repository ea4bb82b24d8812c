/* value.c: strict parsing of the values written into attribute files.
 *
 * Every accepted value is normalised to one canonical spelling so that a
 * file reads back stably (rsync and git round trips see no change).
 */
#include "value.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "pwhash.h"

bool value_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CFS_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-') || c > 127)
            return false;
    }
    return true;
}

bool value_res_name_ok(const struct cfs_kind *k, const char *name)
{
    if (k && !strcmp(k->name, "quota") && name[0] == '@')
        return value_name_ok(name + 1);
    return value_name_ok(name);
}

static int parse_ll(const char *s, long long *out)
{
    if (!*s || !(isdigit((unsigned char)*s) || *s == '-'))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int value_parse_size(const char *s, long long *bytes)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    int shift = 0;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    case 'P': shift = 50; end++; break;
    default: return -1;
    }
    if (shift && (!strcmp(end, "B") || !strcmp(end, "iB") || !strcmp(end, "b")))
        end += strlen(end);
    if (*end)
        return -1;
    if (v > ((unsigned long long)LLONG_MAX >> shift))
        return -1;
    *bytes = (long long)(v << shift);
    return 0;
}

void value_format_size(long long bytes, char *buf, size_t len)
{
    static const char units[] = "KMGTP";
    int u = -1;
    while (bytes != 0 && u < 4 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%lld", bytes);
    else
        snprintf(buf, len, "%lld%c", bytes, units[u]);
}

int value_parse_ratio(const char *s, long long *hundredths)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    long long whole = strtoll(s, &end, 10);
    if (errno || whole > LLONG_MAX / 100 - 1)
        return -1;
    long long frac = 0;
    if (*end == '.') {
        end++;
        int digits = 0;
        while (isdigit((unsigned char)*end)) {
            if (digits == 2) {
                if (*end != '0')
                    return -1;  /* more precision than we keep */
            } else {
                frac = frac * 10 + (*end - '0');
                digits++;
            }
            end++;
        }
        if (digits == 0)
            return -1;
        if (digits == 1)
            frac *= 10;
    }
    if (*end)
        return -1;
    *hundredths = whole * 100 + frac;
    return 0;
}

void value_format_ratio(long long h, char *buf, size_t len)
{
    if (h % 100 == 0)
        snprintf(buf, len, "%lld.0", h / 100);
    else if (h % 10 == 0)
        snprintf(buf, len, "%lld.%lld", h / 100, (h % 100) / 10);
    else
        snprintf(buf, len, "%lld.%02lld", h / 100, h % 100);
}

/* True when s has a byte that must never be stored in a one-line value. */
static bool has_control(const char *s, size_t n, bool allow_newline)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' && allow_newline)
            continue;
        if (c == '\t' && allow_newline)
            continue;
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

/* Decode one UTF-8 sequence at s[0..n): its length, or 0 when it is not
 * the shortest encoding of a scalar value (overlong forms, surrogates and
 * values past U+10FFFF are refused, as RFC 3629 says). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len;
    unsigned min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, min = 0x80, *cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, min = 0x800, *cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, *cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

/* Characters that change how the text around them is shown: C1 controls
 * and the bidirectional formatting marks (a name that reads differently
 * from what it is), which libvirt also refuses in a domain's XML. */
static bool invisible_control(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* NULL when s[0..n) is valid UTF-8 without such characters, else why not. */
static const char *text_problem(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (len == 0)
            return "is not valid UTF-8";
        if (invisible_control(cp))
            return "holds a control or bidirectional formatting character";
        i += len;
    }
    return NULL;
}

static bool hostname_ok(const char *s)
{
    size_t label = 0;
    char prev = '.';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label == 0 || prev == '-')
                return false;
            label = 0;
        } else if (isalnum(c) && c < 128) {
            label++;
        } else if (c == '-') {
            if (label == 0)
                return false;
            label++;
        } else {
            return false;
        }
        if (label > 63)
            return false;
        prev = (char)c;
    }
    return prev != '-' && prev != '.';
}

static bool uri_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return false;
    for (const char *p = s; p < colon; p++)
        if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
            return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == '"' || *p == '\'' || *p == '<' ||
            *p == '>' || *p == '\\' || *p == '`')
            return false;
    return colon[1] != '\0';
}

/* depth names separated by single '/' */
static bool ref_path_ok(const char *v, int depth)
{
    char name[CFS_NAME_MAX + 1];
    int n = 0;
    for (const char *p = v;; n++) {
        size_t l = strcspn(p, "/");
        if (l == 0 || l > CFS_NAME_MAX)
            return false;
        snprintf(name, sizeof(name), "%.*s", (int)l, p);
        if (!value_name_ok(name))
            return false;
        if (!p[l])
            return n + 1 == depth;
        p += l + 1;
    }
}

static bool in_values(const struct cfs_attr_def *a, const char *v)
{
    for (size_t i = 0; i < a->nvalues; i++)
        if (!strcmp(a->values[i], v))
            return true;
    return false;
}

static void list_values(const struct cfs_attr_def *a, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < a->nvalues && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", a->values[i]);
}

/* Append text to the malloc'd *buf (NULL: start one). */
static int append(char **buf, const char *text)
{
    size_t have = *buf ? strlen(*buf) : 0;
    char *grown = realloc(*buf, have + strlen(text) + 1);
    if (!grown)
        return -1;
    memcpy(grown + have, text, strlen(text) + 1);
    *buf = grown;
    return 0;
}

/* One network value (netaddr.h) in canonical form.  Lists take blanks,
 * ',' or newlines between items (routes: newlines or ','), and are
 * stored one item a line. */
static int net_value(const struct cfs_attr_def *a, char **v, struct cfs_err *err)
{
    struct cfs_err why;
    char canon[64];
    char *out = NULL;
    int n = 0;
    cfs_err_clear(&why);
    if (!(*v)[0] && (a->optional || a->type == CFS_T_IPLIST || a->type == CFS_T_ROUTES))
        return 0;
    if (in_values(a, *v))
        return 0;
    switch (a->type) {
    case CFS_T_CIDR: {
        struct cfs_cidr c;
        if (netaddr_cidr_parse(*v, &c, &why) < 0)
            return cfs_err_set(err, EINVAL, "%s: %s", a->name, why.msg);
        netaddr_cidr_format(&c, canon);
        break;
    }
    case CFS_T_IPV4: {
        uint32_t ip;
        if (netaddr_ipv4_parse(*v, &ip, &why) < 0)
            return cfs_err_set(err, EINVAL, "%s: %s%s", a->name, why.msg,
                               a->nvalues ? " (or auto)" : "");
        netaddr_ipv4_format(ip, canon);
        break;
    }
    case CFS_T_MAC: {
        unsigned char mac[6];
        if (netaddr_mac_parse(*v, mac, &why) < 0)
            return cfs_err_set(err, EINVAL, "%s: %s%s", a->name, why.msg,
                               a->nvalues ? " (or auto)" : "");
        if (!netaddr_mac_unicast(mac))
            return cfs_err_set(err, EINVAL, "%s: %s is a multicast or zero address; a NIC "
                               "needs a unicast one (first byte even)", a->name, *v);
        netaddr_mac_format(mac, canon);
        break;
    }
    case CFS_T_IPLIST:
    case CFS_T_ROUTES: {
        bool routes = a->type == CFS_T_ROUTES;
        char *save = NULL;
        for (char *item = strtok_r(*v, routes ? ",\n" : ", \t\n", &save); item;
             item = strtok_r(NULL, routes ? ",\n" : ", \t\n", &save)) {
            char line[96];
            if (++n > a->max && a->max) {
                free(out);
                return cfs_err_set(err, EINVAL, "%s: at most %lld %s", a->name, a->max,
                                   routes ? "routes" : "addresses");
            }
            if (routes) {
                char dest[32], via[8], hop[32], extra[2];
                struct cfs_cidr c;
                uint32_t ip;
                if (sscanf(item, " %31s %7s %31s %1s", dest, via, hop, extra) != 3 ||
                    strcmp(via, "via")) {
                    free(out);
                    return cfs_err_set(err, EINVAL, "%s: '%.64s' is not 'DEST/PREFIX via "
                                       "ADDRESS'", a->name, item);
                }
                if (netaddr_cidr_parse(dest, &c, &why) < 0 ||
                    netaddr_ipv4_parse(hop, &ip, &why) < 0) {
                    free(out);
                    return cfs_err_set(err, EINVAL, "%s: %s", a->name, why.msg);
                }
                char cs[CFS_CIDR_LEN], hs[CFS_IPV4_LEN];
                netaddr_cidr_format(&c, cs);
                netaddr_ipv4_format(ip, hs);
                snprintf(line, sizeof(line), "%s%s via %s", n > 1 ? "\n" : "", cs, hs);
            } else {
                uint32_t ip;
                if (netaddr_ipv4_parse(item, &ip, &why) < 0) {
                    free(out);
                    return cfs_err_set(err, EINVAL, "%s: %s", a->name, why.msg);
                }
                netaddr_ipv4_format(ip, canon);
                snprintf(line, sizeof(line), "%s%s", n > 1 ? "\n" : "", canon);
            }
            if (append(&out, line) < 0) {
                free(out);
                return cfs_err_set(err, ENOMEM, "out of memory");
            }
        }
        free(*v);
        *v = out ? out : strdup("");
        return *v ? 0 : cfs_err_set(err, ENOMEM, "out of memory");
    }
    default:
        return 0;
    }
    char *copy = strdup(canon);
    if (!copy)
        return cfs_err_set(err, ENOMEM, "out of memory");
    free(*v);
    *v = copy;
    return 0;
}

/* Characters (UTF-8 sequences) of the valid UTF-8 text s[0..n). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            chars++;
    return chars;
}

/* A tag's key or value names a directory of /tags (value.h). */
static const char *tag_name_problem(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (memchr(s, '/', n))
        return "holds '/' (it names a directory of /tags)";
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return "is . or .. (it names a directory of /tags)";
    if (n > NAME_MAX)
        return "is longer than 255 bytes (it names a directory of /tags)";
    return NULL;
}

static void trim_blanks(const char **s, size_t *n)
{
    while (*n && **s == ' ')
        (*s)++, (*n)--;
    while (*n && (*s)[*n - 1] == ' ')
        (*n)--;
}

/* Tags as written -> their normal form (value.h), or EINVAL and why. */
static int tags_value(const struct cfs_attr_def *a, const char *data, size_t len, char **out,
                      struct cfs_err *err)
{
    const char *keys[VALUE_TAGS_MAX];
    size_t keylen[VALUE_TAGS_MAX];
    size_t ntags = 0, lineno = 0, used = 0;
    char *v = NULL;
    const char *why;
    if (len > VALUE_TAGS_BYTES)
        return cfs_err_set(err, EINVAL, "%s: %zu bytes is more than %d tags can take", a->name,
                           len, VALUE_TAGS_MAX);
    if (memchr(data, '\0', len))
        return cfs_err_set(err, EINVAL, "%s: NUL bytes are not allowed", a->name);
    if (memchr(data, '\t', len) || has_control(data, len, true))
        return cfs_err_set(err, EINVAL, "%s: control characters are not allowed", a->name);
    if ((why = text_problem(data, len)) != NULL)
        return cfs_err_set(err, EINVAL, "%s: the value %s", a->name, why);
    if (!(v = malloc(len + 1)))
        return cfs_err_set(err, ENOMEM, "out of memory");
    for (const char *line = data; line < data + len;) {
        const char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        const char *next = nl ? nl + 1 : data + len;
        lineno++;
        trim_blanks(&line, &n);
        if (n == 0) {
            line = next;
            continue;
        }
        if (utf8_chars(line, n) > VALUE_TAG_CHARS) {
            cfs_err_set(err, EINVAL, "%s: line %zu has %zu characters, at most %d", a->name,
                        lineno, utf8_chars(line, n), VALUE_TAG_CHARS);
            goto fail;
        }
        const char *eq = memchr(line, '=', n);
        if (!eq) {
            cfs_err_set(err, EINVAL, "%s: line %zu '%.*s' is not key=value", a->name, lineno,
                        n > 64 ? 64 : (int)n, line);
            goto fail;
        }
        const char *key = line, *val = eq + 1;
        size_t kn = (size_t)(eq - line), vn = n - kn - 1;
        trim_blanks(&key, &kn);
        trim_blanks(&val, &vn);
        if ((why = tag_name_problem(key, kn)) != NULL) {
            cfs_err_set(err, EINVAL, "%s: line %zu: the key %s", a->name, lineno, why);
            goto fail;
        }
        if ((why = tag_name_problem(val, vn)) != NULL) {
            cfs_err_set(err, EINVAL, "%s: line %zu: the value of %.*s %s", a->name, lineno,
                        kn > 64 ? 64 : (int)kn, key, why);
            goto fail;
        }
        for (size_t i = 0; i < ntags; i++) {
            if (keylen[i] == kn && !memcmp(keys[i], key, kn)) {
                cfs_err_set(err, EINVAL, "%s: key %.*s appears twice (one value per key)",
                            a->name, kn > 64 ? 64 : (int)kn, key);
                goto fail;
            }
        }
        if (ntags == VALUE_TAGS_MAX) {
            cfs_err_set(err, EINVAL, "%s: more than %d tags", a->name, VALUE_TAGS_MAX);
            goto fail;
        }
        keys[ntags] = key;
        keylen[ntags++] = kn;
        if (used)
            v[used++] = '\n';
        memcpy(v + used, key, kn);
        used += kn;
        v[used++] = '=';
        memcpy(v + used, val, vn);
        used += vn;
        line = next;
    }
    v[used] = '\0';
    *out = v;
    return 0;
fail:
    free(v);
    return -1;
}

int value_tags_each(const char *tags, value_tag_cb cb, void *arg)
{
    int rc = 0;
    char *copy = strdup(tags);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;   /* not in normal form: nothing to index */
        *eq = '\0';
        rc = cb(line, eq + 1, arg);
    }
    free(copy);
    return rc;
}

/* A secret (a password) is stored as its SHA-512 crypt hash: *v is
 * replaced by it and the text it held is wiped.  A value that already is
 * such a hash is kept, so normalising is idempotent; one that starts like
 * one ("$6$") but is malformed is refused.  Empty stays empty. */
static int secret_value(const struct cfs_attr_def *a, char **v, struct cfs_err *err)
{
    char hash[PWHASH_MAX];
    int rc = -1;
    if (!(*v)[0] || pwhash_is_hash(*v))
        return 0;
    if (!strncmp(*v, "$6$", 3)) {
        cfs_err_set(err, EINVAL, "%s: starts like a SHA-512 crypt hash ($6$) but is not one "
                    "($6$SALT$ then 86 of [./0-9A-Za-z])", a->name);
    } else if (pwhash_make(*v, hash, sizeof(hash), err) == 0) {
        char *h = strdup(hash);
        if (!h) {
            cfs_err_set(err, ENOMEM, "out of memory");
        } else {
            explicit_bzero(*v, strlen(*v));
            free(*v);
            *v = h;
            rc = 0;
        }
    }
    explicit_bzero(hash, sizeof(hash));
    if (rc < 0)
        explicit_bzero(*v, strlen(*v));
    return rc;
}

int value_normalize(const struct cfs_attr_def *a, const char *data, size_t len,
                    char **out, struct cfs_err *err)
{
    char buf[64];
    char *v = NULL;
    int rc = -1;

    *out = NULL;
    if (a->type == CFS_T_TAGS)
        return tags_value(a, data, len, out, err);
    if (a->type == CFS_T_BLOB) {
        if (a->max && (long long)len > a->max)
            return cfs_err_set(err, EFBIG, "%s: %zu bytes, at most %lld allowed",
                               a->name, len, a->max);
        if (memchr(data, '\0', len))
            return cfs_err_set(err, EINVAL, "%s: NUL bytes are not allowed", a->name);
        v = strndup(data, len);
        if (!v)
            return cfs_err_set(err, ENOMEM, "out of memory");
        *out = v;
        return 0;
    }

    if (len > 0 && data[len - 1] == '\n')
        len--;
    if (len > 4096)
        return cfs_err_set(err, EINVAL, "%s: value too long (%zu bytes)", a->name, len);
    bool lines = a->type == CFS_T_IPLIST || a->type == CFS_T_ROUTES;
    if (memchr(data, '\0', len) || has_control(data, len, lines))
        return cfs_err_set(err, EINVAL, "%s: control characters are not allowed", a->name);
    const char *why = text_problem(data, len);
    if (why)
        return cfs_err_set(err, EINVAL, "%s: the value %s", a->name, why);
    v = strndup(data, len);
    if (!v)
        return cfs_err_set(err, ENOMEM, "out of memory");

    switch (a->type) {
    case CFS_T_ENUM:
    case CFS_T_VERB:
        if (a->link) {
            if (!value_name_ok(v)) {
                cfs_err_set(err, EINVAL, "%s: '%.64s' is not a %s name", a->name, v,
                            a->link->kind_name);
                goto cleanup;
            }
            break;
        }
        if (!in_values(a, v)) {
            char allowed[256];
            list_values(a, allowed, sizeof(allowed));
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not one of: %s", a->name, v, allowed);
            goto cleanup;
        }
        break;
    case CFS_T_INT: {
        long long n;
        if (parse_ll(v, &n) < 0) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not an integer", a->name, v);
            goto cleanup;
        }
        if (n < a->min || n > a->max) {
            cfs_err_set(err, EINVAL, "%s: %lld is out of range %lld..%lld", a->name, n,
                        a->min, a->max);
            goto cleanup;
        }
        snprintf(buf, sizeof(buf), "%lld", n);
        free(v);
        v = strdup(buf);
        break;
    }
    case CFS_T_SIZE: {
        long long n;
        if (value_parse_size(v, &n) < 0) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a size (e.g. 512M, 20G, 1T)",
                        a->name, v);
            goto cleanup;
        }
        if (n < a->min || n > a->max) {
            char lo[32], hi[32];
            value_format_size(a->min, lo, sizeof(lo));
            value_format_size(a->max, hi, sizeof(hi));
            cfs_err_set(err, EINVAL, "%s: %.64s is out of range %s..%s", a->name, v, lo, hi);
            goto cleanup;
        }
        value_format_size(n, buf, sizeof(buf));
        free(v);
        v = strdup(buf);
        break;
    }
    case CFS_T_RATIO: {
        long long h;
        if (len == 0 && a->optional)
            break;  /* empty: the configuration's value (a pool's over-subscription) */
        if (value_parse_ratio(v, &h) < 0) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a decimal ratio (e.g. 1.5)",
                        a->name, v);
            goto cleanup;
        }
        if (h < a->min || h > a->max) {
            char lo[32], hi[32];
            value_format_ratio(a->min, lo, sizeof(lo));
            value_format_ratio(a->max, hi, sizeof(hi));
            cfs_err_set(err, EINVAL, "%s: %.64s is out of range %s..%s", a->name, v, lo, hi);
            goto cleanup;
        }
        value_format_ratio(h, buf, sizeof(buf));
        free(v);
        v = strdup(buf);
        break;
    }
    case CFS_T_BOOL: {
        static const char *yes[] = {"on", "true", "yes", "1", NULL};
        static const char *no[] = {"off", "false", "no", "0", NULL};
        const char *norm = NULL;
        for (int i = 0; yes[i]; i++)
            if (!strcasecmp(v, yes[i]))
                norm = "on";
        for (int i = 0; no[i]; i++)
            if (!strcasecmp(v, no[i]))
                norm = "off";
        /* A bool with values takes those too (ha: never-stop). */
        for (size_t i = 0; i < a->nvalues; i++)
            if (!strcasecmp(v, a->values[i]))
                norm = a->values[i];
        if (!norm && a->nvalues) {
            char more[256];
            list_values(a, more, sizeof(more));
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not on or off, nor one of: %s", a->name, v, more);
            goto cleanup;
        }
        if (!norm) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not on or off", a->name, v);
            goto cleanup;
        }
        free(v);
        v = strdup(norm);
        break;
    }
    case CFS_T_TEXT:
    case CFS_T_SECRET:
        if ((long long)len < a->min || (a->max && (long long)len > a->max)) {
            cfs_err_set(err, EINVAL, "%s: length %zu is out of range %lld..%lld", a->name,
                        len, a->min, a->max);
            goto cleanup;
        }
        if (a->type == CFS_T_SECRET && secret_value(a, &v, err) < 0)
            goto cleanup;
        break;
    case CFS_T_HOSTNAME:
        if (len == 0)
            break;
        if ((long long)len < a->min || (long long)len > a->max || !hostname_ok(v)) {
            cfs_err_set(err, EINVAL,
                        "%s: '%.64s' is not a host name of %lld..%lld letters, digits, '-' and '.'",
                        a->name, v, a->min, a->max);
            goto cleanup;
        }
        break;
    case CFS_T_URI:
        if (len == 0 && a->optional)
            break;
        if (!uri_ok(v) || len > 1024) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a URI (e.g. qemu:///system)",
                        a->name, v);
            goto cleanup;
        }
        break;
    case CFS_T_PATH:
        if (len == 0 && a->optional)
            break;
        if (v[0] != '/' || strstr(v, "/../") || (len >= 3 && !strcmp(v + len - 3, "/.."))) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not an absolute path", a->name, v);
            goto cleanup;
        }
        break;
    case CFS_T_REF:
        if (len == 0 && a->optional)
            break;
        if (a->ref_depth > 1) {
            if (ref_path_ok(v, a->ref_depth))
                break;
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a path of %d names to a %s "
                        "(e.g. %s)", a->name, v, a->ref_depth, a->ref,
                        a->ref_depth == 2 ? "PARENT/NAME" : "A/B/NAME");
            goto cleanup;
        }
        if (!value_name_ok(v)) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a valid %s name", a->name, v,
                        a->ref ? a->ref : "resource");
            goto cleanup;
        }
        break;
    case CFS_T_URL:
        if (len == 0 && a->optional)
            break;
        /* The value is not repeated: its user information or query may be
         * a credential. */
        if (!value_url_ok(v)) {
            cfs_err_set(err, EINVAL, "%s: not an http:// or https:// URL (a host, an optional "
                        "port, a path without blanks or quotes)", a->name);
            goto cleanup;
        }
        break;
    case CFS_T_DECIMAL: {
        double d;
        if (value_parse_decimal(v, &d) < 0) {
            cfs_err_set(err, EINVAL, "%s: '%.64s' is not a decimal number (e.g. 0.5, -3, 1000)",
                        a->name, v);
            goto cleanup;
        }
        break;
    }
    case CFS_T_SELECTOR: {
        struct value_selector sel;
        char *canon = NULL;
        if (len == 0 && a->optional)
            break;
        if (value_selector_parse(v, &sel, &canon, err) < 0) {
            struct cfs_err why = *err;
            cfs_err_set(err, EINVAL, "%s: %s", a->name, why.msg);
            goto cleanup;
        }
        value_selector_free(&sel);
        free(v);
        v = canon;
        break;
    }
    case CFS_T_BLOB:
    case CFS_T_TAGS:
        break;
    case CFS_T_CIDR:
    case CFS_T_IPV4:
    case CFS_T_MAC:
    case CFS_T_IPLIST:
    case CFS_T_ROUTES:
        if (net_value(a, &v, err) < 0)
            goto cleanup;
        break;
    }
    if (!v) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    *out = v;
    v = NULL;
    rc = 0;
cleanup:
    free(v);
    return rc;
}

/* ---- URLs ---- */

static bool url_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

bool value_url_ok(const char *url)
{
    const char *p;
    if (!strncmp(url, "http://", 7))
        p = url + 7;
    else if (!strncmp(url, "https://", 8))
        p = url + 8;
    else
        return false;
    if (strlen(url) > 2048)
        return false;
    for (const char *q = url; *q; q++)
        if (!url_char_ok((unsigned char)*q))
            return false;
    size_t alen = strcspn(p, "/?#");
    const char *at = memchr(p, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    const char *end = p + alen, *port = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close || close == p + 1)
            return false;
        for (const char *q = p + 1; q < close; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                return false;
        if (close + 1 < end && close[1] != ':')
            return false;
        port = close + 1 < end ? close + 1 : NULL;
    } else {
        port = memchr(p, ':', alen);
        const char *hend = port ? port : end;
        if (hend == p || *p == '.' || *p == '-')
            return false;
        for (const char *q = p; q < hend; q++)
            if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-')
                return false;
    }
    if (port) {
        long n = 0;
        if (port + 1 == end || end - port > 6)
            return false;
        for (const char *q = port + 1; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return false;
            n = n * 10 + (*q - '0');
        }
        if (n < 1 || n > 65535)
            return false;
    }
    return true;
}

void value_url_redacted(const char *url, char *buf, size_t len)
{
    const char *scheme_end = strstr(url, "://");
    if (!scheme_end) {
        snprintf(buf, len, "(a URL)");
        return;
    }
    const char *p = scheme_end + 3;
    size_t alen = strcspn(p, "/?#");
    const char *at = memchr(p, '@', alen);
    const char *host = at ? at + 1 : p;
    size_t hlen = alen - (size_t)(host - p);
    size_t plen = strcspn(p + alen, "?#");
    snprintf(buf, len, "%.*s://%.*s%.*s", (int)(scheme_end - url), url, (int)hlen, host,
             (int)plen, p + alen);
}

/* ---- decimals ---- */

int value_parse_decimal(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-')
        p++;
    size_t whole = strspn(p, "0123456789");
    if (whole == 0 || whole > 18)
        return -1;
    p += whole;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        if (frac == 0 || frac > 9)
            return -1;
        p += 1 + frac;
    }
    if (*p)
        return -1;
    *out = strtod(s, NULL);
    return 0;
}

/* ---- series selectors ---- */

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* [a-zA-Z_][a-zA-Z0-9_]* (colons too when colon): its length, or 0. */
static size_t ident_len(const char *p, bool colon)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)p[0]) || p[0] == '_' || (colon && p[0] == ':')) ||
        (unsigned char)p[0] > 127)
        return 0;
    while (p[n] && (unsigned char)p[n] < 128 &&
           (isalnum((unsigned char)p[n]) || p[n] == '_' || (colon && p[n] == ':')))
        n++;
    return n;
}

/* A quoted label value at *pp ("..." with \\, \" and \n escapes): the
 * unescaped text (malloc'd), *pp past the closing quote; NULL when bad. */
static char *quoted(const char **pp)
{
    const char *p = *pp;
    if (*p != '"')
        return NULL;
    p++;
    char *v = malloc(strlen(p) + 1), *o = v;
    if (!v)
        return NULL;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            if (*p == 'n')
                *o++ = '\n';
            else if (*p == '\\' || *p == '"')
                *o++ = *p;
            else
                break;
            p++;
        } else {
            *o++ = *p++;
        }
    }
    if (*p != '"') {
        free(v);
        return NULL;
    }
    *o = '\0';
    *pp = p + 1;
    return v;
}

static void put_quoted(char **o, const char *v)
{
    *(*o)++ = '"';
    for (; *v; v++) {
        if (*v == '\n') {
            *(*o)++ = '\\';
            *(*o)++ = 'n';
            continue;
        }
        if (*v == '\\' || *v == '"')
            *(*o)++ = '\\';
        *(*o)++ = *v;
    }
    *(*o)++ = '"';
}

void value_selector_free(struct value_selector *sel)
{
    for (size_t i = 0; sel && i < sel->n; i++) {
        free(sel->m[i].value);
        if (sel->m[i].compiled)
            regfree(&sel->m[i].re);
    }
    if (sel)
        sel->n = 0;
}

static int one_matcher(const char **pp, struct value_matcher *m, struct cfs_err *err)
{
    static const char *const ops[] = {[VALUE_MATCH_EQ] = "=", [VALUE_MATCH_NE] = "!=",
                                      [VALUE_MATCH_RE] = "=~", [VALUE_MATCH_NRE] = "!~"};
    const char *p = skip_blanks(*pp);
    size_t n = ident_len(p, false);
    if (n == 0 || n >= sizeof(m->label))
        return cfs_err_set(err, EINVAL, "a label name is expected at '%.16s'", p);
    memcpy(m->label, p, n);
    m->label[n] = '\0';
    p = skip_blanks(p + n);
    if (!strncmp(p, "=~", 2))
        m->op = VALUE_MATCH_RE;
    else if (!strncmp(p, "!~", 2))
        m->op = VALUE_MATCH_NRE;
    else if (!strncmp(p, "!=", 2))
        m->op = VALUE_MATCH_NE;
    else if (*p == '=')
        m->op = VALUE_MATCH_EQ;
    else
        return cfs_err_set(err, EINVAL, "label %s: =, !=, =~ or !~ is expected", m->label);
    p = skip_blanks(p + strlen(ops[m->op]));
    m->value = quoted(&p);
    if (!m->value)
        return cfs_err_set(err, EINVAL, "label %s: a quoted value is expected", m->label);
    if (m->op == VALUE_MATCH_RE || m->op == VALUE_MATCH_NRE) {
        size_t len = strlen(m->value) + 5;
        char *anchored = malloc(len);
        if (!anchored)
            return cfs_err_set(err, ENOMEM, "out of memory");
        snprintf(anchored, len, "^(%s)$", m->value);
        int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0)
            return cfs_err_set(err, EINVAL, "label %s: not a valid regular expression",
                               m->label);
        m->compiled = true;
    }
    *pp = p;
    return 0;
}

int value_selector_parse(const char *s, struct value_selector *out, char **canon,
                         struct cfs_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = skip_blanks(s);
    size_t n = ident_len(p, true);
    if (n == 0 || n >= sizeof(out->name))
        return cfs_err_set(err, EINVAL, "a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) is expected");
    memcpy(out->name, p, n);
    p = skip_blanks(p + n);
    if (*p == '{') {
        p = skip_blanks(p + 1);
        while (*p != '}') {
            if (out->n == VALUE_SELECTOR_MAX) {
                value_selector_free(out);
                return cfs_err_set(err, EINVAL, "more than %d label matchers",
                                   VALUE_SELECTOR_MAX);
            }
            if (one_matcher(&p, &out->m[out->n], err) < 0) {
                out->n++;
                value_selector_free(out);
                return -1;
            }
            out->n++;
            p = skip_blanks(p);
            if (*p == ',')
                p = skip_blanks(p + 1);
            else if (*p != '}') {
                value_selector_free(out);
                return cfs_err_set(err, EINVAL, "',' or '}' is expected after a matcher");
            }
        }
        p = skip_blanks(p + 1);
    }
    if (*p) {
        value_selector_free(out);
        return cfs_err_set(err, EINVAL, "unexpected text after the selector");
    }
    if (!canon)
        return 0;
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    char *c = malloc(2 * strlen(s) + 4), *o = c;
    if (!c) {
        value_selector_free(out);
        return cfs_err_set(err, ENOMEM, "out of memory");
    }
    o += sprintf(o, "%s", out->name);
    for (size_t i = 0; i < out->n; i++) {
        o += sprintf(o, "%s%s%s", i ? "," : "{", out->m[i].label, ops[out->m[i].op]);
        put_quoted(&o, out->m[i].value);
    }
    if (out->n)
        *o++ = '}';
    *o = '\0';
    *canon = c;
    return 0;
}

bool value_selector_matches(const struct value_selector *sel, const struct value_selector *series)
{
    if (strcmp(sel->name, series->name))
        return false;
    for (size_t i = 0; i < sel->n; i++) {
        const struct value_matcher *m = &sel->m[i];
        const char *v = "";
        for (size_t j = 0; j < series->n; j++)
            if (!strcmp(series->m[j].label, m->label))
                v = series->m[j].value;
        bool hit;
        switch (m->op) {
        case VALUE_MATCH_EQ: hit = !strcmp(v, m->value); break;
        case VALUE_MATCH_NE: hit = strcmp(v, m->value) != 0; break;
        case VALUE_MATCH_RE: hit = regexec(&m->re, v, 0, NULL, 0) == 0; break;
        case VALUE_MATCH_NRE:
        default: hit = regexec(&m->re, v, 0, NULL, 0) != 0; break;
        }
        if (!hit)
            return false;
    }
    return true;
}
