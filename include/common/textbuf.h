/* textbuf.h: a growable text buffer for files computed on open (/events
 * lines, /audit, /metrics).  Allocation failure is sticky: every append
 * after it is dropped and tb_steal() returns NULL. */
#ifndef CFS_TEXTBUF_H
#define CFS_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct textbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

void tb_put(struct textbuf *b, const char *s, size_t n);
void tb_puts(struct textbuf *b, const char *s);
void tb_printf(struct textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string literal (quotes included), or null when s is NULL.
 * Control characters are escaped; invalid UTF-8 becomes U+FFFD. */
void tb_json(struct textbuf *b, const char *s);
/* ns since the epoch as ISO 8601 UTC with milliseconds: 2026-12-01T12:00:00.123Z */
void tb_time(struct textbuf *b, int64_t ns);
/* Hand the text over (NUL-terminated, malloc'd); the buffer is left empty. */
char *tb_steal(struct textbuf *b, size_t *len);
void tb_free(struct textbuf *b);

#endif
