/*
 * base64.c - see base64.h.
 */
#include "common/base64.h"

#include <stdint.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
base64_encode(const void *p, size_t n, struct buf *out)
{
	const unsigned char *s = p;
	char q[4];
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		q[0] = alphabet[v >> 18];
		q[1] = alphabet[(v >> 12) & 63];
		q[2] = alphabet[(v >> 6) & 63];
		q[3] = alphabet[v & 63];
		if (buf_add(out, q, 4) == -1)
			return -1;
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		q[0] = alphabet[v >> 18];
		q[1] = alphabet[(v >> 12) & 63];
		q[2] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		q[3] = '=';
		if (buf_add(out, q, 4) == -1)
			return -1;
	}
	return 0;
}

int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Emits the complete bytes of a quantum of k (2..4) sextets. */
static int
flush(uint32_t acc, int k, struct buf *out)
{
	unsigned char b[3];
	int nb;

	if (k < 2)
		return 0;
	acc <<= 6 * (4 - k);
	b[0] = (unsigned char)(acc >> 16);
	b[1] = (unsigned char)(acc >> 8);
	b[2] = (unsigned char)acc;
	nb = k - 1;
	return buf_add(out, b, (size_t)nb);
}

static int
decode_strict(const char *s, size_t n, struct buf *out)
{
	size_t i, pad = 0;

	if (n % 4 != 0)
		return -1;
	if (n > 0 && s[n - 1] == '=')
		pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		uint32_t acc = 0;
		int k, nval = (i + 4 == n) ? 4 - (int)pad : 4;

		for (k = 0; k < nval; k++) {
			int v = base64_value((unsigned char)s[i + (size_t)k]);
			if (v < 0)
				return -1;
			acc = acc << 6 | (uint32_t)v;
		}
		if (flush(acc, nval, out) == -1)
			return -1;
	}
	return 0;
}

static int
decode_loose(const char *s, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	size_t i;
	int k = 0;

	for (i = 0; i < n; i++) {
		int v;

		if (s[i] == '=') {
			if (flush(acc, k, out) == -1)
				return -1;
			acc = 0;
			k = 0;
			continue;
		}
		if ((v = base64_value((unsigned char)s[i])) < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		if (++k == 4) {
			if (flush(acc, 4, out) == -1)
				return -1;
			acc = 0;
			k = 0;
		}
	}
	return flush(acc, k, out);
}

int
base64_decode(const char *s, size_t n, struct buf *out, bool strict)
{
	return strict ? decode_strict(s, n, out) : decode_loose(s, n, out);
}
