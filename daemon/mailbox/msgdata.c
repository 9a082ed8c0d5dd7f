/*
 * msgdata.c - a message's bytes and stored structure, as FETCH and SEARCH
 * use them: sections located through the part table computed at APPEND
 * (store/mime.h), never by parsing MIME again; BINARY decoding; the text
 * keys of SEARCH.
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/mime.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int
msgdata_struct(struct client *c, struct msgdata *md, struct arena *a)
{
	if (md->have_struct)
		return 0;
	if (store_body_struct(c->user->store, md->body_id, a, &md->bs) != 0)
		return -1;
	md->have_struct = true;
	return 0;
}

/* Reads [off, off+len) of the message into the arena. */
static char *
read_range(struct client *c, int64_t body_id, uint64_t off, uint64_t len,
    struct arena *a)
{
	struct store_body *b;
	uint64_t size;
	char *p;

	if (store_body_open(c->user->store, body_id, &b, &size) != 0)
		return NULL;
	if (off > size || len > size - off ||
	    (p = arena_alloc(a, (size_t)len + 1)) == NULL ||
	    store_body_read(b, off, p, (size_t)len) != 0) {
		store_body_close(b);
		return NULL;
	}
	store_body_close(b);
	return p;
}

int
msgdata_section(struct client *c, struct msgdata *md, struct arena *a,
    const struct fetch_section *sec, struct section_data *out)
{
	uint64_t off, len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (msgdata_struct(c, md, a) != 0)
		return -1;
	rc = mime_section(md->bs.parts, md->bs.parts_len, md->size, sec, &off,
	    &len);
	if (rc == MIME_NOPART) {
		out->kind = SD_MEM;
		out->mem = "";
		return 0;
	}
	if (rc != 0)
		return -1;
	if (sec->spec != SEC_HEADER_FIELDS && sec->spec != SEC_HEADER_FIELDS_NOT) {
		out->kind = SD_RANGE;
		out->off = off;
		out->len = len;
		return 0;
	}
	const char *hdr = read_range(c, md->body_id, off, len, a);
	char *res;
	size_t rlen;
	if (hdr == NULL || mime_header_fields(a, hdr, (size_t)len,
	    sec->fields, sec->nfields, sec->spec == SEC_HEADER_FIELDS_NOT,
	    &res, &rlen) != 0)
		return -1;
	out->kind = SD_MEM;
	out->mem = res;
	out->memlen = rlen;
	return 0;
}

int
msgdata_binary(struct client *c, struct msgdata *md, struct arena *a,
    const struct fetch_section *sec, struct section_data *out, bool *unknown_cte)
{
	struct mime_part p;
	const char *raw, *dec;
	size_t declen;
	int rc;

	memset(out, 0, sizeof(*out));
	*unknown_cte = false;
	if (msgdata_struct(c, md, a) != 0)
		return -1;
	rc = mime_parts_find(md->bs.parts, md->bs.parts_len, sec->part,
	    sec->npart, &p);
	if (rc == MIME_NOPART) {
		out->kind = SD_MEM;
		out->mem = "";
		return 0;
	}
	if (rc != 0)
		return -1;
	if (sec->npart == 0 || p.cls == MIME_CLASS_MULTIPART ||
	    p.cls == MIME_CLASS_MESSAGE) {
		/* Containers carry no transfer encoding of their own. */
		out->kind = SD_RANGE;
		out->off = sec->npart == 0 ? 0 : p.body_off;
		out->len = sec->npart == 0 ? md->size : p.body_len;
		return 0;
	}
	if ((raw = read_range(c, md->body_id, p.body_off, p.body_len, a)) == NULL)
		return -1;
	rc = mime_decode(a, p.enc, raw, (size_t)p.body_len, &dec, &declen);
	if (rc == MIME_DEC_UNKNOWN_CTE) {
		*unknown_cte = true;
		return 0;
	}
	if (rc < 0)
		return -1;
	out->kind = SD_MEM;
	out->mem = dec;
	out->memlen = declen;
	return 0;
}

int
msgdata_binary_size(struct client *c, struct msgdata *md, struct arena *a,
    const struct fetch_section *sec, uint64_t *size, bool *unknown_cte)
{
	struct section_data d;
	struct mime_part p;

	*unknown_cte = false;
	if (msgdata_struct(c, md, a) != 0)
		return -1;
	if (sec->npart > 0 && mime_parts_find(md->bs.parts, md->bs.parts_len,
	    sec->part, sec->npart, &p) == 0 && (p.flags & MIME_PF_DECODED_SIZE)) {
		*size = p.decoded_size;
		return 0;
	}
	if (msgdata_binary(c, md, a, sec, &d, unknown_cte) != 0)
		return -1;
	*size = d.kind == SD_MEM ? d.memlen : d.len;
	return 0;
}

/* ---- SEARCH text keys ---- */

static void
tcache_drop(struct client *c)
{
	store_body_text_free(&c->tcache.text);
	free(c->tcache.parts);
	memset(&c->tcache, 0, sizeof(c->tcache));
}

void
msgdata_search_done(struct client *c)
{
	tcache_drop(c);
}

/* The last message read for a search stays loaded: one SEARCH with
 * several text keys reads each message once. */
static int
tcache_load(struct client *c, int64_t body_id)
{
	struct arena a;
	struct body_struct bs;

	if (c->tcache.text.data != NULL && c->tcache.body_id == body_id)
		return 0;
	tcache_drop(c);
	arena_init(&a, 0);
	if (store_body_struct(c->user->store, body_id, &a, &bs) != 0) {
		arena_free(&a);
		return -1;
	}
	c->tcache.parts = xmalloc(bs.parts_len + 1);
	memcpy(c->tcache.parts, bs.parts, bs.parts_len);
	c->tcache.plen = bs.parts_len;
	arena_free(&a);
	/* Of a big body, only its headers and text parts: the rest (a
	 * photo) is never looked at by the matcher. */
	if (store_body_text(c->user->store, body_id, c->tcache.parts,
	    c->tcache.plen, 0, 0, &c->tcache.text) != 0 ||
	    c->tcache.text.over != 0) {
		tcache_drop(c);
		return -1;
	}
	c->tcache.body_id = body_id;
	return 0;
}

int
mbox_text_match(struct store *s, const struct msg_row *r,
    const struct search_key *k, void *arg)
{
	struct client *c = arg;

	(void)s;
	if (tcache_load(c, r->body_id) != 0)
		return -1;
	return mime_search_match(c->tcache.text.data, c->tcache.text.len,
	    c->tcache.parts, c->tcache.plen, k);
}
