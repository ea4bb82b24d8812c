/* value.c: strict parsing of the values written into attribute files.
 *
 * Every accepted value is normalised to one canonical spelling so that a
 * file reads back stably (rsync and git round trips see no change).
 */
#include "value.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

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

int value_normalize(const struct cfs_attr_def *a, const char *data, size_t len,
                    char **out, struct cfs_err *err)
{
    char buf[64];
    char *v = NULL;
    int rc = -1;

    *out = NULL;
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
    case CFS_T_BLOB:
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
