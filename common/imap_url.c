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

/* n digits at *sp (advanced) into *v; false if not all digits. */
static bool
digits(const char **sp, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		char c = (*sp)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*sp += n;
	*v = x;
	return true;
}

static bool
lit(const char **sp, char c)
{
	if (**sp != c && !(c >= 'A' && c <= 'Z' && **sp == c + 32))
		return false;
	(*sp)++;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time ("2026-12-03T10:00:00Z", "...+02:00", fractions
 * allowed and dropped) at *sp, up to ';'; 0 or -1. */
static int
date_time(const char *s, const char *end, int64_t *t)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;

	if (!digits(&s, 4, &y) || !lit(&s, '-') || !digits(&s, 2, &mo) ||
	    !lit(&s, '-') || !digits(&s, 2, &d) || !lit(&s, 'T') ||
	    !digits(&s, 2, &h) || !lit(&s, ':') || !digits(&s, 2, &mi) ||
	    !lit(&s, ':') || !digits(&s, 2, &sec))
		return -1;
	if (*s == '.') {
		const char *f = ++s;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
		if (s == f)
			return -1;
	}
	if (lit(&s, 'Z'))
		;
	else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!digits(&s, 2, &oh) || !lit(&s, ':') || !digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	if (s != end || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	*t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	return 0;
}

/* RFC 4467's access identifier, s[0..n). */
static int
access_id(const char *s, size_t n, struct imap_url *u, const char **err)
{
	size_t k = 0;

	if (n == 9 && strncasecmp(s, "anonymous", 9) == 0)
		u->access = URL_ACCESS_ANONYMOUS;
	else if (n == 8 && strncasecmp(s, "authuser", 8) == 0)
		u->access = URL_ACCESS_AUTHUSER;
	else if (n > 5 && strncasecmp(s, "user+", 5) == 0)
		u->access = URL_ACCESS_USER, k = 5;
	else if (n > 7 && strncasecmp(s, "submit+", 7) == 0)
		u->access = URL_ACCESS_SUBMIT, k = 7;
	else
		return fail(err, "Invalid URLAUTH access identifier");
	if (k > 0 && (pct_decode(s + k, n - k, u->access_user,
	    sizeof(u->access_user)) != 0 || u->access_user[0] == '\0'))
		return fail(err, "Invalid user in URLAUTH access identifier");
	return 0;
}

/* ":" mechanism ":" token, at s, to the end. */
static int
verifier(const char *s, struct imap_url *u, const char **err)
{
	const char *colon = strchr(s + 1, ':');
	size_t n;

	if (colon == NULL || colon == s + 1 ||
	    (size_t)(colon - s - 1) >= sizeof(u->mech))
		return fail(err, "Invalid URLAUTH mechanism");
	for (const char *p = s + 1; p < colon; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return fail(err, "Invalid URLAUTH mechanism");
	memcpy(u->mech, s + 1, (size_t)(colon - s - 1));
	n = strlen(colon + 1);
	if (n < 32 || n > IMAP_URL_TOKEN_MAX)
		return fail(err, "Invalid URLAUTH token");
	for (size_t i = 0; i < n; i++)
		if (hexval(colon[1 + i]) < 0)
			return fail(err, "Invalid URLAUTH token");
	memcpy(u->token, colon + 1, n + 1);
	return 0;
}

/* [";EXPIRE=" date-time] ";URLAUTH=" access [":" mech ":" token], the
 * end of the URL (RFC 4467 9). */
static int
urlauth(const char *s, struct imap_url *u, const char **err)
{
	const char *v, *e;

	if (param(s, "EXPIRE", &v)) {
		e = strchr(v, ';');
		if (e == NULL || date_time(v, e, &u->expire) != 0)
			return fail(err, "Invalid EXPIRE in URL");
		u->has_expire = true;
		s = e;
	}
	if (!param(s, "URLAUTH", &v))
		return fail(err, "Unsupported URL (only a message or its part)");
	u->urlauth = true;
	e = strchr(v, ':');
	if (e == NULL)
		e = v + strlen(v);
	if (access_id(v, (size_t)(e - v), u, err) != 0)
		return -1;
	u->rump_len = (size_t)(e - u->url);
	return *e == '\0' ? 0 : verifier(e, u, err);
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
		for (e = v; *e && *e != '/' && *e != ';'; e++)
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
	return *s == '\0' ? 0 : urlauth(s, u, err);
}

int
imap_url_parse(const char *s, struct imap_url *u, const char **err)
{
	memset(u, 0, sizeof(*u));
	u->url = s;
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
