/*
 * mime_preview.c - the PREVIEW text of a message (RFC 8970), computed
 * once when the body is stored (store_msg.c) or, for bodies stored
 * before schema 11, the first time a client asks (store_preview.c).
 *
 * Offers mime_preview() (mime.h).  The text comes from the first text
 * part a reader would see: the first text/plain leaf that is not an
 * attachment, else the first such text/html leaf (reduced to its text:
 * tags, comments, <head>, <style> and <script> dropped, entities
 * decoded).  It is transfer-decoded, converted from its charset to
 * UTF-8, its white space collapsed, and cut to MIME_PREVIEW_MAX
 * characters.  Only the first MIME_PREVIEW_SCAN bytes of the part are
 * read: a preview never costs more than that, however large the part.
 */
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

/* Encoded bytes of the chosen part that are looked at.  HTML spends
 * much of its length on markup and style sheets, so this is generous. */
#define MIME_PREVIEW_SCAN (256 * 1024)

enum pv_kind { PV_NONE, PV_PLAIN, PV_HTML };

/* The kind of a text leaf from its MIME header; attachments are none. */
static enum pv_kind
part_kind(struct arena *a, const char *msg, const struct mime_part *p)
{
	const char *h = msg + p->hdr_off, *type = NULL, *dsp = NULL;
	size_t hl = (size_t)p->hdr_len;
	struct mparam *params;
	struct hfield f;

	if (hdr_find(h, hl, "Content-Disposition", &f) &&
	    parse_params(a, f.val, f.vlen, &dsp, &params) == 0 &&
	    dsp != NULL && strcasecmp(dsp, "attachment") == 0)
		return PV_NONE;
	if (!hdr_find(h, hl, "Content-Type", &f) ||
	    parse_params(a, f.val, f.vlen, &type, &params) != 0 ||
	    type == NULL || strcasecmp(type, "text/plain") == 0)
		return PV_PLAIN;
	if (strcasecmp(type, "text/html") == 0)
		return PV_HTML;
	return PV_NONE;
}

/* The part to preview: the first plain leaf, else the first HTML one. */
static enum pv_kind
choose_part(struct arena *a, const char *msg, size_t len, const void *parts,
    size_t plen, struct mime_part *out)
{
	struct mime_parts_iter it;
	struct mime_part p;
	enum pv_kind k, best = PV_NONE;
	bool first = true;

	if (mime_parts_first(&it, parts, plen) < 0)
		return PV_NONE;
	while (mime_parts_next(&it, &p) == 1) {
		/* record 0 is the message; its text is record 1's */
		if (first || p.cls != MIME_CLASS_TEXT) {
			first = false;
			continue;
		}
		if (p.hdr_off > len || p.hdr_len > len - p.hdr_off ||
		    p.body_off > len || p.body_len > len - p.body_off)
			return PV_NONE;
		k = part_kind(a, msg, &p);
		if (k == PV_PLAIN) {
			*out = p;
			return k;
		}
		if (k == PV_HTML && best == PV_NONE) {
			*out = p;
			best = k;
		}
	}
	return best;
}

/* ---- text building: white space collapsed, counted in characters ---- */

struct pv_out {
	struct buf *b;
	size_t      chars;
	bool        space;	/* a space is owed before the next character */
	bool        full;
};

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

/* Length of the valid UTF-8 sequence at s, 0 if there is none. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t need, i;
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
	    (c == 0xf4 && s[1] > 0x8f) || (c == 0xed && s[1] > 0x9f))
		return 0;	/* overlong, beyond U+10FFFF, surrogates */
	return need;
}

/* Adds one character (a valid sequence, or U+FFFD for a bad byte). */
static void
pv_char(struct pv_out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->space && o->chars > 0) {
		if (o->chars + 1 >= MIME_PREVIEW_MAX) {
			o->full = true;
			return;
		}
		buf_addc(o->b, ' ');
		o->chars++;
	}
	o->space = false;
	buf_add(o->b, s, n);
	if (++o->chars >= MIME_PREVIEW_MAX)
		o->full = true;
}

/* Text s[0..n) in UTF-8: controls and white space become one space. */
static void
pv_text(struct pv_out *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, l;

	while (i < n && !o->full) {
		if (is_space(u[i]) || u[i] < 0x20 || u[i] == 0x7f) {
			o->space = true;
			i++;
			continue;
		}
		if ((l = utf8_len(u + i, n - i)) == 0) {
			pv_char(o, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		/* U+00A0, the no-break space HTML writes as &nbsp; */
		if (l == 2 && u[i] == 0xc2 && u[i + 1] == 0xa0)
			o->space = true;
		else
			pv_char(o, s + i, l);
		i += l;
	}
}

/* ---- HTML reduced to its text ---- */

static void
put_codepoint(struct pv_out *o, unsigned long cp)
{
	char u[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		pv_text(o, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		pv_text(o, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		pv_text(o, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		pv_text(o, u, 4);
	}
}

static const struct {
	const char   *name;
	unsigned long cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "nbsp", 0xa0 }, { "copy", 0xa9 },
	{ "reg", 0xae }, { "hellip", 0x2026 }, { "mdash", 0x2014 },
	{ "ndash", 0x2013 }, { "rsquo", 0x2019 }, { "lsquo", 0x2018 },
	{ "rdquo", 0x201d }, { "ldquo", 0x201c }, { "euro", 0x20ac },
};

/* An entity at s[0] == '&': its length (0 if it is not one we know,
 * then the '&' is text). */
static size_t
html_entity(struct pv_out *o, const char *s, size_t n)
{
	size_t i = 1, e;
	unsigned long cp = 0;

	while (i < n && i < 12 && s[i] != ';')
		i++;
	if (i >= n || s[i] != ';' || i == 1)
		return 0;
	if (s[1] == '#') {
		bool hex = i > 2 && (s[2] == 'x' || s[2] == 'X');
		for (e = hex ? 3 : 2; e < i; e++) {
			int d = s[e] >= '0' && s[e] <= '9' ? s[e] - '0' :
			    hex && s[e] >= 'a' && s[e] <= 'f' ? s[e] - 'a' + 10 :
			    hex && s[e] >= 'A' && s[e] <= 'F' ? s[e] - 'A' + 10 :
			    -1;
			if (d < 0 || e == (hex ? 3u : 2u) + 7)
				return 0;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		}
		if (e == (hex ? 3u : 2u))
			return 0;
		put_codepoint(o, cp);
		return i + 1;
	}
	for (e = 0; e < sizeof(entities) / sizeof(entities[0]); e++) {
		if (strlen(entities[e].name) == i - 1 &&
		    strncmp(entities[e].name, s + 1, i - 1) == 0) {
			put_codepoint(o, entities[e].cp);
			return i + 1;
		}
	}
	return 0;
}

/* Where the element whose content is not text (<head>, <style>,
 * <script>, <title>) ends: just past its closing tag, or n. */
static size_t
skip_element(const char *s, size_t n, size_t i, const char *name)
{
	size_t l = strlen(name);

	for (; i + l + 2 < n; i++)
		if (s[i] == '<' && s[i + 1] == '/' &&
		    strncasecmp(s + i + 2, name, l) == 0) {
			const char *gt = memchr(s + i, '>', n - i);
			return gt ? (size_t)(gt - s) + 1 : n;
		}
	return n;
}

static bool
tag_is(const char *s, size_t n, size_t i, const char *name)
{
	size_t l = strlen(name);

	return i + 1 + l <= n && strncasecmp(s + i + 1, name, l) == 0 &&
	    (i + 1 + l == n || s[i + 1 + l] == '>' ||
	    is_space((unsigned char)s[i + 1 + l]) || s[i + 1 + l] == '/');
}

/* A tag, comment or declaration at s[i] == '<': the index past it.  A
 * tag separates words (<br>, <p>, <td>...), so it owes a space. */
static size_t
html_tag(struct pv_out *o, const char *s, size_t n, size_t i)
{
	static const char *const skipped[] = {
		"head", "style", "script", "title"
	};
	const char *end;
	size_t k;

	if (i + 3 < n && strncmp(s + i, "<!--", 4) == 0) {
		for (k = i + 4; k + 2 < n; k++)
			if (strncmp(s + k, "-->", 3) == 0)
				return k + 3;
		return n;
	}
	for (k = 0; k < sizeof(skipped) / sizeof(skipped[0]); k++)
		if (tag_is(s, n, i, skipped[k]))
			return skip_element(s, n, i + 1, skipped[k]);
	o->space = true;
	end = memchr(s + i, '>', n - i);
	return end ? (size_t)(end - s) + 1 : n;
}

/* What may follow '<' in markup; "a < b" is text. */
static bool
tag_start(char c)
{
	char l = (char)(c | 0x20);

	return c == '!' || c == '/' || c == '?' || (l >= 'a' && l <= 'z');
}

static void
pv_html(struct pv_out *o, const char *s, size_t n)
{
	size_t i = 0, run, used;

	while (i < n && !o->full) {
		if (s[i] == '<' && i + 1 < n && tag_start(s[i + 1])) {
			i = html_tag(o, s, n, i);
			continue;
		}
		if (s[i] == '&' && (used = html_entity(o, s + i, n - i)) > 0) {
			i += used;
			continue;
		}
		for (run = i + 1; run < n && s[run] != '<' && s[run] != '&';
		    run++)
			;
		pv_text(o, s + i, run - i);
		i = run;
	}
}

int
mime_preview(struct arena *a, const char *msg, size_t len, const void *parts,
    size_t plen, struct buf *out)
{
	struct pv_out o = { .b = out };
	struct mime_part p;
	enum pv_kind kind;
	const char *dec;
	size_t dl, take;
	struct buf utf8;
	int st;

	if ((kind = choose_part(a, msg, len, parts, plen, &p)) == PV_NONE)
		return 0;
	take = (size_t)(p.body_len < MIME_PREVIEW_SCAN ? p.body_len :
	    MIME_PREVIEW_SCAN);
	st = mime_decode(a, p.enc, msg + p.body_off, take, &dec, &dl);
	if (st == MIME_DEC_UNKNOWN_CTE)
		return 0;	/* nothing readable to show */
	if (st < 0)
		return -1;
	mbuf_init(&utf8);
	if (charset_to_utf8(&utf8, p.charset, dec, dl) < 0) {
		buf_free(&utf8);
		return -1;
	}
	if (kind == PV_HTML)
		pv_html(&o, buf_ptr(&utf8), buf_len(&utf8));
	else
		pv_text(&o, buf_ptr(&utf8), buf_len(&utf8));
	buf_free(&utf8);
	return 0;
}
