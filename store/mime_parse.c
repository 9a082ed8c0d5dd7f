/*
 * mime_parse.c - the MIME parser and mime_analyze(), the entry point the
 * store calls once per stored message.
 *
 * The message is split top-down: an entity's header ends at the first
 * blank line (or at the end of its region when there is none), and a
 * multipart body is cut at its own delimiter lines only.  Because every
 * part's region already stops before the enclosing multipart's next
 * delimiter, an inner multipart whose close delimiter is missing ends
 * where its parent's next part begins, and boundaries of outer levels in
 * an inner preamble or epilogue cannot be mistaken for inner ones.  Each
 * level scans its own region once, so the cost is the message size times
 * the nesting depth, and the depth is capped (MIME_MAX_DEPTH), as is the
 * number of entities (MIME_MAX_PARTS); recursion never goes deeper than
 * the depth cap.
 */
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/imapdate.h"
#include "common/log.h"
#include "store/mime_int.h"

static bool
ieq(const char *s, const char *t)
{
	return s != NULL && strcasecmp(s, t) == 0;
}

static uint64_t
count_lf(const char *s, size_t n)
{
	uint64_t lines = 0;
	const char *p = s, *end = s + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

/* The header of the entity at off ends after the first blank line. */
static void
split_header(struct ment *e, const char *m, size_t off, size_t end)
{
	size_t i = off;

	while (i < end) {
		const char *lf;

		if (m[i] == '\n' || (m[i] == '\r' && i + 1 < end &&
		    m[i + 1] == '\n')) {
			i += m[i] == '\n' ? 1 : 2;
			e->hdr_off = off;
			e->hdr_len = i - off;
			e->body_off = i;
			e->body_len = end - i;
			return;
		}
		lf = memchr(m + i, '\n', end - i);
		if (lf == NULL)
			break;
		i = (size_t)(lf - m) + 1;
	}
	e->hdr_off = off;
	e->hdr_len = end - off;
	e->body_off = end;
	e->body_len = 0;
}

static enum mime_enc
enc_of(const char *cte)
{
	if (cte == NULL || ieq(cte, "7bit"))
		return MIME_ENC_7BIT;
	if (ieq(cte, "8bit"))
		return MIME_ENC_8BIT;
	if (ieq(cte, "binary"))
		return MIME_ENC_BINARY;
	if (ieq(cte, "base64"))
		return MIME_ENC_BASE64;
	if (ieq(cte, "quoted-printable"))
		return MIME_ENC_QP;
	return MIME_ENC_UNKNOWN;
}

static const char *
param_get(const struct mparam *p, const char *name)
{
	for (; p != NULL; p = p->next)
		if (strcasecmp(p->name, name) == 0)
			return p->value;
	return NULL;
}

/* "en, de (comment)" -> {"en", "de"} */
static int
parse_language(struct arena *a, struct ment *e, const char *v, size_t n)
{
	size_t i = 0, cnt = 0, cap = 8;
	const char **l = arena_array(a, cap, sizeof(*l));

	if (l == NULL)
		return -1;
	while (i < n && cnt < cap) {
		size_t s;

		i = skip_cfws(v, n, i);
		s = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t' &&
		    v[i] != '(' && v[i] != '\r' && v[i] != '\n')
			i++;
		if (i > s && (l[cnt++] = arena_strndup(a, v + s, i - s)) == NULL)
			return -1;
		i = skip_cfws(v, n, i);
		if (i < n && v[i] == ',')
			i++;
		else if (i < n && i == s)
			i++;	/* junk */
	}
	e->lang = l;
	e->nlang = cnt;
	return 0;
}

static const char *
unfolded(struct mctx *c, const struct hfield *f)
{
	return hdr_unfold(c->a, f->val, f->vlen, false, NULL);
}

/* Content-Type: "type/subtype"; a value without a slash is not valid
 * and the default applies (RFC 2045 5.2). */
static int
take_content_type(struct mctx *c, struct ment *e, const struct hfield *f)
{
	const char *v, *slash;

	if (parse_params(c->a, f->val, f->vlen, &v, &e->params) < 0)
		return -1;
	if (v == NULL || (slash = strchr(v, '/')) == NULL || slash == v ||
	    slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
		e->params = NULL;
		return 0;
	}
	e->type = arena_strndup(c->a, v, (size_t)(slash - v));
	e->subtype = arena_strdup(c->a, slash + 1);
	return e->type == NULL || e->subtype == NULL ? -1 : 0;
}

/* Reads the MIME fields of e's header (first occurrence of each wins). */
static int
read_mime_fields(struct mctx *c, struct ment *e)
{
	const char *h = c->msg + e->hdr_off;
	struct hfield f;
	size_t pos = 0;
	bool ct = false, cte = false;

	while (hdr_next(h, e->hdr_len, &pos, &f)) {
		if (f.nlen < 8 || strncasecmp(f.name, "Content-", 8) != 0)
			continue;
		if (!ct && name_is(f.name, f.nlen, "Content-Type")) {
			ct = true;
			if (take_content_type(c, e, &f) < 0)
				return -1;
		} else if (!cte && name_is(f.name, f.nlen,
		    "Content-Transfer-Encoding")) {
			cte = true;
			e->cte = unfolded(c, &f);
		} else if (e->id == NULL && name_is(f.name, f.nlen, "Content-ID"))
			e->id = unfolded(c, &f);
		else if (e->desc == NULL &&
		    name_is(f.name, f.nlen, "Content-Description"))
			e->desc = unfolded(c, &f);
		else if (e->md5 == NULL && name_is(f.name, f.nlen, "Content-MD5"))
			e->md5 = unfolded(c, &f);
		else if (e->loc == NULL &&
		    name_is(f.name, f.nlen, "Content-Location"))
			e->loc = unfolded(c, &f);
		else if (e->dsp == NULL &&
		    name_is(f.name, f.nlen, "Content-Disposition")) {
			if (parse_params(c->a, f.val, f.vlen, &e->dsp,
			    &e->dsp_params) < 0)
				return -1;
		} else if (e->lang == NULL &&
		    name_is(f.name, f.nlen, "Content-Language")) {
			if (parse_language(c->a, e, f.val, f.vlen) < 0)
				return -1;
		}
	}
	if (e->cte != NULL) {
		/* "base64 (comment)" and the like */
		const char *t;
		struct mparam *none;

		if (parse_params(c->a, e->cte, strlen(e->cte), &t, &none) < 0)
			return -1;
		e->enc = enc_of(t);
		e->cte = t;	/* the token, without comments */
	}
	return 0;
}

static void
classify(struct ment *e, bool digest_child)
{
	if (e->type == NULL) {
		e->cls = digest_child ? MIME_CLASS_MESSAGE : MIME_CLASS_TEXT;
		return;
	}
	if (ieq(e->type, "multipart"))
		e->cls = MIME_CLASS_MULTIPART;
	else if (ieq(e->type, "message") && (ieq(e->subtype, "rfc822") ||
	    ieq(e->subtype, "global")) && e->enc != MIME_ENC_BASE64 &&
	    e->enc != MIME_ENC_QP && e->enc != MIME_ENC_UNKNOWN)
		e->cls = MIME_CLASS_MESSAGE;
	else if (ieq(e->type, "text"))
		e->cls = MIME_CLASS_TEXT;
	else
		e->cls = MIME_CLASS_OTHER;
}

static struct ment *
ment_new(struct mctx *c, struct ment *parent)
{
	struct ment *e = arena_alloc(c->a, sizeof(*e));

	if (e == NULL)
		return NULL;
	c->nent++;
	e->parent = parent;
	e->depth = parent == NULL ? 0 : parent->depth + 1;
	if (parent != NULL) {
		if (parent->last != NULL)
			parent->last->next = e;
		else
			parent->child = e;
		parent->last = e;
		parent->nchild++;
	}
	return e;
}

static int parse_entity(struct mctx *, struct ment *, size_t, size_t, bool);

/* Does the line at m[i..eol) delimit boundary bd?  1: a part follows,
 * 2: the close delimiter, 0: no. */
static int
is_delimiter(const char *m, size_t i, size_t eol, const char *bd, size_t bl)
{
	size_t j;

	if (eol - i < bl + 2 || m[i] != '-' || m[i + 1] != '-' ||
	    memcmp(m + i + 2, bd, bl) != 0)
		return 0;
	j = i + 2 + bl;
	if (j + 1 < eol && m[j] == '-' && m[j + 1] == '-')
		return 2;
	/* only transport padding may follow (RFC 2046 5.1.1) */
	for (; j < eol; j++)
		if (m[j] != ' ' && m[j] != '\t' && m[j] != '\r' && m[j] != '\n')
			return 0;
	return 1;
}

/* Where a part ends: before the line end that precedes its delimiter. */
static size_t
part_end(const char *m, size_t start, size_t delim)
{
	size_t e = delim;

	if (e > start && m[e - 1] == '\n')
		e--;
	if (e > start && m[e - 1] == '\r')
		e--;
	return e;
}

static int
add_part(struct mctx *c, struct ment *mp, size_t start, size_t end,
    bool digest)
{
	struct ment *e;

	if (c->nent >= MIME_MAX_PARTS) {
		c->truncated = true;
		return 0;
	}
	if ((e = ment_new(c, mp)) == NULL)
		return -1;
	return parse_entity(c, e, start, end, digest);
}

/* An empty text/plain part stands in for a multipart without any, as
 * the BODYSTRUCTURE grammar needs one (Dovecot does the same). */
static int
add_empty_part(struct mctx *c, struct ment *mp)
{
	struct ment *e = ment_new(c, mp);
	size_t at = mp->body_off + mp->body_len;

	if (e == NULL)
		return -1;
	e->hdr_off = e->body_off = at;
	e->cls = MIME_CLASS_TEXT;
	e->decoded_size = 0;
	e->pflags = MIME_PF_DECODED_SIZE;
	return 0;
}

static int
split_multipart(struct mctx *c, struct ment *mp)
{
	const char *m = c->msg, *bd = param_get(mp->params, "boundary");
	bool digest = ieq(mp->subtype, "digest");
	size_t i = mp->body_off, end = mp->body_off + mp->body_len, bl;
	size_t start = 0;
	bool inpart = false;

	bl = bd == NULL ? 0 : strlen(bd);
	while (bl > 0 && i < end) {
		const char *lf = memchr(m + i, '\n', end - i);
		size_t eol = lf == NULL ? end : (size_t)(lf - m) + 1;
		int d = m[i] == '-' ? is_delimiter(m, i, eol, bd, bl) : 0;

		if (d != 0) {
			if (inpart && add_part(c, mp,
			    start, part_end(m, start, i), digest) < 0)
				return -1;
			if (d == 2) {
				inpart = false;
				break;
			}
			inpart = true;
			start = eol;
		}
		i = eol;
	}
	if (inpart && add_part(c, mp, start, end, digest) < 0)
		return -1;
	return mp->nchild == 0 ? add_empty_part(c, mp) : 0;
}

static void
leaf_sizes(struct mctx *c, struct ment *e)
{
	bool invalid = false;
	int64_t n;

	n = mime_decoded_size(e->enc, c->msg + e->body_off, e->body_len,
	    &invalid);
	if (n >= 0) {
		e->decoded_size = (uint64_t)n;
		e->pflags |= MIME_PF_DECODED_SIZE;
	}
	if (invalid)
		e->pflags |= MIME_PF_INVALID;
}

/* Parses the entity occupying m[off..end). */
static int
parse_entity(struct mctx *c, struct ment *e, size_t off, size_t end,
    bool digest_child)
{
	split_header(e, c->msg, off, end);
	if (read_mime_fields(c, e) < 0)
		return -1;
	classify(e, digest_child);
	e->lines = count_lf(c->msg + e->body_off, e->body_len);
	if ((e->cls == MIME_CLASS_MULTIPART || e->cls == MIME_CLASS_MESSAGE) &&
	    (e->depth >= MIME_MAX_DEPTH || c->nent >= MIME_MAX_PARTS)) {
		c->truncated = true;
		e->forced_leaf = true;
		e->cls = MIME_CLASS_OTHER;
	}
	if (e->cls == MIME_CLASS_MULTIPART)
		return split_multipart(c, e);
	if (e->cls == MIME_CLASS_MESSAGE) {
		struct ment *sub = ment_new(c, e);

		if (sub == NULL)
			return -1;
		sub->is_msg = true;
		e->decoded_size = e->body_len;
		e->pflags |= MIME_PF_DECODED_SIZE;
		return parse_entity(c, sub, e->body_off, e->body_off +
		    e->body_len, false);
	}
	if (e->cls == MIME_CLASS_OTHER && ieq(e->type, "message"))
		e->pflags |= MIME_PF_TEXTLIKE;
	if (e->cls == MIME_CLASS_TEXT) {
		const char *cs = param_get(e->params, "charset");

		e->charset = cs != NULL && strlen(cs) <= MIME_CHARSET_MAX ?
		    cs : NULL;
	}
	leaf_sizes(c, e);
	return 0;
}

static int
finish(struct mctx *c, struct ment *root, struct mime_result *out)
{
	struct buf b;
	struct hfield f;
	unsigned nrec = 0;
	int rc = -1;

	mbuf_init(&b);
	if (mime_envelope(&b, c->a, c->msg + root->hdr_off, root->hdr_len) < 0)
		goto out;
	out->envelope_len = buf_len(&b);
	out->envelope = arena_strndup(c->a, buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	if (mime_bodystructure(&b, c, root, false) < 0)
		goto out;
	out->body_len = buf_len(&b);
	out->body = arena_strndup(c->a, buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	if (mime_bodystructure(&b, c, root, true) < 0)
		goto out;
	out->bodystructure_len = buf_len(&b);
	out->bodystructure = arena_strndup(c->a, buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	if (mime_parts_build(c, root, &b, &nrec) < 0)
		goto out;
	out->parts_len = buf_len(&b);
	out->parts = (const unsigned char *)arena_strndup(c->a, buf_ptr(&b),
	    buf_len(&b));
	out->nparts = nrec;
	if (out->envelope == NULL || out->body == NULL ||
	    out->bodystructure == NULL || out->parts == NULL)
		goto out;
	if (hdr_find_last(c->msg + root->hdr_off, root->hdr_len, "Date", &f)) {
		size_t n;
		const char *d = hdr_unfold(c->a, f.val, f.vlen, true, &n);

		out->has_date = d != NULL &&
		    imapdate_parse_rfc5322(d, n, &out->date) == 0;
	}
	if (mime_sortkeys(c->a, c->msg + root->hdr_off, root->hdr_len,
	    &out->sort) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int
mime_analyze(struct arena *a, const char *msg, size_t len,
    struct mime_result *out)
{
	struct mctx c;
	struct ment *root;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.msg = msg;
	c.len = len;
	if ((root = ment_new(&c, NULL)) == NULL)
		return -1;
	root->is_msg = true;
	if (parse_entity(&c, root, 0, len, false) < 0 ||
	    finish(&c, root, out) < 0) {
		log_warnx("message structure exceeds the memory ceiling");
		return -1;
	}
	out->truncated = c.truncated;
	return 0;
}

int
mime_normalize_crlf(struct arena *a, const char *msg, size_t len,
    const char **out, size_t *outlen)
{
	size_t i, bare = 0, o = 0;
	char *p;

	for (i = 0; i < len; i++)
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			bare++;
	if (bare == 0) {
		*out = msg;
		*outlen = len;
		return 0;
	}
	if (len + bare < len || (p = arena_alloc(a, len + bare + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			p[o++] = '\r';
		p[o++] = msg[i];
	}
	*out = p;
	*outlen = o;
	return 0;
}
