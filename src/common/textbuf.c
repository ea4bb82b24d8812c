/* textbuf.c: growable text buffer (see textbuf.h). */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool reserve(struct textbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->s, cap);
    if (!grown) {
        b->oom = true;
        return false;
    }
    b->s = grown;
    b->cap = cap;
    return true;
}

void tb_put(struct textbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void tb_puts(struct textbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

void tb_printf(struct textbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        tb_put(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void tb_json(struct textbuf *b, const char *s)
{
    if (!s) {
        tb_puts(b, "null");
        return;
    }
    tb_put(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        tb_put(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            tb_put(b, esc, 2);
            p++;
        } else if (*p == '\n') {
            tb_puts(b, "\\n");
            p++;
        } else if (*p == '\t') {
            tb_puts(b, "\\t");
            p++;
        } else if (*p == '\r') {
            tb_puts(b, "\\r");
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            tb_printf(b, "\\u%04x", *p);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n) {
                tb_put(b, (const char *)p, n);
                p += n;
            } else {
                tb_puts(b, "\\ufffd");
                p++;
            }
        }
    }
    tb_put(b, "\"", 1);
}

void tb_time(struct textbuf *b, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char buf[32];
    gmtime_r(&sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    tb_printf(b, "%s.%03dZ", buf, (int)((ns / 1000000LL) % 1000));
}

char *tb_steal(struct textbuf *b, size_t *len)
{
    char *s = NULL;
    if (!b->oom && !b->s)
        s = strdup("");
    else if (!b->oom)
        s = b->s;
    else
        free(b->s);
    if (len)
        *len = s ? b->len : 0;
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return s;
}

void tb_free(struct textbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
