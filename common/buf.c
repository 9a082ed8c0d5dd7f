/*
 * buf.c - see buf.h.
 */
#include "common/buf.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->off = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = b->off = 0;
}

static void
compact(struct buf *b)
{
	if (b->off == 0)
		return;
	if (b->len > 0)
		memmove(b->data, b->data + b->off, b->len);
	b->off = 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (b->max && (n > b->max || b->len > b->max - n))
		return -1;
	if (b->off + b->len + n + 1 <= b->cap)
		return 0;
	compact(b);
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (b->max && cap > b->max + 1)
		cap = b->max + 1;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

/* Two digits per division: FETCH writes two or three numbers for each
 * message of a mailbox. */
char *
buf_putu(char *p, uint64_t v)
{
	static const char pairs[] =
	    "000102030405060708091011121314151617181920212223242526272829"
	    "303132333435363738394041424344454647484950515253545556575859"
	    "606162636465666768697071727374757677787980818283848586878889"
	    "90919293949596979899";
	char d[20];
	size_t i = sizeof(d);

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		i -= 2;
		memcpy(d + i, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(d + i, pairs + 2 * v, 2);
	} else
		d[--i] = (char)('0' + v);
	memcpy(p, d + i, sizeof(d) - i);
	return p + (sizeof(d) - i);
}

int
buf_addu(struct buf *b, uint64_t v)
{
	if (buf_reserve(b, 20) == -1)
		return -1;
	buf_commit(b, (size_t)(buf_putu(buf_ptr(b) + b->len, v) -
	    (buf_ptr(b) + b->len)));
	return 0;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	char small[256];
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);
	if (buf_reserve(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->data + b->off + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = b->off = 0;
		return;
	}
	b->off += n;
	b->len -= n;
	/* Reclaim once the dead prefix dominates, to keep memmove rare. */
	if (b->off > 4096 && b->off > b->len)
		compact(b);
}

char *
buf_tail(struct buf *b, size_t want, size_t *avail)
{
	size_t room;

	if (b->max && b->len >= b->max) {
		*avail = 0;
		return NULL;
	}
	if (b->max && want > b->max - b->len)
		want = b->max - b->len;
	if (buf_reserve(b, want) == -1) {
		*avail = 0;
		return NULL;
	}
	room = b->cap - b->off - b->len - 1;
	if (b->max && room > b->max - b->len)
		room = b->max - b->len;
	*avail = room;
	return b->data + b->off + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

char *
buf_cstr(struct buf *b)
{
	if (b->data == NULL || b->off + b->len + 1 > b->cap) {
		size_t max = b->max;
		b->max = 0;
		buf_reserve(b, 1);
		b->max = max;
	}
	b->data[b->off + b->len] = '\0';
	return b->data + b->off;
}
