/*
 * fuzz_mime.c - libFuzzer target for the message model (store/mime*.c).
 *
 * Each input is a message: it is analyzed, then every part the table
 * lists is fetched the ways FETCH can (the part, its MIME header,
 * HEADER/TEXT/HEADER.FIELDS where it is a message/rfc822), decoded as
 * BINARY, sized, and searched, and the input is also searched with the
 * text keys.  Every range must lie inside the message and every
 * structure string must be balanced; ASan/UBSan catch the rest.  The
 * part table is also read back after flipping a byte, since the reader
 * must survive a damaged table too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/imap.h"
#include "store/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parentheses balance outside quoted strings and literals, and there
 * is no NUL anywhere. */
static void
check_balanced(const char *s, size_t n)
{
	size_t i;
	long depth = 0;

	if (memchr(s, '\0', n) != NULL)
		abort();	/* no IMAP string may carry NUL */
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '{') {
			size_t len = strtoul(s + i + 1, NULL, 10);
			const char *nl = memchr(s + i, '\n', n - i);

			if (nl == NULL || (size_t)(nl - s) + len >= n)
				abort();
			i = (size_t)(nl - s) + len;
		} else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth < 0)
			abort();
	}
	if (depth != 0)
		abort();
}

static void
check_range(int rc, uint64_t off, uint64_t len, size_t size)
{
	if (rc == 0 && (off > size || len > size - off))
		abort();
	if (rc < 0)
		abort();	/* a table we just built is never corrupt */
}

static void
exercise_part(struct arena *a, const char *msg, size_t size,
    const struct mime_result *r, const struct mime_part *p)
{
	static const char *fields[] = { "From", "Subject", "Content-Type" };
	static const enum section_spec specs[] = {
		SEC_WHOLE, SEC_MIME, SEC_HEADER, SEC_TEXT,
		SEC_HEADER_FIELDS, SEC_HEADER_FIELDS_NOT,
	};
	struct fetch_section sec;
	uint32_t path[MIME_MAX_DEPTH + 1];
	uint64_t off, len, bsize;
	const char *out;
	size_t outlen, i;
	int rc;

	memcpy(path, p->path, p->npath * sizeof(path[0]));
	memset(&sec, 0, sizeof(sec));
	sec.part = path;
	sec.npart = p->npath;
	sec.fields = fields;
	sec.nfields = 3;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		sec.spec = specs[i];
		rc = mime_section(r->parts, r->parts_len, size, &sec, &off, &len);
		check_range(rc, off, len, size);
		if (rc == 0 && (sec.spec == SEC_HEADER_FIELDS ||
		    sec.spec == SEC_HEADER_FIELDS_NOT)) {
			char *hf;
			size_t hl;

			if (mime_header_fields(a, msg + off, (size_t)len, fields,
			    3, sec.spec == SEC_HEADER_FIELDS_NOT, &hf, &hl) < 0 ||
			    hl > len + 4)
				abort();
		}
	}
	rc = mime_binary(a, msg, size, r->parts, r->parts_len, p->path,
	    p->npath, &out, &outlen);
	if (rc < 0)
		abort();
	if (mime_binary_size(r->parts, r->parts_len, size, p->path, p->npath,
	    &bsize) == MIME_DEC_OK && rc == MIME_DEC_OK && bsize != outlen)
		abort();	/* BINARY.SIZE must match BINARY */
}

/* The full-text index's texts answer as the matcher does: for a needle
 * the index takes, a hit in the column is a match (HEADER of another
 * field: a match is a hit in the header blocks). */
static void
check_index(const char *msg, size_t size, const struct mime_result *r,
    const struct search_key *k, struct buf *cols, int m)
{
	static const int col_of[] = {
		[SK_SUBJECT] = MIME_FTS_SUBJECT, [SK_FROM] = MIME_FTS_FROM,
		[SK_TO] = MIME_FTS_TO, [SK_CC] = MIME_FTS_CC,
		[SK_BCC] = MIME_FTS_BCC, [SK_BODY] = MIME_FTS_BODY,
		[SK_TEXT] = MIME_FTS_BODY, [SK_HEADER] = MIME_FTS_HEADERS,
	};
	struct buf nb;
	bool hit;
	int c = col_of[k->type];

	(void)msg;
	(void)size;
	(void)r;
	buf_init(&nb, 0);
	mime_search_needle(&nb, k);
	if (buf_len(&nb) > 0 && mime_fts_needle(buf_ptr(&nb), buf_len(&nb))) {
		hit = buf_len(&cols[c]) > 0 && memmem(buf_ptr(&cols[c]),
		    buf_len(&cols[c]), buf_ptr(&nb), buf_len(&nb)) != NULL;
		if (k->type == SK_TEXT && buf_len(&cols[MIME_FTS_HEADERS]) > 0)
			hit |= memmem(buf_ptr(&cols[MIME_FTS_HEADERS]),
			    buf_len(&cols[MIME_FTS_HEADERS]), buf_ptr(&nb),
			    buf_len(&nb)) != NULL;
		if (k->type == SK_HEADER ? (m == 1 && !hit) : (m == 1) != hit)
			abort();	/* the index would answer otherwise */
	}
	buf_free(&nb);
}

static void
exercise_search(const char *msg, size_t size, const struct mime_result *r)
{
	static const enum search_key_type keys[] = {
		SK_FROM, SK_TO, SK_CC, SK_BCC, SK_SUBJECT, SK_BODY, SK_TEXT,
		SK_HEADER,
	};
	struct buf cols[MIME_FTS_NCOLS];
	struct search_key k;
	char cut[8] = "";
	bool whole;
	size_t i;
	int m;

	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_init(&cols[i], 0);
	whole = mime_fts_doc(msg, size, r->parts, r->parts_len, 1u << 20,
	    cols) == 0;
	/* a needle from the input itself: hits as well as misses */
	if (size > 8)
		memcpy(cut, msg + size / 2, 5);
	for (i = 0; i < 3 * sizeof(keys) / sizeof(keys[0]); i++) {
		memset(&k, 0, sizeof(k));
		k.type = keys[i % (sizeof(keys) / sizeof(keys[0]))];
		k.str = i % 3 == 0 ? "e" : i % 3 == 1 ? "\xc3\xa9t\xc3\xa9" : cut;
		k.field = "Content-Type";
		if ((m = mime_search_match(msg, size, r->parts, r->parts_len,
		    &k)) < 0)
			abort();
		if (whole)
			check_index(msg, size, r, &k, cols, m);
	}
	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_free(&cols[i]);
}

/* PREVIEW: valid UTF-8 without controls, at most MIME_PREVIEW_MAX
 * characters, white space single and trimmed. */
static void
exercise_preview(struct arena *a, const char *msg, size_t size,
    const struct mime_result *r)
{
	const unsigned char *s;
	size_t n, i = 0, chars = 0;
	struct buf b;

	buf_init(&b, 0);
	(void)buf_reserve(&b, 64);	/* buf_ptr() valid when empty */
	if (mime_preview(a, msg, size, r->parts, r->parts_len, &b) != 0)
		abort();
	s = (const unsigned char *)buf_ptr(&b);
	n = buf_len(&b);
	if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
		abort();
	while (i < n) {
		size_t l = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 :
		    (s[i] & 0xf0) == 0xe0 ? 3 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
		if (l == 0 || i + l > n || (l == 1 && (s[i] < 0x20 ||
		    s[i] == 0x7f)) || (s[i] == ' ' && i + 1 < n &&
		    s[i + 1] == ' '))
			abort();
		for (size_t k = 1; k < l; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				abort();
		i += l;
		chars++;
	}
	if (chars > MIME_PREVIEW_MAX)
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct mime_result r;
	struct mime_part p;
	const char *msg = (const char *)data, *norm;
	size_t nlen;
	int n, i;

	arena_init(&a, 64u * 1024 * 1024);
	if (mime_analyze(&a, msg, size, &r) < 0)
		goto out;
	check_balanced(r.envelope, r.envelope_len);
	check_balanced(r.body, r.body_len);
	check_balanced(r.bodystructure, r.bodystructure_len);
	n = mime_parts_count(r.parts, r.parts_len);
	if (n < 1 || (unsigned)n != r.nparts)
		abort();
	for (i = 0; i < n; i++) {
		if (mime_parts_get(r.parts, r.parts_len, (unsigned)i, &p) < 0)
			abort();
		exercise_part(&a, msg, size, &r, &p);
	}
	exercise_search(msg, size, &r);
	exercise_preview(&a, msg, size, &r);
	/* a damaged table must be refused or read safely, never overrun */
	if (r.parts_len > 1) {
		unsigned char *t = malloc(r.parts_len);

		memcpy(t, r.parts, r.parts_len);
		t[size % r.parts_len] ^= (unsigned char)(size | 1);
		n = mime_parts_count(t, r.parts_len);
		for (i = 0; i < n; i++)
			(void)mime_parts_get(t, r.parts_len, (unsigned)i, &p);
		free(t);
	}
	if (mime_normalize_crlf(&a, msg, size, &norm, &nlen) == 0 &&
	    mime_analyze(&a, norm, nlen, &r) < 0)
		abort();
out:
	arena_free(&a);
	return 0;
}
