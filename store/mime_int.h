/*
 * mime_int.h - what the store/mime*.c files share and nobody else uses:
 * the parsed entity tree, header-field scanning, RFC 2045 tokens and
 * parameters, IMAP string output, and the decoders.
 */
#ifndef MK_MIME_INT_H
#define MK_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/mime.h"

struct arena;

/* Part table record flag beside MIME_PF_*: message offsets follow. */
#define REC_MSG 0x40

/* An unbounded scratch buffer (its contents are bounded by the message
 * it is built from) that always has storage, so buf_ptr() is valid even
 * before the first byte is added. */
static inline void
mbuf_init(struct buf *b)
{
	buf_init(b, 0);
	(void)buf_reserve(b, 64);
}

/* ---- header fields (mime_hdr.c) ---- */

struct hfield {
	const char *name;	/* field name, no colon */
	size_t      nlen;
	const char *val;	/* raw value after the colon, folding included */
	size_t      vlen;
	const char *raw;	/* the whole field, line ends included */
	size_t      rawlen;
};

/* Next field of the header block h[0..hlen) from *pos; false at the end.
 * Lines that are not fields (no colon) are skipped. */
bool  hdr_next(const char *h, size_t hlen, size_t *pos, struct hfield *f);
/* First field named name (case-insensitive); false if none. */
bool  hdr_find(const char *h, size_t hlen, const char *name,
	struct hfield *f);
/* Last field named name: what Dovecot's ENVELOPE shows for duplicates. */
bool  hdr_find_last(const char *h, size_t hlen, const char *name,
	struct hfield *f);
bool  name_is(const char *s, size_t n, const char *name);
/* Value with folding removed and white space trimmed, NUL-terminated.
 * humans: also map TAB/CR/LF to SP and collapse runs of SP (what
 * clients display), as Dovecot does for subjects and display names. */
char *hdr_unfold(struct arena *a, const char *v, size_t n, bool humans,
	size_t *outlen);

/* ---- RFC 2045/822 structured values (mime_hdr.c) ---- */

struct mparam {
	const char    *name;
	const char    *value;
	struct mparam *next;
};

/* Content-Type / Content-Disposition: "value *(; name=value)".
 * *value is the token before the parameters ("text/plain", "inline"),
 * NULL if there is none.  RFC 2231 continuations are joined as Dovecot
 * does (name*0*, name*1 -> "name*" with the raw values concatenated). */
int   parse_params(struct arena *a, const char *v, size_t n,
	const char **value, struct mparam **params);
/* Skips white space and (nested) comments. */
size_t skip_cfws(const char *s, size_t n, size_t i);

/* ---- IMAP output (mime_hdr.c) ---- */

/* string: common/imap_write.h rules (quoted if short, 7-bit, without
 * CR/LF/NUL, else a literal). */
void  mw_string(struct buf *b, const char *s, size_t n);
void  mw_nstring(struct buf *b, const char *s);	/* NULL -> NIL */

/* ---- the entity tree (mime_parse.c) ---- */

struct ment {
	struct ment    *parent, *child, *last, *next;
	unsigned        nchild;
	unsigned        depth;
	size_t          hdr_off, hdr_len, body_off, body_len;
	uint64_t        lines;
	const char     *type, *subtype;	/* as sent; NULL: default */
	struct mparam  *params;
	const char     *id, *desc, *cte, *md5, *loc;
	const char     *dsp;		/* disposition type, NULL if none */
	struct mparam  *dsp_params;
	const char    **lang;
	size_t          nlang;
	enum mime_enc   enc;
	enum mime_class cls;
	bool            is_msg;		/* root or encapsulated message */
	bool            forced_leaf;	/* past a limit: application/octet-stream */
	unsigned        pflags;
	uint64_t        decoded_size;
	const char     *charset;
};

struct mctx {
	struct arena *a;
	const char   *msg;
	size_t        len;
	unsigned      nent;
	bool          truncated;
};

/* ---- generators ---- */

/* ENVELOPE of the message whose header is hdr[0..hlen). */
int   mime_envelope(struct buf *b, struct arena *a, const char *hdr,
	size_t hlen);
/* BODY (ext false) or BODYSTRUCTURE (ext true) of entity e. */
int   mime_bodystructure(struct buf *b, struct mctx *c, const struct ment *e,
	bool ext);
/* The part table of the tree rooted at root. */
int   mime_parts_build(struct mctx *c, const struct ment *root,
	struct buf *out, unsigned *nrec);

/* ---- decoders (mime_decode.c) ---- */

/* Decode s[0..n) into out (room for n bytes; NULL only counts); return
 * the decoded length and set *invalid on damaged input. */
size_t b64_dec(const char *s, size_t n, char *out, bool *invalid);
size_t qp_dec(const char *s, size_t n, char *out, bool *invalid);
/* Converts to UTF-8 from charset (NULL/"" = US-ASCII, passed through);
 * bytes iconv can't convert are passed through unchanged. */
int   charset_to_utf8(struct buf *out, const char *charset, const char *s,
	size_t n);
/* Simple case folding of UTF-8 into out (see mime.h for the letters). */
int   utf8_fold(struct buf *out, const char *s, size_t n);
/* Substring search of needle in hay, both already folded. */
bool  mem_contains(const char *hay, size_t hn, const char *needle, size_t nn);

/* mime_envelope.c: a field's addresses as "name <local@host>, ..." */
void mime_addr_plain(struct buf *out, struct arena *ar, const char *v,
	size_t n);

/* mime_envelope.c: the first address of the fields called name, as
 * ENVELOPE parses it: display name as written (quotes removed, encoded
 * words not decoded), local part, domain; a group's start gives its
 * name as the local part.  False if there is none (or on the arena
 * ceiling). */
struct mime_addr {
	const char *name, *mbox, *host;
};
bool mime_first_addr(struct arena *ar, const char *h, size_t hlen,
	const char *name, struct mime_addr *out);

#endif
