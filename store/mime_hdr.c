/*
 * mime_hdr.c - reading header blocks and writing IMAP strings, for the
 * MIME parser and its generators (store/mime*.c only).
 *
 * Header fields are found by scanning the block line by line; folded
 * continuation lines belong to the field above them.  Structured values
 * (Content-Type, Content-Disposition) are read with the RFC 2045 token
 * rules, comments skipped, quoted strings unescaped, and RFC 2231
 * continuations joined the way Dovecot 2.3 does, so that BODYSTRUCTURE
 * parameters look like what clients already see from it.
 */
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/imap_write.h"
#include "common/util.h"
#include "store/mime_int.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at i (index after its LF, or n). */
static size_t
line_end(const char *h, size_t n, size_t i)
{
	const char *lf = memchr(h + i, '\n', n - i);

	return lf == NULL ? n : (size_t)(lf - h) + 1;
}

static bool
line_is_blank(const char *h, size_t n, size_t i)
{
	if (i < n && h[i] == '\n')
		return true;
	return i + 1 < n && h[i] == '\r' && h[i + 1] == '\n';
}

bool
hdr_next(const char *h, size_t hlen, size_t *pos, struct hfield *f)
{
	size_t i = *pos;

	while (i < hlen && !line_is_blank(h, hlen, i)) {
		size_t start = i, end = line_end(h, hlen, i), colon;
		const char *c;

		/* continuation lines make up the rest of the field */
		while (end < hlen && is_wsp(h[end]))
			end = line_end(h, hlen, end);
		i = end;
		c = memchr(h + start, ':', end - start);
		if (c == NULL || memchr(h + start, '\n', (size_t)(c - h) - start))
			continue;	/* not a field: skip the line */
		colon = (size_t)(c - h);
		f->name = h + start;
		f->nlen = colon - start;
		while (f->nlen > 0 && is_wsp(f->name[f->nlen - 1]))
			f->nlen--;
		if (f->nlen == 0)
			continue;
		f->val = h + colon + 1;
		f->vlen = end - colon - 1;
		f->raw = h + start;
		f->rawlen = end - start;
		*pos = i;
		return true;
	}
	*pos = i;
	return false;
}

bool
name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

bool
hdr_find(const char *h, size_t hlen, const char *name, struct hfield *f)
{
	size_t pos = 0;

	while (hdr_next(h, hlen, &pos, f))
		if (name_is(f->name, f->nlen, name))
			return true;
	return false;
}

bool
hdr_find_last(const char *h, size_t hlen, const char *name, struct hfield *f)
{
	struct hfield cur;
	size_t pos = 0;
	bool found = false;

	while (hdr_next(h, hlen, &pos, &cur))
		if (name_is(cur.name, cur.nlen, name)) {
			*f = cur;
			found = true;
		}
	return found;
}

char *
hdr_unfold(struct arena *a, const char *v, size_t n, bool humans,
    size_t *outlen)
{
	char *out = arena_alloc(a, n + 1);
	size_t i, o = 0;
	bool lastsp = true;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = v[i];

		if (c == '\r' || c == '\n') {
			if (!humans)
				continue;
			c = ' ';
		}
		if (humans && c == '\t')
			c = ' ';
		if (c == '\0')
			c = (char)0x80;	/* keeps the value a C string */
		if (humans && c == ' ' && lastsp)
			continue;
		if (!humans && is_wsp(c) && o == 0)
			continue;
		out[o++] = c;
		lastsp = c == ' ';
	}
	while (o > 0 && is_wsp(out[o - 1]))
		o--;
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

size_t
skip_cfws(const char *s, size_t n, size_t i)
{
	int depth = 0;

	while (i < n) {
		char c = s[i];

		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(')
			depth = 1;
		else if (!is_wsp(c) && c != '\r' && c != '\n')
			break;
		i++;
	}
	return i;
}

/* RFC 2045 tspecials, plus white space and controls, end a token. */
static bool
is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL || (unsigned char)c <= ' ';
}

/* A quoted string at s[i] == '"'; appends the unescaped text to b. */
static size_t
read_quoted(const char *s, size_t n, size_t i, struct buf *b)
{
	for (i++; i < n && s[i] != '"'; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		if (s[i] == '\r' || s[i] == '\n')
			continue;	/* folding inside the quotes */
		buf_addc(b, s[i]);
	}
	return i < n ? i + 1 : n;
}

/* The leading value: everything up to ';' that isn't a comment or
 * white space ("text / plain" -> "text/plain"). */
static size_t
read_value(const char *s, size_t n, size_t i, struct buf *b)
{
	while (i < n && s[i] != ';') {
		i = skip_cfws(s, n, i);
		if (i >= n || s[i] == ';')
			break;
		if (s[i] == '"')
			i = read_quoted(s, n, i, b);
		else
			buf_addc(b, s[i++]);
	}
	return i;
}

struct rawparam {
	const char *name;	/* base name, without any "*N" / "*" */
	const char *value;
	int         idx;	/* -1: not a continuation */
	bool        ext;	/* a trailing '*' */
	bool        used;
};

/* Splits "name*3*" into base "name", idx 3, ext true. */
static void
split_2231(struct arena *a, const char *name, struct rawparam *p)
{
	size_t n = strlen(name), k;
	const char *star;

	p->idx = -1;
	p->ext = false;
	p->name = name;
	star = memchr(name, '*', n);
	if (star == NULL)
		return;
	k = (size_t)(star - name);
	if (k + 1 == n) {
		p->ext = true;
		p->name = arena_strndup(a, name, k);
		return;
	}
	if (name[k + 1] < '0' || name[k + 1] > '9')
		return;
	{
		size_t j = k + 1;
		int idx = 0;

		while (j < n && name[j] >= '0' && name[j] <= '9' && idx < 10000)
			idx = idx * 10 + (name[j++] - '0');
		if (j < n && !(name[j] == '*' && j + 1 == n))
			return;
		p->ext = j < n;
		p->idx = idx;
		p->name = arena_strndup(a, name, k);
	}
}

static struct mparam *
mparam_new(struct arena *a, const char *name, const char *value)
{
	struct mparam *p = arena_alloc(a, sizeof(*p));

	if (p == NULL || name == NULL || value == NULL)
		return NULL;
	p->name = name;
	p->value = value;
	return p;
}

/* Joins continuation segments of one base name in index order. */
static struct mparam *
join_2231(struct arena *a, struct rawparam *rp, size_t nrp, size_t first)
{
	struct buf v;
	struct mparam *p;
	bool ext = rp[first].ext;
	int want = 0;
	size_t j;

	mbuf_init(&v);
	for (;;) {
		bool found = false;

		for (j = first; j < nrp; j++) {
			if (rp[j].used || rp[j].idx != want ||
			    strcasecmp(rp[j].name, rp[first].name) != 0)
				continue;
			if (want == 0)
				ext = rp[j].ext;
			buf_adds(&v, rp[j].value);
			rp[j].used = true;
			found = true;
			break;
		}
		if (!found)
			break;
		want++;
	}
	p = mparam_new(a, arena_printf(a, "%s%s", rp[first].name,
	    ext ? "*" : ""), arena_strndup(a, buf_ptr(&v), buf_len(&v)));
	buf_free(&v);
	return p;
}

/* Reads "; name=value" pairs into rp[]; returns how many. */
static size_t
read_params(struct arena *a, const char *s, size_t n, size_t i,
    struct rawparam *rp, size_t max)
{
	size_t nrp = 0;
	struct buf b;

	mbuf_init(&b);
	while (i < n && nrp < max) {
		size_t ns;

		i = skip_cfws(s, n, i);
		if (i < n && s[i] == ';') {
			i++;
			continue;
		}
		ns = i;
		while (i < n && !is_tspecial(s[i]))
			i++;
		if (i == ns) {
			while (i < n && s[i] != ';')	/* junk: skip it */
				i++;
			continue;
		}
		{
			const char *name = arena_strndup(a, s + ns, i - ns);

			i = skip_cfws(s, n, i);
			if (i >= n || s[i] != '=')
				continue;
			i = skip_cfws(s, n, i + 1);
			buf_reset(&b);
			if (i < n && s[i] == '"')
				i = read_quoted(s, n, i, &b);
			else
				while (i < n && s[i] != ';' && !is_wsp(s[i]) &&
				    s[i] != '\r' && s[i] != '\n' && s[i] != '(')
					buf_addc(&b, s[i++]);
			if (name == NULL)
				break;
			split_2231(a, name, &rp[nrp]);
			rp[nrp].value = arena_strndup(a, buf_ptr(&b), buf_len(&b));
			rp[nrp].used = false;
			if (rp[nrp].value == NULL || rp[nrp].name == NULL)
				break;
			nrp++;
		}
	}
	buf_free(&b);
	return nrp;
}

#define MAX_PARAMS 64

int
parse_params(struct arena *a, const char *v, size_t n, const char **value,
    struct mparam **params)
{
	struct rawparam rp[MAX_PARAMS];
	struct mparam **tail = params;
	struct buf b;
	size_t i, nrp, j;

	*params = NULL;
	mbuf_init(&b);
	i = read_value(v, n, 0, &b);
	*value = buf_len(&b) > 0 ?
	    arena_strndup(a, buf_ptr(&b), buf_len(&b)) : NULL;
	buf_free(&b);
	nrp = read_params(a, v, n, i, rp, MAX_PARAMS);
	for (j = 0; j < nrp; j++) {
		struct mparam *p;

		if (rp[j].used)
			continue;
		if (rp[j].idx >= 0)
			p = join_2231(a, rp, nrp, j);
		else {
			p = mparam_new(a, rp[j].ext ? arena_printf(a, "%s*",
			    rp[j].name) : rp[j].name, rp[j].value);
			rp[j].used = true;
		}
		if (p == NULL)
			return -1;
		*tail = p;
		tail = &p->next;
	}
	return 0;
}

/* ---- IMAP strings ---- */

void
mw_string(struct buf *b, const char *s, size_t n)
{
	imapw_string(b, s, n);
}

void
mw_nstring(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_adds(b, "NIL");
	else
		mw_string(b, s, strlen(s));
}
