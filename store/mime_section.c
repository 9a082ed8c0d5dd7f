/*
 * mime_section.c - reading the part table, and answering BODY[section]
 * from it (RFC 3501 6.4.5) without looking at MIME again.  Called by the
 * mailbox process for FETCH, by mime_search.c, and by the fuzzer.
 *
 * The table comes from our own database, but it is read as untrusted
 * input all the same: every varint and length is checked, and a range
 * that would leave the message is reported as a corrupt table (-1).
 */
#include <stddef.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

struct rd {
	const unsigned char *p;
	size_t               n, i;
	bool                 bad;
};

static uint64_t
get_varint(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (!r->bad) {
		unsigned char c;

		if (r->i >= r->n || shift > 63) {
			r->bad = true;
			break;
		}
		c = r->p[r->i++];
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
		shift += 7;
	}
	return 0;
}

static unsigned
get_byte(struct rd *r)
{
	if (r->i >= r->n) {
		r->bad = true;
		return 0;
	}
	return r->p[r->i++];
}

static bool
read_record(struct rd *r, struct mime_part *o)
{
	uint64_t np = get_varint(r);
	unsigned i, cl;

	memset(o, 0, offsetof(struct mime_part, charset) + 1);
	if (r->bad || np > MIME_MAX_DEPTH + 1)
		return false;
	o->npath = (unsigned)np;
	for (i = 0; i < o->npath; i++) {
		uint64_t v = get_varint(r);

		if (v > UINT32_MAX)
			r->bad = true;
		o->path[i] = (uint32_t)v;
	}
	o->cls = (enum mime_class)get_byte(r);
	o->enc = (enum mime_enc)get_byte(r);
	o->flags = get_byte(r);
	o->hdr_off = get_varint(r);
	o->hdr_len = get_varint(r);
	o->body_off = get_varint(r);
	o->body_len = get_varint(r);
	o->lines = get_varint(r);
	if (o->flags & MIME_PF_DECODED_SIZE)
		o->decoded_size = get_varint(r);
	if (o->flags & REC_MSG) {
		o->msg_hdr_off = get_varint(r);
		o->msg_hdr_len = get_varint(r);
		o->msg_body_off = get_varint(r);
		o->msg_body_len = get_varint(r);
	}
	cl = get_byte(r);
	if (r->bad || cl > MIME_CHARSET_MAX || r->n - r->i < cl ||
	    o->cls > MIME_CLASS_MESSAGE || o->enc > MIME_ENC_UNKNOWN)
		return false;
	memcpy(o->charset, r->p + r->i, cl);
	o->charset[cl] = '\0';
	r->i += cl;
	o->flags &= MIME_PF_DECODED_SIZE | MIME_PF_INVALID | MIME_PF_TEXTLIKE |
	    REC_MSG;
	return true;
}

static int
open_table(struct rd *r, const void *parts, size_t plen)
{
	uint64_t n;

	r->p = parts;
	r->n = plen;
	r->i = 0;
	r->bad = false;
	if (get_byte(r) != MIME_PARTS_VERSION)
		return -1;
	n = get_varint(r);
	/* a record takes at least 10 bytes */
	if (r->bad || n == 0 || n > plen / 10 || n > MIME_MAX_PARTS * 2)
		return -1;
	return (int)n;
}

int
mime_parts_first(struct mime_parts_iter *it, const void *parts, size_t plen)
{
	struct rd r;
	int n = open_table(&r, parts, plen);

	if (n < 0)
		return -1;
	it->p = r.p;
	it->n = r.n;
	it->i = r.i;
	it->left = (unsigned)n;
	return 0;
}

int
mime_parts_next(struct mime_parts_iter *it, struct mime_part *out)
{
	struct rd r = { it->p, it->n, it->i, false };

	if (it->left == 0)
		return 0;
	if (!read_record(&r, out))
		return -1;
	it->i = r.i;
	it->left--;
	return 1;
}

int
mime_parts_count(const void *parts, size_t plen)
{
	struct rd r;

	return open_table(&r, parts, plen);
}

int
mime_parts_get(const void *parts, size_t plen, unsigned i,
    struct mime_part *out)
{
	struct rd r;
	int n = open_table(&r, parts, plen);
	unsigned k;

	if (n < 0 || i >= (unsigned)n)
		return -1;
	for (k = 0; k <= i; k++)
		if (!read_record(&r, out))
			return -1;
	return 0;
}

int
mime_parts_find(const void *parts, size_t plen, const uint32_t *path,
    size_t npath, struct mime_part *out)
{
	struct mime_parts_iter it;
	int rc;

	if (mime_parts_first(&it, parts, plen) < 0)
		return -1;
	if (npath > MIME_MAX_DEPTH + 1)
		return MIME_NOPART;
	/* npath 0 (the whole message) may come with path NULL: no memcmp. */
	while ((rc = mime_parts_next(&it, out)) == 1)
		if (out->npath == npath && (npath == 0 ||
		    memcmp(out->path, path, npath * sizeof(*path)) == 0))
			return 0;
	return rc < 0 ? -1 : MIME_NOPART;
}

static int
range(uint64_t o, uint64_t l, uint64_t msglen, uint64_t *off, uint64_t *len)
{
	if (o > msglen || l > msglen - o)
		return -1;
	*off = o;
	*len = l;
	return 0;
}

int
mime_section(const void *parts, size_t plen, uint64_t msglen,
    const struct fetch_section *sec, uint64_t *off, uint64_t *len)
{
	struct mime_part p;
	int rc;

	rc = mime_parts_find(parts, plen, sec->part, sec->npart, &p);
	if (rc != 0)
		return rc;
	if (sec->npart == 0) {
		switch (sec->spec) {
		case SEC_WHOLE:
			return range(0, msglen, msglen, off, len);
		case SEC_TEXT:
			return range(p.body_off, p.body_len, msglen, off, len);
		case SEC_MIME:
			return MIME_NOPART;
		default:
			return range(p.hdr_off, p.hdr_len, msglen, off, len);
		}
	}
	switch (sec->spec) {
	case SEC_WHOLE:
		return range(p.body_off, p.body_len, msglen, off, len);
	case SEC_MIME:
		return range(p.hdr_off, p.hdr_len, msglen, off, len);
	default:
		break;
	}
	/* HEADER, HEADER.FIELDS[.NOT] and TEXT name a message/rfc822 part */
	if (!(p.flags & REC_MSG))
		return MIME_NOPART;
	if (sec->spec == SEC_TEXT)
		return range(p.msg_body_off, p.msg_body_len, msglen, off, len);
	return range(p.msg_hdr_off, p.msg_hdr_len, msglen, off, len);
}

static bool
is_leaf(const struct mime_part *p)
{
	return p->cls == MIME_CLASS_TEXT || p->cls == MIME_CLASS_OTHER;
}

int
mime_binary_size(const void *parts, size_t plen, uint64_t msglen,
    const uint32_t *path, size_t npath, uint64_t *size)
{
	struct mime_part p;
	int rc = mime_parts_find(parts, plen, path, npath, &p);

	if (rc != 0)
		return rc;
	if (p.body_off > msglen || p.body_len > msglen - p.body_off)
		return -1;
	if (npath == 0) {
		*size = msglen;
		return MIME_DEC_OK;
	}
	if (!is_leaf(&p)) {
		*size = p.body_len;
		return MIME_DEC_OK;
	}
	if (p.enc == MIME_ENC_UNKNOWN || !(p.flags & MIME_PF_DECODED_SIZE))
		return MIME_DEC_UNKNOWN_CTE;
	*size = p.decoded_size;
	return p.flags & MIME_PF_INVALID ? MIME_DEC_INVALID : MIME_DEC_OK;
}

int
mime_binary(struct arena *a, const char *msg, size_t len, const void *parts,
    size_t plen, const uint32_t *path, size_t npath, const char **out,
    size_t *outlen)
{
	struct mime_part p;
	int rc = mime_parts_find(parts, plen, path, npath, &p);

	if (rc != 0)
		return rc;
	if (p.body_off > len || p.body_len > len - p.body_off)
		return -1;
	if (npath == 0) {
		*out = msg;
		*outlen = len;
		return MIME_DEC_OK;
	}
	if (!is_leaf(&p)) {
		*out = msg + p.body_off;
		*outlen = (size_t)p.body_len;
		return MIME_DEC_OK;
	}
	return mime_decode(a, p.enc, msg + p.body_off, (size_t)p.body_len,
	    out, outlen);
}

static bool
field_listed(const struct hfield *f, const char *const *fields, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name_is(f->name, f->nlen, fields[i]))
			return true;
	return false;
}

int
mime_header_fields(struct arena *a, const char *hdr, size_t hlen,
    const char *const *fields, size_t nfields, bool not_,
    char **out, size_t *outlen)
{
	struct hfield f;
	size_t pos = 0, o = 0;
	char *p;

	/* the result is never longer than the block plus two line ends */
	if ((p = arena_alloc(a, hlen + 5)) == NULL)
		return -1;
	while (hdr_next(hdr, hlen, &pos, &f)) {
		if (field_listed(&f, fields, nfields) == not_)
			continue;
		memcpy(p + o, f.raw, f.rawlen);
		o += f.rawlen;
		if (f.raw[f.rawlen - 1] != '\n') {	/* unterminated last line */
			p[o++] = '\r';
			p[o++] = '\n';
		}
	}
	p[o++] = '\r';
	p[o++] = '\n';
	p[o] = '\0';
	*out = p;
	*outlen = o;
	return 0;
}
