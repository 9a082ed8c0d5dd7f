/*
 * buf.h - a growable byte buffer with a hard ceiling.
 *
 * Every buffer that holds peer input or output has a maximum; appending
 * beyond it fails (returns -1) instead of growing, so no peer can make a
 * process allocate without bound.  max == 0 means "no ceiling" and is
 * only for data the process itself produces in bounded amounts.
 */
#ifndef MK_BUF_H
#define MK_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char   *data;
	size_t  len;	/* bytes in use, starting at data + off */
	size_t  off;	/* consumed prefix, reclaimed lazily */
	size_t  cap;
	size_t  max;
};

void   buf_init(struct buf *b, size_t max);
void   buf_free(struct buf *b);
void   buf_reset(struct buf *b);
/* Make room for n more bytes; -1 if that would exceed max. */
int    buf_reserve(struct buf *b, size_t n);
int    buf_add(struct buf *b, const void *p, size_t n);
int    buf_adds(struct buf *b, const char *s);
int    buf_addc(struct buf *b, char c);
/* v in decimal: what FETCH writes per message, without printf's cost. */
int    buf_addu(struct buf *b, uint64_t v);
/* v in decimal at p (at most 20 bytes); returns the end.  For writing
 * into room made with buf_reserve (then buf_commit). */
char  *buf_putu(char *p, uint64_t v);
int    buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int    buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Pointer to the unconsumed bytes, and their count. */
static inline char *buf_ptr(const struct buf *b) { return b->data + b->off; }
static inline size_t buf_len(const struct buf *b) { return b->len; }
/* Drop n bytes from the front. */
void   buf_consume(struct buf *b, size_t n);
/* Space at the tail for a read(2); call buf_commit after. */
char  *buf_tail(struct buf *b, size_t want, size_t *avail);
void   buf_commit(struct buf *b, size_t n);
/* NUL-terminates (not counted in len) and returns the data. */
char  *buf_cstr(struct buf *b);

#endif
