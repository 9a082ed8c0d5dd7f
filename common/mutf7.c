/*
 * mutf7.c - modified UTF-7 mailbox names to UTF-8 (RFC 3501 5.1.3).
 *
 * The store keeps every name as IMAP4rev1 clients send it; a session
 * that speaks UTF-8 names (RFC 6855, RFC 9051) sees them decoded here.
 * A name that is not valid modified UTF-7 (a rev1 client may have sent
 * any 7-bit bytes) is refused, so the caller can fall back to sending
 * it as it is stored.
 */
#include "common/mutf7.h"
#include "common/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct u8w {
	char   *out;
	size_t  o, len;
};

static bool
put_cp(struct u8w *w, uint32_t c)
{
	unsigned char tmp[4];
	size_t n;

	if (c < 0x80)
		tmp[0] = (unsigned char)c, n = 1;
	else if (c < 0x800) {
		tmp[0] = (unsigned char)(0xc0 | c >> 6);
		tmp[1] = (unsigned char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		tmp[0] = (unsigned char)(0xe0 | c >> 12);
		tmp[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		tmp[2] = (unsigned char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		tmp[0] = (unsigned char)(0xf0 | c >> 18);
		tmp[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		tmp[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		tmp[3] = (unsigned char)(0x80 | (c & 0x3f));
		n = 4;
	}
	if (w->o + n >= w->len)
		return false;
	memcpy(w->out + w->o, tmp, n);
	w->o += n;
	return true;
}

/* RFC 3501 5.1.3's modified base64: ',' in place of '/'. */
static int
b64_val(char c)
{
	if (c == ',')
		return 63;
	if (c == '/')
		return -1;
	return base64_value((unsigned char)c);
}

/* One "&...-" run starting after the '&'; *pp ends after the '-'. */
static bool
decode_run(const char **pp, struct u8w *w)
{
	const char *p = *pp;
	uint32_t bits = 0, hi = 0;
	int nbits = 0, v;
	bool any = false;

	for (; (v = b64_val(*p)) >= 0; p++) {
		bits = (bits << 6) | (uint32_t)v;
		if ((nbits += 6) < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		any = true;
		if (hi != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return false;
			u = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
			continue;
		} else if (u >= 0xdc00 && u <= 0xdfff)
			return false;
		/* Printable ASCII must be written as itself (5.1.3). */
		if (u >= 0x20 && u <= 0x7e)
			return false;
		if (!put_cp(w, u))
			return false;
	}
	/* Leftover bits must be zero padding of fewer than 6 bits. */
	if (*p != '-' || !any || hi != 0 || nbits >= 6 || bits != 0)
		return false;
	*pp = p + 1;
	return true;
}

int
mutf7_to_utf8(const char *in, char *out, size_t outlen)
{
	struct u8w w = { out, 0, outlen };
	const char *p = in;

	if (outlen == 0)
		return -1;
	while (*p) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch > 0x7e)
			return -1;
		if (ch != '&') {
			if (!put_cp(&w, ch))
				return -1;
			p++;
			continue;
		}
		if (p[1] == '-') {
			if (!put_cp(&w, '&'))
				return -1;
			p += 2;
			continue;
		}
		p++;
		if (!decode_run(&p, &w))
			return -1;
	}
	out[w.o] = '\0';
	return 0;
}

int32_t
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0], min;
	int n;

	if (c < 0x80)
		n = 0, min = 0;
	else if ((c & 0xe0) == 0xc0)
		n = 1, c &= 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 2, c &= 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		n = 3, c &= 0x07, min = 0x10000;
	else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*p = s + n + 1;
	return (int32_t)c;
}

int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p)
		if (utf8_next(&p) < 0)
			return 0;
	return 1;
}
