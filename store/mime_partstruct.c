/*
 * mime_partstruct.c - one part's BODYSTRUCTURE, cut from the message's
 * stored one (RFC 5524's BODYPARTSTRUCTURE of a URL's section), so that
 * URLFETCH never parses the message again.
 *
 * The stored string is a complete IMAP value (mime_struct.c): lists,
 * quoted strings, literals "{n}\r\n...", atoms and numbers.  A part's
 * structure is the list at its place in the tree: the n-th child of a
 * multipart, or the body inside a message/rfc822 part (the 9th field),
 * whose own parts are numbered as the message's (RFC 3501 6.4.5).
 */
#include "store/mime.h"
#include "common/arena.h"

#include <string.h>
#include <strings.h>

struct cur {
	const char *p, *end;
};

static void
skip_sp(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* Skips one value; false if the string is malformed. */
static bool
skip_value(struct cur *c, int depth)
{
	skip_sp(c);
	if (c->p >= c->end || depth > 2 * MIME_MAX_DEPTH + 16)
		return false;
	if (*c->p == '(') {
		c->p++;
		for (;;) {
			skip_sp(c);
			if (c->p >= c->end)
				return false;
			if (*c->p == ')') {
				c->p++;
				return true;
			}
			if (!skip_value(c, depth + 1))
				return false;
		}
	}
	if (*c->p == '"') {
		for (c->p++; c->p < c->end && *c->p != '"'; c->p++)
			if (*c->p == '\\')
				c->p++;
		if (c->p >= c->end)
			return false;
		c->p++;
		return true;
	}
	if (*c->p == '{') {
		uint64_t n = 0;
		for (c->p++; c->p < c->end && *c->p >= '0' && *c->p <= '9';
		    c->p++)
			n = n * 10 + (uint64_t)(*c->p - '0');
		if (c->end - c->p < 3 || memcmp(c->p, "}\r\n", 3) != 0 ||
		    n > (uint64_t)(c->end - c->p - 3))
			return false;
		c->p += 3 + n;
		return true;
	}
	while (c->p < c->end && *c->p != ' ' && *c->p != '(' && *c->p != ')')
		c->p++;
	return true;
}

/* The quoted string at c (not advanced) equals s, case-insensitively. */
static bool
str_is(const struct cur *c, const char *s)
{
	size_t n = strlen(s);

	return c->end - c->p >= (ptrdiff_t)n + 2 && c->p[0] == '"' &&
	    strncasecmp(c->p + 1, s, n) == 0 && c->p[n + 1] == '"';
}

/* At a body "(": is it a multipart (its first element a list)? */
static bool
is_multipart(const struct cur *c)
{
	return c->end - c->p > 1 && c->p[1] == '(';
}

/* At a single body "(": moves c to field i (0 = type). */
static bool
field(struct cur *c, int i)
{
	c->p++;
	while (i-- > 0)
		if (!skip_value(c, 1))
			return false;
	skip_sp(c);
	return c->p < c->end;
}

static int resolve(struct cur *c, const uint32_t *path, size_t n);

/* The parts of a message whose body is at c. */
static int
in_message(struct cur *c, const uint32_t *path, size_t n)
{
	if (n == 0 || is_multipart(c))
		return resolve(c, path, n);
	/* A single-part message: its body is part 1 (RFC 3501 6.4.5). */
	return path[0] == 1 ? resolve(c, path + 1, n - 1) : MIME_NOPART;
}

/* c at a body "(": moves it to the body that path names under it. */
static int
resolve(struct cur *c, const uint32_t *path, size_t n)
{
	struct cur f;

	if (n == 0)
		return 0;
	if (path[0] == 0)
		return MIME_NOPART;
	if (is_multipart(c)) {
		c->p++;
		for (uint32_t i = 1; i < path[0]; i++) {
			if (!skip_value(c, 1))
				return -1;
			skip_sp(c);
			if (c->p >= c->end || *c->p != '(')
				return MIME_NOPART;
		}
		skip_sp(c);
		return c->p < c->end && *c->p == '(' ?
		    resolve(c, path + 1, n - 1) : MIME_NOPART;
	}
	f = *c;
	if (!field(&f, 0))
		return -1;
	if (!str_is(&f, "message") || !skip_value(&f, 1))
		return MIME_NOPART;
	skip_sp(&f);
	if (!str_is(&f, "rfc822") && !str_is(&f, "global"))
		return MIME_NOPART;
	f = *c;
	if (!field(&f, 8) || *f.p != '(')
		return MIME_NOPART;
	*c = f;
	return in_message(c, path, n);
}

int
mime_part_structure(const char *bs, size_t len, const uint32_t *path,
    size_t npath, const char **out, size_t *outlen)
{
	struct cur c = { bs, bs + len }, e;
	int rc;

	skip_sp(&c);
	if (c.p >= c.end || *c.p != '(')
		return -1;
	if ((rc = in_message(&c, path, npath)) != 0)
		return rc;
	e = c;
	if (!skip_value(&e, 0))
		return -1;
	*out = c.p;
	*outlen = (size_t)(e.p - c.p);
	return 0;
}

/* The encoding a decoded body of data[0..len) is in (RFC 2045 2.7-2.9). */
static const char *
identity_enc(const char *data, size_t len)
{
	bool eight = false;

	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\0')
			return "binary";
		if ((unsigned char)data[i] >= 0x80)
			eight = true;
	}
	return eight ? "8bit" : "7bit";
}

int
mime_part_structure_decoded(struct arena *a, const char *bs, size_t len,
    const char *data, size_t dlen, const char **out, size_t *outlen)
{
	struct cur c = { bs, bs + len }, f;
	const char *enc, *rest;
	bool text;
	char *s;

	*out = bs;
	*outlen = len;
	if (len == 0 || *bs != '(' || is_multipart(&c))
		return 0;
	f = c;
	if (!field(&f, 0))
		return -1;
	if (str_is(&f, "message"))
		return 0;	/* a container: nothing was decoded */
	text = str_is(&f, "text");
	f = c;
	if (!field(&f, 5))
		return -1;
	enc = f.p;
	/* Fields 5 (encoding), 6 (size) and, for text, 7 (lines) change:
	 * the data is the decoded body.  Its lines are given as 0, as
	 * Dovecot gives them: they counted lines of the encoded body. */
	if (!skip_value(&f, 1) || !skip_value(&f, 1) ||
	    (text && !skip_value(&f, 1)))
		return -1;
	rest = f.p;
	s = arena_printf(a, "%.*s\"%s\" %zu%s%.*s", (int)(enc - bs), bs,
	    identity_enc(data, dlen), dlen, text ? " 0" : "",
	    (int)(bs + len - rest), rest);
	if (s == NULL)
		return -1;
	*out = s;
	*outlen = strlen(s);
	return 0;
}
