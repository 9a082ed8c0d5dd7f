/*
 * mime_search.c - the SEARCH keys that look at a message's text (FROM,
 * TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT), for the mailbox process's
 * search executor.  The flag, size, date and set keys are the
 * executor's own business: they never need the message bytes.
 *
 * Header values are compared after RFC 2047 decoding (every field of
 * the name counts, duplicates included).  BODY looks at every text
 * leaf and message/ leaf (delivery-status...), nested messages included, after transfer decoding and
 * conversion from the declared charset to UTF-8; TEXT adds the headers
 * of the message and of every encapsulated message.  Both sides are
 * case-folded (mime_decode.c) and compared as substrings, like
 * Dovecot's default search without full-text indexes.
 */
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

struct sctx {
	const char *msg;
	size_t      len;
	const char *needle;	/* folded */
	size_t      nlen;
	struct buf  tmp, fold;
	struct arena a;
};

static bool
inside(uint64_t off, uint64_t len, size_t total)
{
	return off <= total && len <= total - off;
}

/* Does the folded text of s contain the needle? */
static bool
match_utf8(struct sctx *c, const char *s, size_t n)
{
	buf_reset(&c->fold);
	if (utf8_fold(&c->fold, s, n) < 0)
		return false;
	return mem_contains(buf_ptr(&c->fold), buf_len(&c->fold), c->needle,
	    c->nlen);
}

static bool
match_value(struct sctx *c, const char *v, size_t n)
{
	size_t dl;
	char *d;
	bool r;

	arena_reset(&c->a);
	/* white space compares as one space, as folding may have put a
	 * line end and a TAB where the sender typed a space */
	if ((d = mime_decode_words(&c->a, v, n, &dl)) == NULL ||
	    (d = hdr_unfold(&c->a, d, dl, true, &dl)) == NULL)
		return false;
	r = match_utf8(c, d, dl);
	return r;
}

/* Any field called name whose decoded value contains the needle; with
 * an empty needle, any field called name. */
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

static bool
match_header(struct sctx *c, const char *h, size_t hlen, const char *name)
{
	struct hfield f;
	size_t pos = 0;

	while (hdr_next(h, hlen, &pos, &f)) {
		if (!name_is(f.name, f.nlen, name))
			continue;
		if (c->nlen == 0 || match_value(c, f.val, f.vlen))
			return true;
		if (is_address_field(name)) {
			struct buf plain;
			bool hit;
			mbuf_init(&plain);
			mime_addr_plain(&plain, &c->a, f.val, f.vlen);
			hit = match_value(c, buf_ptr(&plain), buf_len(&plain));
			buf_free(&plain);
			if (hit)
				return true;
		}
	}
	return false;
}

static bool
match_text_part(struct sctx *c, const struct mime_part *p)
{
	const char *src = c->msg + p->body_off, *dec;
	size_t dl;
	int st;
	bool r;

	arena_reset(&c->a);
	st = mime_decode(&c->a, p->enc, src, (size_t)p->body_len, &dec, &dl);
	if (st == MIME_DEC_UNKNOWN_CTE) {
		dec = src;
		dl = (size_t)p->body_len;
	} else if (st < 0)
		return false;
	buf_reset(&c->tmp);
	if (charset_to_utf8(&c->tmp, p->charset, dec, dl) < 0)
		return false;
	r = match_utf8(c, buf_ptr(&c->tmp), buf_len(&c->tmp));
	return r;
}

/* BODY (headers false) or TEXT (headers true) over every record. */
static int
match_all(struct sctx *c, const void *parts, size_t plen, bool headers)
{
	struct mime_parts_iter it;
	struct mime_part p;
	bool first = true;
	int rc;

	if (mime_parts_first(&it, parts, plen) < 0)
		return -1;
	while ((rc = mime_parts_next(&it, &p)) == 1) {
		if (!inside(p.body_off, p.body_len, c->len) ||
		    !inside(p.hdr_off, p.hdr_len, c->len) ||
		    !inside(p.msg_hdr_off, p.msg_hdr_len, c->len))
			return -1;
		if (headers && first &&
		    match_value(c, c->msg + p.hdr_off, (size_t)p.hdr_len))
			return 1;
		if (headers && (p.flags & REC_MSG) && match_value(c,
		    c->msg + p.msg_hdr_off, (size_t)p.msg_hdr_len))
			return 1;
		/* the root's text is also record 1's, searched there */
		if (!first && (p.cls == MIME_CLASS_TEXT ||
		    (p.flags & MIME_PF_TEXTLIKE)) && match_text_part(c, &p))
			return 1;
		first = false;
	}
	return rc < 0 ? -1 : 0;
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

static int
run(struct sctx *c, const void *parts, size_t plen,
    const struct search_key *k)
{
	struct mime_part root;
	const char *name = header_of(k->type);

	if (k->type == SK_BODY)
		return match_all(c, parts, plen, false);
	if (k->type == SK_TEXT)
		return match_all(c, parts, plen, true);
	if (k->type == SK_HEADER)
		name = k->field;
	if (name == NULL)
		return -1;
	if (mime_parts_get(parts, plen, 0, &root) < 0 ||
	    !inside(root.hdr_off, root.hdr_len, c->len))
		return -1;
	return match_header(c, c->msg + root.hdr_off, (size_t)root.hdr_len,
	    name) ? 1 : 0;
}

/* The folded needle; for header keys with white space runs as one SP. */
static void
fold_needle(struct buf *nb, const char *s, bool collapse)
{
	struct buf tmp;
	size_t i;

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
	struct sctx c;
	struct buf nb;
	int rc;

	if (k->str == NULL || (k->type == SK_HEADER && k->field == NULL))
		return -1;
	memset(&c, 0, sizeof(c));
	c.msg = msg;
	c.len = len;
	mbuf_init(&c.tmp);
	mbuf_init(&c.fold);
	mbuf_init(&nb);
	arena_init(&c.a, 0);
	fold_needle(&nb, k->str, k->type != SK_BODY && k->type != SK_TEXT);
	c.needle = buf_ptr(&nb);
	c.nlen = buf_len(&nb);
	rc = run(&c, parts, plen, k);
	arena_free(&c.a);
	buf_free(&nb);
	buf_free(&c.tmp);
	buf_free(&c.fold);
	return rc;
}
