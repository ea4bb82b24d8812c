/* xml.h: a growing text buffer that escapes every value it is given.
 * Domain XML is only ever built with it: names and values supplied by users
 * never reach libvirt unescaped. */
#ifndef CFS_XML_H
#define CFS_XML_H

#include <stddef.h>

struct xbuf {
    char *data;
    size_t len, cap;
    int failed;     /* allocation failed; data is incomplete */
};

/* Append raw markup (a literal written by the programmer). */
void xbuf_raw(struct xbuf *b, const char *markup);
/* Append printf-formatted raw markup; use only with numeric arguments. */
void xbuf_rawf(struct xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append text escaped for element content and attribute values
 * (& < > " ' escaped; control characters other than tab/newline dropped). */
void xbuf_text(struct xbuf *b, const char *text);
/* <name>escaped text</name> */
void xbuf_elem(struct xbuf *b, const char *name, const char *text);
/* Hand the string over (caller frees); NULL when anything failed. */
char *xbuf_steal(struct xbuf *b);
void xbuf_free(struct xbuf *b);

#endif
