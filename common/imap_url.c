/*
 * imap_url.c - the IMAP URLs of RFC 5092 that name a message or a part
 * of one (see imap_url.h).  Every field is bounded; a URL is at most
 * an astring of the command, already limited by max_line.
 */
#include "common/imap_url.h"
#include "common/mutf7.h"
#include "common/util.h"

#include <string.h>
#include <strings.h>

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (NUL-terminated); -1 on a bad escape,
 * an encoded NUL or no room. */
static int
pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
			if (c == '\0')
				return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* A decimal number of 1..UINT32_MAX (nz: no 0) from s[0..n). */
static bool
number(const char *s, size_t n, bool nz, uint32_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > UINT32_MAX || (nz && x == 0))
		return false;
	*v = (uint32_t)x;
	return true;
}

/* s starts with ";key=" (case-insensitively): its value's length. */
static bool
param(const char *s, const char *key, const char **val)
{
	size_t k = strlen(key);

	if (s[0] != ';' || strncasecmp(s + 1, key, k) != 0 || s[1 + k] != '=')
		return false;
	*val = s + 2 + k;
	return true;
}

static int
fail(const char **err, const char *why)
{
	*err = why;
	return -1;
}

/* "imap://" iuserinfo "@" host [":" port]: only the user is kept. */
static int
authority(const char **sp, struct imap_url *u, const char **err)
{
	const char *s = *sp + 7, *slash = strchr(s, '/'), *at;

	if (slash == NULL)
		return fail(err, "URL names no mailbox");
	at = memchr(s, '@', (size_t)(slash - s));
	if (at != NULL) {
		const char *semi = memchr(s, ';', (size_t)(at - s));
		const char *end = semi ? semi : at;
		/* ";AUTH=" says how to log in; this session already is. */
		if (pct_decode(s, (size_t)(end - s), u->user,
		    sizeof(u->user)) != 0 || u->user[0] == '\0')
			return fail(err, "Invalid user in URL");
	}
	if ((at ? at + 1 : s) == slash)
		return fail(err, "URL names no server");
	*sp = slash;
	return 0;
}

/* "/" enc-mailbox [";UIDVALIDITY=" n] */
static int
mailbox(const char **sp, struct imap_url *u, const char **err)
{
	const char *s = *sp + 1, *end = s, *v;
	char utf8[sizeof(u->mailbox)];

	/* Hierarchy separators stay in the name; ";" is always escaped in
	 * it, so "/;" or ";" ends it. */
	while (*end && *end != ';')
		end++;
	if (*end == ';' && end > s && end[-1] == '/')
		end--;
	if (end == s || pct_decode(s, (size_t)(end - s), utf8,
	    sizeof(utf8)) != 0)
		return fail(err, "Invalid mailbox in URL");
	if (imap_utf8_to_mutf7(utf8, u->mailbox, sizeof(u->mailbox)) != 0)
		return fail(err, "Invalid mailbox name in URL");
	if (param(end, "UIDVALIDITY", &v)) {
		const char *e = v;
		while (*e >= '0' && *e <= '9')
			e++;
		if (!number(v, (size_t)(e - v), true, &u->uidvalidity))
			return fail(err, "Invalid UIDVALIDITY in URL");
		end = e;
	}
	*sp = end;
	return 0;
}

/* "/;UID=" n ["/;SECTION=" s] ["/;PARTIAL=" o ["." l]] to the end. */
static int
message(const char *s, struct imap_url *u, const char **err)
{
	const char *v, *e;

	if (*s != '/' || !param(s + 1, "UID", &v))
		return fail(err, "URL names no message (;UID=)");
	for (e = v; *e >= '0' && *e <= '9'; e++)
		;
	if (!number(v, (size_t)(e - v), true, &u->uid))
		return fail(err, "Invalid UID in URL");
	s = e;
	if (*s == '/' && param(s + 1, "SECTION", &v)) {
		for (e = v; *e && *e != '/'; e++)
			;
		if (e == v || pct_decode(v, (size_t)(e - v), u->section,
		    sizeof(u->section)) != 0)
			return fail(err, "Invalid SECTION in URL");
		s = e;
	}
	if (*s == '/' && param(s + 1, "PARTIAL", &v)) {
		for (e = v; *e >= '0' && *e <= '9'; e++)
			;
		if (!number(v, (size_t)(e - v), false, &u->offset))
			return fail(err, "Invalid PARTIAL in URL");
		u->partial = true;
		if (*e == '.') {
			v = e + 1;
			for (e = v; *e >= '0' && *e <= '9'; e++)
				;
			if (!number(v, (size_t)(e - v), true, &u->length))
				return fail(err, "Invalid PARTIAL length in URL");
			u->has_length = true;
		}
		s = e;
	}
	if (*s != '\0')
		return fail(err, "Unsupported URL (only a message or its part)");
	return 0;
}

int
imap_url_parse(const char *s, struct imap_url *u, const char **err)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "imap://", 7) == 0) {
		if (authority(&s, u, err) != 0)
			return -1;
	} else if (*s != '/')
		return fail(err, "Not an IMAP URL");
	if (mailbox(&s, u, err) != 0)
		return -1;
	return message(s, u, err);
}

/* ---- modified UTF-7 (RFC 3501 5.1.3) ---- */

struct b64w {
	char    *out;
	size_t   o, len;
	uint32_t bits;
	int      nbits;
};

static bool
b64_put(struct b64w *w, char c)
{
	if (w->o + 1 >= w->len)
		return false;
	w->out[w->o++] = c;
	return true;
}

/* 16 bits into the modified base64 run. */
/* RFC 3501 5.1.3: base64 with "," for "/", no padding. */
static const char mb64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static bool
b64_u16(struct b64w *w, uint32_t v)
{
	w->bits = (w->bits << 16) | v;
	w->nbits += 16;
	while (w->nbits >= 6) {
		w->nbits -= 6;
		if (!b64_put(w, mb64[(w->bits >> w->nbits) & 0x3f]))
			return false;
	}
	w->bits &= (1u << w->nbits) - 1;
	return true;
}

static bool
b64_end(struct b64w *w)
{
	if (w->nbits > 0 &&
	    !b64_put(w, mb64[(w->bits << (6 - w->nbits)) & 0x3f]))
		return false;
	w->bits = 0;
	w->nbits = 0;
	return b64_put(w, '-');
}

int
imap_utf8_to_mutf7(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	struct b64w w = { out, 0, outlen, 0, 0 };
	bool run = false;

	if (outlen == 0)
		return -1;
	while (*p) {
		if (*p >= 0x20 && *p <= 0x7e) {
			if (run && !b64_end(&w))
				return -1;
			run = false;
			if (!b64_put(&w, (char)*p) ||
			    (*p == '&' && !b64_put(&w, '-')))
				return -1;
			p++;
			continue;
		}
		int32_t c = utf8_next(&p);
		if (c < 0)
			return -1;
		if (!run && !b64_put(&w, '&'))
			return -1;
		run = true;
		if (c >= 0x10000) {
			c -= 0x10000;
			if (!b64_u16(&w, 0xd800 | ((uint32_t)c >> 10)) ||
			    !b64_u16(&w, 0xdc00 | ((uint32_t)c & 0x3ff)))
				return -1;
		} else if (!b64_u16(&w, (uint32_t)c))
			return -1;
	}
	if (run && !b64_end(&w))
		return -1;
	out[w.o] = '\0';
	return 0;
}
