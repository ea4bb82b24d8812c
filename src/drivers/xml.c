/* xml.c: the escaping text buffer (see xml.h). */
#include "xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more bytes plus the terminating NUL; 0 on success.
 * After a failure the buffer stays marked failed and takes nothing more,
 * so a half-built document can never be handed out. */
static int xbuf_reserve(struct xbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > (size_t)-1 - b->len - 1)
        goto fail;
    size_t need = b->len + n + 1;
    if (b->data && need <= b->cap)
        return 0;
    size_t cap = b->data && b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > (size_t)-1 / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (!grown)
        goto fail;
    b->data = grown;
    b->cap = cap;
    return 0;

fail:
    b->failed = 1;
    return -1;
}

static void xbuf_append(struct xbuf *b, const char *s, size_t n)
{
    if (xbuf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void xbuf_raw(struct xbuf *b, const char *markup)
{
    if (markup)
        xbuf_append(b, markup, strlen(markup));
}

void xbuf_rawf(struct xbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (xbuf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void xbuf_text(struct xbuf *b, const char *text)
{
    if (!text)
        return;
    /* Copy runs of plain bytes at once; replace or drop the rest.  Tab and
     * newline become character references so they also survive inside
     * attribute values, where a parser would fold them into spaces. */
    const char *run = text;
    for (const char *p = text;; p++) {
        unsigned char ch = (unsigned char)*p;
        const char *rep = NULL;
        switch (ch) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\t': rep = "&#9;"; break;
        case '\n': rep = "&#10;"; break;
        default:
            if (ch >= 0x20 && ch != 0x7f)
                continue;
            /* NUL ends the text; other control characters are not allowed
             * in XML 1.0 at all and are dropped. */
            rep = "";
            break;
        }
        xbuf_append(b, run, (size_t)(p - run));
        xbuf_raw(b, rep);
        if (ch == '\0')
            break;
        run = p + 1;
    }
}

void xbuf_elem(struct xbuf *b, const char *name, const char *text)
{
    xbuf_raw(b, "<");
    xbuf_raw(b, name);
    xbuf_raw(b, ">");
    xbuf_text(b, text);
    xbuf_raw(b, "</");
    xbuf_raw(b, name);
    xbuf_raw(b, ">");
}

char *xbuf_steal(struct xbuf *b)
{
    char *out = NULL;
    /* An empty but healthy buffer still yields a string the caller owns. */
    if (!b->data && xbuf_reserve(b, 0) == 0)
        b->data[0] = '\0';
    if (!b->failed) {
        out = b->data;
        b->data = NULL;
    }
    xbuf_free(b);
    return out;
}

void xbuf_free(struct xbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
