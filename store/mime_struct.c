/*
 * mime_struct.c - BODY and BODYSTRUCTURE values (RFC 3501 7.4.2) and the
 * serialized part table, both written from the entity tree that
 * mime_parse.c builds.  Called from mime_analyze() only.
 *
 * Types, subtypes, parameter names and encodings are sent as the
 * message spells them; defaults are sent in lower case ("text" "plain",
 * "7bit").  A text part without a charset parameter gets
 * "charset" "us-ascii" appended, as RFC 2045 implies and Dovecot sends.
 *
 * Part table layout (version MIME_PARTS_VERSION), all integers unsigned
 * LEB128 varints:
 *   byte version, varint nrecords, then per record:
 *   varint npath, npath x varint part number,
 *   byte class, byte encoding, byte flags (MIME_PF_* | REC_MSG),
 *   varint hdr_off, hdr_len, body_off, body_len, lines,
 *   [varint decoded_size          if MIME_PF_DECODED_SIZE]
 *   [varint msg_hdr_off, msg_hdr_len, msg_body_off, msg_body_len
 *                                 if REC_MSG]
 *   byte charset length, charset bytes.
 * Records come in pre-order: the root (npath 0), then every part that a
 * section number can name.  The reader is in mime_section.c.
 */
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

static void
w_params(struct buf *b, const struct mparam *p, bool text)
{
	bool charset = false;

	if (p == NULL && !text) {
		buf_adds(b, "NIL");
		return;
	}
	buf_addc(b, '(');
	for (; p != NULL; p = p->next) {
		if (strcasecmp(p->name, "charset") == 0)
			charset = true;
		mw_nstring(b, p->name);
		buf_addc(b, ' ');
		mw_nstring(b, p->value);
		if (p->next != NULL)
			buf_addc(b, ' ');
	}
	if (text && !charset)
		buf_adds(b, buf_ptr(b)[buf_len(b) - 1] == '(' ?
		    "\"charset\" \"us-ascii\"" : " \"charset\" \"us-ascii\"");
	buf_addc(b, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
w_ext_common(struct buf *b, const struct ment *e)
{
	size_t i;

	if (e->dsp == NULL)
		buf_adds(b, "NIL");
	else {
		buf_addc(b, '(');
		mw_nstring(b, e->dsp);
		buf_addc(b, ' ');
		w_params(b, e->dsp_params, false);
		buf_addc(b, ')');
	}
	buf_addc(b, ' ');
	if (e->nlang == 0)
		buf_adds(b, "NIL");
	else {
		buf_addc(b, '(');
		for (i = 0; i < e->nlang; i++) {
			if (i > 0)
				buf_addc(b, ' ');
			mw_nstring(b, e->lang[i]);
		}
		buf_addc(b, ')');
	}
	buf_addc(b, ' ');
	mw_nstring(b, e->loc);
}

static void
w_type(struct buf *b, const struct ment *e)
{
	if (e->forced_leaf)
		buf_adds(b, "\"application\" \"octet-stream\"");
	else if (e->type == NULL && e->cls == MIME_CLASS_MESSAGE)
		buf_adds(b, "\"message\" \"rfc822\"");
	else if (e->type == NULL)
		buf_adds(b, "\"text\" \"plain\"");
	else {
		mw_nstring(b, e->type);
		buf_addc(b, ' ');
		mw_nstring(b, e->subtype);
	}
}

static int w_entity(struct buf *, struct mctx *, const struct ment *, bool);

static bool
is_message_type(const struct ment *e)
{
	return e->type != NULL && strcasecmp(e->type, "message") == 0 &&
	    (strcasecmp(e->subtype, "rfc822") == 0 ||
	    strcasecmp(e->subtype, "global") == 0);
}

static int
w_leaf(struct buf *b, struct mctx *c, const struct ment *e, bool ext)
{
	buf_addc(b, '(');
	w_type(b, e);
	buf_addc(b, ' ');
	w_params(b, e->params, e->cls == MIME_CLASS_TEXT);
	buf_addc(b, ' ');
	mw_nstring(b, e->id);
	buf_addc(b, ' ');
	mw_nstring(b, e->desc);
	buf_addc(b, ' ');
	mw_nstring(b, e->cte != NULL ? e->cte : "7bit");
	buf_printf(b, " %zu", e->body_len);
	if (e->cls == MIME_CLASS_MESSAGE && e->child != NULL) {
		const struct ment *m = e->child;

		buf_addc(b, ' ');
		if (mime_envelope(b, c->a, c->msg + m->hdr_off, m->hdr_len) < 0)
			return -1;
		buf_addc(b, ' ');
		if (w_entity(b, c, m, ext) < 0)
			return -1;
	} else if (is_message_type(e) && !e->forced_leaf) {
		/* message/rfc822 with a transfer encoding it may not have:
		 * unparsed, but the grammar still wants an envelope and a body
		 * after the type (Dovecot sends empty ones too) */
		buf_adds(b, " (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
		    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		    "\"7bit\" 0 0");
		buf_adds(b, ext ? " NIL NIL NIL NIL)" : ")");
	}
	if (e->cls == MIME_CLASS_TEXT || e->cls == MIME_CLASS_MESSAGE ||
	    (is_message_type(e) && !e->forced_leaf))
		buf_printf(b, " %llu", (unsigned long long)e->lines);
	if (ext) {
		buf_addc(b, ' ');
		mw_nstring(b, e->md5);
		buf_addc(b, ' ');
		w_ext_common(b, e);
	}
	buf_addc(b, ')');
	return 0;
}

static int
w_entity(struct buf *b, struct mctx *c, const struct ment *e, bool ext)
{
	const struct ment *ch;

	if (e->cls != MIME_CLASS_MULTIPART)
		return w_leaf(b, c, e, ext);
	buf_addc(b, '(');
	for (ch = e->child; ch != NULL; ch = ch->next)
		if (w_entity(b, c, ch, ext) < 0)
			return -1;
	buf_addc(b, ' ');
	mw_nstring(b, e->subtype);
	if (ext) {
		buf_addc(b, ' ');
		w_params(b, e->params, false);
		buf_addc(b, ' ');
		w_ext_common(b, e);
	}
	buf_addc(b, ')');
	return 0;
}

int
mime_bodystructure(struct buf *b, struct mctx *c, const struct ment *e,
    bool ext)
{
	return w_entity(b, c, e, ext);
}

/* ---- the part table ---- */

static void
put_varint(struct buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = v & 0x7f;
		v >>= 7;
		if (v != 0)
			tmp[n] |= 0x80;
		n++;
	} while (v != 0);
	buf_add(b, tmp, n);
}

struct pctx {
	struct buf *out;
	unsigned    nrec;
	uint32_t    path[MIME_MAX_DEPTH + 2];
	unsigned    npath;
};

static void
put_record(struct pctx *p, const struct ment *e)
{
	const struct ment *m = e->cls == MIME_CLASS_MESSAGE ? e->child : NULL;
	unsigned flags = e->pflags;
	size_t cl = e->charset != NULL ? strlen(e->charset) : 0;
	unsigned i;

	if (m != NULL)
		flags |= REC_MSG;
	put_varint(p->out, p->npath);
	for (i = 0; i < p->npath; i++)
		put_varint(p->out, p->path[i]);
	buf_addc(p->out, (char)e->cls);
	buf_addc(p->out, (char)e->enc);
	buf_addc(p->out, (char)flags);
	put_varint(p->out, e->hdr_off);
	put_varint(p->out, e->hdr_len);
	put_varint(p->out, e->body_off);
	put_varint(p->out, e->body_len);
	put_varint(p->out, e->lines);
	if (flags & MIME_PF_DECODED_SIZE)
		put_varint(p->out, e->decoded_size);
	if (m != NULL) {
		put_varint(p->out, m->hdr_off);
		put_varint(p->out, m->hdr_len);
		put_varint(p->out, m->body_off);
		put_varint(p->out, m->body_len);
	}
	buf_addc(p->out, (char)cl);
	buf_add(p->out, e->charset, cl);
	p->nrec++;
}

static void put_msg(struct pctx *, const struct ment *);

/* Part e, numbered n under the current path, and what it contains. */
static void
put_part(struct pctx *p, const struct ment *e, uint32_t n)
{
	const struct ment *ch;
	uint32_t k = 1;

	if (p->npath >= MIME_MAX_DEPTH + 1)
		return;		/* cannot happen: depth is capped */
	p->path[p->npath++] = n;
	put_record(p, e);
	if (e->cls == MIME_CLASS_MULTIPART)
		for (ch = e->child; ch != NULL; ch = ch->next)
			put_part(p, ch, k++);
	else if (e->cls == MIME_CLASS_MESSAGE && e->child != NULL)
		put_msg(p, e->child);
	p->npath--;
}

/* The parts of message m: its subparts, or part 1 = m itself. */
static void
put_msg(struct pctx *p, const struct ment *m)
{
	const struct ment *ch;
	uint32_t k = 1;

	if (m->cls == MIME_CLASS_MULTIPART)
		for (ch = m->child; ch != NULL; ch = ch->next)
			put_part(p, ch, k++);
	else
		put_part(p, m, 1);
}

int
mime_parts_build(struct mctx *c, const struct ment *root, struct buf *out,
    unsigned *nrec)
{
	struct pctx p;
	struct buf body;

	(void)c;
	memset(&p, 0, sizeof(p));
	mbuf_init(&body);
	p.out = &body;
	put_record(&p, root);
	put_msg(&p, root);
	buf_addc(out, MIME_PARTS_VERSION);
	put_varint(out, p.nrec);
	buf_add(out, buf_ptr(&body), buf_len(&body));
	buf_free(&body);
	*nrec = p.nrec;
	return 0;
}
