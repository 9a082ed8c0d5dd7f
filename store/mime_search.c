/*
 * mime_search.c - the SEARCH keys that look at a message's text (FROM,
 * TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT), for the mailbox process's
 * search executor, and the texts of the full-text index (store_fts.c).
 * The flag, size, date and set keys are the executor's own business:
 * they never need the message bytes.
 *
 * Header values are compared after RFC 2047 decoding (every field of
 * the name counts, duplicates included).  BODY looks at every text
 * leaf and message/ leaf (delivery-status...), nested messages included, after transfer decoding and
 * conversion from the declared charset to UTF-8; TEXT adds the headers
 * of the message and of every encapsulated message.  Both sides are
 * case-folded (mime_decode.c) and compared as substrings, like
 * Dovecot's default search without full-text indexes.
 *
 * Both users walk the same "units": each folded text a key compares
 * with (one header field's decoded value, a text part, a whole header
 * block).  The matcher asks whether one unit contains the needle; the
 * indexer joins a column's units with a separator no indexed needle
 * holds.  One walk for both is what makes an index answer equal to a
 * scan's.
 */
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

/* Called with each folded unit; true stops the walk. */
typedef bool (*unit_fn)(void *arg, const char *s, size_t n);

struct walk {
	const char *msg;
	size_t      len;
	struct buf  tmp, fold;
	struct arena a;
	unit_fn     fn;
	void       *arg;
	size_t      limit;	/* the indexer's: no part longer is decoded */
	bool        over;	/* ...and one was */
};

static void
walk_init(struct walk *w, const char *msg, size_t len, unit_fn fn, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->msg = msg;
	w->len = len;
	w->fn = fn;
	w->arg = arg;
	mbuf_init(&w->tmp);
	mbuf_init(&w->fold);
	arena_init(&w->a, 0);
}

static void
walk_free(struct walk *w)
{
	arena_free(&w->a);
	buf_free(&w->tmp);
	buf_free(&w->fold);
}

static bool
inside(uint64_t off, uint64_t len, size_t total)
{
	return off <= total && len <= total - off;
}

/* Folds s and hands it on; false (go on) if folding failed. */
static bool
visit_utf8(struct walk *w, const char *s, size_t n)
{
	buf_reset(&w->fold);
	if (utf8_fold(&w->fold, s, n) < 0)
		return false;
	return w->fn(w->arg, buf_ptr(&w->fold), buf_len(&w->fold));
}

static bool
visit_value(struct walk *w, const char *v, size_t n)
{
	size_t dl;
	char *d;

	arena_reset(&w->a);
	/* white space compares as one space, as folding may have put a
	 * line end and a TAB where the sender typed a space */
	if ((d = mime_decode_words(&w->a, v, n, &dl)) == NULL ||
	    (d = hdr_unfold(&w->a, d, dl, true, &dl)) == NULL)
		return false;
	return visit_utf8(w, d, dl);
}

static bool
is_address_field(const char *name)
{
	static const char *const f[] = { "From", "To", "Cc", "Bcc", "Sender",
	    "Reply-To" };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcasecmp(name, f[i]) == 0)
			return true;
	return false;
}

/* Every field called name: its decoded value, and for address fields
 * also the addresses written plainly ("name <local@host>"). */
static bool
visit_header(struct walk *w, const char *h, size_t hlen, const char *name)
{
	struct hfield f;
	size_t pos = 0;

	while (hdr_next(h, hlen, &pos, &f)) {
		if (!name_is(f.name, f.nlen, name))
			continue;
		if (visit_value(w, f.val, f.vlen))
			return true;
		if (is_address_field(name)) {
			struct buf plain;
			bool stop;
			mbuf_init(&plain);
			mime_addr_plain(&plain, &w->a, f.val, f.vlen);
			stop = visit_value(w, buf_ptr(&plain), buf_len(&plain));
			buf_free(&plain);
			if (stop)
				return true;
		}
	}
	return false;
}

static bool
visit_text_part(struct walk *w, const struct mime_part *p)
{
	const char *src = w->msg + p->body_off, *dec;
	size_t dl;
	int st;

	/* Decoding never makes a part longer than it is sent (charsets
	 * aside, checked after): a part longer than the index takes is
	 * not decoded into memory at APPEND only to be dropped. */
	if (w->limit > 0 && p->body_len > w->limit) {
		w->over = true;
		return true;
	}
	arena_reset(&w->a);
	st = mime_decode(&w->a, p->enc, src, (size_t)p->body_len, &dec, &dl);
	if (st == MIME_DEC_UNKNOWN_CTE) {
		dec = src;
		dl = (size_t)p->body_len;
	} else if (st < 0)
		return false;
	buf_reset(&w->tmp);
	if (charset_to_utf8(&w->tmp, p->charset, dec, dl) < 0)
		return false;
	return visit_utf8(w, buf_ptr(&w->tmp), buf_len(&w->tmp));
}

/* The header blocks (headers) and text parts (body) of every record:
 * TEXT is both, BODY the second.  1 stopped, 0 done, -1 bad table. */
static int
visit_all(struct walk *w, const void *parts, size_t plen, bool headers,
    bool body)
{
	struct mime_parts_iter it;
	struct mime_part p;
	bool first = true;
	int rc;

	if (mime_parts_first(&it, parts, plen) < 0)
		return -1;
	while ((rc = mime_parts_next(&it, &p)) == 1) {
		if (!inside(p.body_off, p.body_len, w->len) ||
		    !inside(p.hdr_off, p.hdr_len, w->len) ||
		    !inside(p.msg_hdr_off, p.msg_hdr_len, w->len))
			return -1;
		if (headers && first &&
		    visit_value(w, w->msg + p.hdr_off, (size_t)p.hdr_len))
			return 1;
		if (headers && (p.flags & REC_MSG) && visit_value(w,
		    w->msg + p.msg_hdr_off, (size_t)p.msg_hdr_len))
			return 1;
		/* the root's text is also record 1's, visited there */
		if (body && !first && (p.cls == MIME_CLASS_TEXT ||
		    (p.flags & MIME_PF_TEXTLIKE)) && visit_text_part(w, &p))
			return 1;
		first = false;
	}
	return rc < 0 ? -1 : 0;
}

/* The root's header block; false on a corrupt table. */
static bool
root_header(const struct walk *w, const void *parts, size_t plen,
    const char **h, size_t *hlen)
{
	struct mime_part root;

	if (mime_parts_get(parts, plen, 0, &root) < 0 ||
	    !inside(root.hdr_off, root.hdr_len, w->len))
		return false;
	*h = w->msg + root.hdr_off;
	*hlen = (size_t)root.hdr_len;
	return true;
}

static const char *
header_of(enum search_key_type t)
{
	switch (t) {
	case SK_FROM:
		return "From";
	case SK_TO:
		return "To";
	case SK_CC:
		return "Cc";
	case SK_BCC:
		return "Bcc";
	case SK_SUBJECT:
		return "Subject";
	default:
		return NULL;
	}
}

/* ---- matching ---- */

struct needle {
	const char *s;
	size_t      n;
	bool        found;
};

static bool
contains(void *arg, const char *s, size_t n)
{
	struct needle *nd = arg;

	nd->found = mem_contains(s, n, nd->s, nd->n);
	return nd->found;
}

/* Any field called name, for HEADER with an empty string. */
static bool
has_field(const char *h, size_t hlen, const char *name)
{
	struct hfield f;
	size_t pos = 0;

	while (hdr_next(h, hlen, &pos, &f))
		if (name_is(f.name, f.nlen, name))
			return true;
	return false;
}

static int
run(struct walk *w, const void *parts, size_t plen,
    const struct search_key *k, const struct needle *nd)
{
	const char *name = header_of(k->type), *h;
	size_t hlen;

	if (k->type == SK_BODY)
		return visit_all(w, parts, plen, false, true);
	if (k->type == SK_TEXT)
		return visit_all(w, parts, plen, true, true);
	if (k->type == SK_HEADER)
		name = k->field;
	if (name == NULL || !root_header(w, parts, plen, &h, &hlen))
		return -1;
	if (nd->n == 0)
		return has_field(h, hlen, name) ? 1 : 0;
	return visit_header(w, h, hlen, name) ? 1 : 0;
}

void
mime_search_needle(struct buf *nb, const struct search_key *k)
{
	bool collapse = k->type != SK_BODY && k->type != SK_TEXT;
	const char *s = k->str ? k->str : "";
	struct buf tmp;
	size_t i;

	/* for header keys white space runs are one SP, as in the values */
	mbuf_init(&tmp);
	for (i = 0; s[i] != '\0'; i++) {
		bool sp = s[i] == ' ' || s[i] == '\t';

		if (collapse && sp && buf_len(&tmp) > 0 &&
		    buf_ptr(&tmp)[buf_len(&tmp) - 1] == ' ')
			continue;
		buf_addc(&tmp, collapse && sp ? ' ' : s[i]);
	}
	utf8_fold(nb, buf_ptr(&tmp), buf_len(&tmp));
	buf_free(&tmp);
}

int
mime_search_match(const char *msg, size_t len, const void *parts,
    size_t plen, const struct search_key *k)
{
	struct needle nd = { NULL, 0, false };
	struct walk w;
	struct buf nb;
	int rc;

	if (k->str == NULL || (k->type == SK_HEADER && k->field == NULL))
		return -1;
	mbuf_init(&nb);
	mime_search_needle(&nb, k);
	nd.s = buf_ptr(&nb);
	nd.n = buf_len(&nb);
	walk_init(&w, msg, len, contains, &nd);
	rc = run(&w, parts, plen, k, &nd);
	walk_free(&w);
	buf_free(&nb);
	return rc;
}

/* ---- the full-text index's texts ---- */

struct collect {
	struct buf *col;
	size_t      total, max;
	bool        too_big;
};

/* U+FFFD: stands for every byte that is not valid UTF-8, and parts the
 * units (mime_fts_needle() refuses a needle holding it). */
static const char REPL[] = "\xef\xbf\xbd";

/* Length of the valid (shortest-form, non-surrogate) UTF-8 sequence at
 * s, 0 if the byte there starts none. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return c == 0 ? 0 : 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends s as valid UTF-8: what SQLite's tokenizer reads as we do.
 * A valid sequence of s stays as it is, so any valid needle found in s
 * is still found (a valid sequence never starts inside another). */
static int
add_valid(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		size_t len;

		for (k = i; k < n && (len = utf8_seq(u + k, n - k)) > 0; k += len)
			;
		if (buf_add(b, s + i, k - i) < 0)
			return -1;
		if (k < n && buf_add(b, REPL, 3) < 0)
			return -1;
		i = k < n ? k + 1 : n;
	}
	return 0;
}

static bool
collect(void *arg, const char *s, size_t n)
{
	struct collect *c = arg;
	size_t before = buf_len(c->col);

	if (c->too_big || (before > 0 && buf_add(c->col, REPL, 3) < 0) ||
	    add_valid(c->col, s, n) < 0) {
		c->too_big = true;
		return true;
	}
	c->total += buf_len(c->col) - before;
	if (c->total > c->max)
		c->too_big = true;
	return c->too_big;
}

/* Mirrors root_header() and visit_all(): what they read, nothing else
 * (tests/unit/store/test_store_fts.c compares the two ways). */
int
mime_fts_spans(const void *parts, size_t plen, uint64_t msglen, size_t max,
    int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg)
{
	struct mime_parts_iter it;
	struct mime_part p;
	bool first = true;
	int rc;

	if (msglen > SIZE_MAX || mime_parts_first(&it, parts, plen) < 0)
		return -1;
	while ((rc = mime_parts_next(&it, &p)) == 1) {
		if (!inside(p.body_off, p.body_len, (size_t)msglen) ||
		    !inside(p.hdr_off, p.hdr_len, (size_t)msglen) ||
		    !inside(p.msg_hdr_off, p.msg_hdr_len, (size_t)msglen))
			return -1;
		if (first && fn(arg, p.hdr_off, p.hdr_len) < 0)
			return -1;
		if ((p.flags & REC_MSG) &&
		    fn(arg, p.msg_hdr_off, p.msg_hdr_len) < 0)
			return -1;
		if (!first && (p.cls == MIME_CLASS_TEXT ||
		    (p.flags & MIME_PF_TEXTLIKE))) {
			if (max > 0 && p.body_len > max)
				return 1;
			if (fn(arg, p.body_off, p.body_len) < 0)
				return -1;
		}
		first = false;
	}
	return rc < 0 ? -1 : 0;
}

int
mime_fts_doc(const char *msg, size_t len, const void *parts, size_t plen,
    size_t max, struct buf cols[MIME_FTS_NCOLS])
{
	static const char *const fields[] = {
		[MIME_FTS_SUBJECT] = "Subject", [MIME_FTS_FROM] = "From",
		[MIME_FTS_TO] = "To", [MIME_FTS_CC] = "Cc",
		[MIME_FTS_BCC] = "Bcc",
	};
	struct collect c = { NULL, 0, max, false };
	struct walk w;
	const char *h;
	size_t hlen;
	int rc = 0, i;

	walk_init(&w, msg, len, collect, &c);
	w.limit = max;
	if (!root_header(&w, parts, plen, &h, &hlen))
		rc = -1;
	for (i = 0; rc == 0 && i < MIME_FTS_HEADERS; i++) {
		c.col = &cols[i];
		visit_header(&w, h, hlen, fields[i]);
	}
	c.col = &cols[MIME_FTS_HEADERS];
	if (rc == 0 && !c.too_big)
		rc = visit_all(&w, parts, plen, true, false) < 0 ? -1 : 0;
	c.col = &cols[MIME_FTS_BODY];
	if (rc == 0 && !c.too_big)
		rc = visit_all(&w, parts, plen, false, true) < 0 ? -1 : 0;
	walk_free(&w);
	if (rc == 0 && (c.too_big || w.over))
		rc = 1;
	return rc;
}

bool
mime_fts_needle(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k, chars = 0;

	while (i < n) {
		if ((k = utf8_seq(u + i, n - i)) == 0)
			return false;
		/* U+FFFD parts units; SQLite reads U+FFFE/U+FFFF as it */
		if (k == 3 && u[i] == 0xef && u[i + 1] == 0xbf &&
		    u[i + 2] >= 0xbd)
			return false;
		i += k;
		chars++;
	}
	/* a trigram index answers from 3 characters on */
	return chars >= 3;
}
